"""`rpusim record`: compact records of runs under results/STUDY/EXPERIMENT/VARIANT/seed-N."""
from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.framework import variant_configs
from rpusim.framework.identity import fingerprint
from rpusim.framework.records import RECORD_FILES, load_record, study_records
from rpusim.framework.train import save_config, summarize, write_metrics
from rpusim.papers.catalog import get_experiment

runner = CliRunner()


def fake_run(folder, variant="fp", seed=0, errors=(9.0, 6.0, 4.5), finished=True, checkpoint=True,
             experiment="fc-mnist"):
    """A run folder as `rpusim run` writes it (config, metrics, summary), without training."""
    cfg = variant_configs(get_experiment(experiment), [variant], "quick", {"train": {"epochs": len(errors)}}, seed)[variant]
    folder.mkdir(parents=True, exist_ok=True)
    save_config(cfg, folder)
    rows = [{"epoch": 0, "train_loss": float("nan"), "test_error": 90.0, "test_loss": 2.3, "time_s": 0.0}]
    rows += [{"epoch": i + 1, "train_loss": 0.5, "test_error": e, "test_loss": 0.3, "time_s": 1.0}
             for i, e in enumerate(errors)]
    write_metrics(rows, folder)
    if finished:
        (folder / "summary.json").write_text(json.dumps(summarize(cfg, rows, "test_error"), indent=2))
    if checkpoint:
        (folder / "checkpoint.pt").write_bytes(b"not copied")
    return folder


def record(*args):
    return runner.invoke(app, ["record", *map(str, args)])


def test_record_copies_only_the_compact_files_where_config_says(tmp_path):
    run = fake_run(tmp_path / "runs" / "fc-mnist" / "whatever__name", variant="rpu-baseline", seed=4)
    res = record(run, "--study", "s", "--root", tmp_path / "repo")
    assert res.exit_code == 0, res.output
    dest = tmp_path / "repo" / "results" / "s" / "fc-mnist" / "rpu-baseline" / "seed-4"
    assert sorted(p.name for p in dest.iterdir()) == sorted(RECORD_FILES)
    for name in RECORD_FILES:
        assert (dest / name).read_text() == (run / name).read_text()
    rec = study_records(tmp_path / "repo", "s", "fc-mnist")["rpu-baseline"][0]
    assert rec.seed == 4 and rec.value("test_error") == 4.5 and not rec.unfinished
    again = record(run, "--study", "s", "--root", tmp_path / "repo")
    assert again.exit_code == 0 and "unchanged" in again.output


def test_a_different_record_is_not_overwritten_without_the_flag(tmp_path):
    repo = tmp_path / "repo"
    assert record(fake_run(tmp_path / "a"), "--study", "s", "--root", repo).exit_code == 0
    other = fake_run(tmp_path / "b", errors=(9.0, 6.0, 4.0))
    res = record(other, "--study", "s", "--root", repo)
    assert res.exit_code == 2 and "holds another record" in res.output and "metrics.csv" in res.output
    assert "Traceback" not in res.output
    dest = repo / "results" / "s" / "fc-mnist" / "fp" / "seed-0"
    assert load_record(dest).value("test_error") == 4.5  # unchanged
    assert record(other, "--study", "s", "--root", repo, "--overwrite").exit_code == 0
    assert load_record(dest).value("test_error") == 4.0


def test_a_hand_edited_config_is_refused_and_nothing_written(tmp_path):
    run = fake_run(tmp_path / "a")
    text = (run / "config.yaml").read_text().replace("lr: 0.1", "lr: 0.2")
    (run / "config.yaml").write_text(text)
    good = fake_run(tmp_path / "b", seed=1)
    res = record(good, run, "--study", "s", "--root", tmp_path / "repo")
    assert res.exit_code == 2 and "does not match its content" in res.output and str(run) in res.output
    assert not (tmp_path / "repo" / "results").exists()  # all or nothing


def test_a_config_without_fingerprint_gets_the_computed_one(tmp_path):
    run = fake_run(tmp_path / "a")
    saved = yaml.safe_load((run / "config.yaml").read_text())
    expected = saved.pop("fingerprint")
    (run / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    assert record(run, "--study", "s", "--root", tmp_path).exit_code == 0
    rec = load_record(tmp_path / "results" / "s" / "fc-mnist" / "fp" / "seed-0")
    assert rec.config["fingerprint"] == expected
    content = {k: v for k, v in rec.config.items() if k not in ("fingerprint", "rpusim_version")}
    assert fingerprint(content) == expected


def test_unfinished_runs_need_the_flag_and_are_marked(tmp_path):
    run = fake_run(tmp_path / "a", errors=(9.0, 7.0), finished=False)
    res = record(run, "--study", "s", "--root", tmp_path)
    assert res.exit_code == 2 and "unfinished" in res.output and "--unfinished" in res.output
    res = record(run, "--study", "s", "--root", tmp_path, "--unfinished")
    assert res.exit_code == 0, res.output
    rec = load_record(tmp_path / "results" / "s" / "fc-mnist" / "fp" / "seed-0")
    assert rec.unfinished and rec.summary["epochs"] == 2 and rec.summary["final"] == 7.0
    assert rec.summary["best"] == 7.0


def test_two_runs_of_one_record_and_foreign_files_are_refused(tmp_path):
    a, b = fake_run(tmp_path / "p" / "fp__seed=0"), fake_run(tmp_path / "q" / "fp", errors=(1.0,))
    res = record(a, b, "--study", "s", "--root", tmp_path)
    assert res.exit_code == 2 and "the same experiment, variant and seed" in res.output
    dest = tmp_path / "results" / "s" / "fc-mnist" / "fp" / "seed-0"
    dest.mkdir(parents=True)
    (dest / "checkpoint.pt").write_bytes(b"x")
    res = record(a, "--study", "s", "--root", tmp_path)
    assert res.exit_code == 2 and "checkpoint.pt" in res.output


@pytest.mark.parametrize("study", ["", "../up", "a b", ".hidden"])
def test_bad_study_names_are_refused(tmp_path, study):
    res = record(fake_run(tmp_path / "a"), "--study", study, "--root", tmp_path)
    assert res.exit_code == 2 and "--study" in res.output and "Traceback" not in res.output


def test_a_cnn_variant_starting_with_plus_is_recorded(tmp_path):
    cfg = variant_configs(get_experiment("cnn-mnist"), ["+vr-k1k2"], "quick", {}, 0)["+vr-k1k2"]
    run = tmp_path / "run"
    run.mkdir()
    save_config(cfg, run)
    rows = [{"epoch": 0, "test_error": 90.0, "time_s": 0.0}, {"epoch": 1, "test_error": 20.0, "time_s": 1.0}]
    write_metrics(rows, run)
    (run / "summary.json").write_text(json.dumps(summarize(cfg, rows, "test_error")))
    res = record(run, "--study", "cnn", "--root", tmp_path)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "results" / "cnn" / "cnn-mnist" / "+vr-k1k2" / "seed-0" / "metrics.csv").is_file()


def test_a_folder_that_is_no_run_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    res = record(tmp_path / "empty", "--study", "s", "--root", tmp_path)
    assert res.exit_code == 2 and "no config.yaml" in res.output
