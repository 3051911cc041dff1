"""Presets of published devices: what they resolve to, how they merge with overrides, the CLI."""
import pytest
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.config import ConfigError
from rpusim.devices import (DEVICES, PRESETS, ConstantStepDevice, ExpStepDevice, LinearStepDevice, SoftBoundsDevice,
                            device_from_dict)
from rpusim.framework import build_config, parse_set
from rpusim.framework.config import RunConfig
from rpusim.tile import RPUConfig

REQUIRED = {"reram-es": "exp_step", "reram-sb": "soft_bounds", "ecram": "linear_step", "ecram-mo": "linear_step",
            "capacitor": "linear_step", "idealized": "constant_step", "gokmen-vlasov": "constant_step"}


def test_every_preset_is_a_valid_device_with_a_cited_source():
    assert set(PRESETS) >= set(REQUIRED) and not set(PRESETS) & set(DEVICES)  # a name is a type or a preset
    for name, preset in PRESETS.items():
        dev = device_from_dict({"preset": name})
        assert dev.type == preset.device["type"] == REQUIRED.get(name, dev.type)
        assert dev.to_dict() == {**type(dev)().to_dict(), **preset.device}  # every preset value taken over
        assert preset.description and "\n" not in preset.description
        assert any(year in preset.source for year in ("2016", "2018", "2019"))


def test_published_numbers():
    """Spot checks of the fits (aihwkit's presets; sources in rpusim/devices/presets.py)."""
    es = device_from_dict({"preset": "reram-es"})
    assert isinstance(es, ExpStepDevice) and (es.A_up, es.A_down, es.up_down) == (-1.18445, -0.081404, 0.259359)
    ecram = device_from_dict({"preset": "ecram"})
    assert isinstance(ecram, LinearStepDevice) and (ecram.gamma_up, ecram.gamma_down) == (0.1153, 0.5085)
    sb = device_from_dict({"preset": "reram-sb"})
    assert isinstance(sb, SoftBoundsDevice) and (sb.w_max, sb.w_min, sb.dw_min_std) == (1.25, -0.75, 3.75)
    assert device_from_dict({"preset": "idealized"}).dw_min == 0.0002
    assert device_from_dict({"preset": "gokmen-vlasov"}) == RPUConfig().device == ConstantStepDevice()


def test_other_keys_refine_a_preset():
    dev = RPUConfig.from_dict({"device": {"preset": "ecram", "dw_min": 0.001, "up_down": 0.05}}).device
    assert isinstance(dev, LinearStepDevice) and (dev.dw_min, dev.up_down, dev.gamma_down) == (0.001, 0.05, 0.5085)
    same_type = device_from_dict({"preset": "ecram", "type": "linear_step"})
    assert same_type == device_from_dict({"preset": "ecram"})


@pytest.mark.parametrize("data, message", [
    ({"preset": "memristor"}, r"device\.preset = 'memristor': unknown device preset \(allowed: reram-es"),
    ({"preset": 3}, "unknown device preset"),
    ({"preset": "ecram", "type": "soft_bounds"}, "preset 'ecram' is a linear_step device"),
    ({"preset": "reram-sb", "gamma_up": 0.5}, "gamma_up: unknown key"),
    ({"preset": "capacitor", "dw_min": -1}, r"dw_min = -1"),
])
def test_bad_presets_are_refused(data, message):
    with pytest.raises(ConfigError, match=message):
        RPUConfig.from_dict({"device": data})


def test_merged_overrides_choose_and_refine_presets():
    """--set, experiment variants and layer_rpu: naming a preset starts from it; other device keys refine
    the device already chosen; naming another type or preset starts again."""
    chosen = build_config({}, parse_set(["rpu.device.preset=reram-sb"]))
    assert chosen.rpu.device == device_from_dict({"preset": "reram-sb"})  # not the default's fields
    refined = build_config({"rpu": {"device": {"preset": "ecram"}}}, parse_set(["rpu.device.dw_min=0.01"]))
    assert refined.rpu.device == device_from_dict({"preset": "ecram", "dw_min": 0.01})
    kept = build_config({"rpu": {"device": {"preset": "ecram", "dw_min": 0.01}}}, {"rpu": {"device": {"preset": "ecram"}}})
    assert kept.rpu.device.dw_min == 0.01
    again = build_config({"rpu": {"device": {"preset": "ecram", "dw_min": 0.01}}}, parse_set(["rpu.device.preset=capacitor"]))
    assert again.rpu.device == device_from_dict({"preset": "capacitor"})
    typed = build_config({"rpu": {"device": {"preset": "ecram"}}}, parse_set(["rpu.device.type=soft_bounds"]))
    assert typed.rpu.device == SoftBoundsDevice()
    layered = RunConfig.from_dict({"layer_rpu": {1: {"device": {"preset": "reram-es", "dw_min": 0.002}}}})
    assert layered.rpu_for_layer(0).device == ConstantStepDevice()
    assert layered.rpu_for_layer(1).device == device_from_dict({"preset": "reram-es", "dw_min": 0.002})
    saved = RunConfig.from_dict(chosen.to_dict())  # a run's config.yaml holds the resolved fields
    assert saved == chosen and "preset" not in chosen.to_dict()["rpu"]["device"]


def test_devices_list_shows_presets_with_type_and_source():
    out = CliRunner().invoke(app, ["devices", "list"])
    assert out.exit_code == 0
    lines = out.stdout.splitlines()
    for name, preset in PRESETS.items():
        line = next(i for i, text in enumerate(lines) if text.startswith(f"{name} "))
        assert preset.device["type"] in lines[line] and preset.description in lines[line]
        assert "symmetry point w* =" in lines[line] and preset.source in lines[line + 1]
    assert "soft_bounds" in out.stdout and "piecewise_step" in out.stdout


def test_devices_plot_takes_a_preset(tmp_path):
    png = tmp_path / "ecram.png"
    result = CliRunner().invoke(app, ["devices", "plot", "ecram", "--set", "dw_min=0.02", "--pulses", "60",
                                      "--devices", "2", "--repeats", "5", "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG"
