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
from rpusim.framework import load_run_config, parse_set, variant_configs
from rpusim.papers.catalog import get_experiment

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


# --- partial device overrides ----------------------------------------------------------------

def test_partial_device_mapping_refines_the_default_device():
    from rpusim.devices import ConstantStepDevice, SoftBoundsDevice
    from rpusim.tile import RPUConfig
    dev = RPUConfig.from_dict({"device": {"up_down": 0.05}}).device
    assert dev == ConstantStepDevice(up_down=0.05)
    assert RPUConfig(device={"w_max": 0.3}).device == ConstantStepDevice(w_max=0.3)
    other = RPUConfig.from_dict({"device": {"type": "soft_bounds", "dw_min": 0.002}}).device
    assert other == SoftBoundsDevice(dw_min=0.002)
    with pytest.raises(ConfigError, match=r"device.up_down = 2: Input should be less than 1"):
        RPUConfig.from_dict({"device": {"up_down": 2}})


def test_partial_device_in_a_run_config_and_per_layer():
    from rpusim.framework import RunConfig
    cfg = RunConfig.from_dict({
        "rpu": {"device": {"type": "soft_bounds", "w_max": 0.4}},
        "layer_rpu": {0: {"device": {"up_down": 0.05}}, 1: {"device": {"type": "linear_step", "dw_min": 0.002}}}})
    assert cfg.rpu.device.type == "soft_bounds" and cfg.rpu.device.w_max == 0.4
    first, second = cfg.rpu_for_layer(0).device, cfg.rpu_for_layer(1).device
    assert (first.type, first.w_max, first.up_down) == ("soft_bounds", 0.4, 0.05)  # refines the run's device
    assert (second.type, second.w_max, second.dw_min) == ("linear_step", 0.6, 0.002)  # another type: its defaults
    by_hand = RunConfig.from_dict({"rpu": {"device": {"up_down": 0.05}}})  # a hand-written file, no type
    assert by_hand.rpu.device.type == "constant_step" and by_hand.rpu.device.up_down == 0.05


def test_set_refines_the_variants_device():
    exp = get_experiment("fc-mnist")
    variant = variant_configs(exp, ["only-asymmetry"], "quick")["only-asymmetry"].rpu.device
    changed = variant_configs(exp, ["only-asymmetry"], "quick", parse_set(["rpu.device.w_max=0.5"]))
    device = changed["only-asymmetry"].rpu.device
    assert device == variant.model_copy(update={"w_max": 0.5})


# --- finite numbers ----------------------------------------------------------------------------

def _config_classes() -> list[type]:
    from rpusim.config import Config
    from rpusim.framework import RunConfig  # noqa: F401  (imports every config class)
    seen, todo = [], [Config]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                todo.append(sub)
    return seen


FLOAT_FIELDS = [(cls, name) for cls in _config_classes() for name, f in cls.model_fields.items()
                if f.annotation is float]


def test_every_float_field_is_checked():
    names = {f"{cls.__name__}.{name}" for cls, name in FLOAT_FIELDS}
    assert {"ConstantStepDevice.dw_min", "CTFDevice.v_lo", "ExpStepDevice.a", "IOConfig.out_bound",
            "TrainConfig.lr", "ModelConfig.dropout"} <= names


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "nan", "-inf"])
def test_every_float_field_refuses_nan_and_inf(value):
    """No float of any config accepts NaN or ±inf (no field gives inf a meaning, e.g. 'no bound')."""
    for cls, name in FLOAT_FIELDS:
        with pytest.raises(ConfigError) as info:
            cls.from_dict({name: value})
        assert f"{name} = {value!r}: must be a finite number" in str(info.value), (cls, str(info.value))


def test_assigned_nan_is_refused():
    from rpusim.tile import RPUConfig
    cfg = RPUConfig()
    with pytest.raises(ConfigError, match=r"out_noise = nan: must be a finite number"):
        cfg.forward.out_noise = float("nan")
    assert cfg.forward.out_noise == 0.06


# --- YAML files --------------------------------------------------------------------------------

BAD_FILES = {
    "empty.yaml": ("# nothing here\n", "the file is empty"),
    "list.yaml": ("- 1\n- 2\n", "expected a YAML mapping of config keys at the top level, got a list"),
    "number.yaml": ("3\n", "got a number"),
    "syntax.yaml": ("device:\n  type: soft_bounds\n   dw_min: 0.1\n", "not valid YAML (line 3, column 10"),
    "tab.yaml": ("device:\n\ttype: ideal\n", "not valid YAML (line 2, column 1"),
    "nan.yaml": ("device: {dw_min: .nan}\n", "device.dw_min = nan: must be a finite number"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_yaml_file_names_the_file(tmp_path, name):
    from rpusim.tile import RPUConfig
    text, needle = BAD_FILES[name]
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        RPUConfig.from_yaml(path)
    assert str(info.value).startswith(f"{path}: ") and needle in str(info.value), str(info.value)


def test_unreadable_files_name_the_file(tmp_path):
    from rpusim.tile import RPUConfig
    binary = tmp_path / "weights.pt"
    binary.write_bytes(b"PK\x03\x04\xff\xfe" * 100)
    for path, needle in ((tmp_path / "nope.yaml", "no such file"), (tmp_path, "is a directory"),
                         (binary, "not a text file")):
        with pytest.raises(ConfigError, match=f"^{path}: {needle}"):
            RPUConfig.from_yaml(path)
        with pytest.raises(ConfigError, match=f"^{path}: {needle}"):
            load_run_config(path)


def test_load_run_config_lives_in_the_config_module():
    from rpusim.framework import config
    assert load_run_config is config.load_run_config
