"""Bad config input is rejected before any work, naming key path, value and allowed range.

Checked through the Python API and through the command line (exit code 2, one message on
stderr, no traceback, no run directory created).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.config import ConfigError
from rpusim.experiments import get_experiment, load_run_config, parse_set, variant_configs

# (--set items, substrings the message must contain)
BAD_SETS = [
    (["rpu.device.dw_min=-0.001"], ["rpu.device.dw_min = -0.001", "> 0"]),
    (["rpu.update.bl=0"], ["rpu.update.bl = 0", ">= 1"]),
    (["rpu.forward.inp_bits=30"], ["rpu.forward.inp_bits = 30", "<= 24"]),
    (["rpu.device.type=memristor"], ["rpu.device.type = 'memristor'", "unknown device", "constant_step"]),
    (["train.epochz=3"], ["train.epochz", "unknown key", "epochs"]),
    (["train.epochs=many"], ["train.epochs = 'many'", "valid integer"]),
    (["train.lr=0"], ["train.lr = 0", "> 0"]),
    (["rpu.backward.noise_management=max"], ["rpu.backward.noise_management = 'max'", "abs_max"]),
    (["rpu.device.w_min=0.5"], ["rpu.device.w_min = 0.5", "< 0"]),
    (["layer_rpu.1.update.bl=0"], ["layer_rpu.1.update.bl = 0", ">= 1"]),
    (["seed=-3"], ["seed = -3", ">= 0"]),
    (["colour=red"], ["colour", "unknown key", "train"]),
    (["train"], ["expected KEY.PATH=VALUE"]),
]


@pytest.mark.parametrize("sets,needles", BAD_SETS, ids=[s[0][0] for s in BAD_SETS])
def test_bad_values_rejected_by_api(sets, needles):
    exp = get_experiment("fc-mnist")
    with pytest.raises(ConfigError) as info:
        variant_configs(exp, ["rpu-baseline"], "quick", parse_set(sets))
    for needle in needles:
        assert needle in str(info.value), (needle, str(info.value))
    assert "Value error" not in str(info.value) and "<root>" not in str(info.value)


def test_partial_device_section_refines_default_device():
    exp = get_experiment("fc-mnist")
    cfg = variant_configs(exp, ["rpu-baseline"], None, parse_set(["rpu.device.dw_min=0.01"]))["rpu-baseline"]
    assert cfg.rpu.device.type == "constant_step" and cfg.rpu.device.dw_min == 0.01
    ideal = variant_configs(exp, ["ideal-device"], None, {})["ideal-device"]
    assert ideal.rpu.device.type == "ideal"


def _saved_config(tmp_path: Path, **changes) -> Path:
    """A run's config.yaml (as train_run writes it), with some entries replaced."""
    cfg = variant_configs(get_experiment("fc-mnist"), ["rpu-baseline"], "quick")["rpu-baseline"]
    data = {"rpusim_version": "0.1.0", **cfg.to_dict()}
    for path, value in changes.items():
        node = data
        *parents, last = path.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    out = tmp_path / "config.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def test_yaml_round_trip_and_bad_yaml(tmp_path):
    good = _saved_config(tmp_path)
    assert load_run_config(good).rpu.update.bl == 10
    bad_device = _saved_config(tmp_path, rpu__device={"type": "flux_capacitor", "dw_min": 0.001})
    with pytest.raises(ConfigError, match=r"rpu.device.type = 'flux_capacitor': unknown device"):
        load_run_config(bad_device)
    bad_key = _saved_config(tmp_path, train__momentum=0.9)
    with pytest.raises(ConfigError, match=r"train.momentum: unknown key"):
        load_run_config(bad_key)


CLI_CASES = [
    (["--set", "rpu.device.dw_min=-0.001"], "rpu.device.dw_min = -0.001"),
    (["--set", "rpu.update.bl=0"], "rpu.update.bl = 0"),
    (["--set", "rpu.forward.inp_bits=30"], "allowed: >= 0, <= 24"),
    (["--set", "train.epochz=3"], "train.epochz: unknown key"),
    (["--set", "train.epochs=many"], "train.epochs = 'many'"),
    (["--variants", "nonsense"], "variants ['nonsense']: unknown"),
    (["--preset", "huge"], "preset 'huge': unknown"),
]


@pytest.mark.parametrize("args,needle", CLI_CASES, ids=[c[1] for c in CLI_CASES])
def test_bad_values_rejected_by_cli(tmp_path, args, needle):
    result = CliRunner().invoke(app, ["run", "fc-mnist", "--preset", "quick", "--out", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "fc-mnist").exists()  # failed before any work


def test_bad_yaml_rejected_by_cli(tmp_path):
    bad = _saved_config(tmp_path, rpu__device={"type": "flux_capacitor"})
    result = CliRunner().invoke(app, ["run", "fc-mnist", "--config", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "rpu.device.type = 'flux_capacitor': unknown device" in result.stderr


def test_cli_error_in_a_real_process(tmp_path):
    """The installed command line: exit code 2, message on stderr, no traceback."""
    proc = subprocess.run([sys.executable, "-m", "rpusim.cli", "run", "fc-mnist", "--preset", "quick",
                           "--set", "rpu.update.bl=0", "--set", "rpu.device.type=memristor", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "rpu.update.bl = 0" in proc.stderr and "rpu.device.type = 'memristor'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "fc-mnist").exists()
