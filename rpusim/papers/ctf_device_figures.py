"""Figures of the CTF device model itself, computed from the device law (no training): the three
program-time effects of pulse trains and the compensation's calibration, as in ``docs/ctf.md``
(its ``rpusim:computed`` blocks ``ctf-effects`` and ``ctf-calibration``, redrawn by
``rpusim report --all``)."""
from __future__ import annotations

from math import comb
from pathlib import Path

import numpy as np
import torch

from ..devices import CTFDevice
from ..devices.ctf import reference_train
from ..framework.computed import ComputedView
from ..framework.plots import pyplot, save_figure
from .ctf import N_VALUES, ON_TIME, T_GAPS


def _train_shift(dev, total_on: float, n_pulses: int, t_gap: float) -> float:
    """V_T shift (V) of a relaxed mid-window cell for total_on µs split into n equal pulses."""
    d = dev.model_copy(update={"pw": total_on / n_pulses, "t_gap": t_gap})
    p = {k: v.double() for k, v in d.sample_params((1, 1, 1), None).items()}
    w = torch.zeros(1, 1, 1, dtype=torch.float64)
    bits = torch.ones((n_pulses, 1, 1, 1), dtype=torch.bool)
    return float(d.v_t(reference_train(d, w, bits, torch.ones_like(w), p, None)) - d.v_t(w))


COUNTS = (1, 2, 4, 5, 8, 10, 20, 40, 80, 160)
GAPS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
EFFECT_GAPS = (1.0, 10.0, 100.0)
WIDTHS = (0.5, 1.0, 2.0, 5.0)
RATES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8)
RATE_POINTS = ((100, 1.0), (100, 100.0), (1000, 5.0))
TOTAL_ON = 40.0                           # µs of on-time split into pulses for the three effects


def _cell() -> CTFDevice:
    """The default CTF cell without spread or noise."""
    return CTFDevice(window_dtod=0.0, speed_dtod=0.0, c2c_std=0.0)


def effects() -> dict:
    """The three program-time effects of the default cell: cumulative ΔV_T (mV) of ``TOTAL_ON`` µs
    split into n pulses at several gaps (effects 1 and 2), and against the gap at fixed widths (3)."""
    dev = _cell()
    return {"total_on": TOTAL_ON, "tau_off": dev.tau_off, "counts": list(COUNTS), "gaps": list(GAPS),
            "split": {f"{g:g}": [1e3 * _train_shift(dev, TOTAL_ON, n, g) for n in COUNTS] for g in EFFECT_GAPS},
            "by_gap": {f"{pw:g}": [1e3 * _train_shift(dev, TOTAL_ON, round(TOTAL_ON / pw), g) for g in GAPS]
                       for pw in WIDTHS}}


def effects_markdown(d: dict) -> str:
    rows = ["| t_gap (µs) | ΔV_T of 1 pulse (mV) | of " + f"{d['counts'][-1]} pulses (mV) | kept |", "|---|---|---|---|"]
    for g, shifts in d["split"].items():
        rows.append(f"| {g} | {shifts[0]:.1f} | {shifts[-1]:.1f} | {shifts[-1] / shifts[0]:.0%} |")
    return (f"{d['total_on']:g} µs of on-time as one pulse and split into {d['counts'][-1]} pulses "
            f"(pw = {d['total_on'] / d['counts'][-1]:g} µs):\n\n" + "\n".join(rows))


def draw_effects(d: dict, path: Path) -> None:
    fig, axes = pyplot().subplots(1, 3, figsize=(12, 3.6))
    total_on, counts = d["total_on"], d["counts"]
    for g, shifts in d["split"].items():
        axes[0].plot(counts, shifts, marker="o", label=f"t_gap {g} µs")
        axes[1].plot([total_on / n for n in counts], [s / shifts[0] for s in shifts], marker="o", label=f"t_gap {g} µs")
    axes[0].set(xscale="log", xlabel="pulses (same total on-time)", ylabel="cumulative ΔV_T (mV)",
                title=f"(1) {total_on:g} µs split into more pulses")
    axes[1].set(xscale="log", xlabel="pulse width pw (µs)", ylabel="ΔV_T ÷ one long pulse",
                title="(2) sharp drop below ~2 µs")
    axes[1].axvline(2.0, color="gray", ls=":")
    for pw, shifts in d["by_gap"].items():
        axes[2].plot(d["gaps"], shifts, marker="o", label=f"pw {pw} µs")
    axes[2].set(xscale="log", xlabel="t_gap (µs)", ylabel="cumulative ΔV_T (mV)", title="(3) smaller gaps recover")
    axes[2].axvline(d["tau_off"], color="gray", ls=":")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, path, dpi=80)


def calibration() -> dict:
    """The compensation's gain k(N, t_gap), an isolated pulse's efficiency, and the mean update ÷
    ideal against the coincidence rate for a few (N, t_gap) with and without compensation."""
    dev = _cell()
    gains = {}
    for g in T_GAPS:
        gains[f"{g:g}"] = [dev.model_copy(update={"pw": ON_TIME / n, "t_gap": g, "compensation": True})
                           .compensation_gain(n) for n in N_VALUES]
    isolated = []
    for n in N_VALUES:
        d = dev.model_copy(update={"pw": ON_TIME / n, "t_gap": T_GAPS[0]})
        isolated.append(d.train_effective_time(n, d.pw)[0][1] / d.pw)
    by_rate = {}
    for n, g in RATE_POINTS:
        for comp in (False, True):
            d = dev.model_copy(update={"pw": ON_TIME / n, "t_gap": g, "compensation": comp})
            by_rate[f"N {n}, t_gap {g:g}" + (" comp." if comp else "")] = [_rate_efficiency(d, n, r) for r in RATES]
    return {"on_time": ON_TIME, "calib_rate": dev.calib_rate, "n_values": list(N_VALUES), "gains": gains,
            "isolated": isolated, "rates": list(RATES), "by_rate": by_rate}


def calibration_markdown(d: dict) -> str:
    rows = ["| t_gap (µs) | " + " | ".join(f"N = {n}" for n in d["n_values"]) + " |",
            "|---|" + "---|" * len(d["n_values"])]
    rows += [f"| {g} | " + " | ".join(f"{k:.2f}" for k in ks) + " |" for g, ks in d["gains"].items()]
    rows.append("| 1 ÷ isolated pulse's efficiency | " + " | ".join(f"{1 / e:.2f}" for e in d["isolated"]) + " |")
    return f"Pulse-width gain k(N, t_gap) (pw = {d['on_time']:g} µs ÷ N, calibrated at rate {d['calib_rate']:g}):\n\n" + \
        "\n".join(rows)


def draw_calibration(d: dict, path: Path) -> None:
    fig, axes = pyplot().subplots(1, 2, figsize=(10, 3.6))
    n_values = d["n_values"]
    for g, ks in d["gains"].items():
        axes[0].plot(n_values, ks, marker="o", label=f"t_gap {g} µs")
    axes[0].plot(n_values, [1 / e for e in d["isolated"]], "k:", label="1 ÷ efficiency of an isolated pulse")
    axes[0].set(xscale="log", xlabel="pulse slots N (pw = %g µs ÷ N)" % d["on_time"], ylabel="pulse-width gain k",
                title="compensation calibration (rate %.2f)" % d["calib_rate"])
    for label, ratio in d["by_rate"].items():
        axes[1].plot(d["rates"], ratio, marker="o", ls="--" if label.endswith("comp.") else "-", label=label)
    axes[1].axhline(1.0, color="k", lw=0.8)
    axes[1].axvline(d["calib_rate"], color="gray", ls=":")
    axes[1].set(xscale="log", xlabel="coincidence rate per slot", ylabel="mean ΔV_T ÷ ideal",
                title="mean update vs ideal (exact expectation)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    save_figure(fig, path, dpi=80)


def _rate_efficiency(dev, n_slots: int, rate: float) -> float:
    """E[effective time] ÷ E[n]·pw for counts n ~ Binomial(N, rate) (small steps: ∝ ΔV_T)."""
    mean, _ = dev.train_effective_time(n_slots, dev.pulse_width(n_slots))
    n = np.arange(n_slots + 1)
    pmf = np.array([comb(n_slots, k) * rate**k * (1 - rate) ** (n_slots - k) for k in n], dtype=float)
    return float((pmf * mean).sum() / ((pmf * n).sum() * dev.pw))


VIEWS = {"ctf-effects": ComputedView(effects, effects_markdown, draw_effects, "program-time effects"),
         "ctf-calibration": ComputedView(calibration, calibration_markdown, draw_calibration, "calibration")}
