"""``rpusim report``: every run in the table (done, unfinished, failed), claims, curves and heat maps."""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.image
import yaml
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.framework import variant_configs
from rpusim.framework.report import find_runs, write_report
from rpusim.framework.train import save_config, summarize, write_metrics
from rpusim.papers.catalog import EXPERIMENTS, get_experiment


def _fake_run(d: Path, variant: str, errors: list[float], finished: bool = True, **overrides) -> None:
    """A run directory as train_run leaves it, with the given test error per epoch (no training)."""
    cfg = variant_configs(get_experiment("fc-mnist"), [variant], "quick", overrides)[variant]
    d.mkdir(parents=True)
    save_config(cfg, d)
    rows = [{"epoch": e, "train_loss": 1.0 / (e + 1), "test_error": err, "test_loss": 0.5, "time_s": 2.0}
            for e, err in enumerate(errors)]
    write_metrics(rows, d)
    if finished:
        (d / "summary.json").write_text(json.dumps(summarize(cfg, rows, "test_error")))


def test_report_lists_every_run_with_status_and_claims(tmp_path):
    _fake_run(tmp_path / "fc-mnist" / "fp", "fp", [90, 10, 5, 6])
    _fake_run(tmp_path / "fc-mnist" / "rpu-baseline", "rpu-baseline", [90, 20, 8, 7, 9, 6, 5, 4])
    _fake_run(tmp_path / "fc-mnist" / "only-c2c", "only-c2c", [90, 30], finished=False)
    failed = tmp_path / "fc-mnist" / "broken"
    failed.mkdir()
    (failed / "error.txt").write_text("Traceback (most recent call last):\n  ...\nValueError: boom | here\n")

    path = write_report([tmp_path], experiments=EXPERIMENTS)
    text = path.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| fc-mnist/")]
    assert len(rows) == 4
    fp = next(r for r in rows if r.startswith("| fc-mnist/fp "))
    assert "| 6.000 | 5.000 | 7.000 | 3 | 8.0 | done |" in fp  # final, best, mean of the last 3 (< 5), epochs, time
    baseline = next(r for r in rows if r.startswith("| fc-mnist/rpu-baseline "))
    assert "| 4.000 | 4.000 | 6.200 | 7 |" in baseline  # mean of epochs 3-7: (7 + 9 + 6 + 5 + 4) / 5
    assert get_experiment("fc-mnist").claims["fp"] in fp
    assert "unfinished (epoch 1)" in next(r for r in rows if "only-c2c" in r)
    assert "failed: ValueError: boom \\| here" in next(r for r in rows if "broken" in r)
    assert "Gokmen & Vlasov 2016" in text
    curves = matplotlib.image.imread(tmp_path / "curves.png")
    assert curves.ndim == 3 and curves.shape[0] > 300 and curves.std() > 0.05 and "![curves](curves.png)" in text


def test_heat_map_for_two_key_sweep_and_line_for_one_key(tmp_path, monkeypatch):
    two = tmp_path / "sweeps" / "two"
    points = {}
    for i, bl in enumerate([1, 10]):
        for j, lr in enumerate([0.01, 0.1]):
            name = f"rpu-baseline__rpu.update.bl={bl}__train.lr={lr}"
            points[name] = {"variant": "rpu-baseline", "rpu.update.bl": bl, "train.lr": lr}
            if (i, j) != (1, 1):  # one point missing: its cell is n/a
                _fake_run(two / name, "rpu-baseline", [90, 10 + i + 2 * j],
                          rpu={"update": {"bl": bl}}, train={"lr": lr})
    (two / "sweep.json").write_text(json.dumps({"experiment": "fc-mnist", "keys": ["rpu.update.bl", "train.lr"],
                                                "points": points}))
    one = tmp_path / "sweeps" / "one"
    pts = {}
    for bl in (1, 10, 31):
        name = f"fp__rpu.update.bl={bl}"
        pts[name] = {"variant": "fp", "rpu.update.bl": bl}
        _fake_run(one / name, "fp", [90, bl / 10], rpu={"update": {"bl": bl}})
    (one / "sweep.json").write_text(json.dumps({"experiment": "fc-mnist", "keys": ["rpu.update.bl"], "points": pts}))

    from rpusim.framework import report
    drawn = {}
    for name in ("heatmap", "metric_vs_value"):
        def spy(*args, _real=getattr(report, name), _name=name, **kwargs):
            drawn[_name] = args
            return _real(*args, **kwargs)
        monkeypatch.setattr(report, name, spy)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(tmp_path / "sweeps"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    assert len(find_runs([tmp_path / "sweeps"])) == 6
    present = [n for n in points if (two / n).exists()] + list(pts)
    assert len(present) == 6 and all(f"| two/{n} |" in text or f"| one/{n} |" in text for n in present)
    # the heat map's cells are the runs' final errors (10 + i + 2j), the missing point n/a
    grid, row_key, rows, col_key, cols, metric, path = drawn["heatmap"][:7]
    assert (row_key, rows, col_key, cols, metric) == ("rpu.update.bl", [1, 10], "train.lr", [0.01, 0.1], "test_error")
    assert grid[0] == [10.0, 12.0] and grid[1][0] == 11.0 and math.isnan(grid[1][1])
    assert path == out / "heatmap_two_rpu-baseline.png" and f"![{path.stem}]({path.name})" in text
    assert drawn["metric_vs_value"][:3] == ([1, 10, 31], [0.1, 1.0, 3.1], "rpu.update.bl")
    for png in (path, out / "sweep_one_fp.png"):
        image = matplotlib.image.imread(png)
        assert image.ndim == 3 and image.shape[0] > 200 and image.std() > 0.05


def test_report_of_several_folders_labels_by_folder_and_fails_cleanly(tmp_path):
    _fake_run(tmp_path / "a" / "fc-mnist" / "fp", "fp", [90, 10])
    _fake_run(tmp_path / "b" / "fc-mnist" / "fp", "fp", [90, 12])
    path = write_report([tmp_path / "a", tmp_path / "b"], tmp_path / "out")
    text = path.read_text()
    assert "| a/fc-mnist/fp |" in text and "| b/fc-mnist/fp |" in text
    assert yaml.safe_load((tmp_path / "a" / "fc-mnist" / "fp" / "config.yaml").read_text())["rpusim_version"]
    empty = CliRunner().invoke(app, ["report", str(tmp_path / "out")])
    assert empty.exit_code == 2 and "no run directories" in empty.stderr
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no such folder" in missing.stderr


def test_learning_curves_draw_bars_for_one_epoch_runs(tmp_path):
    from rpusim.framework.plots import learning_curves
    runs = {}
    for name, epochs in (("a", 1), ("b", 1), ("c", 3)):
        run = tmp_path / name
        run.mkdir()
        lines = ["epoch,test_error"] + [f"{e},{90 - 10 * e}" for e in range(epochs + 1)]
        (run / "metrics.csv").write_text("\n".join(lines) + "\n")
        runs[name] = run
    one_epoch = learning_curves({k: runs[k] for k in "ab"}, "test_error", tmp_path / "bars.png")
    lines = learning_curves(runs, "test_error", tmp_path / "lines.png")
    assert one_epoch.stat().st_size > 1000 and lines.stat().st_size > 1000


def test_error_curves_spanning_decades_get_a_log_axis():
    """Like the papers' test-error plots: the untrained ≈ 90 % and the trained ≈ 1 % both readable."""
    from rpusim.framework.plots import spans_decades
    assert spans_decades([89.8, 2.1, 1.3]) and not spans_decades([14.8, 12.0, 9.5])
    assert not spans_decades([]) and not spans_decades([5.0, 0.0])
