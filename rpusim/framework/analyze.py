"""Analyses of a run that a document quotes, as commands of the package (``rpusim analyze ...``).

``bounds``: how many of each analog layer's devices sit within k steps of a weight bound in a
run's checkpoint (a transfer algorithm's fast array A and slow array C apart). A device of a bounded-step model (constant step, soft bounds, linear, exp and
pow step) with state w, bounds w_min, w_max and steps Δw_up, Δw_down (its own, device-to-device
spread included) is *near the upper bound* when w ≥ w_max − k·Δw_up and *near the lower bound*
when w ≤ w_min + k·Δw_down: k more pulses in that direction would reach it (for state-dependent
steps, k nominal steps). Devices without bounds (ideal, charge-trap flash) are not counted.

Per-layer saturation needs no command: it is in every run's ``metrics.csv`` (columns
``LAYER/fwd_saturated`` etc.) and a document table shows it with ``columns=stat:fwd_saturated``.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..config import ConfigError
from .config import RunConfig, load_run_config


def run_dir_of(path: str | Path) -> tuple[Path, Path]:
    """(run folder, checkpoint) from a run folder or a checkpoint file inside one."""
    path = Path(path)
    ckpt = path / "checkpoint.pt" if path.is_dir() else path
    if not ckpt.is_file():
        raise ConfigError(f"{path}: no checkpoint ({ckpt} not found)")
    if not (ckpt.parent / "config.yaml").is_file():
        raise ConfigError(f"{ckpt}: no config.yaml beside it (the analysis rebuilds the run's model from it)")
    return ckpt.parent, ckpt


def load_checkpoint_model(path: str | Path) -> tuple[RunConfig, torch.nn.Module, int]:
    """The run's model with the checkpoint's weights, its config and the checkpoint's epoch."""
    from .identity import checkpoint_problem, corrupt_checkpoint_error
    from .tasks import TASKS
    run_dir, ckpt = run_dir_of(path)
    problem = checkpoint_problem(ckpt)
    if problem:
        raise corrupt_checkpoint_error(ckpt, problem)
    cfg = load_run_config(run_dir / "config.yaml")
    model = TASKS[cfg.task](cfg).build_model()
    state = torch.load(ckpt, weights_only=False)
    model.load_state_dict(state["model"])
    return cfg, model, int(state.get("epoch", 0))


def near_bounds(model: torch.nn.Module, steps: float = 2.0) -> dict[str, dict[str, float]]:
    """Per analog layer: devices counted, and the fractions within ``steps`` steps of the upper,
    the lower and either bound. A layer trained by a transfer algorithm counts its two arrays apart,
    as ``LAYER (A)`` (the fast array) and ``LAYER (C)`` (the slow one the network reads). Layers whose
    devices have no bounds are left out."""
    from ..nn.sequential import analog_arrays
    from ..tile.tile import AnalogTile
    if steps < 0:
        raise ConfigError(f"--steps {steps}: must be >= 0")
    counts: dict[str, list[int]] = {}
    for name, arr in analog_arrays(model).items():
        layer = name.removesuffix(".array") or "array"
        tiles = [(n, m) for n, m in arr.named_modules() if isinstance(m, AnalogTile)]
        compound = any(n.endswith("fast") for n, _ in tiles)
        for tile_name, tile in tiles:
            p = tile.params
            if not {"w_max", "w_min", "dw_up", "dw_down"} <= set(p):
                continue
            key = f"{layer} ({'A' if tile_name.endswith('fast') else 'C'})" if compound else layer
            w = tile.state
            up = w >= p["w_max"] - steps * p["dw_up"]
            down = w <= p["w_min"] + steps * p["dw_down"]
            c = counts.setdefault(key, [0, 0, 0])
            c[0] += int(up.sum())
            c[1] += int((down & ~up).sum())
            c[2] += w.numel()
    return {key: {"devices": total, "upper": upper / total, "lower": lower / total, "either": (upper + lower) / total}
            for key, (upper, lower, total) in counts.items() if total}


def bounds_table(result: dict[str, dict[str, float]], steps: float, epoch: int, source: str) -> str:
    lines = [f"devices within {steps:g} steps of a bound, {source} (after epoch {epoch})",
             "| layer | devices | near upper % | near lower % | either % |", "|---|---|---|---|---|"]
    for layer, r in result.items():
        lines.append(f"| {layer} | {r['devices']} | {100 * r['upper']:.2f} | {100 * r['lower']:.2f} | "
                     f"{100 * r['either']:.2f} |")
    if not result:
        lines.append("| (no analog layer with bounded devices) | | | | |")
    return "\n".join(lines)
