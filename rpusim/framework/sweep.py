"""Parameter sweeps: the cartesian product of value lists over dotted key paths, run on Ray.

``rpusim sweep fc-mnist --grid rpu.update.bl=1,10,31 --grid train.lr=0.01,0.1`` makes one
grid point per combination (3 × 2 = 6 per variant); without ``--grid`` every variant is one
point, so ``rpusim sweep cnn-mnist --workers 2`` is the whole ablation, two runs at a time.
Each point is an ordinary run directory (see :mod:`.train`) named from its values,
``VARIANT__rpu.update.bl=10__train.lr=0.1``,
inside the sweep folder, which also holds ``sweep.json`` (grid and points, used by
``rpusim report`` for heat maps), ``results.json``/``results.csv`` and ``curves.png``.

Every point's config is validated before any work starts. Points run as Ray tasks (one
CPU and one torch thread each) on a local Ray instance, or on an existing cluster with
``ray_address`` (the sweep folder must then be on a file system every node shares); with
one worker and no address they run one after another in this process. A sweep is
resumable: a point with ``summary.json`` is skipped, an unfinished one continues from its
checkpoint. A point that raises is reported and its traceback saved as ``error.txt`` in its
folder; the other points go on.
"""
from __future__ import annotations

import itertools
import json
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..config import ConfigError, parse_yaml_value
from ..io import atomic_write_text
from .config import RunConfig, deep_merge
from .identity import inspect_run_dir
from .experiment import Experiment
from .runner import variant_configs, write_results


@dataclass
class SweepPoint:
    """One grid point of one variant: its folder name, the grid values and the validated config."""

    name: str
    variant: str
    values: dict[str, Any]
    cfg: RunConfig


@dataclass
class PointResult:
    name: str
    status: str  # "done" (trained now), "skipped" (finished before) or "failed"
    summary: dict = field(default_factory=dict)
    error: str = ""


def _split_values(text: str) -> list[str]:
    """Split ``1,10,[256,128]`` at the commas outside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch in "[{") - (ch in "]}")
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _scalar(text: str, item: str) -> Any:
    """A YAML value, with YAML 1.1's blind spot fixed: ``1e-3`` is a number, not a string."""
    value = parse_yaml_value(text, f"--grid {item!r}: value {text!r}")
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value.strip()):
        return float(value)
    return value


def parse_grid(items: list[str]) -> dict[str, list]:
    """``["a.b=1,2", "c=x,y"]`` → ``{"a.b": [1, 2], "c": ["x", "y"]}`` (values as YAML scalars)."""
    grid: dict[str, list] = {}
    for item in items:
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or not all(p.strip() for p in key.split(".")) or not raw.strip():
            raise ConfigError(f"--grid {item!r}: expected KEY.PATH=V1,V2,...")
        if key in grid:
            raise ConfigError(f"--grid {item!r}: {key} is given twice")
        values = [_scalar(v, item) for v in _split_values(raw)]
        if any(v is None for v in values):
            raise ConfigError(f"--grid {item!r}: empty value in the list")
        grid[key] = values
    return grid


def _format_value(v: Any) -> str:
    return json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict)) else str(v)


def _nest(key: str, value: Any) -> dict:
    """``("a.b.c", 1)`` → ``{"a": {"b": {"c": 1}}}``."""
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def point_name(variant: str, values: dict[str, Any]) -> str:
    """Folder name of a grid point: variant and key=value pairs, safe on every file system."""
    text = "__".join([variant] + [f"{k}={_format_value(v)}" for k, v in values.items()])
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text)[:200]


def sweep_points(exp: Experiment, grid: dict[str, list], variants: list[str] | None = None,
                 preset: str | None = None, overrides: dict | None = None,
                 seed: int | None = None) -> list[SweepPoint]:
    """Every (variant, grid point) with its validated config; fails before any work if one is invalid.
    An empty grid makes one point per variant, named after it: the variants run in parallel."""
    keys = list(grid)
    points, errors = [], []
    for combo in itertools.product(*(grid[k] for k in keys)):
        values = dict(zip(keys, combo))
        merged = overrides or {}
        for k, v in values.items():
            merged = deep_merge(merged, _nest(k, v))
        try:
            configs = variant_configs(exp, variants, preset, merged, seed)
        except ConfigError as err:
            errors.append(f"grid point {values}: {err}")
            continue
        points += [SweepPoint(point_name(v, values), v, values, cfg) for v, cfg in configs.items()]
    if errors:
        raise ConfigError("\n".join(errors))
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise ConfigError("two grid points map to the same folder name; use values that differ in text")
    return points


def check_existing(points: list[SweepPoint], sweep_dir: Path) -> None:
    """A point folder that holds a run of a different config (another fingerprint, see
    :mod:`.identity`, or another ``train.epochs``) is an error naming the keys that differ
    (never silently reused)."""
    clashes = []
    for p in points:
        run_dir = sweep_dir / p.name
        try:
            folder = inspect_run_dir(p.cfg, run_dir)
        except ConfigError as err:
            clashes.append(str(err))
            continue
        if not (run_dir / "config.yaml").exists():
            continue
        if not folder.same:
            clashes.append(f"{run_dir}:\n    " + "\n    ".join(folder.diff))
        elif folder.saved_epochs != p.cfg.train.epochs:  # a sweep skips finished points: no extending
            clashes.append(f"{run_dir}:\n    train.epochs: {folder.saved_epochs} → {p.cfg.train.epochs}")
    if clashes:
        raise ConfigError("these point folders hold runs of a different config (choose another --out or "
                          "--name, or delete them):\n  " + "\n  ".join(clashes))


def run_point(cfg_data: dict, run_dir: str) -> dict:
    """Train one grid point (in this process, a pool process or a Ray worker); never raises."""
    import torch

    from .train import save_config, train_run

    torch.set_num_threads(1)
    out = Path(run_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "error.txt").unlink(missing_ok=True)
    cfg = RunConfig.from_dict(cfg_data)
    if not (out / "config.yaml").exists():
        save_config(cfg, out)  # beside a failure too, so the report can tell which point it was
    with open(out / "log.txt", "a") as logf:
        def log(msg: str) -> None:
            logf.write(msg + "\n")
            logf.flush()
        try:
            summary = train_run(cfg, out, resume=True, progress=False, log=log)
            return {"status": "done", "summary": summary}
        except Exception as err:  # noqa: BLE001  (a failed point must not stop the sweep)
            text = traceback.format_exc()
            log(text)
            atomic_write_text(out / "error.txt", text)
            return {"status": "failed", "error": f"{type(err).__name__}: {err}"}


def _run_local(todo: list[SweepPoint], sweep_dir: Path, report: Callable[[SweepPoint, dict], None]) -> None:
    for p in todo:
        report(p, run_point(p.cfg.to_dict(), str(sweep_dir / p.name)))


def _run_ray(todo: list[SweepPoint], sweep_dir: Path, workers: int, address: str | None,
             report: Callable[[SweepPoint, dict], None], log: Callable[[str], None]) -> None:
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        t0 = time.perf_counter()
        if address:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        log(f"ray: {ray.cluster_resources().get('CPU', 0):.0f} CPUs "
            f"({'cluster ' + address if address else 'local'}, started in {time.perf_counter() - t0:.1f} s)")
    remote = ray.remote(num_cpus=1, max_retries=0)(run_point)
    try:
        pending = {remote.remote(p.cfg.to_dict(), str(sweep_dir.resolve() / p.name)): p for p in todo}
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            p = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except Exception as err:  # noqa: BLE001  (the worker itself died)
                outcome = {"status": "failed", "error": f"ray task failed: {type(err).__name__}: {err}"}
                atomic_write_text(sweep_dir / p.name / "error.txt", str(err))
            report(p, outcome)
    finally:
        if started_here:
            ray.shutdown()


def run_sweep(name: str, points: list[SweepPoint], sweep_dir: str | Path, workers: int = 1,
              ray_address: str | None = None, claims: dict | None = None,
              log: Callable[[str], None] = print) -> list[PointResult]:
    """Run the points not yet finished; write sweep.json, results and curves; return each point's result."""
    sweep_dir = Path(sweep_dir)
    check_existing(points, sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    grid_keys = list(points[0].values) if points else []
    atomic_write_text(sweep_dir / "sweep.json", json.dumps(
        {"experiment": name, "keys": grid_keys,
         "points": {p.name: {"variant": p.variant, **p.values} for p in points}}, indent=2, default=str))
    results: dict[str, PointResult] = {}
    todo = []
    for p in points:
        summary_path = sweep_dir / p.name / "summary.json"
        if summary_path.exists():
            results[p.name] = PointResult(p.name, "skipped", json.loads(summary_path.read_text()))
        else:
            todo.append(p)
    log(f"sweep {name}: {len(points)} points, {len(points) - len(todo)} finished before, {len(todo)} to run")

    def report(p: SweepPoint, outcome: dict) -> None:
        r = PointResult(p.name, outcome["status"], outcome.get("summary", {}), outcome.get("error", ""))
        results[p.name] = r
        n = sum(x.status != "skipped" for x in results.values())
        if r.status == "failed":
            log(f"[{n}/{len(todo)}] {p.name}: FAILED: {r.error} (see {sweep_dir / p.name / 'error.txt'})")
        else:
            log(f"[{n}/{len(todo)}] {p.name}: {r.summary['metric']} final {r.summary['final']:.3f}")

    if todo:
        if workers <= 1 and not ray_address:
            _run_local(todo, sweep_dir, report)
        else:
            _run_ray(todo, sweep_dir, workers, ray_address, report, log)
    ordered = [results[p.name] for p in points]
    finished = [(p, r) for p, r in zip(points, ordered) if r.status != "failed"]
    if finished:
        rows = [{"point": p.name, **r.summary, "claim": (claims or {}).get(p.variant, "")} for p, r in finished]
        write_results(name, rows, {p.name: sweep_dir / p.name for p, _ in finished}, sweep_dir)
    return ordered
