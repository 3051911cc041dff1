"""The ``rpusim`` command line (typer): list, run, sweep, report, record, analyze, devices, data.

The one place that joins the papers' experiments (:mod:`rpusim.papers.catalog`) and the run
framework (:mod:`rpusim.framework`).

Exit codes: 0 success; 1 a run failed (diverged, missing data, a failed sweep point), or
``report --check`` found document blocks that differ from the records;
2 bad input (unknown experiment, invalid config value, unknown key), reported on stderr
as one readable message, without a traceback, before any work starts.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from .config import ConfigError

app = typer.Typer(help="rpusim: train neural networks on simulated RPU cross-point arrays.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
devices_app = typer.Typer(help="Device models: list them, plot their pulse response.", no_args_is_help=True)
data_app = typer.Typer(help="Data sets: where they are, download them.", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
analyze_app = typer.Typer(help="Analyses of a run's checkpoint that the documents quote.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(analyze_app, name="analyze")

SET_HELP = "override KEY.PATH=VALUE, e.g. rpu.update.bl=31 (repeatable)"


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command("list")
def list_cmd(
    experiment: Optional[str] = typer.Argument(None, help="show one experiment in full: variants, claims, presets"),
) -> None:
    """List experiments with their variants and presets (or one experiment in full)."""
    from .papers.catalog import all_experiments, get_experiment
    if experiment is not None:
        try:
            exp = get_experiment(experiment)
        except ConfigError as err:
            _fail(str(err))
        typer.echo(f"{exp.name}: {exp.description}\npaper: {exp.paper or '-'}\nvariants:")
        for v, over in exp.variants.items():
            claim = f"   [paper: {exp.claims[v]}]" if v in exp.claims else ""
            typer.echo(f"  {v:22s} {json.dumps(over) if over else '(base config)'}{claim}")
        typer.echo("presets:")
        for p, over in exp.presets.items():
            typer.echo(f"  {p:22s} {json.dumps(over)}")
        return
    for name, exp in all_experiments().items():
        typer.echo(f"{name:18s} {exp.description}")
        shown = list(exp.variants)
        more = f", ... ({len(shown)} in all: rpusim list {name})" if len(shown) > 10 else ""
        typer.echo(f"{'':18s}   variants: {', '.join(shown[:10])}{more}")
        if exp.presets:
            typer.echo(f"{'':18s}   presets: {', '.join(exp.presets)}")


@app.command()
def run(
    experiment: str = typer.Argument(..., help="experiment name (see `rpusim list`)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML of a run config (e.g. a run's config.yaml) to run as it is"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP),
    out: Path = typer.Option(Path("runs"), "--out", help="results folder (a subfolder per experiment)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
    resume: bool = typer.Option(False, "--resume", help="continue the runs in OUT from their checkpoints (finished ones are skipped); refused if their config differs"),
    overwrite: bool = typer.Option(False, "--overwrite", help="delete the runs OUT holds for these variants first, then start them again"),
    preset: Optional[str] = typer.Option(None, "--preset", help="preset of the experiment (e.g. quick)"),
    variants: Optional[str] = typer.Option(None, "--variants", help="comma-separated variants, or all (default: the experiment's default set)"),
) -> None:
    """Run an experiment: each variant trains into OUT/EXPERIMENT/VARIANT, then a table and a plot.

    A variant's folder must be empty unless --resume (the same run: continue it) or --overwrite."""
    from .data import DataError
    from .framework import (RunConfig, TrainingDiverged, load_run_config, parse_set, run_configs,
                            variant_configs)
    from .framework.config import deep_merge
    from .framework.runner import draw_figures
    from .papers.catalog import get_experiment
    from .fast_path import reference_forced
    try:
        reference_forced()  # a bad RPUSIM_REFERENCE is refused before anything is written
        exp = get_experiment(experiment)
        overrides = parse_set(set_)
        if config is not None:
            if not config.exists():
                _fail(f"--config {config}: no such file")
            base = load_run_config(config).to_dict()
            if seed is not None:
                overrides["seed"] = seed
            cfg = RunConfig.from_dict(deep_merge(base, overrides))
            configs = {cfg.variant: cfg}
        else:
            chosen = variants.split(",") if variants else None
            configs = variant_configs(exp, chosen, preset, overrides, seed)
    except ConfigError as err:
        _fail(str(err))
    try:
        results = run_configs(exp.name, configs, out / exp.name, resume=resume, overwrite=overwrite,
                              claims=exp.claims)
        draw_figures(exp, out / exp.name, typer.echo)
    except ConfigError as err:
        _fail(str(err))
    except KeyboardInterrupt:
        _fail("interrupted; the last finished epoch of each run is kept: the same command with --resume "
              "continues from there", code=130)
    except (TrainingDiverged, DataError, FileNotFoundError) as err:
        _fail(str(err), code=1)
    typer.echo(f"\nresults in {out / exp.name}:")
    for r in results:
        typer.echo(f"  {r['variant']:18s} {r['metric']} final {r['final']:.3f}  best {r['best']:.3f}")


@app.command()
def sweep(
    experiment: str = typer.Argument(..., help="experiment name (see `rpusim list`)"),
    grid: list[str] = typer.Option([], "--grid", help="KEY.PATH=V1,V2,... values of one key (repeatable: cartesian product; none: one run per variant)"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP + ", applied to every point"),
    preset: Optional[str] = typer.Option(None, "--preset", help="preset of the experiment (e.g. quick)"),
    variants: Optional[str] = typer.Option(None, "--variants", help="comma-separated variants (default: all)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="parallel runs on a local Ray instance (default: CPU count; 1: one after another, no Ray)"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="run on an existing Ray cluster (e.g. auto or ray://host:10001); OUT must be on a shared file system"),
    out: Path = typer.Option(Path("runs"), "--out", help="results folder: points go to OUT/EXPERIMENT/NAME/POINT"),
    name: str = typer.Option("sweep", "--name", help="name of the sweep folder"),
) -> None:
    """Train every grid point as its own run; finished points are skipped when run again.
    Ctrl-C (SIGINT) or SIGTERM stops it cleanly: exit code 130 or 143, with what finished and how to go on."""
    from .framework import parse_set
    from .framework.sweep import SweepInterrupted, parse_grid, run_sweep, sweep_points
    from .papers.catalog import get_experiment
    from .fast_path import reference_forced
    try:
        reference_forced()  # a bad RPUSIM_REFERENCE is refused before anything is written
        exp = get_experiment(experiment)
        points = sweep_points(exp, parse_grid(grid), variants.split(",") if variants else None, preset,
                              parse_set(set_), seed)
        sweep_dir = out / exp.name / name
        results = run_sweep(exp.name, points, sweep_dir, workers or os.cpu_count() or 1, ray_address, exp.claims,
                            log=typer.echo)
    except ConfigError as err:
        _fail(str(err))
    except SweepInterrupted as stopped:
        typer.echo(str(stopped), err=True)
        raise typer.Exit(128 + stopped.signum)
    typer.echo(f"\nsweep results in {sweep_dir}:")
    for r in results:
        shown = (f"{r.summary['metric']} final {r.summary['final']:.3f}  best {r.summary['best']:.3f}"
                 if r.summary else r.error)
        typer.echo(f"  {r.status:8s} {r.name}: {shown}")
    failed = [r.name for r in results if r.status == "failed"]
    if failed:
        _fail(f"{len(failed)} of {len(results)} points failed (error.txt in each point's folder); "
              "run the same command again to retry them", code=1)


@app.command()
def spec(
    experiment: str = typer.Argument(..., help="experiment name (see `rpusim list`)"),
    variant: str = typer.Option("rpu-baseline", "--variant", help="the analog variant whose parameters are swept"),
    reference: str = typer.Option("fp", "--reference", help="the floating-point variant the band is measured from"),
    tolerance: float = typer.Option(0.3, "--tolerance", help="tolerated penalty over floating point (percentage points of the metric)"),
    budget: str = typer.Option("quick", "--budget", help="training budget: a preset of the experiment (quick: minutes)"),
    seeds: int = typer.Option(2, "--seeds", help="seeds per grid value (the band's noise is their spread)"),
    params: Optional[str] = typer.Option(None, "--params", help="comma-separated parameters (default: all that exist for the device)"),
    grid: list[str] = typer.Option([], "--grid", help="NAME=V1,V2,... values of one parameter instead of its default grid (repeatable)"),
    pair: list[str] = typer.Option([], "--pair", help="A,B: a 2-D tolerance map of two parameters moved together (repeatable)"),
    set_: list[str] = typer.Option([], "--set", help=SET_HELP + ", applied to every run"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="parallel runs on a local Ray instance (default: CPU count; 1: no Ray)"),
    out: Path = typer.Option(Path("runs"), "--out", help="results folder: runs and sheet go to OUT/EXPERIMENT/spec-VARIANT-BUDGET/"),
) -> None:
    """Device specification sheet: sweep each device and periphery parameter alone, find where the
    metric leaves the tolerance band of floating point; write spec.md and one curve per parameter
    (and, with --pair, a 2-D tolerance map per pair). Resumable: run the same command again."""
    from .framework import parse_set
    from .framework.spec import SpecIncomplete, plan_spec, spec_dir, write_sheet
    from .framework.sweep import SweepInterrupted, parse_grid, run_sweep
    from .papers.catalog import get_experiment
    from .fast_path import reference_forced
    try:
        reference_forced()
        exp = get_experiment(experiment)
        grids = {k: v for k, v in parse_grid(grid).items()}
        names = [n.strip() for n in params.split(",") if n.strip()] if params is not None else None
        if params is not None and not names:
            _fail("--params: empty list (give parameter names, or leave it out for all)")
        base, chosen, pairs, points = plan_spec(exp, variant, reference, budget, parse_set(set_), tolerance,
                                                seeds, names, grids, pair)
        folder = spec_dir(out, exp, variant, budget)
        results = run_sweep(exp.name, points, folder, workers or os.cpu_count() or 1, None, exp.claims,
                            log=typer.echo)
        sheet, _ = write_sheet(exp.name, variant, reference, budget, base, points, folder, chosen, tolerance,
                               [base.seed + i for i in range(seeds)], pairs)
    except ConfigError as err:
        _fail(str(err))
    except SpecIncomplete as err:
        _fail(str(err), code=1)
    except SweepInterrupted as stopped:
        typer.echo(str(stopped), err=True)
        raise typer.Exit(128 + stopped.signum)
    typer.echo(f"\nspec sheet: {sheet}")
    typer.echo(sheet.read_text())
    failed = [r.name for r in results if r.status == "failed"]
    if failed:
        _fail(f"{len(failed)} of {len(results)} runs failed (error.txt in each folder; the sheet leaves them out); "
              "run the same command again to retry them", code=1)


@app.command()
def report(
    dirs: Optional[list[Path]] = typer.Argument(None, help="folders holding run directories (searched recursively)"),
    out: Optional[Path] = typer.Option(None, "--out", help="where report.md and the plots go (default: the first folder)"),
    all_: bool = typer.Option(False, "--all", help="rewrite every table and figure block of the documents from results/ (computed blocks from the code)"),
    check: bool = typer.Option(False, "--check", help="compare every block of the documents with results/ (computed blocks with the code); exit 1 listing those that differ"),
    root: Path = typer.Option(Path("."), "--root", help="repository root for --all/--check (documents and results/)"),
) -> None:
    """Collect runs into report.md (a table with the paper's claims) and comparison plots; or, with
    --all/--check, regenerate (or check) the documents' tables and figures from the records."""
    if all_ or check:
        if dirs or out is not None:
            _fail("--all/--check work on the documents and results/ of --root: give no run folders or --out")
        if all_ and check:
            _fail("--all rewrites the documents, --check only compares them: choose one")
        from .framework.doc_tables import report_documents
        from .papers.catalog import COMPUTED
        try:
            problems = report_documents(root, write=all_, views=COMPUTED)
        except ConfigError as err:
            _fail(str(err))
        for line in problems:
            typer.echo(("updated: " if all_ else "differs: ") + line)
        if check and problems:
            typer.echo(f"{len(problems)} block(s) differ from the records: run `rpusim report --all`", err=True)
            raise typer.Exit(1)
        typer.echo("documents " + ("rewritten from the records" if all_ else "agree with the records"))
        return
    if not dirs:
        _fail("give run folders (rpusim report DIR...), or --all / --check for the documents")
    from .framework.report import write_report
    from .papers.catalog import EXPERIMENTS
    try:
        path = write_report(dirs, out, EXPERIMENTS)
    except (FileNotFoundError, ConfigError) as err:
        _fail(str(err))
    typer.echo(f"report: {path}")


@app.command()
def record(
    run_dirs: list[Path] = typer.Argument(..., help="run folders (plain runs or sweep points)"),
    study: str = typer.Option(..., "--study", help="what the documents cite, e.g. fc-30epochs: records go to results/STUDY/EXPERIMENT/VARIANT/seed-N"),
    root: Path = typer.Option(Path("."), "--root", help="repository root (records go to ROOT/results)"),
    unfinished: bool = typer.Option(False, "--unfinished", help="also record runs still training, marked unfinished"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace records that hold other content"),
) -> None:
    """Copy the compact files of runs (config.yaml, metrics.csv, summary.json) into results/."""
    from .framework.records import record_runs
    try:
        done = record_runs(run_dirs, study, root, allow_unfinished=unfinished, overwrite=overwrite)
    except ConfigError as err:
        _fail(str(err))
    for plan, what in done:
        typer.echo(f"{what:10s} {plan.source} -> {plan.dest}")


@analyze_app.command("bounds")
def analyze_bounds(
    checkpoint: Path = typer.Argument(..., help="a run folder or its checkpoint.pt (config.yaml beside it)"),
    steps: float = typer.Option(2.0, "--steps", min=0, help="k: a device within k of its own steps of a bound counts"),
) -> None:
    """Fraction of each analog layer's devices within k steps of a weight bound."""
    from .data import DataError
    from .framework.analyze import bounds_table, load_checkpoint_model, near_bounds
    try:
        _, model, epoch = load_checkpoint_model(checkpoint)
        typer.echo(bounds_table(near_bounds(model, steps), steps, epoch, str(checkpoint)))
    except ConfigError as err:
        _fail(str(err))
    except DataError as err:
        _fail(str(err), code=1)


@devices_app.command("list")
def devices_list() -> None:
    """List the device types with their parameters, and the presets of published devices."""
    from .devices import DEVICES, PRESETS, device_from_dict, nominal_symmetry_point
    typer.echo("device types (rpu.device.type=NAME):")
    for name, cls in sorted(DEVICES.items()):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        typer.echo(f"{name:16s} {doc}")
        fields = [f for f in cls.model_fields if f != "type"]
        if fields:
            typer.echo(f"{'':16s}   fields: {', '.join(fields)}")
    typer.echo("\npresets of published devices (rpu.device.preset=NAME; other device keys refine it):")
    for name, preset in PRESETS.items():
        w_star = nominal_symmetry_point(device_from_dict({"preset": name}))
        typer.echo(f"{name:16s} {preset.device['type']}: {preset.description} (symmetry point w* = {w_star:.3g})")
        typer.echo(f"{'':16s}   source: {preset.source}")
        if preset.not_modelled:
            typer.echo(f"{'':16s}   not modelled: {preset.not_modelled}")


def _named_device(name: str, fields: dict):
    """The device config of a type or preset ``name``, refined by ``fields``."""
    from .devices import DEVICES, PRESETS, device_from_dict
    if name in PRESETS:
        return device_from_dict({**fields, "preset": name})
    if name in DEVICES:
        return device_from_dict({**fields, "type": name})
    raise ConfigError(f"device {name!r}: unknown type or preset (types: {', '.join(sorted(DEVICES))}; "
                      f"presets: {', '.join(PRESETS)})")


@devices_app.command("plot")
def devices_plot(
    device: str = typer.Argument(..., help="device type or preset (see `rpusim devices list`)"),
    set_: list[str] = typer.Option([], "--set", help="device field FIELD=VALUE, e.g. dw_min=0.01 (repeatable)"),
    pulses: Optional[int] = typer.Option(None, "--pulses", min=1, max=100000, help="pulses up, then as many down (default: enough to reach both bounds)"),
    n_devices: int = typer.Option(5, "--devices", min=1, max=50, help="devices of one array to show"),
    repeats: int = typer.Option(50, "--repeats", min=2, max=10000, help="repetitions of the pulse train per device (cycle-to-cycle band)"),
    seed: int = typer.Option(0, "--seed", min=0, help="random seed"),
    out: Path = typer.Option(None, "--out", help="PNG file (default: DEVICE-pulse-response.png)"),
) -> None:
    """Plot a device's pulse response: weight vs pulse number, up then down, with its spreads."""
    from .devices.plot import plot_pulse_response
    from .framework import parse_set
    try:
        dev = _named_device(device, parse_set(set_))
        path = plot_pulse_response(dev, out or Path(f"{device}-pulse-response.png"), pulses, n_devices, repeats, seed,
                                   title=device)
    except ConfigError as err:
        _fail(str(err))
    typer.echo(f"pulse response: {path}")


@data_app.command("list")
def data_list() -> None:
    """List the data sets and where each is found on this machine."""
    from .data import DATASETS, DataError, find_file
    for name, spec in DATASETS.items():
        try:
            where = str(find_file(name, spec.files[0].filename, verify=False).parent)
        except DataError:
            where = f"missing (rpusim data ensure {name})"
        typer.echo(f"{name:16s} {spec.description}")
        typer.echo(f"{'':16s}   {where}")


@data_app.command("download")
def data_download(
    name: str = typer.Argument(..., help="data set name (see `rpusim data list`)"),
    dest: Optional[Path] = typer.Option(None, "--dest", help="data root: files go to DEST/NAME (default: ~/.cache/rpusim; set RPUSIM_DATA=DEST for another root)"),
    mirror: list[str] = typer.Option([], "--mirror", help="base URL to download from instead of the standard mirrors (repeatable)"),
    force: bool = typer.Option(False, "--force", help="download even if a file with the right checksum is present"),
) -> None:
    """Download a data set from its standard mirrors, checksum-verified, atomically."""
    from .data import DATASETS, DataError, download
    if name not in DATASETS:
        _fail(f"data set {name!r}: unknown (allowed: {', '.join(DATASETS)})")
    try:
        download(name, dest, mirrors=mirror or None, force=force, log=typer.echo)
    except DataError as err:
        _fail(str(err), code=1)


@data_app.command("ensure")
def data_ensure(
    names: Optional[list[str]] = typer.Argument(None, help="data sets (default: all; see `rpusim data list`)"),
    mirror: list[str] = typer.Option([], "--mirror", help="base URL of a mirrored data root, files at URL/NAME/FILE, instead of the standard mirrors (repeatable)"),
    timeout: float = typer.Option(30.0, "--timeout", help="seconds to wait for a mirror"),
) -> None:
    """Download the data sets found nowhere locally (to ~/.cache/rpusim); exit 1 if some stay missing."""
    from .data import DATASETS, ensure
    unknown = [n for n in names or [] if n not in DATASETS]
    if unknown:
        _fail(f"data set {unknown[0]!r}: unknown (allowed: {', '.join(DATASETS)})")
    if ensure(names or None, mirror_roots=mirror or None, timeout=timeout, log=typer.echo):
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover
    app(prog_name="rpusim")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
