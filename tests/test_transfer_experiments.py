"""The transfer experiments (rpusim/papers/transfer.py): catalog, every variant's config, a tiny run."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.devices.presets import PRESETS
from rpusim.framework import variant_configs
from rpusim.framework.records import check_name
from rpusim.papers.catalog import EXPERIMENTS, get_experiment
from rpusim.tile.transfer import TransferTile

NAMES = ("transfer-fc-mnist", "transfer-fc-fashion", "transfer-lstm")
ALGORITHMS = ("sgd", "tiki-taka", "ttv2", "chopped-ttv2", "agad", "mixed-precision")


def test_catalog_lists_the_transfer_experiments():
    assert set(NAMES) <= set(EXPERIMENTS)
    fc = get_experiment("transfer-fc-mnist")
    expected = {f"{a}+{d}" for a in ALGORITHMS for d in ("soft-asym", *PRESETS, "ctf-N100")} | {"fp", "sgd+soft-sym"}
    assert set(fc.variants) == expected
    assert set(get_experiment("transfer-lstm").variants) == {"fp", "sgd-sym", "sgd", "tiki-taka", "ttv2", "chopped-ttv2",
                                                                 "tiki-taka-rows", "tiki-taka-rows-symA",
                                                                 "tiki-taka-rows-symC"}
    assert set(fc.default_variants) <= set(fc.variants) and set(fc.claims) <= set(fc.variants)


@pytest.mark.parametrize("name", NAMES)
def test_every_variant_resolves_and_validates_under_every_preset(name):
    exp = get_experiment(name)
    for preset in (None, *exp.presets):
        configs = variant_configs(exp, ["all"], preset)
        assert list(configs) == list(exp.variants)
    for variant, cfg in variant_configs(exp, ["all"]).items():
        check_name(variant, "variant")  # a record folder can hold it
        if variant == "fp":
            assert not cfg.model.analog
            continue
        algorithm = variant.partition("+")[0]  # ALGORITHM+DEVICE, or the LSTM's ALGORITHM-SETTING (sgd-sym)
        assert algorithm.startswith(cfg.rpu.algorithm.type) and cfg.rpu.update.update_management


def test_fc_devices_and_references():
    configs = variant_configs(get_experiment("transfer-fc-fashion"), ["all"])
    asym, sym = configs["sgd+soft-asym"].rpu.device, configs["sgd+soft-sym"].rpu.device
    assert asym.type == sym.type == "soft_bounds" and asym.up_down == 0.1 and sym.up_down == 0.0
    assert configs["ttv2+soft-asym"].rpu.algorithm.reference            # w* = 0.1: zero-shifted
    assert not configs["chopped-ttv2+soft-asym"].rpu.algorithm.reference  # chopping corrects the offset
    assert not configs["ttv2+gokmen-vlasov"].rpu.algorithm.reference     # w* at a bound: nothing to shift to
    assert configs["ttv2+ecram"].rpu.device.gamma_down == pytest.approx(PRESETS["ecram"].device["gamma_down"])
    assert configs["fp"].data.dataset == "fashion-mnist" and configs["fp"].train.lr == 0.1


def test_ctf_variants_are_the_ctf_studys_n100_point_under_each_algorithm():
    """ALGORITHM+ctf-N100: the device, BL = N and update management of ctf-mnist's N100-gap5 (so SGD's is that
    run at the study preset), the reference for Tiki-Taka and TTv2 (w* mid-window, spread over the cells),
    one train of N pulses per read for the TTv2 family and the CTF transfer settings (8 reads per update, on
    soft-asym 1 for Tiki-Taka and TTv2, 8 for chopped TTv2 and AGAD)."""
    configs = variant_configs(get_experiment("transfer-fc-mnist"), ["all"], "study")
    ctf_run = variant_configs(get_experiment("ctf-mnist"), ["N100-gap5"], "study")["N100-gap5"]
    sgd = configs["sgd+ctf-N100"]
    assert sgd.rpu == ctf_run.rpu and sgd.train == ctf_run.train and sgd.data == ctf_run.data
    for algorithm in ALGORITHMS:
        cfg = configs[f"{algorithm}+ctf-N100"]
        assert cfg.rpu.device == ctf_run.rpu.device and cfg.rpu.update == ctf_run.rpu.update
        alg = cfg.rpu.algorithm
        assert getattr(alg, "reference", False) == (algorithm in ("tiki-taka", "ttv2"))
        assert getattr(alg, "max_pulses", 100) == 100
        assert getattr(alg, "n_reads_per_transfer", 8) == 8
        ctf_only = {"n_reads_per_transfer", "max_pulses", "reference"}  # the rest as tuned on soft-asym
        soft_asym = configs[f"{algorithm}+soft-asym"].rpu.algorithm
        assert alg.model_dump(exclude=ctf_only) == soft_asym.model_dump(exclude=ctf_only)
    assert configs["tiki-taka+soft-asym"].rpu.algorithm.n_reads_per_transfer == 1
    assert configs["ttv2+soft-asym"].rpu.algorithm.n_reads_per_transfer == 1
    assert configs["chopped-ttv2+soft-asym"].rpu.algorithm.n_reads_per_transfer == 8
    assert configs["agad+soft-asym"].rpu.algorithm.n_reads_per_transfer == 8


def test_lstm_variants_carry_the_asymmetry():
    configs = variant_configs(get_experiment("transfer-lstm"), ["all"], "study")
    for variant in ("sgd", "ttv2"):
        device = configs[variant].rpu.device
        assert device.up_down == 0.05 and device.up_down_dtod == 0.02
    assert configs["fp"].model.analog is False and configs["ttv2"].data.dataset == "warpeace"
    sym = configs["sgd-sym"].rpu.device
    assert sym.up_down == 0.0 and sym.up_down_dtod == 0.0 and sym.dw_min == configs["sgd"].rpu.device.dw_min
    rows = configs["tiki-taka-rows"].rpu.algorithm
    assert rows.type == "tiki-taka" and not rows.units_in_mbatch and rows.transfer_every == 16
    sym_a = configs["tiki-taka-rows-symA"].rpu.algorithm
    assert sym_a.fast_device.up_down == 0.0 and sym_a.slow_device is None and sym_a.transfer_every == 16
    assert configs["tiki-taka-rows-symC"].rpu.algorithm.slow_device.up_down_dtod == 0.0


def test_list_shows_the_variants_and_claims():
    out = CliRunner().invoke(app, ["list", "transfer-fc-mnist"])
    assert out.exit_code == 0
    assert "ttv2+reram-sb" in out.stdout and "agad+ecram-mo" in out.stdout
    assert "Tiki-Taka on non-symmetric devices" in out.stdout


@pytest.mark.data("mnist")
def test_tiny_run_of_a_transfer_variant_writes_its_outputs(tmp_path):
    from rpusim.framework.runner import run_experiment
    exp = get_experiment("transfer-fc-mnist")
    results = run_experiment(exp, tmp_path, variants=["ttv2+soft-asym"], preset="quick",
                             overrides={"data": {"train_limit": 200, "test_limit": 100}}, log=lambda *a: None)
    run = tmp_path / "ttv2+soft-asym"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final"] == results[0]["final"] and 0 <= summary["final"] <= 100
    assert (run / "metrics.csv").exists() and (run / "config.yaml").exists()
    assert "ttv2" in (run / "config.yaml").read_text()
    assert (tmp_path / "results.csv").exists()


def test_the_fc_network_builds_transfer_tiles():
    from rpusim.framework.network import build_network
    cfg = variant_configs(get_experiment("transfer-fc-mnist"), ["tiki-taka+reram-sb"])["tiki-taka+reram-sb"]
    model = build_network(cfg, (784,), 10)
    tiles = [m for m in model.modules() if isinstance(m, TransferTile)]
    assert len(tiles) == 3
