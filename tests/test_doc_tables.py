"""The documents' tables and figures agree with the records (`rpusim report --all/--check`)."""
from __future__ import annotations

import datetime as dt
import json
import math
import random
import statistics
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.config import ConfigError
from rpusim.framework.computed import ComputedView
from rpusim.framework.doc_tables import find_blocks, report_documents
from rpusim.framework.seed_stats import difference
from rpusim.framework.records import record_runs, write_bench_record
from rpusim.papers.catalog import COMPUTED

from test_records import fake_run

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()

ERRORS = {"fp": [(9.0, 6.0, 4.5), (9.5, 6.5, 4.9), (8.5, 5.5, 4.2)],
          "rpu-baseline": [(9.0, 6.2, 5.9), (9.9, 6.4, 6.3), (8.7, 6.0, 6.1)]}
TABLE = ('<!-- rpusim:table study=s experiment=fc-mnist variants=fp,rpu-baseline epochs=1,3 columns=best '
         'compare=fp -->\n<!-- /rpusim:table -->\n')
FIGURE = '<!-- rpusim:figure study=s experiment=fc-mnist path=docs/img/s.png -->\n<!-- /rpusim:figure -->\n'


def repo_with_records(tmp_path: Path, doc: str = TABLE + FIGURE) -> Path:
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "README.md").write_text("# test\n")
    (repo / "RESULTS.md").write_text(doc)
    runs = [fake_run(tmp_path / "runs" / f"{v}-{s}", v, s, e) for v, seeds in ERRORS.items() for s, e in enumerate(seeds)]
    record_runs(runs, "s", repo)
    return repo


def check(repo: Path):
    return runner.invoke(app, ["report", "--check", "--root", str(repo)])


def test_the_repository_documents_agree_with_their_records():
    assert report_documents(REPO, write=False, views=COMPUTED) == []


def _views(value: list[float]) -> dict[str, ComputedView]:
    """A computed block whose numbers are ``value[0]`` at the time of computing."""
    return {"v": ComputedView(lambda: {"x": value[0]}, lambda d: f"| x |\n|---|\n| {d['x']:g} |",
                              lambda d, png: png.write_bytes(b"PNG"), "the x figure"),
            "bare": ComputedView(lambda: {"y": 2.0}, lambda d: f"y = {d['y']:g}")}


def test_a_computed_block_is_written_drawn_and_checked_against_the_code(tmp_path):
    doc = ('<!-- rpusim:computed name=v path=docs/img/v.png -->\n<!-- /rpusim:computed -->\n\n'
           '<!-- rpusim:computed name=bare -->\n<!-- /rpusim:computed -->\n')
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/x.md").write_text(doc)
    (tmp_path / "README.md").write_text("# x\n")
    value = [1.5]
    assert len(report_documents(tmp_path, write=False, views=_views(value))) == 3  # 2 blocks, 1 figure
    report_documents(tmp_path, write=True, views=_views(value))
    text = (tmp_path / "docs/x.md").read_text()
    assert "![the x figure](img/v.png)" in text and "| 1.5 |" in text and "y = 2\n" in text
    assert json.loads((tmp_path / "docs/img/v.json").read_text()) == {"x": 1.5}
    assert (tmp_path / "docs/img/v.png").read_bytes() == b"PNG"
    assert report_documents(tmp_path, write=False, views=_views(value)) == []
    value[0] = 2.5  # the code now computes other numbers
    problems = report_documents(tmp_path, write=False, views=_views(value))
    assert any("rpusim:computed name=v" in p and "differs from the code's numbers" in p for p in problems)
    assert any("v.json differs from the code's numbers" in p for p in problems)


def test_a_computed_block_from_records_reads_them_under_the_root_and_says_so(tmp_path):
    (tmp_path / "README.md").write_text("<!-- rpusim:computed name=r path=docs/img/r.png -->\n<!-- /rpusim:computed -->\n")
    (tmp_path / "results" / "s").mkdir(parents=True)
    (tmp_path / "results" / "s" / "n.txt").write_text("4")
    views = {"r": ComputedView(lambda root: {"n": int((root / "results/s/n.txt").read_text())},
                               lambda d: f"n = {d['n']}", lambda d, png: png.write_bytes(b"PNG"), records="results/s")}
    report_documents(tmp_path, write=True, views=views)
    text = (tmp_path / "README.md").read_text()
    assert "Generated from the records in `results/s/`" in text and "n = 4\n" in text
    (tmp_path / "results" / "s" / "n.txt").write_text("5")  # a new record
    problems = report_documents(tmp_path, write=False, views=views)
    assert any("name=r" in p and "differs from the records" in p for p in problems)
    assert any("r.json differs from the records" in p for p in problems)


@pytest.mark.parametrize("marker, message", [
    ("name=nothing", "name=nothing: no such computed block (allowed: ctf-"),
    ("path=docs/img/a.png", "needs name="),
])
def test_bad_computed_markers_are_refused(tmp_path, marker, message):
    (tmp_path / "README.md").write_text(f"<!-- rpusim:computed {marker} -->\n<!-- /rpusim:computed -->\n")
    res = check(tmp_path)
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output


def test_a_computed_block_without_a_figure_refuses_a_path(tmp_path):
    (tmp_path / "README.md").write_text("<!-- rpusim:computed name=bare path=docs/img/b.png -->\n"
                                        "<!-- /rpusim:computed -->\n")
    with pytest.raises(ConfigError, match="draws no figure"):
        report_documents(tmp_path, write=False, views=_views([1.0]))


def test_a_generated_table_shows_mean_and_sd_over_seeds(tmp_path):
    repo = repo_with_records(tmp_path)
    assert check(repo).exit_code == 1  # the empty blocks differ from the records
    res = runner.invoke(app, ["report", "--all", "--root", str(repo)])
    assert res.exit_code == 0, res.output
    text = (repo / "RESULTS.md").read_text()
    for variant, seeds in ERRORS.items():
        for epoch in (0, 2):
            vals = [s[epoch] for s in seeds]
            assert f"{statistics.fmean(vals):.2f} ± {statistics.stdev(vals):.2f}" in text
    d = statistics.fmean(s[2] for s in ERRORS["rpu-baseline"]) - statistics.fmean(s[2] for s in ERRORS["fp"])
    se = math.sqrt(sum(statistics.variance([s[2] for s in ERRORS[v]]) / 3 for v in ERRORS))
    assert f"{d:+.2f} ± {se:.2f}: resolved" in text  # 1.60 against 2·0.25
    assert "0, 1, 2" in text
    assert check(repo).exit_code == 0


def test_the_check_catches_a_changed_number_in_the_document(tmp_path):
    repo = repo_with_records(tmp_path)
    report_documents(repo, write=True)
    doc = repo / "RESULTS.md"
    good = doc.read_text()
    doc.write_text(good.replace("4.53 ± 0.35", "4.43 ± 0.35", 1))
    assert "4.43" in doc.read_text()
    res = check(repo)
    assert res.exit_code == 1 and "RESULTS.md:1: rpusim:table study=s" in res.output


def test_the_check_catches_a_changed_record_and_its_figure_data(tmp_path):
    repo = repo_with_records(tmp_path)
    report_documents(repo, write=True)
    side = json.loads((repo / "docs/img/s.json").read_text())
    assert side["variants"]["fp"]["mean"][3] == pytest.approx(statistics.fmean(s[2] for s in ERRORS["fp"]), abs=1e-6)
    assert side["variants"]["fp"]["n"][3] == 3
    metrics = repo / "results/s/fc-mnist/fp/seed-1/metrics.csv"
    metrics.write_text(metrics.read_text().replace(",4.9,", ",4.8,"))
    problems = report_documents(repo, write=False)
    assert any("rpusim:table" in p for p in problems)
    assert any("s.json differs from the records" in p for p in problems)


def test_blocks_without_records_say_how_to_make_them_and_pass_the_check(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text('<!-- rpusim:table study=none experiment=fc-mnist run="rpusim run fc-mnist" -->\n'
                                    '<!-- /rpusim:table -->\n')
    report_documents(repo, write=True)
    text = (repo / "README.md").read_text()
    assert "No record yet in `results/none/fc-mnist/`" in text and "`rpusim run fc-mnist`" in text
    assert check(repo).exit_code == 0


@pytest.mark.parametrize("doc, message", [
    ("<!-- rpusim:table study=s experiment=e -->\nno end\n", "without its pair"),
    ("<!-- rpusim:table study=s experiment=e colour=red -->\n<!-- /rpusim:table -->\n", "'colour=red': unknown marker key"),
    ("<!-- rpusim:figure study=s experiment=e -->\n<!-- /rpusim:figure -->\n", "needs path="),
])
def test_bad_markers_are_refused_naming_file_and_line(tmp_path, doc, message):
    (tmp_path / "README.md").write_text("# x\n\n" + doc)
    res = check(tmp_path)
    assert res.exit_code == 2 and message in res.output and "README.md:3" in res.output
    assert "Traceback" not in res.output
    with pytest.raises(ConfigError):
        find_blocks(doc, Path("d.md"))


def test_report_keeps_its_run_folder_mode_and_refuses_mixing(tmp_path):
    res = runner.invoke(app, ["report", "--all", str(tmp_path)])
    assert res.exit_code == 2 and "give no run folders" in res.output
    assert runner.invoke(app, ["report"]).exit_code == 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_resolution_rule_false_alarm_rate_at_three_seeds(seed):
    """Two settings with the same mean, 3 seeds each: |Δ| > 2·SE happens with the probability of
    |T| > 2 for Student's t with 4 degrees of freedom (equal n: the statistic is the pooled t), 0.1161."""
    rng = random.Random(seed)
    trials = 4000
    hits = sum(difference([rng.gauss(0, 1) for _ in range(3)], [rng.gauss(0, 1) for _ in range(3)])[2]
               for _ in range(trials))
    p = 0.116117  # 2·(1 − F_t4(2))
    assert abs(hits / trials - p) < 4.5 * math.sqrt(p * (1 - p) / trials)


def test_the_resolution_rule_needs_two_seeds_a_side_and_finds_large_shifts():
    assert difference([1.0], [2.0, 3.0])[2] is None
    rng = random.Random(0)
    found = sum(difference([rng.gauss(5, 1) for _ in range(3)], [rng.gauss(0, 1) for _ in range(3)])[2]
                for _ in range(500))
    assert found > 480


def test_the_benchmark_block_shows_the_latest_record(tmp_path):
    (tmp_path / "BENCHMARKS.md").write_text("<!-- rpusim:bench -->\n<!-- /rpusim:bench -->\n")
    old = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    write_bench_record("bench_x", {"ratio": {"value": 9.0, "unit": "×", "rounds": [9.0]}}, {}, tmp_path,
                       ["bench_x.py"], old)
    write_bench_record("bench_x", {"ratio": {"value": 2.2, "unit": "×", "rounds": [2.4, 1.8, 2.2]}},
                       {"rounds": 3}, tmp_path, ["bench_x.py", "--rounds", "3"], old + dt.timedelta(days=1))
    report_documents(tmp_path, write=True)
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "**2.2×**" in text and "1.8–2.4×" in text and "9" not in text.split("\n")[3]
    assert "`bench_x.py --rounds 3`" in text and "2026-01-02T00:00:00Z" in text


def _curve(axis, x, fp, analog):
    return {"value": analog / fp, "unit": "×", "rounds": [analog / fp],
            "curve": {"axis": axis, "x": x, "fp_ms": fp, "analog_ms": analog}}


def test_the_cost_curve_block_draws_the_latest_scaling_record_and_the_table_leaves_its_points_out(tmp_path):
    (tmp_path / "BENCHMARKS.md").write_text(
        "<!-- rpusim:bench -->\n<!-- /rpusim:bench -->\n"
        "<!-- rpusim:benchcurve bench=scaling path=docs/img/s.png -->\n<!-- /rpusim:benchcurve -->\n")
    when = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    figures = {"size=256: analog ÷ fp": _curve("size", 256, 1.0, 3.0), "size=512: analog ÷ fp": _curve("size", 512, 4.0, 6.0),
               "bl=1: analog ÷ fp": _curve("bl", 1, 2.0, 2.5)}
    write_bench_record("scaling", figures, {}, tmp_path, ["bench_scaling.py"], when)
    assert check(tmp_path).exit_code == 1  # generated block and figure missing
    report_documents(tmp_path, write=True)
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| 256 | 1 | 3 | **3.00×** |" in text and "| 512 | 4 | 6 | **1.50×** |" in text
    assert "| bl | fp ms/step |" in text and "![cost curves of scaling](docs/img/s.png)" in text
    assert "| scaling |" not in text and "* scaling:" not in text  # curves are not rows of the ratio table
    data = json.loads((tmp_path / "docs/img/s.json").read_text())
    assert data["axes"]["size"]["x"] == [256, 512] and (tmp_path / "docs/img/s.png").stat().st_size > 1000
    assert check(tmp_path).exit_code == 0
    figures["size=512: analog ÷ fp"] = _curve("size", 512, 4.0, 8.0)  # a newer record: the block is stale
    write_bench_record("scaling", figures, {}, tmp_path, ["bench_scaling.py"], when + dt.timedelta(days=1))
    assert check(tmp_path).exit_code == 1


def test_markers_inside_fenced_code_or_prose_are_examples_not_blocks(tmp_path):
    doc = ("Blocks sit between `<!-- rpusim:table ... -->` markers, e.g.\n\n```\n"
           "<!-- rpusim:table study=s experiment=e -->\n(generated)\n<!-- /rpusim:table -->\n<!-- rpusim:bench -->\n```\n")
    (tmp_path / "README.md").write_text(doc)
    assert find_blocks(doc, Path("README.md")) == []
    assert check(tmp_path).exit_code == 0 and (tmp_path / "README.md").read_text() == doc


def test_whole_run_columns_count_finished_runs_only(tmp_path):
    """A seed still training enters the per-epoch cells it has reached, but not best / mean of last K /
    final: its 'best so far' is no run's result."""
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "README.md").write_text("# test\n")
    (repo / "RESULTS.md").write_text('<!-- rpusim:table study=s experiment=fc-mnist variants=fp epochs=1,3 '
                                      'columns=best,final,mean_last2 -->\n<!-- /rpusim:table -->\n')
    runs = [fake_run(tmp_path / "runs" / "a", "fp", 0, (9.0, 6.0, 4.0)),
            fake_run(tmp_path / "runs" / "b", "fp", 1, (9.4, 6.4, 4.4)),
            fake_run(tmp_path / "runs" / "c", "fp", 2, (5.0,), finished=False)]
    record_runs(runs, "s", repo, allow_unfinished=True)
    assert runner.invoke(app, ["report", "--all", "--root", str(repo)]).exit_code == 0
    row = next(line for line in (repo / "RESULTS.md").read_text().splitlines() if line.startswith("| `fp`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == f"{statistics.fmean([9.0, 9.4, 5.0]):.2f} ± {statistics.stdev([9.0, 9.4, 5.0]):.2f}"
    assert cells[3] == "4.20 ± 0.28 (n=2)"                       # epoch 3: the two finished seeds
    assert cells[4] == "4.20 ± 0.28 (n=2)" and cells[5] == "4.20 ± 0.28 (n=2)"  # best, final
    assert cells[6] == "5.20 ± 0.28 (n=2)"                       # mean of epochs 2-3, finished seeds
