"""The CTF grid at the real budget, judged from its records: heat maps, the spec line and a
verdict on each of the paper's four claims (Shrivastava et al. 2024, arXiv 2402.09792).

Reads the records of study ``ctf-grid`` (``rpusim record ... --study ctf-grid``) of one data set and
one grid (the main grid :data:`.ctf.GRID`, the part of it run on Fashion-MNIST :data:`.ctf.FASHION_GRID`,
or the wide-window cell's :data:`.ctf.WIDE_GRID`) and
computes, for the document blocks ``ctf-spec-NAME`` (heat maps and the spec line) and
``ctf-claims-NAME`` (the verdicts; NAME: mnist, fashion, wide-mnist):

* the statistic of a run: its test error (%) averaged over the last :data:`LAST` epochs (the
  error of one epoch moves by several points from one epoch to the next on these arrays);
* the seed spread: the pooled sample standard deviation s of every analog grid or ablation
  point recorded with ≥ 2 seeds, s² = Σ(nᵢ − 1)·sᵢ² / Σ(nᵢ − 1); the standard error of a point's
  mean is s/√n, of a difference of two points s·√(1/n₁ + 1/n₂), and a difference is *resolved*
  when it exceeds 2 standard errors (the rule of :mod:`rpusim.framework.seed_stats`);
* near software: a point's mean error at most :data:`NEAR` points above floating point's;
* how error depends on t_gap at one N: the weighted least-squares slope of the points' means
  against log₁₀ t_gap (points per decade of t_gap), standard error s/√(Σ nᵢ·(xᵢ − x̄)²).

Grid points of one seed share that seed's initial weights, data order and random streams, so
their differences are smaller than the spread of independent seeds: the pooled spread is a
conservative yardstick for them.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np

from ..framework.computed import ComputedView
from ..framework.records import RESULTS_DIR, study_records
from ..framework.seed_stats import RESOLVE_SE
from .ctf import FASHION_GRID, GRID, WIDE_GRID
from .ctf_figures import Grid, heat_maps

STUDY = "ctf-grid"
LAST = 3           # epochs averaged into a run's statistic
NEAR = 0.5         # points of test error above floating point that still count as software level
ABLATION_GAP = 5.0
SETTINGS = ((False, "without compensation"), (True, "with compensation"))
ABLATION = {"both": f"N{{n}}-gap{ABLATION_GAP:g}", "noise-only": "abl-noise-only-N{n}", "time-only": "abl-time-only-N{n}",
            "neither": "abl-neither-N{n}"}


def run_statistic(rows: list[float]) -> float:
    """Mean test error over the last :data:`LAST` trained epochs (NaN for a run without one)."""
    return statistics.fmean(rows[-LAST:]) if rows else math.nan


def pooled_sd(samples: list[list[float]]) -> tuple[float, int]:
    """Pooled sample standard deviation of the groups with ≥ 2 values, and its degrees of freedom."""
    groups = [g for g in samples if len(g) >= 2]
    df = sum(len(g) - 1 for g in groups)
    if df == 0:
        return math.nan, 0
    return math.sqrt(sum((len(g) - 1) * statistics.variance(g) for g in groups) / df), df


def trend(points: list[tuple[float, float, int]], sd: float) -> tuple[float, float]:
    """Slope of error against log₁₀ t_gap (weighted by seeds) and its standard error, from
    ``points`` = [(t_gap, mean error, seeds)]; NaN with fewer than 2 gaps."""
    if len(points) < 2:
        return math.nan, math.nan
    x = np.log10([p[0] for p in points])
    y = np.array([p[1] for p in points])
    w = np.array([p[2] for p in points], dtype=float)
    xm = float(np.sum(w * x) / w.sum())
    sxx = float(np.sum(w * (x - xm) ** 2))
    return float(np.sum(w * (x - xm) * y) / sxx), sd / math.sqrt(sxx)


def label(experiment: str, grid: Grid) -> str:
    """The experiment's name, and the cell's when the grid is not the main one (``ctf-mnist, wide-window cell``)."""
    return f"{experiment}, {grid.prefix.rstrip('-')}-window cell" if grid.prefix else experiment


def grid_of(data: dict) -> Grid:
    g = data["grid"]
    return Grid(tuple(g["n_values"]), tuple(g["t_gaps"]), tuple(g["ablation_n"]), g["prefix"])


def grid_numbers(root: Path, experiment: str, grid: Grid = GRID) -> dict:
    """Every recorded point's statistic, the seed spread, the claims' numbers and the spec line."""
    recs = study_records(root, STUDY, experiment)
    values = {v: [run_statistic(r.trained(r.metric)) for r in rs if not r.unfinished] for v, rs in recs.items()}
    values = {v: vals for v, vals in values.items() if vals}
    analog = [vals for v, vals in values.items() if v != "fp"]
    sd, df = pooled_sd(analog)
    fp = values.get("fp", [])
    data = {"experiment": experiment, "study": STUDY, "last_epochs": LAST, "near": NEAR,
            "grid": {"n_values": list(grid.n_values), "t_gaps": list(grid.t_gaps),
                     "ablation_n": list(grid.ablation_n), "prefix": grid.prefix},
            "fp": fp, "sd": None if math.isnan(sd) else sd, "df": df,
            "pooled_from": sorted(v for v, vals in values.items() if v != "fp" and len(vals) >= 2),
            "points": {v: {"values": vals, "mean": statistics.fmean(vals)} for v, vals in sorted(values.items())}}
    data["claims"] = claims(data)
    data["spec"] = spec_line(data)
    return data


# --- the numbers behind each claim ----------------------------------------------------------

def _point(data: dict, variant: str) -> tuple[float, int]:
    p = data["points"].get(variant)
    return (p["mean"], len(p["values"])) if p else (math.nan, 0)


def _versus(data: dict, a: str, b: str) -> dict:
    """Δ = mean(a) − mean(b), its standard error from the pooled spread, and whether resolved."""
    (ma, na), (mb, nb) = _point(data, a), _point(data, b)
    sd = data["sd"]
    if not (na and nb):
        return {"d": None, "se": None, "resolved": None}
    se = sd * math.sqrt(1 / na + 1 / nb) if sd is not None else None
    return {"d": ma - mb, "se": se, "resolved": None if se is None else abs(ma - mb) > RESOLVE_SE * se}


def claims(data: dict) -> dict:
    if not data["fp"]:
        return {}
    grid = grid_of(data)
    out = {"software": {}, "t_gap": {}, "compensation": [], "ablation": {}}
    for comp, _ in SETTINGS:
        key = "comp" if comp else "plain"
        big = max(grid.n_values)
        out["software"][key] = {f"{g:g}": _versus(data, grid.name(big, g, comp), "fp") for g in grid.t_gaps}
        slopes = {}
        for n in grid.n_values:
            pts = [(g, *_point(data, grid.name(n, g, comp))) for g in grid.t_gaps]
            pts = [p for p in pts if p[2]]
            slope, se = trend(pts, math.nan if data["sd"] is None else data["sd"])
            if not math.isnan(slope):
                slopes[str(n)] = {"slope": slope, "se": None if math.isnan(se) else se, "gaps": len(pts),
                                  "resolved": None if math.isnan(se) else abs(slope) > RESOLVE_SE * se}
        out["t_gap"][key] = slopes
    for n in grid.n_values:
        for g in grid.t_gaps:
            d = _versus(data, grid.name(n, g, True), grid.name(n, g, False))
            if d["d"] is not None:
                out["compensation"].append({"n": n, "t_gap": g, **d})
    for setting, pattern in ABLATION.items() if grid.ablation_n else ():
        lo, hi = pattern.format(n=min(grid.ablation_n)), pattern.format(n=max(grid.ablation_n))
        d = _versus(data, lo, hi)
        if d["d"] is not None:
            out["ablation"][setting] = d            # error at N = 10 minus error at N = 1000: the gain of large N
    return out


def spec_line(data: dict) -> dict:
    """Per compensation setting, the grid cells within :data:`NEAR` of software and the closest cell."""
    if not data["fp"]:
        return {}
    fp = statistics.fmean(data["fp"])
    grid = grid_of(data)
    out = {}
    for comp, _ in SETTINGS:
        cells = [(n, g, data["points"][grid.name(n, g, comp)]["mean"] - fp) for n in grid.n_values
                 for g in grid.t_gaps if grid.name(n, g, comp) in data["points"]]
        out["comp" if comp else "plain"] = {
            "near": [[n, g] for n, g, d in cells if d <= NEAR],
            "closest": min(cells, key=lambda c: c[2]) if cells else None, "recorded": len(cells)}
    return out


# --- words ----------------------------------------------------------------------------------

def _fmt(d: dict, digits: int = 2) -> str:
    if d["d"] is None:
        return "–"
    if d["se"] is None:
        return f"{d['d']:+.{digits}f}"
    return f"{d['d']:+.{digits}f} ± {d['se']:.{digits}f}"


def _region(cells: list[list[float]], grid: Grid) -> str:
    """The cells as "N ≥ a and t_gap ≤ b µs" when they are exactly that corner of the grid, else listed."""
    got = {(int(n), float(g)) for n, g in cells}
    for a in grid.n_values:
        for b in grid.t_gaps:
            corner = {(n, g) for n in grid.n_values if n >= a for g in grid.t_gaps if g <= b}
            if corner == got:
                return f"N ≥ {a} and t_gap ≤ {b:g} µs"
    by_n = {}
    for n, g in sorted(got):
        by_n.setdefault(n, []).append(f"{g:g}")
    return "; ".join(f"N = {n} at t_gap {', '.join(gs)} µs" for n, gs in by_n.items())


def spec_sentence(data: dict) -> str:
    grid = grid_of(data)
    spec, total = data["spec"], 2 * len(grid.n_values) * len(grid.t_gaps)
    recorded = sum(s["recorded"] for s in spec.values())
    fp = statistics.fmean(data["fp"])
    parts = []
    for comp, words in SETTINGS:
        s = spec["comp" if comp else "plain"]
        if not s["recorded"]:
            parts.append(f"{words}: no point recorded yet")
        elif s["near"]:
            parts.append(f"{words}: {_region(s['near'], grid)}")
        else:
            n, g, d = s["closest"]
            parts.append(f"{words}: no point (closest: N = {n}, t_gap = {g:g} µs, {d:+.2f} points)")
    head = f"**Spec line** (within {NEAR:g} points of software, floating point {fp:.2f} % test error): "
    tail = "" if recorded == total else f" (from {recorded} of the {total} grid points, recorded so far)"
    return head + "; ".join(parts) + tail + "."


def spec_markdown(data: dict) -> str:
    folder = f"{RESULTS_DIR}/{STUDY}/{data['experiment']}/"
    if not data["fp"]:
        return f"No record yet in `{folder}` (floating point first): the commands are in [The grid](#the-grid-at-the-real-budget)."
    return spec_sentence(data) + (f" A run's error is its test error averaged over its last {LAST} epochs, a point's "
                                  f"the mean over its seeds; records: `{folder}`.")


def _verdict_software(data: dict, key: str) -> str:
    rows = data["claims"]["software"][key]
    got = {g: d for g, d in rows.items() if d["d"] is not None}
    if not got:
        return "no N = 1000 point recorded yet"
    far = [g for g, d in got.items() if d["d"] > NEAR and (d["se"] is None or d["d"] - NEAR > RESOLVE_SE * d["se"])]
    nums = ", ".join(f"{_fmt(d)} at {g} µs" for g, d in got.items())
    if len(got) < len(grid_of(data).t_gaps):
        return f"incomplete ({nums})"
    if far:
        return f"**not reproduced**: above software by {nums}"
    if data["sd"] is None:
        return f"near software ({nums}), not judged against a seed spread yet"
    return f"**reproduced**: {nums} (within {NEAR:g} points or the seed spread)"


def _verdict_t_gap(data: dict, key: str) -> str:
    slopes = data["claims"]["t_gap"][key]
    if not slopes:
        return "no N recorded at two t_gaps yet"
    if data["sd"] is None:
        return "not judged: no point has two seeds yet (" + ", ".join(
            f"N = {n}: {s['slope']:+.2f}/decade" for n, s in slopes.items()) + ")"
    small = {int(n): s for n, s in slopes.items() if int(n) < 500}
    large = {int(n): s for n, s in slopes.items() if int(n) >= 500}
    res_small = [n for n, s in small.items() if s["resolved"]]
    res_large = [n for n, s in large.items() if s["resolved"]]
    nums = "; ".join(f"N = {n}: {s['slope']:+.2f} ± {s['se']:.2f}" for n, s in slopes.items())
    if small and len(res_small) == len(small) and not res_large:
        word = "**reproduced**"
    elif res_small:
        word = "**partly**"
    else:
        word = "**not reproduced**"
    where = (f"resolved at N = {', '.join(map(str, res_small + res_large))}" if res_small or res_large
             else "resolved at no N")
    return f"{word}: {where} (points of error per decade of t_gap: {nums})"


def _verdict_compensation(data: dict) -> str:
    rows = data["claims"]["compensation"]
    if not rows:
        return "no point recorded both ways yet"
    if data["sd"] is None:
        return f"not judged: no point has two seeds yet ({len(rows)} pairs recorded)"
    lower = [r for r in rows if r["resolved"] and r["d"] < 0]
    higher = [r for r in rows if r["resolved"] and r["d"] > 0]
    best = min(rows, key=lambda r: r["d"])
    word = "**reproduced**" if lower and not higher else "**partly**" if lower else "**not reproduced**"
    text = (f"{word}: lower error at {len(lower)}, higher at {len(higher)}, within the spread at "
            f"{len(rows) - len(lower) - len(higher)} of {len(rows)} (N, t_gap) pairs; most favourable change "
            f"{_fmt(best)} at N = {best['n']}, t_gap = {best['t_gap']:g} µs")
    if higher:
        text += "; higher at " + ", ".join(f"N = {r['n']}/{r['t_gap']:g} µs ({_fmt(r)})" for r in higher)
    return text


def _verdict_ablation(data: dict) -> str:
    abl = data["claims"]["ablation"]
    if len(abl) < len(ABLATION):
        return f"incomplete ({len(abl)} of {len(ABLATION)} settings recorded at N = 10 and 1000)"
    nums = "; ".join(f"{k}: {_fmt(d)}" for k, d in abl.items())
    if data["sd"] is None:
        return f"not judged: no point has two seeds yet (gain of N = 1000 over N = 10 — {nums})"
    both, time_only = abl["both"], abl["time-only"]
    noise_part = both["d"] - time_only["d"]
    se = math.sqrt(both["se"] ** 2 + time_only["se"] ** 2)
    if not (both["resolved"] and both["d"] > 0):
        word = "**not reproduced**: N = 1000 brings no resolved gain over N = 10 to explain"
    elif noise_part > RESOLVE_SE * se and noise_part >= both["d"] / 2:
        word = f"**reproduced**: the noise accounts for {noise_part:+.2f} ± {se:.2f} of the gain"
    else:
        word = f"**not reproduced**: the noise accounts for {noise_part:+.2f} ± {se:.2f} of the gain"
    return f"{word} (error at N = 10 − error at N = 1000, t_gap = {ABLATION_GAP:g} µs — {nums})"


def claims_markdown(data: dict) -> str:
    folder = f"{RESULTS_DIR}/{STUDY}/{data['experiment']}/"
    if not data["fp"]:
        return f"No record yet in `{folder}`."
    spread = ("none yet (no analog point has two seeds)" if data["sd"] is None
              else f"s = {data['sd']:.2f} points ({data['df']} degrees of freedom), pooled over the analog points "
                   "with two or more seeds (" + ", ".join(f"`{v}`" for v in data["pooled_from"]) + ")")
    rows = ["| claim [paper] | verdict from the records |", "|---|---|"]
    for comp, words in SETTINGS:
        key = "comp" if comp else "plain"
        rows.append(f"| N ≈ 1000 approaches software level whatever t_gap ({words}; Δ from software) | "
                    f"{_verdict_software(data, key)} |")
    for comp, words in SETTINGS:
        key = "comp" if comp else "plain"
        rows.append(f"| below N ≈ 500 accuracy depends on t_gap, not above ({words}) | {_verdict_t_gap(data, key)} |")
    rows.append(f"| compensation reduces the error (with − without) | {_verdict_compensation(data)} |")
    ablation = ""
    if grid_of(data).ablation_n:
        rows.append(f"| the gain at large N comes mainly from the lower noise of the updates | {_verdict_ablation(data)} |")
        ablation = (f" Ablation settings (t_gap = {ABLATION_GAP:g} µs): *both* the grid point, *noise-only* transient "
                    f"off, *time-only* update noise matched to N = 10, *neither* both removed; the noise's share of "
                    f"the gain is gain(both) − gain(time-only).")
    return "\n".join(rows) + (
        f"\n\nStatistic: each run's test error (%) averaged over its last {LAST} epochs; seed spread: {spread}; a "
        f"difference is resolved when it exceeds {RESOLVE_SE:g} standard errors; near software: at most {NEAR:g} "
        f"points above floating point.{ablation} Records: `{folder}`.")


def draw(data: dict, path: Path) -> None:
    fp = statistics.fmean(data["fp"]) if data["fp"] else None
    acc = {v: 100.0 - p["mean"] for v, p in data["points"].items()}
    heat_maps(acc, grid_of(data), path, f"{label(data['experiment'], grid_of(data))}: test accuracy (mean of last {LAST} epochs)",
              near=None if fp is None else NEAR)


def _views(name: str, experiment: str, grid: Grid = GRID) -> dict[str, ComputedView]:
    folder = f"{RESULTS_DIR}/{STUDY}"
    numbers = lambda root: grid_numbers(Path(root), experiment, grid)   # noqa: E731
    return {f"ctf-spec-{name}": ComputedView(numbers, spec_markdown, draw,
                                             f"{label(experiment, grid)}: accuracy over N × t_gap", records=folder),
            f"ctf-claims-{name}": ComputedView(numbers, claims_markdown, records=folder)}


VIEWS = {**_views("mnist", "ctf-mnist"), **_views("fashion", "ctf-fashion", FASHION_GRID),
         **_views("wide-mnist", "ctf-mnist", WIDE_GRID)}
