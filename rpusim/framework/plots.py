"""Plots of runs: the main metric against epoch for several runs on one axis.

matplotlib is imported at the first plot (:func:`pyplot`), not with this module: commands that draw
nothing do not pay for it (about 30 MB of memory and a second of start-up)."""
from __future__ import annotations

import csv
from pathlib import Path


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend, imported on first use."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """Lay out, save as PNG and close a figure; returns ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return path

def read_metrics(run_dir: Path) -> list[dict]:
    with open(Path(run_dir) / "metrics.csv") as f:
        return list(csv.DictReader(f))


def learning_curves(runs: dict[str, Path], metric: str, path: Path, title: str = "",
                    log_y: bool | None = None) -> Path:
    """One line per run of ``metric`` vs epoch, saved as PNG at ``path``; when no run has more
    than one epoch, one bar per run of its final value instead (a line would join two points).
    ``log_y=None``: a logarithmic axis for an error that spans more than a decade (as the papers
    plot test error: the untrained ≈ 90 % and the trained ≈ 1 % both stay readable)."""
    rows = {label: read_metrics(run_dir) for label, run_dir in runs.items()}
    if log_y is None:
        log_y = "error" in metric and spans_decades([float(r[metric]) for run_rows in rows.values()
                                                     for r in run_rows if r.get(metric) not in (None, "")])
    if all(len(r) <= 2 for r in rows.values()):
        return _final_bars(rows, metric, path, title, log_y)
    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    for label, run_rows in rows.items():
        ax.plot([int(r["epoch"]) for r in run_rows], [float(r[metric]) for r in run_rows],
                marker="o", ms=3, label=label)
    ax.set_xlabel("epoch")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric_label(metric))
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def spans_decades(values: list[float]) -> bool:
    """Whether positive values span more than a factor of 10 (then a logarithmic axis shows them all)."""
    return bool(values) and min(values) > 0 and max(values) > 10 * min(values)


def _final_bars(rows: dict[str, list[dict]], metric: str, path: Path, title: str, log_y: bool) -> Path:
    labels = list(rows)
    values = [float(r[-1][metric]) for r in rows.values()]
    fig, ax = pyplot().subplots(figsize=(max(5.0, 0.9 * len(labels) + 1), 4))
    bars = ax.bar(range(len(labels)), values)
    for bar, v in zip(bars, values):
        ax.text(bar.get_x() + bar.get_width() / 2, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 5 else 0, ha="right" if len(labels) > 5 else "center")
    epoch = max(int(r[-1]["epoch"]) for r in rows.values())
    ax.set_ylabel(metric_label(metric) + f" after epoch {epoch}")
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    return save_figure(fig, path)


def metric_label(metric: str) -> str:
    return metric.replace("_", " ") + (" (%)" if metric.endswith("error") else "")


def heatmap(values: list[list[float]], row_key: str, row_values: list, col_key: str, col_values: list,
            metric: str, path: Path, title: str = "") -> Path:
    """A two-parameter sweep: ``values[i][j]`` at (row_values[i], col_values[j]), annotated, as PNG."""
    import numpy as np

    data = np.array(values, dtype=float)
    fig, ax = pyplot().subplots(figsize=(1.2 * len(col_values) + 3, 0.8 * len(row_values) + 2.2))
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
    fig.colorbar(im, ax=ax, label=metric_label(metric))
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def metric_vs_value(xs: list, ys: list[float], key: str, metric: str, path: Path, title: str = "") -> Path:
    """A one-parameter sweep: the metric at each value of ``key`` (categorical axis), as PNG."""
    fig, ax = pyplot().subplots(figsize=(6, 4))
    ax.plot(range(len(xs)), ys, marker="o")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_xlabel(key)
    ax.set_ylabel(metric_label(metric))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
