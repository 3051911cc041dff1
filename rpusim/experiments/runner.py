"""Run an experiment: every chosen variant as its own run directory, then a table and a plot.

Layout of ``OUT/EXPERIMENT/``: one folder per variant (see :mod:`.train`), plus
``results.json`` / ``results.csv`` (final and best figure per variant, with the paper's
claim where the experiment states one) and ``curves.png``.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..io import atomic_write_text
from .config import RunConfig, build_config
from .plots import learning_curves
from .registry import Experiment
from .train import train_run


def variant_configs(exp: Experiment, variants: list[str] | None = None, preset: str | None = None,
                    overrides: dict | None = None, seed: int | None = None) -> dict[str, RunConfig]:
    """Validated configs of the chosen variants (fails before any work if one is invalid)."""
    from ..config import ConfigError
    if preset is not None and preset not in exp.presets:
        raise ConfigError(f"preset {preset!r}: unknown for {exp.name} (allowed: {', '.join(exp.presets)})")
    extra = [exp.presets[preset]] if preset else []
    extra.append(overrides or {})
    if seed is not None:
        extra.append({"seed": seed})
    return {v: build_config(exp.base, exp.variants[v], {"variant": v}, *extra) for v in exp.variant_names(variants)}


def run_configs(name: str, configs: dict[str, RunConfig], out: Path, resume: bool = False,
                progress: bool | None = None, claims: dict | None = None, log=print) -> list[dict]:
    """Train each config into ``out/VARIANT`` (skipping finished runs when resuming); summarise."""
    out = Path(out)
    results = []
    for variant, cfg in configs.items():
        run_dir = out / variant
        summary_path = run_dir / "summary.json"
        if resume and summary_path.exists():
            summary = json.loads(summary_path.read_text())
            log(f"[{variant}] already finished: {summary['metric']} {summary['final']:.3f}")
        else:
            summary = train_run(cfg, run_dir, resume=resume, progress=progress, log=log)
        summary["claim"] = (claims or {}).get(variant, "")
        results.append(summary)
    write_results(name, results, {v: out / v for v in configs}, out)
    return results


def write_results(title: str, results: list[dict], run_dirs: dict[str, Path], out: Path) -> None:
    atomic_write_text(out / "results.json", json.dumps(results, indent=2))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(results[0]))
    w.writeheader()
    w.writerows(results)
    atomic_write_text(out / "results.csv", buf.getvalue())
    metric = results[0]["metric"]
    learning_curves(run_dirs, metric, out / "curves.png", title=title)


def run_experiment(exp: Experiment, out: str | Path, variants: list[str] | None = None,
                   preset: str | None = None, overrides: dict | None = None, seed: int | None = None,
                   resume: bool = False, progress: bool | None = None, log=print) -> list[dict]:
    configs = variant_configs(exp, variants, preset, overrides, seed)
    results = run_configs(exp.name, configs, Path(out), resume, progress, exp.claims, log)
    draw_figures(exp, Path(out), log)
    return results


def draw_figures(exp: Experiment, out: Path, log=print) -> None:
    """The experiment's own figures (if it has any) from the results in ``out``."""
    for path in exp.figures(out) if exp.figures is not None else []:
        log(f"figure: {path}")
