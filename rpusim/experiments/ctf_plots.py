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
from .plots import read_metrics  # noqa: E402


def final_accuracy(exp_dir: Path) -> dict[str, float]:
    """Final test accuracy (%) of every finished run under ``exp_dir`` (by variant)."""
    out = {}
    for s in Path(exp_dir).glob("*/summary.json"):
        summary = json.loads(s.read_text())
        out[summary["variant"]] = 100.0 - summary["final"]
    return out


def heat_maps(acc: dict[str, float], path: Path, title: str) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, comp in zip(axes, (False, True)):
        grid = np.array([[acc.get(point_name(n, g, comp), np.nan) for n in N_VALUES] for g in T_GAPS])
        im = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7,
                        color="white" if v < np.nanmean(grid) else "black")
        ax.set_xticks(range(len(N_VALUES)), [str(n) for n in N_VALUES])
        ax.set_yticks(range(len(T_GAPS)), [f"{g:g}" for g in T_GAPS])
        ax.set_xlabel("pulse slots N (= BL)")
        ax.set_title("with compensation" if comp else "without compensation", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8, label="test accuracy (%)")
    axes[0].set_ylabel("t_gap (µs)")
    fp = acc.get("fp")
    fig.suptitle(title + (f" — software baseline {fp:.1f}%" if fp is not None else ""), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


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
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


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
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


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
