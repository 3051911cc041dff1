"""The aihwkit arm of benchmarks/compare_aihwkit.py on the transfer experiments: our rpu config as
aihwkit's (benchmarks/aihwkit_rpu.py), the arms' configs, the command's validation. No aihwkit needed
but for the last test (skipped without it): the mapping is plain data."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from rpusim.config import ConfigError
from rpusim.devices import SoftBoundsDevice

REPO = Path(__file__).resolve().parents[1]
TT, SGD = "tiki-taka+soft-asym", "sgd+soft-asym"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load("compare_aihwkit")


@pytest.fixture(scope="module")
def mapping():
    return load("aihwkit_rpu")


def test_tiki_taka_maps_to_a_transfer_compound_with_the_same_schedule_periphery_and_update(script, mapping):
    spec = mapping.aihwkit_spec(script.variant_rpu("transfer-fc-mnist", TT))
    assert spec["class"] == "UnitCellRPUConfig"
    compound = spec["device"]
    assert compound["class"] == "TransferCompound"
    fast, slow = compound["unit_cell_devices"]
    # A is read against its symmetry point (reference: true), C is plain soft bounds
    assert fast["class"] == "SoftBoundsReferenceDevice" and fast["subtract_symmetry_point"] is True
    assert fast["reference_std"] == 0.0 and fast["mult_noise"] is True
    assert slow["class"] == "SoftBoundsDevice" and slow["mult_noise"] is True
    for device in (fast, slow):  # SOFT_ASYM: ±1, Δw_min 0.002, a = 0.1 redrawn additively
        assert (device["w_max"], device["w_min"], device["dw_min_dtod"], device["dw_min_std"]) == (1.0, -1.0, 0.3, 0.3)
        assert device["dw_min"] == pytest.approx(0.0022) and device["up_down"] == pytest.approx(0.2 / 1.1)
        assert device["up_down_dtod"] == pytest.approx(0.01 / 1.1)
    assert (compound["fast_lr"], compound["transfer_lr"], compound["transfer_every"]) == (10.0, 1.0, 1.0)
    assert compound["units_in_mbatch"] is True and compound["n_reads_per_transfer"] == 1
    assert compound["scale_fast_lr"] is True and compound["scale_transfer_lr"] is True
    read = compound["transfer_forward"]
    assert (read["noise_management"], read["bound_management"]) == ("NONE", "NONE")
    assert read["out_res"] == pytest.approx(1 / 510) and read["out_noise"] == 0.06
    update = {"class": "UpdateParameters", "desired_bl": 10, "update_management": True, "update_bl_management": False}
    assert compound["transfer_update"] == update and spec["update"] == update
    assert (spec["forward"]["noise_management"], spec["forward"]["bound_management"]) == ("ABS_MAX", "ITERATIVE")
    assert spec["backward"]["bound_management"] == "NONE"
    # one tile per layer (aihwkit's default splits at 512), the bias on the array
    assert spec["mapping"] == {"class": "MappingParameter", "digital_bias": False, "max_input_size": 0,
                               "max_output_size": 0}
    json.dumps(spec)  # plain data: printable into the run's log


def test_sgd_maps_to_one_soft_bounds_array(script, mapping):
    spec = mapping.aihwkit_spec(script.variant_rpu("transfer-fc-mnist", SGD))
    assert spec["class"] == "SingleRPUConfig" and spec["device"]["class"] == "SoftBoundsDevice"


@pytest.mark.parametrize("a", [0.1, -0.3, 0.0])
def test_the_redrawn_asymmetry_keeps_the_mean_steps_exactly_without_spreads(mapping, a):
    """Without device-to-device spreads aihwkit's additive draw of the mapped fields gives our relative
    steps Δw_min·(1 ± a) exactly (rpusim's up_down_draw=additive is aihwkit's draw)."""
    fixed = {"dw_min": 0.002, "dw_min_dtod": 0.0, "w_max_dtod": 0.0, "w_min_dtod": 0.0, "up_down_dtod": 0.0}
    ours = SoftBoundsDevice(up_down=a, **fixed)
    theirs = SoftBoundsDevice(**{**fixed, **mapping.aihwkit_steps(ours), "up_down_draw": "additive"})
    p, q = (d.sample_params((3,), torch.Generator().manual_seed(0)) for d in (ours, theirs))
    assert torch.allclose(p["dw_up"], q["dw_up"]) and torch.allclose(p["dw_down"], q["dw_down"])
    assert torch.allclose(p["dw_up"], torch.full((3,), 0.002 * (1 + a)))


def test_the_redrawn_asymmetry_keeps_the_mean_steps_with_the_spreads(mapping):
    """With SOFT_ASYM's spreads the mean steps up and down agree within 5 standard errors (several seeds)."""
    ours = SoftBoundsDevice(w_max=1.0, w_min=-1.0, dw_min=0.002, up_down=0.1)
    theirs = SoftBoundsDevice(**{**ours.model_dump(), **mapping.aihwkit_steps(ours), "up_down_draw": "additive"})
    for seed in range(3):
        p, q = (d.sample_params((100, 100), torch.Generator().manual_seed(seed)) for d in (ours, theirs))
        for key in ("dw_up", "dw_down"):
            se = (p[key].var() / p[key].numel() + q[key].var() / q[key].numel()).sqrt()
            assert abs(p[key].mean() - q[key].mean()) < 5 * se, (seed, key)


def test_what_does_not_map_is_refused_naming_the_key(script, mapping):
    rpu = script.variant_rpu("transfer-fc-mnist", "ttv2+soft-asym")
    with pytest.raises(ConfigError, match=r"rpu\.algorithm\.type = 'ttv2': no aihwkit mapping"):
        mapping.aihwkit_spec(rpu)
    rpu = script.variant_rpu("transfer-fc-mnist", "tiki-taka+ecram")
    with pytest.raises(ConfigError, match=r"rpu\.device\.type = '\w+': no aihwkit mapping"):
        mapping.aihwkit_spec(rpu)


def test_the_arms_train_the_variant_and_floating_point_on_the_study_budget(script):
    ours = script.run_config("rpusim", 0, None, None, "transfer-fc-mnist", TT, "study")
    theirs = script.run_config("aihwkit", 0, None, 2000, "transfer-fc-mnist", TT, "study")
    assert (ours.variant, ours.rpu.algorithm.type, ours.model.analog) == (TT, "tiki-taka", True)
    assert (theirs.variant, theirs.model.analog) == ("fp", False)
    assert (ours.data.train_limit, theirs.data.train_limit, ours.data.test_limit, theirs.data.test_limit) == \
        (8000, 2000, 2000, 2000)
    assert ours.train == theirs.train and (ours.train.lr, ours.train.batch_size, ours.train.epochs) == (0.1, 1, 1)
    emulated = script.run_config("rpusim-aihwkit", 0, None, None, "transfer-fc-mnist", TT, "study").rpu.device
    assert emulated.up_down_draw == "additive" and emulated.up_down == pytest.approx(0.2 / 1.1)


def test_a_transfer_run_records_its_variant_and_test_limit(script, tmp_path):
    path = script.write_meta(tmp_path, ["rpusim", "aihwkit"], [0], 1, 8000, "transfer-fc-mnist",
                             variant=SGD, test_limit=2000, date="2026-01-01T00:00:00Z")
    meta = json.loads(path.read_text())
    assert meta["settings"] == {"experiment": "transfer-fc-mnist", "epochs": 1, "train_limit": 8000,
                                "test_limit": 2000}
    assert meta["arms"] == {"rpusim": {"variant": SGD, "overrides": {}},
                            "aihwkit": {"variant": "fp", "rpu_config_from": SGD}}
    full = script.arm_options("aihwkit-full-grad", "transfer-fc-mnist", TT)
    assert full == {"variant": "fp", "rpu_config_from": TT, "output_bound_gradient": "pass"}


def test_the_draw_arm_changes_only_how_the_asymmetry_is_drawn(script):
    draw = script.arm_options("rpusim-aihwkit-draw", "transfer-fc-mnist", TT)["overrides"]
    assert set(draw["rpu"]) == {"device"}
    assert draw["rpu"]["device"]["up_down_draw"] == "additive"
    assert draw["rpu"]["device"]["up_down"] == pytest.approx(0.2 / 1.1)
    every = script.arm_options("rpusim-aihwkit", "transfer-fc-mnist", TT)["overrides"]
    assert every["rpu"]["device"] == draw["rpu"]["device"] and {"update", "forward"} <= set(every["rpu"])
    assert script.arm_options("rpusim-aihwkit-draw", "transfer-fc-mnist", "sgd+soft-sym")["overrides"] == \
        {"rpu": {"device": {"up_down_draw": "additive"}}}


def test_the_one_option_arms_together_are_the_aihwkit_options(script):
    merged = {}
    for arm in ("rpusim-aihwkit-clip", "rpusim-aihwkit-overflow", "rpusim-aihwkit-bm", "rpusim-aihwkit-draw"):
        merged = script.deep_merge(merged, script.arm_options(arm, "transfer-fc-mnist", TT)["overrides"])
    assert merged == script.arm_options("rpusim-aihwkit", "transfer-fc-mnist", TT)["overrides"]


@pytest.mark.parametrize("args, message", [
    (["--variant", "agad+soft-asym"], "--variant agad+soft-asym: not compared for transfer-fc-mnist (allowed: "),
    (["--preset", "huge"], "preset 'huge': unknown for transfer-fc-mnist"),
])
def test_bad_input_exits_2_with_one_message(script, tmp_path, capsys, args, message):
    rc = script.main(["--out", str(tmp_path / "o"), "--experiment", "transfer-fc-mnist", *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: {message}") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_the_built_aihwkit_config_holds_the_mapped_fields(script, mapping):
    if importlib.util.find_spec("aihwkit") is None:
        pytest.skip("aihwkit is not importable here")
    config = mapping.aihwkit_config(script.variant_rpu("transfer-fc-mnist", TT))
    fast, slow = config.device.unit_cell_devices
    assert type(fast).__name__ == "SoftBoundsReferenceDevice" and fast.subtract_symmetry_point
    assert type(slow).__name__ == "SoftBoundsDevice" and slow.dw_min == pytest.approx(0.0022)
    assert config.device.transfer_update.desired_bl == 10 and not config.device.transfer_update.update_bl_management
    assert config.device.transfer_forward.noise_management.name == "NONE"
    assert config.mapping.max_input_size == 0 and config.update.desired_bl == 10



def test_aihwkit_zeroes_the_gradient_of_a_saturated_output_unless_the_full_grad_arm_turns_it_off(script):
    """A one-layer network whose outputs (≈ 15 after bound management) lie beyond out_bound 12: aihwkit
    passes no gradient back to the input; without its clamp gradient it passes one, as rpusim does."""
    if importlib.util.find_spec("aihwkit") is None:
        pytest.skip("aihwkit is not importable here")
    rpu = script.variant_rpu("transfer-fc-mnist", SGD)
    grads = []
    for clamp in (True, False):
        layer = torch.nn.Linear(20, 3, bias=False)
        with torch.no_grad():
            layer.weight.fill_(0.75)
        model = script.aihwkit_model(torch.nn.Sequential(layer), rpu, clamp_gradient=clamp)
        assert all(t.handle_output_bound is clamp for t in model.analog_tiles())
        x = torch.ones(1, 20, requires_grad=True)
        model(x).sum().backward()
        grads.append(x.grad.abs().max().item())
    assert grads[0] == 0.0 and grads[1] > 1.0
