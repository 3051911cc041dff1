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

Ray starts from the folder that holds the package (see :func:`_start_ray`), so workers import the
same rpusim as the command whatever folder it runs in. SIGINT (Ctrl-C) and SIGTERM stop a sweep
cleanly: running points are cancelled (each keeps the checkpoint of its last finished epoch), a local
Ray instance is shut down, and :class:`SweepInterrupted` says which points finished and how to go on.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import signal
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


from ..config import ConfigError, parse_yaml_value
from ..io import atomic_write_text
from .config import RunConfig, deep_merge
from .experiment import Experiment
from .identity import inspect_run_dir, point_name, read_summary
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


def nest_key(key: str, value: Any) -> dict:
    """``("a.b.c", 1)`` → ``{"a": {"b": {"c": 1}}}``."""
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


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
            merged = deep_merge(merged, nest_key(k, v))
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


PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder holding the rpusim package imported here


class SweepInterrupted(Exception):
    """A sweep stopped by SIGINT or SIGTERM; ``str()`` lists the points that finished and how to go on."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum


class _StopSignals:
    """While active (in the main thread), SIGINT and SIGTERM raise KeyboardInterrupt once and record
    which signal came; later ones are ignored, so the cleanup that follows is not cut short."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}
        self._deferring = False

    def install(self) -> None:
        """(Re)install the handlers; ``ray.init`` puts its own SIGTERM handler in place, so call it again after."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.signal(sig, self._handle)
            self._previous.setdefault(sig, previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
            if self._deferring:
                self.log(f"{signal.Signals(signum).name}: the sweep stops as soon as Ray has started")
            else:
                raise KeyboardInterrupt

    @contextmanager
    def deferred(self):
        """A signal inside the block interrupts only at its end (Ray stopped while it starts leaves
        processes behind for a minute)."""
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
        if self.signum is not None:
            raise KeyboardInterrupt

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def run_point(cfg_data: dict, run_dir: str, workdir: str | None = None) -> dict:
    """Train one grid point (in this process, a pool process or a Ray worker); never raises.
    ``workdir``: the command's folder, for a local Ray worker (which starts in :data:`PACKAGE_PARENT`),
    so relative paths, e.g. in ``RPUSIM_DATA``, mean the same as in the command."""
    import torch

    from .train import save_config, train_run

    if workdir is not None:
        os.chdir(workdir)
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


@contextmanager
def _working_directory(path: Path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _start_ray(workers: int, address: str | None, log: Callable[[str], None]) -> None:
    """Start a local Ray instance with ``workers`` CPUs, or connect to the cluster at ``address``.

    Ray puts the driver's working directory at ``ray.init`` first on every worker's ``sys.path`` (and
    a local instance's workers also start there), so a folder named ``rpusim`` in it would shadow
    the package: every point would fail with an ImportError. Ray therefore starts from
    :data:`PACKAGE_PARENT`: the workers import the very package this process imported (installed,
    editable or on ``PYTHONPATH``)."""
    import ray

    t0 = time.perf_counter()
    with _working_directory(PACKAGE_PARENT):
        if address:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    log(f"ray: {ray.cluster_resources().get('CPU', 0):.0f} CPUs "
        f"({'cluster ' + address if address else 'local'}, started in {time.perf_counter() - t0:.1f} s)")


def _run_ray(todo: list[SweepPoint], sweep_dir: Path, workers: int, address: str | None,
             report: Callable[[SweepPoint, dict], None], log: Callable[[str], None], stop: _StopSignals) -> None:
    """Run the points as Ray tasks. On KeyboardInterrupt (a signal) the unfinished tasks are
    cancelled (their workers killed: every checkpoint is written atomically) and Ray shut down."""
    import ray

    started_here = not ray.is_initialized()
    pending: dict = {}
    try:
        if started_here:
            with stop.deferred():
                _start_ray(workers, address, log)
                stop.install()
        remote = ray.remote(num_cpus=1, max_retries=0)(run_point)
        workdir = None if address else os.getcwd()
        pending = {remote.remote(p.cfg.to_dict(), str(sweep_dir.resolve() / p.name), workdir): p for p in todo}
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            p = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except Exception as err:  # noqa: BLE001  (the worker itself died)
                outcome = {"status": "failed", "error": f"ray task failed: {type(err).__name__}: {err}"}
                atomic_write_text(sweep_dir / p.name / "error.txt", str(err))
            report(p, outcome)
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()


def interruption_message(points: list[SweepPoint], results: dict[str, PointResult], sweep_dir: Path,
                         signum: int) -> str:
    """What a stopped sweep leaves: each point finished (with its metric), failed, stopped with a
    checkpoint, or not begun; and how to go on. A point whose ``summary.json`` exists is finished,
    even if its result did not reach this process before the signal."""
    lines, n_finished = [], 0
    for p in points:
        r = results.get(p.name)
        summary_path = sweep_dir / p.name / "summary.json"
        if r is None and summary_path.exists():
            r = PointResult(p.name, "done", read_summary(summary_path.parent))
        if r is not None and r.status != "failed":
            n_finished += 1
            lines.append(f"  finished     {p.name}: {r.summary['metric']} final {r.summary['final']:.3f}")
        elif r is not None:
            lines.append(f"  failed       {p.name}: {r.error}")
        elif (sweep_dir / p.name / "checkpoint.pt").exists():
            lines.append(f"  interrupted  {p.name}: resumes from its last finished epoch")
        else:
            lines.append(f"  pending      {p.name}: no epoch finished yet (starts from the beginning)")
    return "\n".join([f"sweep stopped by {signal.Signals(signum).name}: {n_finished} of {len(points)} points finished",
                      *lines,
                      "to continue, run the same command again: finished points are skipped, unfinished ones "
                      "resume from their last epoch"])


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
            results[p.name] = PointResult(p.name, "skipped", read_summary(summary_path.parent))
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
        stop = _StopSignals(log)
        stop.install()
        try:
            if workers <= 1 and not ray_address:
                _run_local(todo, sweep_dir, report)
            else:
                _run_ray(todo, sweep_dir, workers, ray_address, report, log, stop)
        except KeyboardInterrupt:
            signum = stop.signum or signal.SIGINT
            raise SweepInterrupted(signum, interruption_message(points, results, sweep_dir, signum)) from None
        finally:
            stop.restore()
    ordered = [results[p.name] for p in points]
    finished = [(p, r) for p, r in zip(points, ordered) if r.status != "failed"]
    if finished:
        rows = [{"point": p.name, **r.summary, "claim": (claims or {}).get(p.variant, "")} for p, r in finished]
        write_results(name, rows, {p.name: sweep_dir / p.name for p, _ in finished}, sweep_dir)
    return ordered
