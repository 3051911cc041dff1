"""Figures of the CTF device model itself, computed from the device law (no training): the three
program-time effects of pulse trains and the compensation's calibration, as in ``docs/ctf.md``.

    python3 -c "from pathlib import Path; from rpusim.papers.ctf_device_figures import device_figures; device_figures(Path('docs/img'))"
"""
from __future__ import annotations

from math import comb
from pathlib import Path

import numpy as np
import torch

from ..devices import CTFDevice
from ..devices.ctf import reference_train
from ..framework.plots import pyplot, save_figure
from .ctf import N_VALUES, ON_TIME, T_GAPS


def _train_shift(dev, total_on: float, n_pulses: int, t_gap: float) -> float:
    """V_T shift (V) of a relaxed mid-window cell for total_on µs split into n equal pulses."""
    d = dev.model_copy(update={"pw": total_on / n_pulses, "t_gap": t_gap})
    p = {k: v.double() for k, v in d.sample_params((1, 1, 1), None).items()}
    w = torch.zeros(1, 1, 1, dtype=torch.float64)
    bits = torch.ones((n_pulses, 1, 1, 1), dtype=torch.bool)
    return float(d.v_t(reference_train(d, w, bits, torch.ones_like(w), p, None)) - d.v_t(w))


def device_figures(out: Path, total_on: float = 40.0) -> list[Path]:
    """The program-time effects of the default CTF cell (no spread, no noise) and the
    compensation's calibration curve."""
    out = Path(out)
    dev = CTFDevice(window_dtod=0.0, speed_dtod=0.0, c2c_std=0.0)
    counts = [1, 2, 4, 5, 8, 10, 20, 40, 80, 160]
    gaps = [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
    fig, axes = pyplot().subplots(1, 3, figsize=(12, 3.6))
    for g in (1.0, 10.0, 100.0):
        shifts = [1e3 * _train_shift(dev, total_on, n, g) for n in counts]
        axes[0].plot(counts, shifts, marker="o", label=f"t_gap {g:g} µs")
        axes[1].plot([total_on / n for n in counts], [s / shifts[0] for s in shifts], marker="o", label=f"t_gap {g:g} µs")
    axes[0].set(xscale="log", xlabel="pulses (same total on-time)", ylabel="cumulative ΔV_T (mV)",
                title=f"(1) {total_on:g} µs split into more pulses")
    axes[1].set(xscale="log", xlabel="pulse width pw (µs)", ylabel="ΔV_T ÷ one long pulse",
                title="(2) sharp drop below ~2 µs")
    axes[1].axvline(2.0, color="gray", ls=":")
    for pw in (0.5, 1.0, 2.0, 5.0):
        axes[2].plot(gaps, [1e3 * _train_shift(dev, total_on, round(total_on / pw), g) for g in gaps], marker="o",
                     label=f"pw {pw:g} µs")
    axes[2].set(xscale="log", xlabel="t_gap (µs)", ylabel="cumulative ΔV_T (mV)", title="(3) smaller gaps recover")
    axes[2].axvline(dev.tau_off, color="gray", ls=":")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    effects = save_figure(fig, out / "ctf_effects.png", dpi=80)

    fig, axes = pyplot().subplots(1, 2, figsize=(10, 3.6))
    for g in T_GAPS:
        gains, raw = [], []
        for n in N_VALUES:
            d = dev.model_copy(update={"pw": ON_TIME / n, "t_gap": g, "compensation": True})
            gains.append(d.compensation_gain(n))
            mean, _ = d.model_copy(update={"compensation": False}).train_effective_time(n, d.pw)
            raw.append(mean[1] / d.pw)
        axes[0].plot(N_VALUES, gains, marker="o", label=f"t_gap {g:g} µs")
        if g == T_GAPS[0]:
            axes[0].plot(N_VALUES, [1 / r for r in raw], "k:", label="1 ÷ efficiency of an isolated pulse")
    axes[0].set(xscale="log", xlabel="pulse slots N (pw = %g µs ÷ N)" % ON_TIME, ylabel="pulse-width gain k",
                title="compensation calibration (rate %.2f)" % dev.calib_rate)
    rates = [0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8]
    for n, g in ((100, 1.0), (100, 100.0), (1000, 5.0)):
        for comp in (False, True):
            d = dev.model_copy(update={"pw": ON_TIME / n, "t_gap": g, "compensation": comp})
            ratio = []
            for r in rates:
                ratio.append(_rate_efficiency(d, n, r))
            axes[1].plot(rates, ratio, marker="o", ls="--" if comp else "-",
                         label=f"N {n}, t_gap {g:g}" + (" comp." if comp else ""))
    axes[1].axhline(1.0, color="k", lw=0.8)
    axes[1].axvline(dev.calib_rate, color="gray", ls=":")
    axes[1].set(xscale="log", xlabel="coincidence rate per slot", ylabel="mean ΔV_T ÷ ideal",
                title="mean update vs ideal (exact expectation)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    calib = save_figure(fig, out / "ctf_calibration.png", dpi=80)
    return [effects, calib]


def _rate_efficiency(dev, n_slots: int, rate: float) -> float:
    """E[effective time] ÷ E[n]·pw for counts n ~ Binomial(N, rate) (small steps: ∝ ΔV_T)."""
    mean, _ = dev.train_effective_time(n_slots, dev.pulse_width(n_slots))
    n = np.arange(n_slots + 1)
    pmf = np.array([comb(n_slots, k) * rate**k * (1 - rate) ** (n_slots - k) for k in n], dtype=float)
    return float((pmf * mean).sum() / ((pmf * n).sum() * dev.pw))
