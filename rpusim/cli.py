"""The ``rpusim`` command line: list and run experiments (typer)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .config import ConfigError

app = typer.Typer(help="rpusim: train neural networks on simulated RPU cross-point arrays.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command("list")
def list_cmd() -> None:
    """List experiments, their variants and presets."""
    from .experiments import all_experiments
    for name, exp in all_experiments().items():
        typer.echo(f"{name:18s} {exp.description}")
        typer.echo(f"{'':18s}   variants: {', '.join(exp.variants)}")
        if exp.presets:
            typer.echo(f"{'':18s}   presets: {', '.join(exp.presets)}")


@app.command()
def run(
    experiment: str = typer.Argument(..., help="experiment name (see `rpusim list`)"),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML of a run config (e.g. a run's config.yaml) to run as it is"),
    set_: list[str] = typer.Option([], "--set", help="override KEY.PATH=VALUE (repeatable)"),
    out: Path = typer.Option(Path("runs"), "--out", help="results folder (a subfolder per experiment)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
    resume: bool = typer.Option(False, "--resume", help="continue unfinished runs from their checkpoints"),
    preset: Optional[str] = typer.Option(None, "--preset", help="preset of the experiment (e.g. quick)"),
    variants: Optional[str] = typer.Option(None, "--variants", help="comma-separated variants (default: all)"),
) -> None:
    """Run an experiment: each variant trains into OUT/EXPERIMENT/VARIANT, then a table and a plot."""
    from .experiments import (TrainingDiverged, get_experiment, load_run_config, parse_set,
                              run_configs, variant_configs)
    from .experiments.config import deep_merge, RunConfig
    try:
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
        results = run_configs(exp.name, configs, out / exp.name, resume=resume, claims=exp.claims)
    except ConfigError as err:
        _fail(str(err))
    except TrainingDiverged as err:
        _fail(str(err))
    except FileNotFoundError as err:
        _fail(str(err))
    typer.echo(f"\nresults in {out / exp.name}:")
    for r in results:
        typer.echo(f"  {r['variant']:18s} {r['metric']} final {r['final']:.3f}  best {r['best']:.3f}")


def main() -> None:  # pragma: no cover
    app(prog_name="rpusim")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
