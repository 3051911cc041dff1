"""Each training algorithm on one small, asymmetric array: the figures of ``docs/algorithms.md``.

A 4 × 8 array of soft-bounds devices with 10 % up/down asymmetry (symmetry point w* ≈ 0.06 on
bounds ±0.6; Δw_min 0.005, no device-to-device spread of the asymmetry) learns a fixed target matrix
(entries uniform in ±0.3) from noisy samples: per update 8 inputs x ~ N(0, 0.5²), errors
δ = W·x − T·x + N(0, 0.5²) (a gradient as noisy as a mini-batch's), lr 0.05, 400 updates, from
W = 0. Plain SGD's opposite pulses drag every weight toward w*; the transfer algorithms keep the
noisy gradient on A and pass its filtered sum to C. Tracked every 20 updates, 3 seeds: the RMS
distance of the layer's weight W from the target, and one weight's C, A − R (transfer algorithms) or
accumulator χ (mixed precision). ``rpusim report --all`` computes them (seeded, no records).
"""
from __future__ import annotations

import statistics
from functools import lru_cache
from pathlib import Path

import torch

from ..framework.computed import ComputedView
from ..tile import AnalogArray, RPUConfig

ALGORITHMS = {  # the settings of tests/test_transfer.py's behaviour test
    "sgd": {"type": "sgd"},
    "tiki-taka": {"type": "tiki-taka", "reference": True},
    "ttv2": {"type": "ttv2", "reference": True},
    "chopped-ttv2": {"type": "chopped-ttv2", "in_chop_prob": 0.02},
    "agad": {"type": "agad"},
    "mixed-precision": {"type": "mixed-precision"},
}
DEVICE = {"type": "soft_bounds", "up_down": 0.1, "dw_min": 0.005, "up_down_dtod": 0.0}
SEEDS, STEPS, EVERY, BATCH, LR = (0, 1, 2), 400, 20, 8, 0.05


def _hidden(tile) -> float:
    """One weight's hidden state: A − R of a compound (its fast array), χ of mixed precision, else nan."""
    if hasattr(tile, "fast_weights"):
        return float(tile.fast_weights()[0, 0])
    if hasattr(tile, "chi"):
        return float(tile.chi[0, 0])
    return float("nan")


def learn(algorithm: dict, seed: int) -> dict[str, list[float]]:
    """RMS error to the target, weight (0, 0) and its hidden state, every ``EVERY`` updates."""
    torch.manual_seed(seed)
    arr = AnalogArray(4, 8, RPUConfig.from_dict({"device": DEVICE, "algorithm": algorithm}))
    gen = torch.Generator().manual_seed(1000 + seed)
    target = (torch.rand(4, 8, generator=gen) * 2 - 1) * 0.3
    arr.set_weights(torch.zeros(4, 8))
    out = {"rms": [], "w": [], "hidden": []}
    for step in range(STEPS + 1):
        if step % EVERY == 0:
            w = arr.get_weights()
            out["rms"].append(float((w - target).pow(2).mean().sqrt()))
            out["w"].append(float(w[0, 0]))
            out["hidden"].append(_hidden(arr.tiles[0]))
        if step < STEPS:
            x = torch.randn(BATCH, 8, generator=gen) * 0.5
            d = arr(x) - x @ target.T - 0.5 * torch.randn(BATCH, 4, generator=gen)
            arr.update(x, d, LR)
    out["target"] = float(target[0, 0])
    return out


def _rounded(run: dict) -> dict:
    """A run's numbers to 4 decimals (what the document's .json keeps)."""
    return {k: round(v, 4) if isinstance(v, float) else [round(x, 4) for x in v] for k, v in run.items()}


@lru_cache(maxsize=1)
def compute() -> dict:
    """The runs' numbers (computed once per process: the document's figure and the transfer claims read them)."""
    return {"steps": list(range(0, STEPS + 1, EVERY)),
            "runs": {name: [_rounded(learn(a, s)) for s in SEEDS] for name, a in ALGORITHMS.items()}}


def markdown(data: dict) -> str:
    rows = ["| algorithm | RMS error after 100 updates | after 400 updates (mean ± sd over 3 seeds) |", "|---|---|---|"]
    i100 = data["steps"].index(100)
    for name, runs in data["runs"].items():
        mid, end = [r["rms"][i100] for r in runs], [r["rms"][-1] for r in runs]
        rows.append(f"| `{name}` | {statistics.fmean(mid):.3f} ± {statistics.stdev(mid):.3f} | "
                    f"{statistics.fmean(end):.3f} ± {statistics.stdev(end):.3f} |")
    return "\n".join(rows)


def draw(data: dict, path: Path) -> None:
    from ..framework.plots import pyplot, save_figure
    names = list(data["runs"])
    fig, axes = pyplot().subplots(2, len(names), figsize=(2.9 * len(names), 5.2), sharex=True)
    steps = data["steps"]
    sgd = [statistics.fmean(v) for v in zip(*(r["rms"] for r in data["runs"]["sgd"]))]
    for col, name in enumerate(names):
        top, bottom = axes[0][col], axes[1][col]
        for r in data["runs"][name]:
            top.plot(steps, r["rms"], color="tab:blue", alpha=0.6, lw=1)
        if name != "sgd":
            top.plot(steps, sgd, color="gray", ls="--", lw=1, label="sgd (mean)")
            top.legend(fontsize=6)
        top.set_title(name, fontsize=9)
        top.set_ylim(bottom=0)
        run = data["runs"][name][0]
        bottom.plot(steps, run["w"], label="W (read)", color="tab:blue")
        if any(h == h for h in run["hidden"]):  # not all nan
            bottom.plot(steps, run["hidden"], label="χ" if name == "mixed-precision" else "A − R",
                        color="tab:orange", lw=1)
        bottom.axhline(run["target"], color="tab:green", ls=":", label="target")
        bottom.set_xlabel("updates", fontsize=8)
        bottom.legend(fontsize=6)
    axes[0][0].set_ylabel("RMS error to the target (3 seeds)", fontsize=8)
    axes[1][0].set_ylabel("weight (0, 0), seed 0", fontsize=8)
    fig.suptitle("one asymmetric 4 × 8 array (soft bounds, 10 % asymmetry) learning a target from noisy "
                 "gradients", fontsize=9)
    save_figure(fig, path)


VIEWS = {"transfer-regression": ComputedView(compute, markdown, draw,
                                             "each algorithm on one small asymmetric array")}
