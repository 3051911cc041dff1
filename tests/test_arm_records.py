"""Side-by-side comparison records (benchmarks/compare_aihwkit.py): meta.json, merging, the
``rpusim:compare`` block of the documents. No aihwkit needed: the lines are written by hand."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rpusim.config import ConfigError
from rpusim.framework.arm_records import merge_arm_runs, write_arm_meta
from rpusim.framework.doc_tables import report_documents

REPO = Path(__file__).resolve().parents[1]
STUDY = "results/compare-aihwkit/s"
BLOCK = (f"<!-- rpusim:compare dir={STUDY} metrics=train_loss,test_error ref=aihwkit "
         "path=docs/img/s.png -->\n<!-- /rpusim:compare -->\n")
# per arm: (train_loss, test_error) per seed after epoch 1
VALUES = {"rpusim": [(0.5, 10.0), (0.6, 20.0), (0.7, 30.0)],   # loss 0.60 ± 0.10, error 20 ± 10
          "aihwkit": [(0.9, 25.0), (1.0, 26.0), (1.1, 27.0)]}  # loss 1.00 ± 0.10, error 26 ± 1


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("compare_aihwkit", REPO / "benchmarks" / "compare_aihwkit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def arm_run(folder: Path, arm: str, values=None, commit_repo: Path | None = None, settings=None) -> Path:
    """A run folder as compare_aihwkit.py writes it for one arm, with the given values at epoch 1."""
    folder.mkdir(parents=True, exist_ok=True)
    write_arm_meta(folder, settings or {"experiment": "cnn-fashion", "epochs": 1, "train_limit": 0},
                   {arm: {"variant": arm}}, [0, 1, 2], {"aihwkit": "1.2.0"}, commit_repo or REPO,
                   ["compare", arm], "2026-01-01T00:00:00Z")
    lines = [{"arm": arm, "seed": s, "epoch": 1, "train_loss": loss, "test_error": err, "test_loss": 1.0,
              "seconds": 2.0} for s, (loss, err) in enumerate(values or VALUES[arm])]
    (folder / "records.jsonl").write_text("".join(json.dumps(ln) + "\n" for ln in lines))
    return folder


def repo_with(tmp_path: Path, doc: str = BLOCK, values: dict | None = None) -> Path:
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "README.md").write_text("# test\n")
    (repo / "RESULTS.md").write_text(doc)
    if values is not None:
        runs = [arm_run(tmp_path / arm, arm, v) for arm, v in values.items()]
        merge_arm_runs(runs, repo / STUDY)
    return repo


def test_a_run_writes_its_provenance_into_meta_json(script, tmp_path):
    path = script.write_meta(tmp_path, ["rpusim", "aihwkit"], [0, 1], 3, 200, argv=["x", "--out", "o"],
                             date="2026-01-01T00:00:00Z")
    meta = json.loads(path.read_text())
    assert meta["settings"] == {"experiment": "cnn-fashion", "epochs": 3, "train_limit": 200}
    assert meta["arms"]["rpusim"] == {"variant": "+um", "overrides": {}}
    assert meta["arms"]["aihwkit"] == {"variant": "fp", "rpu_config_from": "+um"}
    assert set(meta["versions"]) == {"rpusim", "torch", "aihwkit"}
    assert meta["commit"] not in ("", "unknown") and meta["command"] == "x --out o"
    assert meta["seeds"] == [0, 1] and meta["date"] == "2026-01-01T00:00:00Z" and meta["machine"]["cpu"]


def test_the_fc_network_compares_its_rpu_baseline(script, tmp_path):
    meta = json.loads(script.write_meta(tmp_path, list(script.ARMS), [0], 1, 200, "fc-mnist").read_text())
    assert meta["settings"]["experiment"] == "fc-mnist"
    assert meta["arms"]["aihwkit"] == {"variant": "fp", "rpu_config_from": "rpu-baseline"}
    cfg = script.run_config("rpusim-aihwkit", 0, 1, 200, "fc-mnist")
    assert (cfg.experiment, cfg.variant, cfg.data.train_limit) == ("fc-mnist", "rpu-baseline", 200)
    assert cfg.rpu.update.clip == "per_pulse" and cfg.rpu.device.up_down_draw == "additive"


def test_merging_joins_arms_and_is_idempotent(tmp_path):
    into = tmp_path / "results" / "s"
    a, b = arm_run(tmp_path / "a", "rpusim"), arm_run(tmp_path / "b", "aihwkit")
    assert merge_arm_runs([a], into) == (3, 0)
    assert merge_arm_runs([b, a], into) == (6, 3)  # what `into` holds is kept, the same line counts once
    lines = [json.loads(ln) for ln in (into / "records.jsonl").read_text().splitlines()]
    assert [(ln["arm"], ln["seed"]) for ln in lines] == [("aihwkit", 0), ("aihwkit", 1), ("aihwkit", 2),
                                                         ("rpusim", 0), ("rpusim", 1), ("rpusim", 2)]
    meta = json.loads((into / "meta.json").read_text())
    assert set(meta["arms"]) == {"rpusim", "aihwkit"} and len(meta["runs"]) == 2


def _corrupt_line(f: Path):
    (f / "records.jsonl").write_text((f / "records.jsonl").read_text() + '{"arm": "rpusim", "seed": 0,\n')


def _other_value(f: Path):
    line = {"arm": "rpusim", "seed": 0, "epoch": 1, "train_loss": 0.55, "test_error": 10.0, "test_loss": 1.0}
    (f / "records.jsonl").write_text((f / "records.jsonl").read_text() + json.dumps(line) + "\n")


def _other_arm(f: Path):
    text = (f / "records.jsonl").read_text()
    (f / "records.jsonl").write_text(text.replace('{"arm": "aihwkit"', '{"arm": "other"', 1))


def _edit_meta(key, value):
    def edit(f: Path):
        meta = json.loads((f / "meta.json").read_text())
        meta[key] = value
        (f / "meta.json").write_text(json.dumps(meta))
    return edit


@pytest.mark.parametrize("spoil, message", [
    (lambda f: (f / "records.jsonl").unlink(), "no records.jsonl"),
    (lambda f: (f / "meta.json").unlink(), "no meta.json"),
    (lambda f: (f / "meta.json").write_text("{"), "not a readable meta.json"),
    (_corrupt_line, "records.jsonl:4: not a JSON line"),
    (_other_value, "two different lines for arm rpusim, seed 0, epoch 1"),
    (_other_arm, "arm other is not among the arms of its meta.json"),
    (_edit_meta("commit", "0000000"), "commit differ"),
    (_edit_meta("settings", {"experiment": "cnn-fashion", "epochs": 3, "train_limit": 0}), "settings differ"),
    (_edit_meta("arms", {"rpusim": {"variant": "fp"}}), "arm rpusim has other options"),
])
def test_merge_refuses_bad_input_with_one_message_and_exit_2(script, tmp_path, capsys, spoil, message):
    first = arm_run(tmp_path / "a", "rpusim")
    second = arm_run(tmp_path / "b", "rpusim") if "differ" in message or "options" in message else \
        arm_run(tmp_path / "b", "aihwkit")
    spoil(second)
    into = tmp_path / "results" / "s"
    rc = script.main(["--merge", str(first), str(second), "--into", str(into)])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not into.exists()  # nothing written


def test_a_run_folder_holding_records_is_refused(script, tmp_path, capsys):
    folder = arm_run(tmp_path / "a", "rpusim")
    assert script.main(["--out", str(folder), "--arms", "rpusim"]) == 2
    assert "holds records.jsonl, meta.json of another run" in capsys.readouterr().err


def test_the_loss_window_logs_the_mean_of_every_k_batches_and_restarts_each_epoch(script):
    window = script.LossWindow(2)
    closed = [window.add(x) for x in (1.0, 3.0, 5.0, 9.0, 7.0)]
    assert closed == [None, {"batches": 2, "train_loss": 2.0}, None, {"batches": 4, "train_loss": 7.0}, None]
    window.restart()  # the epoch's short last window (7.0) is dropped
    assert [window.add(x) for x in (4.0, 6.0)] == [None, {"batches": 2, "train_loss": 5.0}]
    assert [script.LossWindow(0).add(1.0) for _ in range(3)] == [None, None, None]


def test_a_negative_log_interval_is_refused(script, tmp_path, capsys):
    assert script.main(["--out", str(tmp_path / "o"), "--log-every", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--log-every -1" in err and len(err.strip().splitlines()) == 1


def _row(text: str, epoch: int, arm: str) -> list[str]:
    line = next(ln for ln in text.splitlines() if ln.startswith(f"| {epoch} | `{arm}` |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_the_compare_block_shows_mean_sd_and_the_difference_from_the_reference(tmp_path):
    repo = repo_with(tmp_path, values=VALUES)
    assert len(report_documents(repo, write=False)) == 2  # the block and its figure
    report_documents(repo, write=True)
    text = (repo / "RESULTS.md").read_text()
    # epoch, arm, seeds, train loss, vs aihwkit, test error, vs aihwkit
    assert _row(text, 1, "rpusim") == ["1", "`rpusim`", "3 (0, 1, 2)", "0.60 ± 0.10", "-0.40 ± 0.08: resolved",
                                       "20.00 ± 10.00", "-6.00 ± 5.80: within seed spread"]
    assert _row(text, 1, "aihwkit")[3:] == ["1.00 ± 0.10", "—", "26.00 ± 1.00", "—"]
    assert "![" in text and "s.json" in text and "commit " in text and "aihwkit 1.2.0" in text
    data = json.loads((repo / "docs/img/s.json").read_text())
    assert data["metrics"]["test_error"]["rpusim"] == {"epochs": [1], "mean": [20.0], "sd": [10.0], "n": [3]}
    assert (repo / "docs/img/s.png").stat().st_size > 1000
    assert report_documents(repo, write=False) == []


def test_listed_arms_keep_their_order_and_an_unrecorded_one_shows_empty_rows(tmp_path):
    repo = repo_with(tmp_path, BLOCK.replace("ref=aihwkit", "arms=aihwkit,other,rpusim ref=aihwkit"), VALUES)
    report_documents(repo, write=True)
    text = (repo / "RESULTS.md").read_text()
    assert text.index("| 1 | `aihwkit` |") < text.index("| 1 | `other` |") < text.index("| 1 | `rpusim` |")
    assert _row(text, 1, "other")[2:] == ["0", "–", "–", "–", "–"]


def test_the_same_gap_is_resolved_once_the_seed_spread_is_small(tmp_path):
    tight = {"rpusim": [(0.6, 19.0), (0.6, 20.0), (0.6, 21.0)], "aihwkit": VALUES["aihwkit"]}
    repo = repo_with(tmp_path, values=tight)
    report_documents(repo, write=True)
    assert _row((repo / "RESULTS.md").read_text(), 1, "rpusim")[6] == "-6.00 ± 0.82: resolved"


def test_the_check_catches_a_changed_record(tmp_path):
    repo = repo_with(tmp_path, values=VALUES)
    report_documents(repo, write=True)
    lines = (repo / STUDY / "records.jsonl").read_text().replace('"test_error": 27.0', '"test_error": 28.0')
    (repo / STUDY / "records.jsonl").write_text(lines)
    problems = report_documents(repo, write=False)
    assert len(problems) == 2 and "s.json differs from the records" in problems[1]


def test_without_a_record_the_block_says_how_to_make_it_and_passes_the_check(tmp_path):
    doc = BLOCK.replace("-->\n<!--", 'run="python3 benchmarks/compare_aihwkit.py --out o" -->\n<!--', 1)
    repo = repo_with(tmp_path, doc)
    report_documents(repo, write=True)
    text = (repo / "RESULTS.md").read_text()
    assert f"No record yet in `{STUDY}/`: make the runs with `python3 benchmarks/compare_aihwkit.py --out o`" in text
    assert report_documents(repo, write=False) == [] and not (repo / "docs/img/s.png").exists()


@pytest.mark.parametrize("marker, message", [
    ("dir=docs/x", "expected a record folder under results/"),
    (f"dir={STUDY} metrics=test_eror", "test_eror is not recorded (recorded: train_loss, test_error, test_loss)"),
    (f"dir={STUDY} ref=fp", "ref=fp: not among the arms (rpusim, aihwkit)"),
    (f"dir={STUDY} colour=red", "'colour=red': unknown marker key"),
])
def test_bad_compare_markers_are_refused(tmp_path, marker, message):
    repo = repo_with(tmp_path, f"<!-- rpusim:compare {marker} -->\n<!-- /rpusim:compare -->\n", VALUES)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        report_documents(repo, write=False)


def test_with_joins_the_arms_of_another_record_and_names_its_provenance(tmp_path):
    repo = repo_with(tmp_path, doc=BLOCK.replace("ref=aihwkit", "ref=aihwkit with=results/compare-aihwkit/t"),
                     values=VALUES)
    other = arm_run(tmp_path / "other", "rpusim-x", [(0.95, 24.0), (1.0, 26.0), (1.05, 28.0)],
                    settings={"experiment": "cnn-fashion", "epochs": 1, "train_limit": 7})
    merge_arm_runs([other], repo / "results/compare-aihwkit/t")
    report_documents(repo, write=True)
    text = (repo / "RESULTS.md").read_text()
    assert _row(text, 1, "rpusim-x")[3:] == ["1.00 ± 0.05", "+0.00 ± 0.06: within seed spread", "26.00 ± 2.00",
                                             "+0.00 ± 1.29: within seed spread"]
    assert "`results/compare-aihwkit/t/records.jsonl`" in text and "train_limit=7" in text
    assert report_documents(repo, write=False) == []
    clash = arm_run(tmp_path / "clash", "aihwkit")
    merge_arm_runs([clash], repo / "results/compare-aihwkit/u")
    (repo / "RESULTS.md").write_text(BLOCK.replace("ref=aihwkit", "ref=aihwkit with=results/compare-aihwkit/u"))
    with pytest.raises(ConfigError, match="with=results/compare-aihwkit/u: arm aihwkit is recorded in"):
        report_documents(repo, write=False)
