"""Figures of the CTF study (:mod:`.ctf`): accuracy heat maps over N × t_gap, learning
curves of chosen points, and the ablation (accuracy against N per setting)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .ctf import ABLATION_N, N_VALUES, T_GAPS, point_name  # noqa: E402
from .plots import read_metrics, save_figure  # noqa: E402


def final_accuracy(exp_dir: Path) -> dict[str, float]:
    """Final test accuracy (%) of every finished run under ``exp_dir`` (by variant)."""
    out = {}
    for s in Path(exp_dir).glob("*/summary.json"):
        summary = json.loads(s.read_text())
        out[summary["variant"]] = 100.0 - summary["final"]
    return out


def heat_maps(acc: dict[str, float], path: Path, title: str) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    grids = {comp: np.array([[acc.get(point_name(n, g, comp), np.nan) for n in N_VALUES] for g in T_GAPS])
             for comp in (False, True)}
    finite = np.concatenate([g[np.isfinite(g)] for g in grids.values()])
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 100.0)   # one scale for both panels
    for ax, comp in zip(axes, (False, True)):
        grid = grids[comp]
        im = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto", vmin=vmin, vmax=vmax)
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7,
                        color="white" if v < 0.5 * (vmin + vmax) else "black")
        ax.set_xticks(range(len(N_VALUES)), [str(n) for n in N_VALUES])
        ax.set_yticks(range(len(T_GAPS)), [f"{g:g}" for g in T_GAPS])
        ax.set_xlabel("pulse slots N (= BL)")
        ax.set_title("with compensation" if comp else "without compensation", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8, label="test accuracy (%)")
    axes[0].set_ylabel("t_gap (µs)")
    fp = acc.get("fp")
    fig.suptitle(title + (f" — software baseline {fp:.1f}%" if fp is not None else ""), fontsize=10)
    return save_figure(fig, path, dpi=90)


def chosen_curves(exp_dir: Path, path: Path, title: str) -> Path:
    chosen = ["fp"] + [point_name(n, g, c) for n in (10, 100, 1000) for g in (T_GAPS[0], T_GAPS[-1])
                       for c in (False, True)]
    fig, ax = plt.subplots(figsize=(7, 4))
    for v in chosen:
        run = Path(exp_dir) / v
        if not (run / "metrics.csv").exists():
            continue
        rows = read_metrics(run)
        ax.plot([int(r["epoch"]) for r in rows], [100 - float(r["test_error"]) for r in rows],
                marker="o", ms=3, label=v, ls="--" if v.endswith("comp") else "-")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    return save_figure(fig, path, dpi=90)


def ablation_plot(acc: dict[str, float], path: Path, title: str, t_gap: float = 5.0) -> Path | None:
    series = {
        "both (natural noise, transient on)": [point_name(n, t_gap, False) for n in N_VALUES],
        "both, compensated": [point_name(n, t_gap, True) for n in N_VALUES],
    }
    abl = {"noise only (transient off)": "abl-noise-only-N{}",
           "program time only (noise matched to N=10)": "abl-time-only-N{}",
           "neither (transient off, noise matched)": "abl-neither-N{}"}
    if not any(abl["noise only (transient off)"].format(n) in acc for n in ABLATION_N):
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, names in series.items():
        ax.plot(N_VALUES, [acc.get(v, np.nan) for v in names], marker="o", label=label)
    for label, pattern in abl.items():
        ax.plot(ABLATION_N, [acc.get(pattern.format(n), np.nan) for n in ABLATION_N], marker="s", ls="--", label=label)
    if "fp" in acc:
        ax.axhline(acc["fp"], color="k", ls=":", label="software")
    ax.set_xscale("log")
    ax.set_xlabel("pulse slots N")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{title}: ablation at t_gap = {t_gap:g} µs", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=90)


def write_table(acc: dict[str, float], path: Path) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "test_accuracy"])
        for v in sorted(acc):
            w.writerow([v, f"{acc[v]:.2f}"])
    return path


def study_figures(exp_dir: Path, title: str) -> list[Path]:
    exp_dir = Path(exp_dir)
    acc = final_accuracy(exp_dir)
    paths = [write_table(acc, exp_dir / "accuracy.csv"),
             heat_maps(acc, exp_dir / "heatmap.png", title),
             chosen_curves(exp_dir, exp_dir / "curves_chosen.png", title)]
    abl = ablation_plot(acc, exp_dir / "ablation.png", title)
    return paths + ([abl] if abl else [])


def _train_shift(dev, total_on: float, n_pulses: int, t_gap: float) -> float:
    """V_T shift (V) of a relaxed mid-window cell for total_on µs split into n equal pulses."""
    import torch

    from ..devices.ctf import reference_train
    d = dev.model_copy(update={"pw": total_on / n_pulses, "t_gap": t_gap})
    p = {k: v.double() for k, v in d.sample_params((1, 1, 1), None).items()}
    w = torch.zeros(1, 1, 1, dtype=torch.float64)
    bits = torch.ones((n_pulses, 1, 1, 1), dtype=torch.bool)
    return float(d.v_t(reference_train(d, w, bits, torch.ones_like(w), p, None)) - d.v_t(w))


def device_figures(out: Path, total_on: float = 40.0) -> list[Path]:
    """The program-time effects of the default CTF cell (no spread, no noise) and the
    compensation's calibration curve."""
    from ..devices import CTFDevice
    from .ctf import N_VALUES, ON_TIME
    out = Path(out)
    dev = CTFDevice(window_dtod=0.0, speed_dtod=0.0, c2c_std=0.0)
    counts = [1, 2, 4, 5, 8, 10, 20, 40, 80, 160]
    gaps = [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
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

    from .ctf import T_GAPS
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
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
    from math import comb
    mean, _ = dev.train_effective_time(n_slots, dev.pulse_width(n_slots))
    n = np.arange(n_slots + 1)
    pmf = np.array([comb(n_slots, k) * rate**k * (1 - rate) ** (n_slots - k) for k in n], dtype=float)
    return float((pmf * mean).sum() / ((pmf * n).sum() * dev.pw))


def markdown_tables(acc: dict[str, float]) -> str:
    """The heat maps as Markdown tables (rows t_gap, columns N), for the docs."""
    lines = []
    for comp in (False, True):
        lines.append(f"{'with' if comp else 'without'} compensation (software baseline: {acc.get('fp', float('nan')):.1f} %)")
        lines.append("")
        lines.append("| t_gap (µs) | " + " | ".join(f"N = {n}" for n in N_VALUES) + " |")
        lines.append("|---|" + "---|" * len(N_VALUES))
        for g in T_GAPS:
            cells = [acc.get(point_name(n, g, comp)) for n in N_VALUES]
            lines.append(f"| {g:g} | " + " | ".join("–" if c is None else f"{c:.1f}" for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)
