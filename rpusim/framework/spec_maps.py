"""2-D tolerance maps of the spec explorer: two parameters moved together, the rest at the baseline.

``rpusim spec EXPERIMENT --pair A,B`` (see ``docs/spec.md``) runs every combination (a, b) of the
two parameters' grids (:class:`.spec.SpecParam`, the baseline first, then toward worse) and draws the
metric's distance from floating point, m − m_fp, as a heat map over (a, b) with the **tolerance
contour**: the line where the band's excess

    m − m_fp − T − k·SE  (:func:`.spec.excess`)

crosses zero, interpolated between grid cells. Cells on the axes (one parameter at its baseline)
are the 1-D points of the other parameter, and (baseline, baseline) is the baseline run: a map shares
them with the 1-D curves instead of training them again.
"""
from __future__ import annotations

import math
from pathlib import Path

from ..config import ConfigError
from .plots import metric_label, pyplot, save_figure
from .spec_search import BAND_SE, SpecParam, Stat, excess, fmt_value

Cell = tuple  # the sorted (parameter, value) items that differ from the baseline: a run's label


def parse_pairs(items: list[str], known: list[str]) -> list[tuple[str, str]]:
    """``--pair A,B`` options → [(A, B), ...]; two different known parameter names each."""
    pairs = []
    for item in items:
        names = [n.strip() for n in item.split(",")]
        if len(names) != 2 or not all(names):
            raise ConfigError(f"--pair {item!r}: give two parameter names separated by a comma (e.g. dw_min,up_down)")
        if names[0] == names[1]:
            raise ConfigError(f"--pair {item!r}: the two parameters must differ")
        for name in names:
            if name not in known:
                raise ConfigError(f"--pair {item!r}: parameter {name!r} unknown for this variant's device and "
                                  f"periphery (allowed: {', '.join(known) or 'none'})")
        pairs.append((names[0], names[1]))
    return list(dict.fromkeys(pairs))


def cell(p: SpecParam, a, q: SpecParam, b) -> Cell:
    """The label of the run at (a, b): only the values that differ from their baseline."""
    return tuple(sorted((name, v) for name, v, base in ((p.name, a, p.baseline), (q.name, b, q.baseline))
                        if v != base))


def pair_settings(p: SpecParam, q: SpecParam) -> list[tuple[dict, dict]]:
    """(label, config settings) of every interior cell of the map (both parameters off the baseline)."""
    return [({p.name: a, q.name: b}, {**p.assign(a), **q.assign(b)}) for a in p.values[1:] for b in q.values[1:]]


def map_stats(p: SpecParam, q: SpecParam, samples: dict[Cell, list[float]]) -> list[list[Stat | None]]:
    """The metric's Stat at each (a, b), rows over ``p.values``, columns over ``q.values``; None where
    no run finished."""
    return [[Stat.of(b, samples[cell(p, a, q, b)]) if samples.get(cell(p, a, q, b)) else None
             for b in q.values] for a in p.values]


def map_table(p: SpecParam, q: SpecParam, grid: list[list[Stat | None]], ref: Stat, tolerance: float) -> str:
    """Markdown: rows p's values, columns q's values, cells "mean ± sd" and whether inside the band."""
    head = f"| {p.name} ↓ \\ {q.name} → | " + " | ".join(fmt_value(b) for b in q.values) + " |"
    rows = [head, "|---" * (len(q.values) + 1) + "|"]
    for a, line in zip(p.values, grid):
        cells = []
        for s in line:
            if s is None:
                cells.append("–")
                continue
            value = f"{s.mean:.2f} ± {s.sd:.2f}" if s.n > 1 else f"{s.mean:.2f}"
            cells.append(value + (" ✓" if excess(s, ref, tolerance) <= 0 else " ✗"))
        rows.append(f"| {fmt_value(a)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def map_figure(p: SpecParam, q: SpecParam, grid: list[list[Stat | None]], ref: Stat, tolerance: float,
               metric: str, path: Path, title: str) -> Path:
    """Heat map of m − m_fp over the grid (cells in grid order, baseline at the origin) with the
    tolerance contour (band excess = 0) and ✗ on the cells outside the band."""
    import numpy as np

    delta = np.array([[math.nan if s is None else s.mean - ref.mean for s in line] for line in grid])
    over = np.array([[math.nan if s is None else excess(s, ref, tolerance) for s in line] for line in grid])
    fig, ax = pyplot().subplots(figsize=(1.2 * len(q.values) + 3, 0.8 * len(p.values) + 2.2))
    image = ax.imshow(np.ma.masked_invalid(delta), origin="lower", cmap="viridis", aspect="auto")
    fig.colorbar(image, ax=ax, label=f"{metric_label(metric)} − floating point")
    if min(delta.shape) >= 2 and np.isfinite(over).sum() >= 3 and np.nanmin(over) <= 0 < np.nanmax(over):
        ax.contour(np.ma.masked_invalid(over), levels=[0.0], colors="white", linewidths=2)
    for i, line in enumerate(grid):
        for j, s in enumerate(line):
            if s is not None:
                mark = "" if over[i, j] <= 0 else " ✗"
                ax.text(j, i, f"{delta[i, j]:+.2f}{mark}", ha="center", va="center", fontsize=7, color="white")
    ax.set_xticks(range(len(q.values)), [fmt_value(b) for b in q.values])
    ax.set_yticks(range(len(p.values)), [fmt_value(a) for a in p.values])
    ax.set_xlabel(f"{q.name}: {q.what} (worse →)", fontsize=8)
    ax.set_ylabel(f"{p.name}: {p.what} (worse ↑)", fontsize=8)
    ax.set_title(f"{title}\nwhite line: tolerance contour (fp + {tolerance:g} + {BAND_SE:g}·SE); ✗ outside", fontsize=8)
    return save_figure(fig, path)
