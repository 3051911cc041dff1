"""Train one run: the loop, per-epoch metrics, atomic checkpoints and bit-exact resume.

A run directory holds

* ``config.yaml``  — the fully resolved :class:`RunConfig` (seed included), the package version
  and the run's fingerprint (see :mod:`.identity`),
* ``metrics.csv``  — one row per epoch (epoch 0 is the untrained model): train loss,
  the task's test metrics, wall time, and per-layer diagnostics (fraction of saturated
  outputs, clipped pulse probabilities),
* ``summary.json`` — final and best figures (written last: its presence marks a finished run),
* ``curves.png`` — the main metric against epoch,
* ``checkpoint.pt`` — model, optimizer and random-number state after the last finished
  epoch, replaced atomically. ``resume=True`` continues from it and ends with the same
  metrics (time aside) as an uninterrupted run with the same seed.

A folder that holds another run, or this run without ``resume``, is refused unless
``overwrite`` (which deletes its old outputs first); see :func:`.identity.check_run_dir`.
"""
from __future__ import annotations

import csv
import io
import json
import math
import sys
import time
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from ..config import ConfigError
from ..io import atomic_torch_save, atomic_write_text
from ..nn import layer_stats
from ..optim import AnalogSGD
from .config import RunConfig
from .device import resolve_device
from .identity import (check_run_dir, clear_run_dir, config_record, corrupt_checkpoint_error,
                       remove_stale_tmp)
from .tasks import TASKS


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def save_config(cfg: RunConfig, out_dir: Path) -> None:
    atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(config_record(cfg), sort_keys=False))


def write_metrics(rows: list[dict], out_dir: Path) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out_dir / "metrics.csv", buf.getvalue())


def _flat_stats(model) -> dict[str, float]:
    out = {}
    for layer, s in layer_stats(model, reset=True).items():
        for k, v in s.items():
            out[f"{layer}/{k}"] = round(v, 6)
    return out


def _load_checkpoint(path: Path, model, opt) -> tuple[list[dict], int]:
    """Restore model, optimizer and torch's RNG from ``path``; returns (metric rows, epoch).
    A file that cannot be read or does not fit the model is refused naming it (nothing changed).

    The file is read onto the CPU whatever device wrote it (random-number states must be CPU
    tensors); loading the state dict copies each tensor to where the model is."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
        return ckpt["metrics"], ckpt["epoch"]
    except Exception as err:  # noqa: BLE001  (any failure to read it means the same to the user)
        raise corrupt_checkpoint_error(path, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}") from None


def _start_folder(cfg: RunConfig, out_dir: Path, files: list[str], overwrite: bool, log) -> None:
    """Make ``out_dir`` ready to write: old outputs deleted on overwrite, stale temporary files removed."""
    if overwrite and files:
        clear_run_dir(out_dir)
        log(f"[{cfg.variant}] --overwrite: deleted the old run in {out_dir}")
    stale = remove_stale_tmp(out_dir)
    if stale:
        log(f"[{cfg.variant}] removed {len(stale)} temporary file(s) of an interrupted write in {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)


def _forget_summary(out_dir: Path) -> None:
    """Delete the outputs of a finished run (it is about to train again)."""
    for name in ("summary.json", "curves.png"):
        (out_dir / name).unlink(missing_ok=True)


def train_run(cfg: RunConfig, out_dir: str | Path, resume: bool = False, overwrite: bool = False,
              progress: bool | None = None, log=print) -> dict:
    """Train ``cfg`` into ``out_dir``; returns the summary (also written to summary.json).

    ``resume``: continue this run from its checkpoint (from epoch 0 if there is none), to
    ``cfg.train.epochs`` (more than before extends it; config.yaml then says so);
    ``overwrite``: delete whatever run the folder holds first. Without either, only an empty or
    new folder is written. Refusals (:class:`ConfigError`) happen before any file is touched."""
    out_dir = Path(out_dir)
    device = resolve_device(cfg.train.device)  # 'cuda' without CUDA: refused before any file is touched
    folder = check_run_dir(cfg, out_dir, resume, overwrite)
    task = TASKS[cfg.task](cfg)
    torch.manual_seed(cfg.seed)
    model = task.build_model().to(device)  # built on the CPU: the same initial weights on every device
    digital = [p for p in model.parameters() if not hasattr(p, "analog_array")]
    opt = AnalogSGD(model.parameters(), lr=cfg.train.lr)
    ckpt_path = out_dir / "checkpoint.pt"
    resumed = resume and ckpt_path.exists()
    if resumed:
        rows, start = _load_checkpoint(ckpt_path, model, opt)
        if start > cfg.train.epochs:
            raise ConfigError(f"{ckpt_path} is after epoch {start}, past train.epochs = {cfg.train.epochs}; "
                              "a run is not shortened: choose a new --out, or --overwrite to start again")
    _start_folder(cfg, out_dir, folder.files, overwrite, log)
    if resumed:
        log(f"[{cfg.variant}] resumed after epoch {start}")
        if folder.saved_epochs != cfg.train.epochs:
            log(f"[{cfg.variant}] train.epochs: {folder.saved_epochs} → {cfg.train.epochs}")
            _forget_summary(out_dir)
            save_config(cfg, out_dir)
    else:
        if resume:
            log(f"[{cfg.variant}] no checkpoint in {out_dir}: starting at epoch 0")
        _forget_summary(out_dir)
        save_config(cfg, out_dir)
        start = 0
        rows = [{"epoch": 0, "train_loss": float("nan"), **task.evaluate(model), "time_s": 0.0}]
        _flat_stats(model)
        write_metrics(rows, out_dir)
    show = sys.stderr.isatty() if progress is None else progress
    for epoch in range(start + 1, cfg.train.epochs + 1):
        t0 = time.perf_counter()
        total, count = 0.0, 0
        bar = tqdm(total=task.n_steps(), disable=not show, desc=f"{cfg.variant} epoch {epoch}",
                   unit="step", leave=False, mininterval=0.5)
        for batch in task.batches(epoch):
            opt.zero_grad()
            loss = task.loss(model, batch)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                bar.close()
                raise TrainingDiverged(
                    f"[{cfg.variant}] loss is {loss_value} in epoch {epoch} after {count} steps; "
                    f"the last good checkpoint (epoch {epoch - 1}) is kept in {out_dir}. "
                    "Try a smaller train.lr or enable bound/noise management.")
            loss.backward()
            if cfg.train.grad_clip and digital:
                torch.nn.utils.clip_grad_norm_(digital, cfg.train.grad_clip)
            opt.step()
            total += loss_value
            count += 1
            bar.update(1)
        bar.close()
        train_time = time.perf_counter() - t0
        stats = _flat_stats(model)
        metrics = task.evaluate(model)
        _flat_stats(model)
        row = {"epoch": epoch, "train_loss": total / max(count, 1), **metrics,
               "time_s": round(train_time, 3), **stats}
        rows.append(row)
        write_metrics(rows, out_dir)
        atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                           "torch_rng": torch.get_rng_state(), "metrics": rows, "epoch": epoch}, ckpt_path)
        main = task.metric_names[0]
        log(f"[{cfg.variant}] epoch {epoch}/{cfg.train.epochs}: train loss {row['train_loss']:.4f}, "
            f"{main} {row[main]:.3f} ({train_time:.1f} s)")
    summary = summarize(cfg, rows, task.metric_names[0])
    from .plots import learning_curves
    learning_curves({cfg.variant: out_dir}, summary["metric"], out_dir / "curves.png",
                    title=f"{cfg.experiment}: {cfg.variant}")
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def summarize(cfg: RunConfig, rows: list[dict], main: str) -> dict:
    values = [r[main] for r in rows if r["epoch"] > 0] or [rows[-1][main]]
    return {"experiment": cfg.experiment, "variant": cfg.variant, "seed": cfg.seed,
            "metric": main, "final": rows[-1][main], "best": min(values),
            "epochs": rows[-1]["epoch"], "train_time_s": round(sum(r["time_s"] for r in rows), 2)}
