"""Sweeps: grid parsing and validation, a real local Ray instance on a tiny grid, resume, failures."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.config import ConfigError
from rpusim.framework.sweep import parse_grid, point_name, run_sweep, sweep_points
from rpusim.papers.catalog import get_experiment

TINY = {"data": {"train_limit": 100, "test_limit": 100}}


def test_parse_grid_values_are_yaml_and_lists_stay_whole():
    grid = parse_grid(["rpu.update.bl=1,10", "train.lr=0.01,1e-1", "model.hidden=[32,16],[8]",
                       "model.activation=tanh,relu"])
    assert grid == {"rpu.update.bl": [1, 10], "train.lr": [0.01, 0.1], "model.hidden": [[32, 16], [8]],
                    "model.activation": ["tanh", "relu"]}


@pytest.mark.parametrize("item,needle", [("rpu.update.bl", "expected KEY.PATH=V1,V2"),
                                         ("=1,2", "expected KEY.PATH=V1,V2"),
                                         ("train.lr=0.1,,0.2", "empty value")])
def test_parse_grid_rejects_bad_items(item, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_grid([item])
    with pytest.raises(ConfigError, match="given twice"):
        parse_grid(["a=1", "a=2"])


def test_point_names_are_safe_folder_names():
    name = point_name("rpu-baseline", {"model.hidden": [32, 16], "data.dataset": "a b/c"})
    assert name == "rpu-baseline__model.hidden=_32_16___data.dataset=a_b_c"
    assert "/" not in name and " " not in name


def test_grid_points_validated_before_any_work(tmp_path):
    exp = get_experiment("fc-mnist")
    with pytest.raises(ConfigError) as info:
        sweep_points(exp, parse_grid(["rpu.update.bl=1,0", "train.lr=0.1,2000"]), ["rpu-baseline"], "quick")
    text = str(info.value)
    assert "rpu.update.bl = 0" in text and "train.lr = 2000" in text and "<= 1000" in text
    points = sweep_points(exp, parse_grid(["rpu.update.bl=1,31", "train.lr=0.1,0.2"]), ["fp", "rpu-baseline"], "quick")
    assert len(points) == 8
    p = next(p for p in points if p.name == "rpu-baseline__rpu.update.bl=31__train.lr=0.2")
    assert p.cfg.rpu.update.bl == 31 and p.cfg.train.lr == 0.2 and p.cfg.variant == "rpu-baseline"
    assert p.cfg.data.train_limit == 2000  # the preset applies to every point


@pytest.mark.data("mnist")
def test_sweep_on_local_ray_with_a_failing_point_then_resume(tmp_path):
    exp = get_experiment("fc-mnist")
    # lr 1000 makes the floating-point ReLU network diverge: those points fail at run time
    grid = parse_grid(["seed=0,1", "train.lr=0.01,1000"])
    points = sweep_points(exp, grid, ["fp"], "quick", {**TINY, "model": {"activation": "relu"}})
    lines: list[str] = []
    results = run_sweep(exp.name, points, tmp_path, workers=2, claims=exp.claims, log=lines.append)

    assert any(line.startswith("ray: 2 CPUs (local") for line in lines), lines
    status = {r.name: r.status for r in results}
    good = [p.name for p in points if p.values["train.lr"] == 0.01]
    bad = [p.name for p in points if p.values["train.lr"] != 0.01]
    assert all(status[n] == "done" for n in good) and all(status[n] == "failed" for n in bad)
    for n in good:  # each point a normal run directory
        d = tmp_path / n
        assert all((d / f).exists() for f in ("config.yaml", "metrics.csv", "summary.json", "checkpoint.pt"))
    for n in bad:
        assert "loss is" in (tmp_path / n / "error.txt").read_text()
        assert (tmp_path / n / "config.yaml").exists()
    sweep = json.loads((tmp_path / "sweep.json").read_text())
    assert sweep["keys"] == ["seed", "train.lr"] and set(sweep["points"]) == set(status)
    table = json.loads((tmp_path / "results.json").read_text())
    assert sorted(r["point"] for r in table) == sorted(good)
    assert (tmp_path / "curves.png").exists()

    # resume in this process (one worker, no Ray): finished points skipped, failed ones retried
    (tmp_path / good[0] / "summary.json").unlink()
    lines.clear()
    again = {r.name: r.status for r in run_sweep(exp.name, points, tmp_path, workers=1, log=lines.append)}
    assert again[good[1]] == "skipped" and again[good[0]] == "done"
    assert all(again[n] == "failed" for n in bad)
    assert lines[0] == "sweep fc-mnist: 4 points, 1 finished before, 3 to run"

    # the same folders with another config: refused before any work
    other = sweep_points(exp, grid, ["fp"], "quick", {"data": {"train_limit": 50, "test_limit": 100}})
    with pytest.raises(ConfigError, match="hold runs of a different config"):
        run_sweep(exp.name, other, tmp_path, workers=1, log=lines.append)


@pytest.mark.data("mnist")
def test_sweep_cli_in_process_exit_codes(tmp_path):
    args = ["sweep", "fc-mnist", "--preset", "quick", "--variants", "fp", "--workers", "1", "--out", str(tmp_path),
            "--set", "data.train_limit=50", "--set", "data.test_limit=50"]
    ok = CliRunner().invoke(app, [*args, "--grid", "model.hidden=[16],[8]"])
    assert ok.exit_code == 0, ok.output
    assert "done     fp__model.hidden=_16_" in ok.output
    rerun = CliRunner().invoke(app, [*args, "--grid", "model.hidden=[16],[8]"])
    assert rerun.exit_code == 0 and "2 finished before, 0 to run" in rerun.output
    failing = CliRunner().invoke(app, [*args, "--grid", "train.lr=0.01,1000", "--set", "model.activation=relu",
                                       "--name", "s2"])
    assert failing.exit_code == 1
    assert "1 of 2 points failed" in failing.stderr
    invalid = CliRunner().invoke(app, [*args, "--grid", "rpu.update.bl=0"])
    assert invalid.exit_code == 2 and "rpu.update.bl = 0" in invalid.stderr
    variants_only = CliRunner().invoke(app, [*args, "--name", "s3"])  # no grid: one point per variant
    assert variants_only.exit_code == 0, variants_only.output
    assert "done     fp:" in variants_only.output and (tmp_path / "fc-mnist" / "s3" / "fp" / "summary.json").exists()
