"""Run an experiment: every chosen variant as its own run directory, then a table and a plot.

Layout of ``OUT/EXPERIMENT/``: one folder per variant (see :mod:`.train`), plus
``results.json`` / ``results.csv`` (final and best figure per variant, with the paper's
claim where the experiment states one) and ``curves.png``. These list every finished run in
the folder (a later command with other ``--variants`` adds its rows; ``--overwrite`` deletes
them first and they are rewritten from the runs finished at the end).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..config import ConfigError
from ..io import atomic_write_text
from .config import RunConfig, build_config
from .device import resolve_device
from .identity import check_run_dir, read_summary, remove_stale_tmp
from .plots import learning_curves
from .experiment import Experiment
from .train import train_run


def variant_configs(exp: Experiment, variants: list[str] | None = None, preset: str | None = None,
                    overrides: dict | None = None, seed: int | None = None) -> dict[str, RunConfig]:
    """Validated configs of the chosen variants (fails before any work if one is invalid)."""
    if preset is not None and preset not in exp.presets:
        raise ConfigError(f"preset {preset!r}: unknown for {exp.name} (allowed: {', '.join(exp.presets)})")
    extra = [exp.presets[preset]] if preset else []
    extra.append(overrides or {})
    if seed is not None:
        extra.append({"seed": seed})
    return {v: build_config(exp.base, exp.variants[v], {"variant": v}, *extra) for v in exp.variant_names(variants)}


RESULT_FILES = ("results.json", "results.csv", "curves.png")


def run_configs(name: str, configs: dict[str, RunConfig], out: Path, resume: bool = False,
                overwrite: bool = False, progress: bool | None = None, claims: dict | None = None,
                log=print) -> list[dict]:
    """Train each config into ``out/VARIANT`` (skipping finished runs when resuming); summarise.

    Every run folder is checked before any training starts (see :func:`.identity.check_run_dir`).
    The table lists every finished run in ``out``: this command's and those finished there before."""
    out = Path(out)
    problems = []
    folders = {}
    for variant, cfg in configs.items():
        try:
            resolve_device(cfg.train.device)
            folders[variant] = check_run_dir(cfg, out / variant, resume, overwrite)
        except ConfigError as err:
            problems.append(str(err))
    if problems:
        raise ConfigError("\n".join(dict.fromkeys(problems)))
    remove_stale_tmp(out)
    if overwrite and any(not f.empty for f in folders.values()):
        for stale in RESULT_FILES:  # rewritten below from the runs that are finished then
            (out / stale).unlink(missing_ok=True)
    for variant, cfg in configs.items():
        if resume and folders[variant].complete:
            summary = read_summary(out / variant)
            log(f"[{variant}] already finished: {summary['metric']} {summary['final']:.3f}")
        else:
            train_run(cfg, out / variant, resume=resume, overwrite=overwrite, progress=progress, log=log)
    return write_folder_results(name, out, list(configs), claims, log)


def finished_runs(out: Path, first: list[str]) -> dict[str, dict]:
    """Summaries of the finished runs in ``out`` (folders with summary.json), ``first`` first."""
    found = sorted(d.name for d in Path(out).iterdir() if (d / "summary.json").is_file())
    order = [v for v in first if v in found] + [v for v in found if v not in first]
    return {v: read_summary(out / v) for v in order}


def write_folder_results(name: str, out: Path, variants: list[str], claims: dict | None = None,
                         log=print) -> list[dict]:
    """Write the table and curves of every finished run in ``out``; returns the rows of ``variants``."""
    runs = finished_runs(out, variants)
    earlier = [v for v in runs if v not in variants]
    if earlier:
        log(f"results.csv also lists the runs finished earlier in {out}: {', '.join(earlier)}")
    rows = {v: {**s, "claim": (claims or {}).get(v, "")} for v, s in runs.items()}
    write_results(name, list(rows.values()), {v: out / v for v in runs}, out)
    return [rows[v] for v in variants if v in rows]


def write_results(title: str, results: list[dict], run_dirs: dict[str, Path], out: Path) -> None:
    atomic_write_text(out / "results.json", json.dumps(results, indent=2))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for r in results for k in r)))
    w.writeheader()
    w.writerows(results)
    atomic_write_text(out / "results.csv", buf.getvalue())
    metric = results[0]["metric"]
    learning_curves(run_dirs, metric, out / "curves.png", title=title)


def run_experiment(exp: Experiment, out: str | Path, variants: list[str] | None = None,
                   preset: str | None = None, overrides: dict | None = None, seed: int | None = None,
                   resume: bool = False, progress: bool | None = None, log=print) -> list[dict]:
    configs = variant_configs(exp, variants, preset, overrides, seed)
    results = run_configs(exp.name, configs, Path(out), resume=resume, progress=progress, claims=exp.claims, log=log)
    draw_figures(exp, Path(out), log)
    return results


def draw_figures(exp: Experiment, out: Path, log=print) -> None:
    """The experiment's own figures (if it has any) from the results in ``out``."""
    for path in exp.figures(out) if exp.figures is not None else []:
        log(f"figure: {path}")
