"""One update's weight change on the CTF arrays of the study (:mod:`.ctf`), against N and t_gap.

No training: an :class:`~rpusim.tile.AnalogTile` with the study's update (BL = N slots, update
management, the CTF device of the grid point, its device-to-device spread off so that only the
update's own randomness remains) receives one update W += −η·δxᵀ whose requested change
Δw = η·|x·δ| is the same for all cells of a block of rows (x = 1 on every column, δ per row),
starting from w = 0 (mid-window), again and again. Per requested Δw this gives the mean m and the
standard deviation s of the cells' weight change, the bias m/Δw and the relative noise s/|m|.

The mapping is the training's: with C = sqrt(η/(N·Δw_min)) a cell coincides in each of the N slots
with probability r = Δw/(N·Δw_min), so its pulse count is n ~ Binomial(N, r) with mean
μ = Δw/Δw_min. Two readings of "N" are compared:

* ``on-time`` (the study's): pw = ON_TIME/N, so Δw_min ∝ pw ∝ 1/N, r does not depend on N and
  μ = r·N grows with N: many small steps;
* ``fixed-pw``: pw = FIXED_PW whatever N, Δw_min fixed, μ fixed and r = μ/N.

Closed form (program time conserved, :func:`ideal_update`): the step of n pulses is
f(n) = the program curve moved by n·pw from mid-window, times (1 + σ_c2c·ξ/√n), so
E[Δw] = Σ_n P(n)·f(n) and E[Δw²] = Σ_n P(n)·f(n)²·(1 + σ_c2c²/n); for small steps the relative
noise is sqrt((1 − r + σ_c2c²)/μ).

``rpusim report --all`` writes the tables and figures of ``docs/ctf.md`` from :data:`VIEWS`.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..devices import CTFDevice
from ..framework.computed import ComputedView
from ..framework.plots import pyplot, save_figure
from ..tile import AnalogTile, RPUConfig
from .ctf import LR, N_VALUES, ON_TIME, T_GAPS, point

DW_REQUESTED = (1e-4, 5e-4, 2e-3)   # requested |Δw| = η·|x·δ| (weight units; the window is ±1)
FIXED_PW = 1.0                      # µs, pulse width of the fixed-pw reading
SIDE, SEED = 192, 0                 # cells per update: SIDE², from w = 0
READINGS = ("on-time", "fixed-pw")


def study_rpu(n: int, t_gap: float, compensation: bool, reading: str = "on-time", **device) -> RPUConfig:
    """The study's array configuration at grid point (N, t_gap), device-to-device spread off."""
    if reading not in READINGS:
        raise ValueError(f"reading {reading!r}: allowed {', '.join(READINGS)}")
    extra = {"window_dtod": 0.0, "speed_dtod": 0.0} | ({"pw": FIXED_PW} if reading == "fixed-pw" else {}) | device
    return RPUConfig.model_validate(point(n, t_gap, compensation, **extra)["rpu"])


@torch.no_grad()
def simulate_update(rpu: RPUConfig, dw: float, lr: float = LR, side: int = SIDE, repeats: int = 8,
                    seed: int = SEED) -> dict:
    """One update of requested change ``dw`` on a ``side`` × ``side`` array, ``repeats`` times:
    the mean and sd of the weight change over all cells and repeats, the standard errors of both
    (from the spread of the repeats' means and sds: the cells of one update share their row and
    column pulse trains), bias m/Δw, relative noise s/|m| and the coincidence rate per slot r."""
    tile = AnalogTile(side, side, rpu, seed=seed)
    x = torch.ones(1, side)
    d = torch.full((1, side), -dw / lr)
    zero = torch.zeros(side, side)
    changes = []
    for _ in range(repeats):
        tile.set_weights(zero)
        tile.update(x, d, lr)
        changes.append(tile.get_weights().double().flatten())
    change = torch.stack(changes)                                      # repeats × cells
    mean, sd = float(change.mean()), float(change.flatten().std())
    se = float(change.mean(dim=1).std()) / math.sqrt(repeats)
    se_sd = float(change.std(dim=1).std()) / math.sqrt(repeats)
    rate = dw / (rpu.update.bl * rpu.device.nominal_dw_min)
    return {"dw": dw, "mean": mean, "sd": sd, "se_mean": se, "se_sd": se_sd, "bias": mean / dw,
            "rel_noise": sd / abs(mean) if mean else math.inf, "rate": rate}


def repeats_for(n_slots: int) -> int:
    """Updates per point: the shared line trains make an update's mean scatter by about
    sqrt(2/(SIDE·N·√r)) of it, so small N needs more of them (to a standard error of ~2 % at r = 0.01)."""
    return max(4, 400 // n_slots)


def ideal_update(device: CTFDevice, n_slots: int, dw: float) -> dict:
    """Closed form of one update's mean and sd on a program-time-conserving cell (transient off,
    no spread) at mid-window: counts n ~ Binomial(N, r), r = Δw/(N·Δw_min)."""
    d = device.model_copy(update={"transient": 0.0, "window_dtod": 0.0, "speed_dtod": 0.0})
    r = dw / (n_slots * d.nominal_dw_min)
    n = np.arange(n_slots + 1)
    log_pmf = np.array([math.lgamma(n_slots + 1) - math.lgamma(k + 1) - math.lgamma(n_slots - k + 1) for k in n])
    pmf = np.exp(log_pmf + n * math.log(r) + (n_slots - n) * math.log1p(-r)) if r < 1 else (n == n_slots) * 1.0
    t = torch.tensor(n * d.pw, dtype=torch.float64)
    p = {"w_lo": torch.tensor(d.w_min, dtype=torch.float64), "w_hi": torch.tensor(d.w_max, dtype=torch.float64),
         "speed": torch.tensor(1.0, dtype=torch.float64)}
    f = (d.move(torch.zeros_like(t), t, torch.zeros_like(t), p)).numpy()
    mean = float((pmf * f).sum())
    second = float((pmf * f * f * (1 + d.c2c_std**2 / np.maximum(n, 1))).sum())
    sd = math.sqrt(max(second - mean * mean, 0.0))
    return {"dw": dw, "mean": mean, "sd": sd, "bias": mean / dw, "rel_noise": sd / mean, "rate": r}


def _sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def noise_grid(reading: str = "on-time", compensations: tuple[bool, ...] = (False, True),
               n_values: tuple[int, ...] = N_VALUES, t_gaps: tuple[float, ...] = T_GAPS,
               dws: tuple[float, ...] = DW_REQUESTED) -> dict:
    """The whole grid N × t_gap × compensation × requested Δw (JSON-able, 4 significant digits),
    with the per-N pulse facts and the closed-form ideal reference."""
    pulses, ideal, points = [], [], []
    for n in n_values:
        dev = study_rpu(n, t_gaps[0], False, reading).device
        pulses.append({"n": n, "pw": _sig(dev.pw), "dw_min": _sig(dev.nominal_dw_min),
                       "isolated_efficiency": _sig(dev.cold_effective_time(dev.pw) / dev.pw)})
        for dw in dws:
            ideal.append({k: _sig(v) for k, v in ideal_update(dev, n, dw).items()} | {"n": n})
        for comp in compensations:
            for gap in t_gaps:
                rpu = study_rpu(n, gap, comp, reading)
                gain = rpu.device.compensation_gain(n) if comp else 1.0
                for dw in dws:
                    stats = simulate_update(rpu, dw, repeats=repeats_for(n))
                    points.append({"n": n, "t_gap": gap, "compensation": comp, "gain": _sig(gain)}
                                  | {k: _sig(v) for k, v in stats.items()})
    return {"reading": reading, "lr": LR, "on_time": ON_TIME if reading == "on-time" else None,
            "fixed_pw": FIXED_PW if reading == "fixed-pw" else None, "dw": list(dws), "n_values": list(n_values),
            "t_gaps": list(t_gaps), "compensation": list(compensations), "cells": SIDE * SIDE,
            "repeats": {str(n): repeats_for(n) for n in n_values},
            "seed": SEED, "pulses": pulses, "ideal": ideal, "points": points}


# --- Markdown and figure ---------------------------------------------------------------------

def _pick(data: dict, **key) -> dict:
    return next(p for p in data["points"] if all(p[k] == v for k, v in key.items()))


def markdown(data: dict) -> str:
    """Per-N pulse facts, then per requested Δw a table of bias m/Δw and relative noise s/|m|."""
    ns = data["n_values"]
    head = "| | " + " | ".join(f"N = {n}" for n in ns) + " |\n|" + "---|" * (len(ns) + 1) + "\n"
    lines = [head + "| pw (µs) | " + " | ".join(f"{p['pw']:g}" for p in data["pulses"]) + " |",
             "| ideal step of one pulse Δw_min | " + " | ".join(f"{p['dw_min']:.3g}" for p in data["pulses"]) + " |",
             "| isolated pulse's effective time ÷ pw | "
             + " | ".join(f"{p['isolated_efficiency']:.2f}" for p in data["pulses"]) + " |"]
    for dw in data["dw"]:
        lines.append("| **Δw = %g**: pulses per update μ = Δw/Δw_min | " % dw
                     + " | ".join(f"{dw / p['dw_min']:.3g}" for p in data["pulses"]) + " |")
    out = ["\n".join(lines)]
    for dw in data["dw"]:
        rows = [f"**Requested Δw = {dw:g}** (rate per slot r = "
                + ", ".join(dict.fromkeys(f"{i['rate']:.3g}" for i in data["ideal"] if i["dw"] == dw))
                + ")\n",
                "| compensation | t_gap (µs) | " + " | ".join(f"N = {n}" for n in ns) + " |",
                "|---|---|" + "---|" * len(ns)]
        for comp in data["compensation"]:
            for gap in data["t_gaps"]:
                cells = [_pick(data, n=n, t_gap=gap, compensation=comp, dw=dw) for n in ns]
                rows.append(f"| {'on' if comp else 'off'} | {gap:g} | "
                            + " | ".join(_cell(c) for c in cells) + " |")
        ideal = [next(i for i in data["ideal"] if i["n"] == n and i["dw"] == dw) for n in ns]
        rows.append("| ideal cell (closed form) | – | "
                    + " | ".join(_cell(i) for i in ideal) + " |")
        out.append("\n".join(rows))
    worst = max(p["se_mean"] / abs(p["mean"]) for p in data["points"])
    repeats = ", ".join(f"{r} at N = {n}" for n, r in data["repeats"].items())
    out.append(f"Cell: mean ÷ requested · sd ÷ |mean|; † the coincidence rate r = Δw/(N·Δw_min) exceeds 1 "
               f"(probabilities clipped: the update falls short). {data['cells']:,} cells per update, updates "
               f"per point: {repeats} (seed {data['seed']}, device-to-device spread off, w = 0 before each "
               f"update); the standard error of a mean is at most {100 * worst:.1f} % of it (from the "
               f"updates' means).")
    return "\n\n".join(out)


def _cell(stats: dict) -> str:
    return f"{stats['bias']:.2f} · {stats['rel_noise']:.2f}" + (" †" if stats["rate"] > 1 else "")


def draw(data: dict, path: Path) -> None:
    """Bias and relative noise against N, one row per requested Δw; colour: t_gap; dashed: compensated;
    black dotted: the program-time-conserving cell (closed form)."""
    ns, gaps = data["n_values"], data["t_gaps"]
    fig, axes = pyplot().subplots(len(data["dw"]), 2, figsize=(10, 3.0 * len(data["dw"])), squeeze=False)
    colours = pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
    for row, dw in zip(axes, data["dw"]):
        for key, ax in zip(("bias", "rel_noise"), row):
            for gap, colour in zip(gaps, colours):
                for comp in data["compensation"]:
                    ax.plot(ns, [_pick(data, n=n, t_gap=gap, compensation=comp, dw=dw)[key] for n in ns],
                            marker="o", ms=3, color=colour, ls="--" if comp else "-",
                            label=f"t_gap {gap:g} µs" + (", comp." if comp else ""))
            ideal = [next(i[key] for i in data["ideal"] if i["n"] == n and i["dw"] == dw) for n in ns]
            ax.plot(ns, ideal, "k:", label="program time conserved")
            ax.set(xscale="log", xlabel="pulse slots N", title=f"requested Δw = {dw:g}",
                   ylabel="mean ÷ requested" if key == "bias" else "sd ÷ |mean|")
            if key == "rel_noise":
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6, ncol=2)
    what = (f"pw = {data['on_time']:g} µs ÷ N" if data["reading"] == "on-time" else f"pw = {data['fixed_pw']:g} µs")
    fig.suptitle(f"One update's weight change on the CTF cell ({what})", fontsize=10)
    save_figure(fig, path, dpi=80)


VIEWS = {
    "ctf-update-noise": ComputedView(lambda: noise_grid("on-time"), markdown, draw,
                                     "one update's bias and relative noise against N and t_gap (pw = T/N)"),
    "ctf-update-noise-fixed-pw": ComputedView(lambda: noise_grid("fixed-pw", (False,)), markdown, draw,
                                              "the same with a fixed pulse width (pw = 1 µs)"),
}
