"""Plots of runs: the main metric against epoch for several runs on one axis."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """Lay out, save as PNG and close a figure; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path

def read_metrics(run_dir: Path) -> list[dict]:
    with open(Path(run_dir) / "metrics.csv") as f:
        return list(csv.DictReader(f))


def learning_curves(runs: dict[str, Path], metric: str, path: Path, title: str = "",
                    log_y: bool = False) -> Path:
    """One line per run of ``metric`` vs epoch, saved as PNG at ``path``."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, run_dir in runs.items():
        rows = read_metrics(run_dir)
        epochs = [int(r["epoch"]) for r in rows]
        values = [float(r[metric]) for r in rows]
        ax.plot(epochs, values, marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric.replace("_", " ") + (" (%)" if metric.endswith("error") else ""))
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _label(metric: str) -> str:
    return metric.replace("_", " ") + (" (%)" if metric.endswith("error") else "")


def heatmap(values: list[list[float]], row_key: str, row_values: list, col_key: str, col_values: list,
            metric: str, path: Path, title: str = "") -> Path:
    """A two-parameter sweep: ``values[i][j]`` at (row_values[i], col_values[j]), annotated, as PNG."""
    import numpy as np

    data = np.array(values, dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 * len(col_values) + 3, 0.8 * len(row_values) + 2.2))
    im = ax.imshow(np.ma.masked_invalid(data), cmap="viridis_r", aspect="auto")
    ax.set_xticks(range(len(col_values)), [str(v) for v in col_values])
    ax.set_yticks(range(len(row_values)), [str(v) for v in row_values])
    ax.set_xlabel(col_key)
    ax.set_ylabel(row_key)
    finite = data[np.isfinite(data)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(data.shape[0]):
        for j in range(data.shape[1]):
            text = "n/a" if not np.isfinite(data[i, j]) else f"{data[i, j]:.3g}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if np.isfinite(data[i, j]) and data[i, j] > middle else "black")
    fig.colorbar(im, ax=ax, label=_label(metric))
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def metric_vs_value(xs: list, ys: list[float], key: str, metric: str, path: Path, title: str = "") -> Path:
    """A one-parameter sweep: the metric at each value of ``key`` (categorical axis), as PNG."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(len(xs)), ys, marker="o")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_xlabel(key)
    ax.set_ylabel(_label(metric))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
