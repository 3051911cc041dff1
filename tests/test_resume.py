"""Checkpoints: a run killed with SIGKILL and resumed ends with the metrics of an uninterrupted
run; a diverging run stops with a clear message and keeps its last good checkpoint."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rpusim.framework import TrainingDiverged, train_run, variant_configs
from rpusim.framework.tasks import TASKS, ImageClassification
from rpusim.papers.catalog import get_experiment

RUN = ["run", "fc-mnist", "--preset", "quick", "--variants", "rpu-baseline", "--seed", "3",
       "--set", "train.epochs=2", "--set", "data.train_limit=200", "--set", "data.test_limit=50"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cli(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rpusim.cli", *RUN, "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)


def _metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(f)]


@pytest.mark.data("mnist")
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    reference = _cli(tmp_path / "ref")  # runs alongside the one we kill
    victim = _cli(tmp_path / "killed")
    run_dir = tmp_path / "killed" / "fc-mnist" / "rpu-baseline"
    deadline = time.monotonic() + 120
    while not (run_dir / "checkpoint.pt").exists():
        assert victim.poll() is None, victim.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (run_dir / "summary.json").exists(), "the run finished before the kill"
    assert len(_metrics(run_dir)) == 2  # epochs 0 and 1 of 2

    # a truncated checkpoint is refused naming it, every file kept as it was
    ckpt = run_dir / "checkpoint.pt"
    whole = ckpt.read_bytes()
    ckpt.write_bytes(whole[: len(whole) // 2])
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.iterdir()}
    refused = _cli(tmp_path / "killed", "--resume")
    text, _ = refused.communicate(timeout=300)
    assert refused.returncode == 2, text
    assert f"{ckpt}: corrupt or truncated checkpoint" in text and "Traceback" not in text
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.iterdir()} == before
    ckpt.write_bytes(whole)

    resumed = _cli(tmp_path / "killed", "--resume")
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert "resumed after epoch 1" in out
    ref_out, _ = reference.communicate(timeout=300)
    assert reference.returncode == 0, ref_out

    expected = _metrics(tmp_path / "ref" / "fc-mnist" / "rpu-baseline")
    assert len(expected) == 3  # epochs 0..2
    assert _metrics(run_dir) == expected
    assert (run_dir / "summary.json").exists() and (run_dir / "curves.png").exists()


class _DivergesInEpoch2(ImageClassification):
    """MNIST classification whose loss turns NaN in the middle of epoch 2."""

    def batches(self, epoch):
        self.epoch = epoch
        return super().batches(epoch)

    def loss(self, model, batch):
        loss = super().loss(model, batch)
        return loss * float("nan") if self.epoch == 2 else loss


@pytest.fixture
def diverging_task():
    TASKS["test_diverges"] = _DivergesInEpoch2
    yield "test_diverges"
    del TASKS["test_diverges"]


@pytest.mark.data("mnist")
def test_nan_loss_stops_run_and_keeps_last_good_checkpoint(tmp_path, diverging_task):
    exp = get_experiment("fc-mnist")
    cfg = variant_configs(exp, ["rpu-baseline"], "quick", {
        "task": diverging_task, "train": {"epochs": 3}, "data": {"train_limit": 50, "test_limit": 50}})["rpu-baseline"]
    with pytest.raises(TrainingDiverged) as info:
        train_run(cfg, tmp_path, progress=False, log=lambda *a: None)
    message = str(info.value)
    assert "loss is nan in epoch 2 after 0 steps" in message
    assert "last good checkpoint (epoch 1)" in message and "train.lr" in message
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ckpt["epoch"] == 1
    assert [int(r["epoch"]) for r in _metrics(tmp_path)] == [0, 1]
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.data("mnist")
def test_huge_learning_rate_on_float_model_is_caught(tmp_path):
    """A real divergence: floating-point model, lr at the top of its range, huge inputs."""
    exp = get_experiment("fc-mnist")
    cfg = variant_configs(exp, ["fp"], "quick", {
        "train": {"epochs": 2, "lr": 1000}, "model": {"activation": "relu"},
        "data": {"train_limit": 200, "test_limit": 50}})["fp"]
    with pytest.raises(TrainingDiverged, match=r"loss is (nan|inf)"):
        train_run(cfg, tmp_path, progress=False, log=lambda *a: None)


@pytest.mark.data("mnist")
def test_progress_bar_shows_rate_and_eta(tmp_path, capsys):
    exp = get_experiment("fc-mnist")
    cfg = variant_configs(exp, ["fp"], "quick", {"data": {"train_limit": 100, "test_limit": 20}})["fp"]
    train_run(cfg, tmp_path, progress=True, log=lambda *a: None)
    err = capsys.readouterr().err
    assert "step/s" in err and "<" in err  # tqdm: [elapsed<remaining, rate]
