"""Device specification explorer: how far each device or periphery parameter may move from a
baseline before the test metric leaves the tolerance band of floating point.

``rpusim spec EXPERIMENT --variant V --tolerance T --budget PRESET`` (see ``docs/spec.md``):

1. :func:`spec_params` builds the parameter table from the variant's resolved config: each
   parameter names the config keys it sets, its baseline (read from the config), its grid kind
   (``log``, ``linear``, ``integer``), which direction is worse, and its grid values, ordered from
   the baseline toward worse. Only parameters that exist for the variant's device type are listed
   (bounded-step devices: step, spreads, bounds, asymmetry; CTF: N and t_gap); periphery
   parameters only where the periphery is not perfect.
2. :func:`spec_points` turns every (parameter, value, seed) into a sweep point of the run framework
   (:mod:`.sweep`), plus the floating-point reference and the baseline itself (each once per
   seed, shared by all parameters). :func:`.sweep.run_sweep` runs them (Ray, resumable,
   fingerprint-checked) into ``OUT/EXPERIMENT/spec-VARIANT-BUDGET/``.
   With ``--pair A,B`` it adds every cell of the two parameters' grids moved together
   (:mod:`.spec_maps`; the cells on the axes are the 1-D points, shared).
3. :func:`.spec_search.find_limit` (pure) finds, per parameter, the tolerated limit; :func:`write_sheet`
   writes ``spec.md``, one ``spec_<parameter>.png`` per parameter and one heat map with the
   tolerance contour per pair.

**The band.** The metric is a test error (lower is better) in %, the tolerance T in percentage
points. A point with seed mean m (n seeds, sample sd s) is *inside* when

    m − m_fp ≤ T + k·SE,   SE = sqrt(s²/n + s_fp²/n_fp),   k = :data:`BAND_SE` = 2,

i.e. when it is not resolved (at 2 SE, as in the documents' tables) to be worse than floating
point by more than T. A side with one seed has no spread estimate and adds 0 to SE (the sheet says
so). **The limit** is found walking from the baseline toward worse: the last grid value inside
the band, interpolated linearly (in log value for log grids) to where m − m_fp − T − k·SE
crosses 0 between it and the first value outside; integer grids (bits, BL, N) report the last
inside value. Values past the first one outside are not looked at (a wiggle back into the
band does not extend the limit).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

from ..config import ConfigError
from ..io import atomic_write_text
from .config import RunConfig, deep_merge
from .experiment import Experiment
from .identity import read_summary
from .plots import metric_label, pyplot, save_figure
from .runner import variant_configs
from .spec_maps import map_figure, map_stats, map_table, pair_settings, parse_pairs
from .spec_search import BAND_SE, Limit, SpecParam, Stat, find_limit, fmt_value
from .sweep import SweepPoint, nest_key, point_name

__all__ = ["BAND_SE", "Limit", "SpecParam", "Stat", "find_limit", "SpecIncomplete", "spec_params", "select_params",
           "spec_points", "write_sheet", "plan_spec", "spec_dir"]


class SpecIncomplete(Exception):
    """Too few runs finished to write a sheet (the reference failed)."""


# ---------------------------------------------------------------- the parameter table

def _get(cfg: dict, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _sig(x: float) -> float:
    return float(f"{x:.3g}")


def _toward_worse(baseline: float, candidates, worse: str) -> tuple:
    """The baseline, then the candidates that lie on the worse side of it, nearest first."""
    if worse == "larger":
        beyond = sorted({c for c in candidates if c > baseline})
    else:
        beyond = sorted({c for c in candidates if c < baseline}, reverse=True)
    return (baseline, *beyond)


def _same(keys: tuple[str, ...]) -> Callable[[float], dict]:
    return lambda v: {k: v for k in keys}


def _bounds_assign(w_max: float, w_min: float) -> Callable[[float], dict]:
    """Bounds scaled together: w_max = v, w_min = w_min0·v/w_max0 (symmetric bounds stay symmetric)."""
    return lambda v: {"rpu.device.w_max": v, "rpu.device.w_min": _sig(w_min * v / w_max)}


def _ctf_n_assign(bl: int, pw: float) -> Callable[[float], dict]:
    """N slots of an update with its program time conserved: BL = N, pw = BL0·pw0/N."""
    return lambda n: {"rpu.update.bl": int(n), "rpu.device.pw": _sig(bl * pw / n)}


def _io_dirs(cfg: dict) -> tuple[str, ...]:
    """The periphery directions that are not perfect."""
    return tuple(d for d in ("forward", "backward") if not _get(cfg, f"rpu.{d}.is_perfect"))


def spec_params(cfg: dict) -> list[SpecParam]:
    """Every parameter of the sheet that exists for this resolved config (``RunConfig.to_dict()``)."""
    dev = _get(cfg, "rpu.device") or {}
    params: list[SpecParam] = []

    def add(name, what, keys, grid, worse, candidates, baseline=None, assign=None):
        base = _get(cfg, keys[0]) if baseline is None else baseline
        params.append(SpecParam(name, what, tuple(keys), base, grid, worse,
                                _toward_worse(base, candidates, worse), assign or _same(tuple(keys))))

    if "dw_min" in dev and "up_down" in dev:  # bounded-step devices (constant_step, soft_bounds, ...)
        d = "rpu.device."
        b = dev["dw_min"]
        add("dw_min", "step Δw_min (states ≈ (w_max − w_min)/Δw_min)", [d + "dw_min"], "log", "larger",
            [_sig(b * f) for f in (3, 10, 30)])
        add("dw_min_dtod", "device-to-device spread of the step", [d + "dw_min_dtod"], "linear", "larger",
            (0.3, 0.6, 1.0))
        add("dw_min_std", "cycle-to-cycle noise of the step", [d + "dw_min_std"], "linear", "larger",
            (0.3, 1.0, 2.0, 5.0))
        w = dev["w_max"]
        add("w_bounds", "weight bounds (w_max; w_min scaled with it)", [d + "w_max", d + "w_min"], "log",
            "smaller", [_sig(w * f) for f in (0.3, 0.1, 0.03)], assign=_bounds_assign(w, dev["w_min"]))
        add("w_bounds_dtod", "device-to-device spread of the bounds", [d + "w_max_dtod", d + "w_min_dtod"],
            "linear", "larger", (0.3, 0.6, 1.0))
        add("up_down", "global up/down asymmetry", [d + "up_down"], "linear", "larger", (0.02, 0.05, 0.1, 0.2))
        add("up_down_dtod", "device-to-device spread of the asymmetry", [d + "up_down_dtod"], "linear", "larger",
            (0.01, 0.03, 0.1, 0.3))
    if dev.get("type") == "ctf":
        bl, pw, gap = _get(cfg, "rpu.update.bl"), dev["pw"], dev["t_gap"]
        add("ctf_n", "pulse slots N of an update (BL = N, pw = BL0·pw0/N: program time conserved)",
            ["rpu.update.bl", "rpu.device.pw"], "integer", "smaller",
            sorted({max(1, round(bl / f)) for f in (2, 5, 10)}), baseline=bl, assign=_ctf_n_assign(bl, pw))
        add("t_gap", "gap between pulse slots t_gap (µs)", ["rpu.device.t_gap"],
            "log" if gap > 0 else "linear", "larger",
            [_sig(gap * f) for f in (4, 20, 100)] if gap > 0 else (1.0, 5.0, 20.0, 100.0))
    elif _get(cfg, "model.analog") and "dw_min" in dev:
        add("bl", "pulse-train length BL", ["rpu.update.bl"], "integer", "smaller", (5, 3, 2, 1))
    dirs = _io_dirs(cfg)
    if dirs and _get(cfg, "model.analog"):
        io = [f"rpu.{x}." for x in dirs]
        noise = _get(cfg, io[0] + "out_noise")
        add("out_noise", "output noise σ", [p + "out_noise" for p in io], "log" if noise > 0 else "linear",
            "larger", [_sig(noise * f) for f in (2, 5, 10)] if noise > 0 else (0.03, 0.06, 0.15, 0.3))
        if _get(cfg, io[0] + "inp_bits") >= 3:
            add("dac_bits", "DAC resolution (bits)", [p + "inp_bits" for p in io], "integer", "smaller",
                (5, 4, 3))
        if _get(cfg, io[0] + "out_bits") >= 3:
            add("adc_bits", "ADC resolution (bits)", [p + "out_bits" for p in io], "integer", "smaller",
                (7, 6, 5, 4))
    return params


def select_params(params: list[SpecParam], names: list[str] | None, grids: dict[str, list]) -> list[SpecParam]:
    """The chosen parameters (all if ``names`` is None), with grids replaced by ``grids``
    (NAME → values; each must hold a value on the worse side of the baseline)."""
    known = {p.name: p for p in params}
    allowed = ", ".join(known) or "none for this device"
    for name in list(names or []) + list(grids):
        if name not in known:
            raise ConfigError(f"parameter {name!r}: unknown for this variant's device and periphery "
                              f"(allowed: {allowed})")
    chosen = [known[n] for n in dict.fromkeys(names)] if names else list(params)
    if not chosen:
        raise ConfigError("no parameter to sweep (--params is empty)")
    out = []
    for p in chosen:
        if p.name in grids:
            values = _toward_worse(p.baseline, grids[p.name], p.worse)
            p = SpecParam(p.name, p.what, p.keys, p.baseline, p.grid, p.worse, values, p.assign)
        if len(p.values) < 2:
            raise ConfigError(f"--grid {p.name}: empty range: no value {p.worse} than the baseline "
                              f"{p.baseline} (the worse side)")
        out.append(p)
    return out


# ---------------------------------------------------------------- points

def _point(exp: Experiment, variant: str, preset: str, overrides: dict, seed: int, label: dict,
           settings: dict) -> SweepPoint:
    merged = overrides
    for k, v in settings.items():
        merged = deep_merge(merged, nest_key(k, v))
    cfg = variant_configs(exp, [variant], preset, merged, seed)[variant]
    values = {**label, "seed": seed}
    return SweepPoint(point_name(variant, values), variant, values, cfg)


def spec_points(exp: Experiment, variant: str, reference: str, preset: str, overrides: dict,
                params: list[SpecParam], seeds: list[int],
                pairs: list[tuple[SpecParam, SpecParam]] = ()) -> list[SweepPoint]:
    """The sweep points: per seed the reference (floating point), the baseline, each parameter's
    values other than the baseline, and each pair's cells with both parameters off the baseline
    (:mod:`.spec_maps`; the pair's parameters must be among ``params``). All are validated here,
    before any work."""
    points, errors = [], []
    for seed in seeds:
        points.append(_point(exp, reference, preset, overrides, seed, {}, {}))
        points.append(_point(exp, variant, preset, overrides, seed, {}, {}))
        cells = [({p.name: v}, p.assign(v)) for p in params for v in p.values[1:]]
        cells += [c for p, q in pairs for c in pair_settings(p, q)]
        for label, settings in cells:
            try:
                points.append(_point(exp, variant, preset, overrides, seed, label, settings))
            except ConfigError as err:
                errors.append(", ".join(f"{k} = {v}" for k, v in label.items()) + f": {err}")
    if errors:
        raise ConfigError("\n".join(dict.fromkeys(errors)))
    return list({pt.name: pt for pt in points}.values())


# ---------------------------------------------------------------- the sheet

def collect(points: list[SweepPoint], folder_of: Callable[[SweepPoint], Path], reference: str, where: str
            ) -> tuple[list[float], dict[tuple, list[float]], str]:
    """The finished runs' final metrics: the reference's, and the variant's by label (the sorted
    (parameter, value) items off the baseline; () is the baseline itself); and the metric's name.
    ``folder_of(point)``: the run's folder (a sweep's point folder, or its record); ``where``: the
    place named when the reference is missing."""
    ref: list[float] = []
    samples: dict[tuple, list[float]] = {}
    metric = ""
    for pt in points:
        if not (folder_of(pt) / "summary.json").exists():
            continue
        summary = read_summary(folder_of(pt))
        if summary.get("status") == "unfinished":
            continue
        final, metric = summary["final"], metric or summary["metric"]
        if pt.variant == reference:
            ref.append(final)
        else:
            samples.setdefault(tuple(sorted((k, v) for k, v in pt.values.items() if k != "seed")), []).append(final)
    if not ref:
        raise SpecIncomplete(f"no finished reference run ({reference}) in {where}: no sheet written; "
                             "run the same command again to retry the failed runs")
    return ref, samples, metric


def curve(p: SpecParam, samples: dict[tuple, list[float]]) -> list[Stat]:
    """The Stats of ``p``'s grid values that have finished runs, in grid order (the baseline first)."""
    got = [(v, samples.get(() if i == 0 else ((p.name, v),))) for i, v in enumerate(p.values)]
    return [Stat.of(v, s) for v, s in got if s]


def _stat_text(s: Stat | None) -> str:
    if s is None:
        return "–"
    return f"{s.mean:.2f} ± {s.sd:.2f}" if s.n > 1 else f"{s.mean:.2f} (1 seed)"


def _limit_text(worse: str, status: str, limit: float | None) -> str:
    if status == "baseline_outside":
        return "baseline already outside the band"
    if status == "not_reached":
        return f"not reached within the grid ({'≥' if worse == 'larger' else '≤'} {fmt_value(limit)})"
    return fmt_value(limit)


def draw_curve(ax, name: str, what: str, grid: str, worse: str, stats: list[Stat], ref: Stat, tolerance: float,
               lim: Limit, legend: bool = True) -> None:
    """One parameter's metric (seed mean ± sd) against its value, the floating-point level, the band's
    edge and the tolerated limit, on ``ax``."""
    xs = [s.value for s in stats]
    ax.errorbar(xs, [s.mean for s in stats], yerr=[0 if s.n < 2 else s.sd for s in stats], marker="o",
                capsize=3, label=f"{name} (mean ± sd over seeds)")
    ax.axhline(ref.mean, color="gray", lw=1, label=f"floating point {ref.mean:.2f}")
    ax.axhline(ref.mean + tolerance, color="tab:red", ls="--", lw=1, label=f"fp + tolerance {tolerance:g}")
    if ref.n > 1:
        ax.axhspan(ref.mean - ref.sd, ref.mean + ref.sd, color="gray", alpha=0.15)
    if lim.status == "crossed":
        ax.axvline(lim.limit, color="tab:green", ls=":", label=f"tolerated limit {fmt_value(lim.limit)}")
    if grid == "log" and all(x > 0 for x in xs):
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter("")  # labels at every minor tick overlap on a short decade
    ax.set_xlabel(f"{name}: {what}" + (" (worse →)" if worse == "larger" else " (← worse)"), fontsize=8)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=7)


def tolerance_curve(p: SpecParam, stats: list[Stat], ref: Stat, tolerance: float, lim: Limit, metric: str,
                    path: Path, title: str) -> Path:
    """The metric (seed mean ± sd) against the parameter, with the floating-point level and the band."""
    fig, ax = pyplot().subplots(figsize=(6, 4))
    draw_curve(ax, p.name, p.what, p.grid, p.worse, stats, ref, tolerance, lim)
    ax.set_ylabel(metric_label(metric))
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def _plain(s: Stat) -> dict:
    """A Stat as JSON-safe numbers (nan, e.g. the sd of one seed, as null)."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in s.__dict__.items()}


def budget_text(preset: str, cfg: RunConfig) -> str:
    limit = lambda n: "all" if n == 0 else f"{n:,}"  # noqa: E731
    return (f"preset `{preset}`: {cfg.train.epochs} epoch(s), lr {cfg.train.lr:g}, batch {cfg.train.batch_size}, "
            f"train_limit {limit(cfg.data.train_limit)}, test_limit {limit(cfg.data.test_limit)}")


def sheet_numbers(params: list[SpecParam], pairs: list[tuple[SpecParam, SpecParam]], ref_samples: list[float],
                  samples: dict[tuple, list[float]], tolerance: float) -> tuple[Stat, dict, dict, dict]:
    """The reference's Stat, each parameter's curve (Stats in grid order) and Limit, and each pair's map."""
    ref = Stat.of(math.nan, ref_samples)
    curves = {p.name: curve(p, samples) for p in params}
    limits = {p.name: find_limit(curves[p.name], ref, tolerance, p.grid) if curves[p.name]
              else Limit("no_runs", None, None, None) for p in params}
    maps = {(p.name, q.name): map_stats(p, q, samples) for p, q in pairs}
    return ref, curves, limits, maps


def sheet_data(exp_name: str, variant: str, reference: str, preset: str, budget: str, tolerance: float,
               seeds: list[int], metric: str, params: list[SpecParam], pairs: list[tuple[SpecParam, SpecParam]],
               ref: Stat, curves: dict, limits: dict, maps: dict) -> dict:
    """Everything the sheet shows, JSON-able (``spec.json``; a document's block from records)."""
    return {"experiment": exp_name, "variant": variant, "reference": reference, "budget": preset,
            "budget_text": budget, "tolerance": tolerance, "band_se": BAND_SE, "seeds": seeds, "metric": metric,
            "reference_stat": _plain(ref),
            "params": {p.name: {"what": p.what, "keys": p.keys, "baseline": p.baseline, "grid": p.grid,
                                "worse": p.worse, "values": p.values, "status": limits[p.name].status,
                                "limit": limits[p.name].limit,
                                "last_inside": limits[p.name].last_inside and _plain(limits[p.name].last_inside),
                                "stats": [_plain(s) for s in curves[p.name]]} for p in params},
            "maps": [{"rows": p.name, "columns": q.name, "row_values": p.values, "column_values": q.values,
                      "stats": [[s and _plain(s) for s in line] for line in maps[(p.name, q.name)]]} for p, q in pairs]}


def stat_of(d: dict | None) -> Stat | None:
    """A Stat from its JSON form in :func:`sheet_data` (None stays None)."""
    return None if d is None else Stat(d["value"], d["mean"], math.nan if d["sd"] is None else d["sd"], d["n"])


def sheet_table(data: dict, extra: tuple[str, dict[str, str]] | None = None) -> str:
    """The sheet's table from :func:`sheet_data`; ``extra``: (heading, {parameter: text}) adds a column."""
    head = ["parameter", "config keys", "baseline", "grid (baseline → worse)", "tolerated limit",
            f"{data['metric']} at the last value inside (mean ± sd)", "seeds"] + ([extra[0]] if extra else [])
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, p in data["params"].items():
        stats = p["stats"]
        missing = len(p["values"]) - len(stats)
        grid = ", ".join(fmt_value(v) for v in p["values"]) + (f" ({missing} value(s) not finished)" if missing else "")
        limit = "no finished run" if not stats else _limit_text(p["worse"], p["status"], p["limit"])
        if stats and missing and p["status"] == "not_reached":
            limit = limit.replace("within the grid", "within the finished values")
        n = sorted({s["n"] for s in stats})
        cells = [name, ", ".join(f"`{k}`" for k in p["keys"]), fmt_value(p["baseline"]), grid, limit,
                 _stat_text(stat_of(p["last_inside"])), "/".join(map(str, n)) or "0"]
        rows.append("| " + " | ".join(cells + ([extra[1].get(name, "–")] if extra else [])) + " |")
    return "\n".join(rows)


def band_text(data: dict) -> list[str]:
    """The sheet's budget, warning, reference and band, as Markdown paragraphs."""
    lines = [
        f"**Training budget**: {data['budget_text']}; seeds {', '.join(map(str, data['seeds']))}.",
        "",
        "> **Warning**: these limits hold at this training budget. A short budget can give limits "
        "*looser* than at convergence (errors far above the converged level hide small penalties, and the "
        "seed spread widens the band) — or tighter, where a non-ideality only slows learning. "
        "Pay for a longer budget (`--budget`) before quoting a limit.",
        "",
        f"**Reference**: `{data['reference']}` at the same budget and seeds: {data['metric']} "
        f"{_stat_text(stat_of(data['reference_stat']))}.",
        f"**Band**: a value is tolerated while its seed mean m satisfies m − m_fp ≤ T + {data['band_se']:g}·SE with "
        f"T = {data['tolerance']:g} (percentage points) and SE = √(sd²/n + sd_fp²/n_fp) (a side with one seed adds 0). "
        "The limit is interpolated between the last grid value inside and the first outside "
        "(log grids in log value; integer grids: the last value inside)."]
    if baseline_outside(data):
        lines += ["", f"> **The baseline is outside the band at this budget**: `{data['variant']}` itself is more "
                      f"than T + {data['band_se']:g}·SE above `{data['reference']}`, so no limit can be found. Choose a "
                      f"longer budget (`--budget`: the presets of `rpusim list {data['experiment']}`)."]
    return lines


def baseline_outside(data: dict) -> bool:
    """Whether the sheet's baseline itself is outside the band (every parameter with runs says so)."""
    statuses = [p["status"] for p in data["params"].values() if p["stats"]]
    return bool(statuses) and all(s == "baseline_outside" for s in statuses)


def write_sheet(exp_name: str, variant: str, reference: str, preset: str, base_cfg: RunConfig,
                points: list[SweepPoint], sweep_dir: Path, params: list[SpecParam], tolerance: float,
                seeds: list[int], pairs: list[tuple[SpecParam, SpecParam]] = ()) -> tuple[Path, dict[str, Limit]]:
    """spec.md, one spec_<parameter>.png per parameter and one spec_map_<a>__<b>.png per pair in
    ``sweep_dir``; returns the path and the limits."""
    ref_samples, samples, metric = collect(points, lambda pt: sweep_dir / pt.name, reference, str(sweep_dir))
    ref, curves, limits, maps = sheet_numbers(params, pairs, ref_samples, samples, tolerance)
    for p in params:
        if curves[p.name]:
            tolerance_curve(p, curves[p.name], ref, tolerance, limits[p.name], metric,
                            sweep_dir / f"spec_{p.name}.png", f"{exp_name} {variant}: {p.name} (budget {preset})")
    data = sheet_data(exp_name, variant, reference, preset, budget_text(preset, base_cfg), tolerance, seeds, metric,
                      params, pairs, ref, curves, limits, maps)
    text = "\n".join([
        f"# Device specification sheet: {exp_name}, variant `{variant}` (device `{base_cfg.rpu.device.type}`)",
        "",
        *band_text(data),
        "",
        sheet_table(data),
        "",
        "Curves: " + ", ".join(f"[{p.name}](spec_{p.name}.png)" for p in params if curves[p.name]),
        "",
        *_map_sections(exp_name, variant, preset, pairs, maps, ref, tolerance, metric, sweep_dir),
    ])
    path = sweep_dir / "spec.md"
    atomic_write_text(path, text)
    atomic_write_text(sweep_dir / "spec.json", json.dumps(data, indent=2, default=str))
    return path, limits


def _map_sections(exp_name: str, variant: str, preset: str, pairs, maps, ref: Stat, tolerance: float,
                  metric: str, sweep_dir: Path) -> list[str]:
    """The sheet's 2-D part: per pair a table (✓ inside the band, ✗ outside) and its heat map."""
    if not pairs:
        return []
    lines = ["## Pair maps", "",
             f"{metric} (mean ± sd over seeds) with both parameters moved together, the rest at the baseline; "
             "✓ inside the band, ✗ outside. The maps draw m − m_fp with the tolerance contour.", ""]
    for p, q in pairs:
        grid = maps[(p.name, q.name)]
        name = f"spec_map_{p.name}__{q.name}.png"
        if any(s is not None for line in grid for s in line):
            map_figure(p, q, grid, ref, tolerance, metric, sweep_dir / name,
                       f"{exp_name} {variant}: {p.name} × {q.name} (budget {preset})")
        lines += [f"### {p.name} × {q.name}", "", map_table(p, q, grid, ref, tolerance), "", f"Map: [{name}]({name})", ""]
    return lines


# ---------------------------------------------------------------- the command

def check_request(exp: Experiment, variant: str, reference: str, budget: str, tolerance: float,
                  seeds: int) -> None:
    """Refuse bad input naming it, before any work."""
    if not (tolerance > 0 and math.isfinite(tolerance)):
        raise ConfigError(f"--tolerance {tolerance}: must be a finite number > 0 (percentage points of the metric)")
    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: must be ≥ 1")
    if budget not in exp.presets:
        raise ConfigError(f"--budget {budget!r}: unknown for {exp.name} (allowed: {', '.join(exp.presets)})")
    for what, name in (("--variant", variant), ("--reference", reference)):
        if name not in exp.variants:
            raise ConfigError(f"{what} {name!r}: unknown for {exp.name} (allowed: {', '.join(exp.variants)})")


def plan_spec(exp: Experiment, variant: str, reference: str, budget: str, overrides: dict, tolerance: float,
              seeds: int, names: list[str] | None = None, grids: dict[str, list] | None = None,
              pair_names: list[str] = ()) -> tuple[RunConfig, list[SpecParam], list[tuple[SpecParam, SpecParam]],
                                                   list[SweepPoint]]:
    """The variant's config at the budget, the chosen parameters (with those of the pairs), the pairs
    (``--pair A,B`` texts) and every validated point."""
    check_request(exp, variant, reference, budget, tolerance, seeds)
    base = variant_configs(exp, [variant], budget, overrides)[variant]
    if not base.model.analog:
        raise ConfigError(f"--variant {variant!r}: not analog (model.analog is false): nothing to specify")
    table = spec_params(base.to_dict())
    pairs = parse_pairs(list(pair_names), [p.name for p in table])
    if names is not None:  # a pair's parameters are always on the sheet: its map's axes are their curves
        names = list(dict.fromkeys([*names, *(n for pair in pairs for n in pair)]))
    params = select_params(table, names, grids or {})
    by_name = {p.name: p for p in params}
    param_pairs = [(by_name[a], by_name[b]) for a, b in pairs]
    seed_list = [base.seed + i for i in range(seeds)]
    return base, params, param_pairs, spec_points(exp, variant, reference, budget, overrides, params, seed_list,
                                                  param_pairs)


def spec_dir(out: Path, exp: Experiment, variant: str, budget: str) -> Path:
    return Path(out) / exp.name / f"spec-{variant}-{budget}"
