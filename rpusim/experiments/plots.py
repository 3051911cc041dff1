"""Plots of runs: the main metric against epoch for several runs on one axis."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
    ax.set_ylabel(metric.replace("_", " ") + (" (%)" if metric.endswith("error") else ""))
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
