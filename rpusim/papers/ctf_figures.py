"""Figures of the CTF study (:mod:`.ctf`): accuracy heat maps over N × t_gap, learning
curves of chosen points, and the ablation (accuracy against N per setting).

The study's grid comes in as a :class:`Grid` (:data:`.ctf.GRID`); the grid points' variant
names are :func:`point_name`'s. This module imports nothing of :mod:`.ctf`, which imports it.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..framework.plots import pyplot, read_metrics, save_figure


@dataclass(frozen=True)
class Grid:
    """Pulse counts N × gaps t_gap (µs), each without and with compensation; N of the ablation (none:
    no ablation); ``prefix`` of the points' variant names (e.g. ``wide-`` for ``wide-N100-gap1``)."""

    n_values: tuple[int, ...]
    t_gaps: tuple[float, ...]
    ablation_n: tuple[int, ...]
    prefix: str = ""

    def name(self, n: int, t_gap: float, compensation: bool) -> str:
        """Variant name of one of this grid's points."""
        return self.prefix + point_name(n, t_gap, compensation)


def point_name(n: int, t_gap: float, compensation: bool) -> str:
    """Variant name of a grid point, e.g. ``N100-gap5-comp``."""
    return f"N{n}-gap{t_gap:g}" + ("-comp" if compensation else "")


def final_accuracy(exp_dir: Path) -> dict[str, float]:
    """Final test accuracy (%) of every finished run under ``exp_dir`` (by variant)."""
    out = {}
    for s in Path(exp_dir).glob("*/summary.json"):
        summary = json.loads(s.read_text())
        out[summary["variant"]] = 100.0 - summary["final"]
    return out


def heat_maps(acc: dict[str, float], grid: Grid, path: Path, title: str, near: float | None = None) -> Path:
    """Accuracy over t_gap × N, without and with compensation; with ``near``, cells within ``near``
    points of the software baseline (``acc["fp"]``) are framed in red."""
    fp = acc.get("fp")
    fig, axes = pyplot().subplots(1, 2, figsize=(9, 3.6), sharey=True)
    maps = {comp: np.array([[acc.get(grid.name(n, g, comp), np.nan) for n in grid.n_values] for g in grid.t_gaps])
            for comp in (False, True)}
    finite = np.concatenate([g[np.isfinite(g)] for g in maps.values()])
    vmin, vmax = (finite.min(), finite.max()) if finite.size else (0.0, 100.0)   # one scale for both panels
    for ax, comp in zip(axes, (False, True)):
        cells = maps[comp]
        im = ax.imshow(cells, origin="lower", cmap="viridis", aspect="auto", vmin=vmin, vmax=vmax)
        for (i, j), v in np.ndenumerate(cells):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=7,
                        color="white" if v < 0.5 * (vmin + vmax) else "black")
                if near is not None and fp is not None and v >= fp - near:
                    ax.add_patch(pyplot().Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
        ax.set_xticks(range(len(grid.n_values)), [str(n) for n in grid.n_values])
        ax.set_yticks(range(len(grid.t_gaps)), [f"{g:g}" for g in grid.t_gaps])
        ax.set_xlabel("pulse slots N (= BL)")
        ax.set_title("with compensation" if comp else "without compensation", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.8, label="test accuracy (%)")
    axes[0].set_ylabel("t_gap (µs)")
    framed = f"; framed: within {near:g} points" if near is not None and fp is not None else ""
    fig.suptitle(title + (f" — software baseline {fp:.1f}%{framed}" if fp is not None else ""), fontsize=10)
    return save_figure(fig, path, dpi=90)


def chosen_curves(exp_dir: Path, grid: Grid, path: Path, title: str) -> Path:
    chosen = ["fp"] + [point_name(n, g, c) for n in (10, 100, 1000) for g in (grid.t_gaps[0], grid.t_gaps[-1])
                       for c in (False, True)]
    fig, ax = pyplot().subplots(figsize=(7, 4))
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


def ablation_plot(acc: dict[str, float], grid: Grid, path: Path, title: str, t_gap: float = 5.0) -> Path | None:
    series = {
        "both (natural noise, transient on)": [point_name(n, t_gap, False) for n in grid.n_values],
        "both, compensated": [point_name(n, t_gap, True) for n in grid.n_values],
    }
    abl = {"noise only (transient off)": "abl-noise-only-N{}",
           "program time only (noise matched to N=10)": "abl-time-only-N{}",
           "neither (transient off, noise matched)": "abl-neither-N{}"}
    if not any(abl["noise only (transient off)"].format(n) in acc for n in grid.ablation_n):
        return None
    fig, ax = pyplot().subplots(figsize=(7, 4))
    for label, names in series.items():
        ax.plot(grid.n_values, [acc.get(v, np.nan) for v in names], marker="o", label=label)
    for label, pattern in abl.items():
        ax.plot(grid.ablation_n, [acc.get(pattern.format(n), np.nan) for n in grid.ablation_n], marker="s", ls="--",
                label=label)
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


def study_figures(exp_dir: Path, title: str, grid: Grid) -> list[Path]:
    """The table and figures of the runs finished in ``exp_dir`` (missing grid points left blank)."""
    exp_dir = Path(exp_dir)
    acc = final_accuracy(exp_dir)
    paths = [write_table(acc, exp_dir / "accuracy.csv"),
             heat_maps(acc, grid, exp_dir / "heatmap.png", title),
             chosen_curves(exp_dir, grid, exp_dir / "curves_chosen.png", title)]
    abl = ablation_plot(acc, grid, exp_dir / "ablation.png", title)
    return paths + ([abl] if abl else [])
