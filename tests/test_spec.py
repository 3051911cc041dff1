"""The device specification explorer: the threshold search on synthetic metrics with a known
threshold, the parameter table per device type, refusals of bad input, resume of a half-done spec."""
from __future__ import annotations

import math
import random

import pytest
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.config import ConfigError
from rpusim.framework.spec import BAND_SE, Stat, find_limit, plan_spec, select_params, spec_params
from rpusim.papers.catalog import get_experiment

REF = Stat(math.nan, 10.0, math.nan, 1)


def _exact(values, f):
    return [Stat(v, f(v), math.nan, 1) for v in values]


def test_linear_grid_interpolates_to_the_known_crossing():
    values = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    lim = find_limit(_exact(values, lambda x: 10.0 + 2.0 * x), REF, tolerance=0.5, grid="linear")
    assert lim.status == "crossed" and lim.limit == pytest.approx(0.25)
    assert lim.last_inside.value == 0.2 and lim.first_outside.value == 0.3


def test_log_grid_toward_smaller_values_interpolates_in_log_value():
    values = [0.6, 0.2, 0.06, 0.02]  # the baseline first, then toward worse (smaller)
    threshold = 0.1  # metric = fp + log10(0.6/x): leaves fp + T at x = 0.6·10^(−T)
    tol = math.log10(0.6 / threshold)
    lim = find_limit(_exact(values, lambda x: 10.0 + math.log10(0.6 / x)), REF, tol, grid="log")
    assert lim.status == "crossed" and lim.limit == pytest.approx(threshold, rel=1e-9)


def test_integer_grid_keeps_the_last_value_inside():
    lim = find_limit(_exact([9, 7, 5, 3], lambda b: 10.0 + (9 - b) * 0.2), REF, tolerance=0.5, grid="integer")
    assert lim.status == "crossed" and lim.limit == 7


def test_baseline_outside_and_not_reached():
    assert find_limit(_exact([1, 2], lambda x: 11.0), REF, 0.5, "linear").status == "baseline_outside"
    lim = find_limit(_exact([1, 2, 3], lambda x: 10.1), REF, 0.5, "linear")
    assert lim.status == "not_reached" and lim.limit == 3 and lim.first_outside is None


def test_a_wiggle_back_into_the_band_does_not_extend_the_limit():
    means = {0: 10.0, 1: 10.2, 2: 10.9, 3: 10.1, 4: 12.0}  # outside at 2, back inside at 3
    lim = find_limit(_exact(list(means), means.get), REF, 0.5, "linear")
    assert lim.status == "crossed" and 1 < lim.limit < 2


def test_the_band_widens_by_k_standard_errors_of_the_seed_spread():
    ref = Stat(math.nan, 10.0, 0.4, 4)              # SE 0.2
    point = Stat(1.0, 10.0 + 0.5 + 0.5, 0.4, 4)     # Δ = T + 0.5; k·SE_diff = 2·0.283 = 0.566 > 0.5
    assert find_limit([Stat(0.0, 10.0, 0.4, 4), point], ref, 0.5, "linear").status == "not_reached"
    assert find_limit([Stat(0.0, 10.0, 0.4, 4), point], ref, 0.5, "linear", k=1.0).status == "crossed"


@pytest.mark.parametrize("rng_seed", range(10))
def test_noisy_synthetic_metric_finds_the_known_threshold(rng_seed):
    """metric = 10 + x + noise (σ = 0.05, 4 seeds per value); with T = 0.3 the band's edge is at
    x* = T + k·σ·√(2/4) ≈ 0.371; the search lands within 5 standard errors of the mean difference."""
    rng = random.Random(rng_seed)
    sigma, n, tol = 0.05, 4, 0.3

    def stat(x, centre):
        return Stat.of(x, [centre + rng.gauss(0, sigma) for _ in range(n)])

    ref = stat(math.nan, 10.0)
    stats = [stat(i / 20, 10.0 + i / 20) for i in range(0, 41)]
    lim = find_limit(stats, ref, tol, "linear")
    x_star = tol + BAND_SE * sigma * math.sqrt(2 / n)
    assert lim.status == "crossed"
    assert abs(lim.limit - x_star) < 5 * sigma * math.sqrt(2 / n)


def test_tolerance_must_be_positive():
    with pytest.raises(ConfigError, match="tolerance"):
        find_limit(_exact([1], lambda x: 10.0), REF, 0.0, "linear")


def _params(exp: str, variant: str, **kw):
    base, params, pairs, points = plan_spec(get_experiment(exp), variant, "fp", "quick", {}, 0.3, 1, **kw)
    return {p.name: p for p in params}, points


def test_constant_step_parameter_table():
    params, points = _params("fc-mnist", "rpu-baseline")
    assert {"dw_min", "dw_min_dtod", "dw_min_std", "w_bounds", "w_bounds_dtod", "up_down", "up_down_dtod",
            "bl", "out_noise", "dac_bits", "adc_bits"} == set(params)
    dw = params["dw_min"]
    assert dw.baseline == 0.001 and dw.grid == "log" and dw.worse == "larger" and dw.values[0] == 0.001
    assert list(dw.values) == sorted(dw.values)
    bounds = params["w_bounds"]
    assert bounds.worse == "smaller" and list(bounds.values) == sorted(bounds.values, reverse=True)
    assert bounds.assign(0.06) == {"rpu.device.w_max": 0.06, "rpu.device.w_min": -0.06}
    assert params["adc_bits"].values[0] == 9 and params["adc_bits"].assign(5) == {
        "rpu.forward.out_bits": 5, "rpu.backward.out_bits": 5}
    # one fp and one baseline point per seed, shared by every parameter; the value reaches the config
    assert [p.name for p in points[:2]] == ["fp__seed=0", "rpu-baseline__seed=0"]
    adc4 = next(p for p in points if p.values.get("adc_bits") == 4)
    assert adc4.cfg.rpu.forward.out_bits == 4 and adc4.cfg.rpu.backward.out_bits == 4
    assert adc4.cfg.data.train_limit == 2000  # the budget preset applies


def test_ctf_and_perfect_periphery_parameter_tables():
    ctf, _ = _params("ctf-mnist", "N100-gap5")
    assert set(ctf) == {"ctf_n", "t_gap", "out_noise", "dac_bits", "adc_bits"}
    n = ctf["ctf_n"]
    assert n.baseline == 100 and n.worse == "smaller"
    settings = n.assign(20)  # program time conserved: BL·pw stays 100 · 1 µs
    assert settings["rpu.update.bl"] == 20 and settings["rpu.update.bl"] * settings["rpu.device.pw"] == 100
    assert ctf["t_gap"].baseline == 5.0 and ctf["t_gap"].worse == "larger"
    clean, _ = _params("fc-mnist", "pulses-only")  # perfect periphery: no periphery parameters
    assert "out_noise" not in clean and "dw_min" in clean


def test_select_params_refuses_unknown_names_and_empty_ranges():
    base = plan_spec(get_experiment("fc-mnist"), "rpu-baseline", "fp", "quick", {}, 0.3, 1)[0]
    params = spec_params(base.to_dict())
    with pytest.raises(ConfigError, match="'t_gap': unknown"):
        select_params(params, ["dw_min", "t_gap"], {})
    with pytest.raises(ConfigError, match="empty range"):
        select_params(params, None, {"dw_min": [0.0005, 0.001]})  # nothing larger than the baseline


@pytest.mark.parametrize("args, needle", [
    (["--params", "dw_min,memristance"], "'memristance': unknown"),
    (["--grid", "up_down=-0.1"], "--grid up_down: empty range"),
    (["--tolerance", "0"], "--tolerance 0.0: must be a finite number > 0"),
    (["--tolerance", "-1"], "--tolerance -1.0"),
    (["--budget", "forever"], "--budget 'forever': unknown for fc-mnist (allowed: quick, short, spec, full)"),
    (["--variant", "fp"], "not analog"),
])
def test_cli_refuses_bad_input_before_any_work(tmp_path, args, needle):
    result = CliRunner().invoke(app, ["spec", "fc-mnist", "--out", str(tmp_path), "--workers", "1", *args])
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.data("mnist")
def test_a_half_done_spec_resumes_skipping_finished_points(tmp_path):
    tiny = ["--set", "data.train_limit=40", "--set", "data.test_limit=40", "--set", "model.hidden=[8]",
            "--workers", "1", "--seeds", "1", "--out", str(tmp_path), "--grid", "dw_min=0.01",
            "--grid", "out_noise=0.6"]
    first = CliRunner().invoke(app, ["spec", "fc-mnist", "--params", "dw_min", *tiny])
    assert first.exit_code == 0, first.output
    assert "3 points, 0 finished before, 3 to run" in first.output
    folder = tmp_path / "fc-mnist" / "spec-rpu-baseline-quick"
    done = folder / "rpu-baseline__dw_min=0.01__seed=0" / "summary.json"
    stamp = done.stat().st_mtime_ns
    second = CliRunner().invoke(app, ["spec", "fc-mnist", "--params", "dw_min,out_noise", *tiny])
    assert second.exit_code == 0, second.output
    assert "4 points, 3 finished before, 1 to run" in second.output
    assert done.stat().st_mtime_ns == stamp  # not trained again
    sheet = (folder / "spec.md").read_text()
    assert "| dw_min |" in sheet and "| out_noise |" in sheet and "Training budget" in sheet
    assert (folder / "spec_dw_min.png").exists() and (folder / "spec_out_noise.png").exists()


# ---------------------------------------------------------------- 2-D maps (--pair)

def test_pair_points_add_the_interior_cells_and_share_the_axes():
    _, points = _params("fc-mnist", "rpu-baseline", names=["dw_min"], grids={"dw_min": [0.003, 0.01]},
                        pair_names=["dw_min,up_down"])
    names = [p.name for p in points]
    assert len(names) == len(set(names))
    up = [0.02, 0.05, 0.1, 0.2]  # up_down's default grid, added to the sheet by the pair
    interior = [p for p in points if {"dw_min", "up_down"} <= set(p.values)]
    assert len(interior) == 2 * len(up)
    assert len(points) == 2 + 2 + len(up) + 2 * len(up)  # fp, baseline, the two axes, the interior
    cell = next(p for p in interior if p.values["dw_min"] == 0.01 and p.values["up_down"] == 0.05)
    assert cell.cfg.rpu.device.dw_min == 0.01 and cell.cfg.rpu.device.up_down == 0.05


def test_map_marks_the_cells_outside_the_band_of_a_known_synthetic_metric(tmp_path):
    """metric = 10 + a + b (one seed per cell): with T = 0.25 the cells with a + b > 0.25 are outside."""
    from rpusim.framework.spec_maps import cell, map_figure, map_stats, map_table

    base = plan_spec(get_experiment("fc-mnist"), "rpu-baseline", "fp", "quick", {}, 0.3, 1)[0]
    params = {p.name: p for p in select_params(spec_params(base.to_dict()), ["up_down", "up_down_dtod"],
                                               {"up_down": [0.1, 0.2], "up_down_dtod": [0.1, 0.3]})}
    p, q = params["up_down"], params["up_down_dtod"]
    samples = {cell(p, a, q, b): [10.0 + a + b] for a in p.values for b in q.values}
    grid = map_stats(p, q, samples)
    table = map_table(p, q, grid, REF, tolerance=0.25)
    inside = {(a, b): "✓" for a in p.values for b in q.values if a + b <= 0.25}
    for a, line in zip(p.values, table.splitlines()[2:]):
        marks = [c.strip()[-1] for c in line.strip("|").split("|")[1:]]
        assert marks == ["✓" if (a, b) in inside else "✗" for b in q.values]
    assert grid[0][0].mean == pytest.approx(10.0 + p.baseline + q.baseline)
    assert map_figure(p, q, grid, REF, 0.25, "test_error", tmp_path / "m.png", "t").stat().st_size > 1000


@pytest.mark.parametrize("pair, needle", [
    ("dw_min", "--pair 'dw_min': give two parameter names"),
    ("dw_min,dw_min", "must differ"),
    ("dw_min,memristance", "parameter 'memristance' unknown"),
])
def test_cli_refuses_bad_pairs(tmp_path, pair, needle):
    result = CliRunner().invoke(app, ["spec", "fc-mnist", "--out", str(tmp_path), "--workers", "1", "--pair", pair])
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.data("mnist")
def test_a_pair_map_runs_end_to_end(tmp_path):
    tiny = ["--set", "data.train_limit=40", "--set", "data.test_limit=40", "--set", "model.hidden=[8]",
            "--workers", "1", "--seeds", "1", "--out", str(tmp_path), "--params", "dw_min",
            "--grid", "dw_min=0.01", "--grid", "out_noise=0.6", "--pair", "dw_min,out_noise"]
    result = CliRunner().invoke(app, ["spec", "fc-mnist", *tiny])
    assert result.exit_code == 0, result.output
    assert "5 points, 0 finished before, 5 to run" in result.output  # fp, baseline, 2 axes, 1 interior
    folder = tmp_path / "fc-mnist" / "spec-rpu-baseline-quick"
    sheet = (folder / "spec.md").read_text()
    assert "### dw_min × out_noise" in sheet and "| out_noise |" in sheet
    assert (folder / "spec_map_dw_min__out_noise.png").exists()
