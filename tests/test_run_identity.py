"""A run's identity: fingerprints, refusals of folders that hold another run (or this run without
--resume), --overwrite, missing and corrupt checkpoints, stale temporary files, old config.yaml files."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.config import ConfigError
from rpusim.framework import parse_set, run_configs, train_run, variant_configs
from rpusim.framework.sweep import check_existing, sweep_points
from rpusim.framework.train import save_config
from rpusim.papers.catalog import get_experiment

EXP = get_experiment("fc-mnist")
SETS = ["data.train_limit=200", "data.test_limit=50", "model.hidden=[16]", "train.lr=0.01", "train.epochs=2"]


def cfg_of(*extra: str, variant: str = "rpu-baseline"):
    """The config ``rpusim run fc-mnist --preset quick --variants VARIANT --set ...`` builds."""
    return variant_configs(EXP, [variant], "quick", parse_set([*SETS, *extra]))[variant]


def cli(out: Path, *extra: str, variants: str = "rpu-baseline"):
    sets = [a for s in SETS for a in ("--set", s)]
    result = CliRunner().invoke(app, ["run", "fc-mnist", "--preset", "quick", "--variants", variants, *sets,
                                      "--out", str(out), *extra])
    assert "Traceback" not in result.output
    return result


class Killed(Exception):
    """Stands for a SIGKILL after the checkpoint of an epoch was written."""


def kill_after(epoch: int):
    def log(msg: str) -> None:
        if f"epoch {epoch}/" in msg:
            raise Killed(msg)
    return log


def quiet(*_):
    pass


def metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k != "time_s"} for r in csv.DictReader(f)]


def same_state(a, b) -> bool:
    """Equal nested state (dicts, lists, tensors compared element by element)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_state, a, b))
    return a == b


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def unfinished(out: Path, *extra: str) -> Path:
    """OUT/fc-mnist/rpu-baseline holding a 2-epoch run killed after epoch 1."""
    run_dir = out / "fc-mnist" / "rpu-baseline"
    with pytest.raises(Killed):
        train_run(cfg_of(*extra), run_dir, progress=False, log=kill_after(1))
    assert (run_dir / "checkpoint.pt").exists() and not (run_dir / "summary.json").exists()
    return run_dir


def test_fingerprint_covers_config_and_version_but_not_the_folder(tmp_path):
    from rpusim.framework.identity import config_diff, fingerprint
    a, b = cfg_of(), cfg_of()
    assert fingerprint(a.to_dict()) == fingerprint(b.to_dict())
    assert fingerprint(a.to_dict()) != fingerprint(cfg_of("train.lr=0.05").to_dict())
    assert fingerprint(a.to_dict()) != fingerprint(cfg_of("seed=1").to_dict())
    assert fingerprint(a.to_dict()) != fingerprint(a.to_dict(), version="0.0.1")
    assert fingerprint(a.to_dict()) == fingerprint(cfg_of("train.epochs=5").to_dict())  # where it stops only
    assert len(fingerprint(a.to_dict())) == 16
    for where in ("x", "y/z"):
        save_config(a, (tmp_path / where).resolve())
        saved = yaml.safe_load((tmp_path / where / "config.yaml").read_text())
        assert saved["fingerprint"] == fingerprint(a.to_dict())
    assert config_diff({"train": {"lr": 0.01, "epochs": 2}, "seed": 0}, {"train": {"lr": 0.05, "epochs": 2}}) == [
        "seed: 0 → (absent)", "train.lr: 0.01 → 0.05"]


@pytest.mark.data("mnist")
def test_second_config_into_the_same_folder_is_refused_and_first_run_kept(tmp_path):
    """README tour step 3 used to overwrite step 2's rpu-baseline silently."""
    first = cli(tmp_path, "--set", "train.epochs=1")
    assert first.exit_code == 0, first.output
    run_dir = tmp_path / "fc-mnist" / "rpu-baseline"
    before = snapshot(tmp_path)
    second = cli(tmp_path, "--set", "train.epochs=1", "--set", "rpu.update.bl=31", "--set", "rpu.device.dw_min=0.002")
    assert second.exit_code == 2
    assert f"{run_dir} holds another run (finished)" in second.stderr
    assert "rpu.update.bl: 10 → 31" in second.stderr and "rpu.device.dw_min: 0.001 → 0.002" in second.stderr
    assert "--out" in second.stderr and "--overwrite" in second.stderr
    both = cli(tmp_path, "--set", "train.epochs=1", "--set", "rpu.update.bl=31", variants="fp,rpu-baseline")
    assert both.exit_code == 2 and "rpu.update.bl: 10 → 31" in both.stderr
    assert not (tmp_path / "fc-mnist" / "fp").exists()  # every folder is checked before any training
    assert snapshot(tmp_path) == before


@pytest.mark.data("mnist")
def test_resume_with_another_preset_is_refused_not_reported_finished(tmp_path):
    """README tour step 7 (--preset short --resume) used to print step 3's quick result and exit 0."""
    assert cli(tmp_path, "--set", "train.epochs=1").exit_code == 0
    short = CliRunner().invoke(app, ["run", "fc-mnist", "--preset", "short", "--variants", "rpu-baseline",
                                     "--out", str(tmp_path), "--resume"])
    assert short.exit_code == 2 and "Traceback" not in short.output
    assert "already finished" not in short.output
    assert "train.epochs: 1 → 3" in short.stderr and "data.train_limit: 200 → 10000" in short.stderr


@pytest.mark.data("mnist")
def test_resume_with_changed_settings_is_refused(tmp_path):
    """Resuming with bl=31, lr=0.05, epochs=4 used to train on under the new settings."""
    run_dir = unfinished(tmp_path)
    before = snapshot(run_dir)
    result = cli(tmp_path, "--resume", "--set", "rpu.update.bl=31", "--set", "train.lr=0.05",
                 "--set", "train.epochs=4")
    assert result.exit_code == 2
    text = result.stderr
    assert f"{run_dir} holds another run (unfinished, after epoch 1)" in text
    for line in ("train.lr: 0.01 → 0.05", "rpu.update.bl: 10 → 31", "train.epochs: 2 → 4"):
        assert line in text
    assert "a new --out" in text and "--overwrite" in text
    assert snapshot(run_dir) == before


@pytest.mark.data("mnist")
def test_plain_rerun_into_a_run_folder_is_refused(tmp_path):
    run_dir = unfinished(tmp_path)
    again = cli(tmp_path)
    assert again.exit_code == 2
    assert f"{run_dir} holds this run already (unfinished, after epoch 1)" in again.stderr
    assert "--resume" in again.stderr and "--overwrite" in again.stderr
    assert cli(tmp_path, "--resume").exit_code == 0
    done = cli(tmp_path)
    assert done.exit_code == 2 and "holds this run already (finished)" in done.stderr


@pytest.mark.data("mnist")
def test_overwrite_clears_old_outputs_before_training(tmp_path):
    """A rerun killed after one epoch used to leave the old summary.json, which --resume then reported."""
    assert cli(tmp_path, variants="fp,rpu-baseline").exit_code == 0
    exp_dir = tmp_path / "fc-mnist"
    with pytest.raises(Killed):
        run_configs("fc-mnist", {"rpu-baseline": cfg_of()}, exp_dir, overwrite=True, progress=False,
                    log=kill_after(1))
    assert not (exp_dir / "rpu-baseline" / "summary.json").exists()
    assert not (exp_dir / "results.csv").exists() and not (exp_dir / "results.json").exists()
    assert len(metrics(exp_dir / "rpu-baseline")) == 2
    resumed = cli(tmp_path, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "resumed after epoch 1" in resumed.output and "already finished" not in resumed.output
    assert metrics(exp_dir / "rpu-baseline")[-1]["epoch"] == "2"
    rows = {r["variant"]: r for r in csv.DictReader(open(exp_dir / "results.csv"))}
    assert set(rows) == {"fp", "rpu-baseline"}  # fp finished before: its row is kept
    new = json.loads((exp_dir / "rpu-baseline" / "summary.json").read_text())
    assert float(rows["rpu-baseline"]["final"]) == new["final"] and new["epochs"] == 2


@pytest.mark.data("mnist")
def test_resume_with_more_epochs_extends_a_finished_run_and_fewer_are_refused(tmp_path):
    run_dir = tmp_path / "fc-mnist" / "rpu-baseline"
    assert cli(tmp_path, "--set", "train.epochs=1").exit_code == 0
    longer = cli(tmp_path, "--resume")  # train.epochs=2
    assert longer.exit_code == 0, longer.output
    assert "resumed after epoch 1" in longer.output and "train.epochs: 1 → 2" in longer.output
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["epochs"] == 2
    assert json.loads((run_dir / "summary.json").read_text())["epochs"] == 2
    reference = tmp_path / "ref" / "rpu-baseline"
    train_run(cfg_of(), reference, progress=False, log=quiet)
    assert metrics(run_dir) == metrics(reference)
    before = snapshot(tmp_path)
    shorter = cli(tmp_path, "--resume", "--set", "train.epochs=1")
    assert shorter.exit_code == 2
    assert f"{run_dir} holds this run trained to epoch 2, past train.epochs = 1" in shorter.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.data("mnist")
def test_results_table_lists_every_finished_variant_of_the_folder(tmp_path):
    assert cli(tmp_path, "--set", "train.epochs=1", variants="fp").exit_code == 0
    second = cli(tmp_path, "--set", "train.epochs=1")
    assert second.exit_code == 0
    assert "results.csv also lists the runs finished earlier" in second.output
    table = json.loads((tmp_path / "fc-mnist" / "results.json").read_text())
    assert [r["variant"] for r in table] == ["rpu-baseline", "fp"]


@pytest.mark.data("mnist")
def test_overwrite_replaces_a_run_of_another_config(tmp_path):
    assert cli(tmp_path, "--set", "train.epochs=1").exit_code == 0
    run_dir = tmp_path / "fc-mnist" / "rpu-baseline"
    (run_dir / "notes.txt").write_text("mine")
    result = cli(tmp_path, "--set", "train.epochs=1", "--set", "rpu.update.bl=31", "--overwrite")
    assert result.exit_code == 0, result.output
    assert "--overwrite: deleted the old run" in result.output
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["rpu"]["update"]["bl"] == 31
    assert (run_dir / "notes.txt").read_text() == "mine"  # not a run file: left alone


def test_resume_and_overwrite_together_are_refused(tmp_path):
    result = cli(tmp_path, "--resume", "--overwrite")
    assert result.exit_code == 2 and "contradict" in result.stderr
    assert not (tmp_path / "fc-mnist").exists()


@pytest.mark.data("mnist")
def test_resume_without_checkpoint_starts_at_epoch_0_and_removes_stale_tmp(tmp_path):
    """A kill during the first checkpoint write: no checkpoint, a temporary file left behind."""
    run_dir = unfinished(tmp_path)
    (run_dir / "checkpoint.pt").unlink()
    (run_dir / ".checkpoint.pt.k3j2_x.tmp").write_bytes(b"half a checkpoint")
    (run_dir / ".metrics.csv.q1w2e3.tmp").write_text("epoch,")
    result = cli(tmp_path, "--resume")
    assert result.exit_code == 0, result.output
    assert f"[rpu-baseline] no checkpoint in {run_dir}: starting at epoch 0" in result.output
    assert "removed 2 temporary file(s)" in result.output
    assert not list(run_dir.glob(".*.tmp"))
    reference = tmp_path / "ref" / "rpu-baseline"
    train_run(cfg_of(), reference, progress=False, log=quiet)
    assert metrics(run_dir) == metrics(reference)


@pytest.mark.data("mnist")
def test_resume_into_a_new_folder_says_there_is_no_checkpoint(tmp_path):
    result = cli(tmp_path, "--resume", "--set", "train.epochs=1")
    assert result.exit_code == 0
    assert result.output.count("no checkpoint in") == 1


@pytest.mark.data("mnist")
@pytest.mark.parametrize("damage", ["truncate", "foreign"])
def test_corrupt_checkpoint_is_refused_and_nothing_changes(tmp_path, damage):
    run_dir = unfinished(tmp_path)
    ckpt = run_dir / "checkpoint.pt"
    if damage == "truncate":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    else:  # a readable torch file that is not this run's checkpoint
        torch.save({"weights": torch.zeros(3)}, ckpt)
    (run_dir / ".checkpoint.pt.abc.tmp").write_bytes(b"x")
    before = snapshot(tmp_path)
    with pytest.raises(ConfigError, match="corrupt or truncated checkpoint"):
        train_run(cfg_of(), run_dir, resume=True, progress=False, log=quiet)
    result = cli(tmp_path, "--resume")
    assert result.exit_code == 2
    assert f"{ckpt}: corrupt or truncated checkpoint" in result.stderr
    assert "no file was changed" in result.stderr and "--overwrite" in result.stderr
    assert snapshot(tmp_path) == before


@pytest.mark.data("mnist")
def test_unreadable_saved_config_is_refused_naming_it(tmp_path):
    run_dir = unfinished(tmp_path)
    (run_dir / "config.yaml").write_text("seed: [unclosed\n")
    before = snapshot(tmp_path)
    result = cli(tmp_path, "--resume")
    assert result.exit_code == 2
    assert f"{run_dir / 'config.yaml'}: unreadable" in result.stderr and "--overwrite" in result.stderr
    assert snapshot(tmp_path) == before


def _drop_fingerprint(run_dir: Path) -> None:
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    del saved["fingerprint"]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))


@pytest.mark.data("mnist")
def test_config_yaml_of_older_code_without_fingerprint_resumes_when_equal(tmp_path):
    run_dir = unfinished(tmp_path)
    _drop_fingerprint(run_dir)
    other = cli(tmp_path, "--resume", "--set", "train.lr=0.05")
    assert other.exit_code == 2 and "train.lr: 0.01 → 0.05" in other.stderr
    same = cli(tmp_path, "--resume")
    assert same.exit_code == 0, same.output
    assert "resumed after epoch 1" in same.output


def test_sweep_check_existing_lists_the_keys_that_differ(tmp_path):
    point = sweep_points(EXP, {}, ["rpu-baseline"], "quick", parse_set(SETS))[0]
    save_config(point.cfg, tmp_path / point.name)
    check_existing([point], tmp_path)  # the same run: fine
    _drop_fingerprint(tmp_path / point.name)
    check_existing([point], tmp_path)  # older config.yaml of the same run: fine
    other = sweep_points(EXP, {}, ["rpu-baseline"], "quick", parse_set([*SETS, "train.lr=0.05"]))[0]
    with pytest.raises(ConfigError, match="hold runs of a different config") as info:
        check_existing([other], tmp_path)
    assert "train.lr: 0.01 → 0.05" in str(info.value)
    longer = sweep_points(EXP, {}, ["rpu-baseline"], "quick", parse_set([*SETS, "train.epochs=3"]))[0]
    with pytest.raises(ConfigError, match="train.epochs: 2 → 3"):  # a sweep skips finished points
        check_existing([longer], tmp_path)


@pytest.mark.data("mnist")
def test_cnn_resume_matches_uninterrupted_run(tmp_path):
    exp = get_experiment("cnn-mnist")
    cfg = variant_configs(exp, ["+um"], "quick", {
        "train": {"epochs": 2}, "data": {"train_limit": 40, "test_limit": 40},
        "model": {"hidden": [8], "extra": {"channels": [2, 4]}}})["+um"]
    train_run(cfg, tmp_path / "ref", progress=False, log=quiet)
    with pytest.raises(Killed):
        train_run(cfg, tmp_path / "cut", progress=False, log=kill_after(1))
    lines: list[str] = []
    train_run(cfg, tmp_path / "cut", resume=True, progress=False, log=lines.append)
    assert "[+um] resumed after epoch 1" in lines
    assert metrics(tmp_path / "cut") == metrics(tmp_path / "ref")
    ref = torch.load(tmp_path / "ref" / "checkpoint.pt", weights_only=False)["model"]
    cut = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["model"]
    assert same_state(ref, cut)


def test_fingerprint_stable_when_a_field_with_its_default_is_added_and_changes_with_any_setting():
    """A config saved before a field existed (the field absent) has the fingerprint of the same config
    with the field at its default; any setting that differs changes it; train.epochs does not."""
    from rpusim.framework.identity import fingerprint
    full = cfg_of().to_dict()
    older = json.loads(json.dumps(full))
    del older["train"]["grad_clip"]            # as if written before train.grad_clip existed
    del older["rpu"]["update"]["bl"]          # any field: absent means its default
    assert fingerprint(older) == fingerprint(full)
    longer = json.loads(json.dumps(full))
    longer["train"]["epochs"] = 99
    assert fingerprint(longer) == fingerprint(full)
    seen = {fingerprint(full)}
    for key, value in (("seed", 1), ("variant", "other")):
        changed = json.loads(json.dumps(full))
        changed[key] = value
        seen.add(fingerprint(changed))
    for section, key, value in (("train", "lr", 0.02), ("train", "grad_clip", 1.0)):
        changed = json.loads(json.dumps(full))
        changed[section][key] = value
        seen.add(fingerprint(changed))
    changed = json.loads(json.dumps(full))
    changed["rpu"]["update"]["bl"] = 31
    seen.add(fingerprint(changed))
    assert len(seen) == 6
    assert fingerprint(full, version="9.9") != fingerprint(full)


@pytest.mark.parametrize("text", ["{\"metric\": \"test_error\", \"fin", "", "[1, 2]", "\xff\xfe"])
def test_damaged_summary_is_refused_naming_it_by_report_and_results_table(tmp_path, text):
    """A damaged summary.json (cut short, empty, not a summary, not text) in a run folder: `rpusim
    report` and the experiment's results table refuse it with exit 2 / a ConfigError naming the file."""
    from rpusim.framework.runner import finished_runs
    run = tmp_path / "fc-mnist" / "rpu-baseline"
    run.mkdir(parents=True)
    save_config(cfg_of(), run)
    (run / "metrics.csv").write_text("epoch,train_loss,test_error\n0,nan,90.0\n1,0.5,12.0\n")
    (run / "summary.json").write_bytes(text.encode("latin-1"))
    result = CliRunner().invoke(app, ["report", str(tmp_path / "fc-mnist")])
    assert result.exit_code == 2, result.output
    assert "summary.json" in result.output and "Traceback" not in result.output
    with pytest.raises(ConfigError, match="summary.json"):
        finished_runs(tmp_path / "fc-mnist", [])
