"""Compact records of runs, committed with the documents that cite them.

A record is what a document's number needs and nothing more: a run's ``config.yaml`` (with its
fingerprint), ``metrics.csv`` and ``summary.json`` — no checkpoint, no plot — under

    results/STUDY/EXPERIMENT/VARIANT/seed-N/

where STUDY names what a document cites (``fc-30epochs``, ``cnn-1epoch``, ...). Experiment,
variant and seed are read from ``config.yaml``, never from the run's folder name, so a sweep
point (``rpu-baseline__seed=2``) is recorded like a plain run. A point of a sweep over other keys
as well (a spec sheet's ``rpu-baseline__dw_min=0.003__seed=0``; its values are read from the
``sweep.json`` beside it, which must agree with its config on variant and seed) is recorded under
its point name without the seed, ``results/STUDY/EXPERIMENT/rpu-baseline__dw_min=0.003/seed-0/``,
so the points of one sweep get one record each.

``record_runs`` copies finished runs (``summary.json`` present), or with ``allow_unfinished`` runs
still training; an unfinished record gets a ``summary.json`` made from its metrics with
``"status": "unfinished"`` (a finished run's summary is copied as it is). Refused, naming the run
and writing nothing: a folder without ``config.yaml``/``metrics.csv``; a ``config.yaml`` whose
fingerprint does not match its content (edited by hand); a file larger than
:data:`MAX_FILE_BYTES`; two runs that map to one record; a record that exists with other
content (unless ``overwrite``). A ``config.yaml`` written by code older than the fingerprint gets
it computed and written into the record's copy.

Benchmarks write their own records (:func:`write_bench_record`):
``results/benchmarks/BENCH/YYYYMMDDTHHMMSSZ.json`` with the machine, the commit, the date, the
command line, the versions and every figure with its per-round values.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import __version__
from ..config import ConfigError
from ..io import atomic_write_text
from .config import META_KEYS, RunConfig
from .identity import content_fingerprint, point_name, read_saved_config

#: The files of a record, and the only files a record folder may hold.
RECORD_FILES = ("config.yaml", "metrics.csv", "summary.json")
#: Largest file a record takes (records are committed: they must stay small).
MAX_FILE_BYTES = 1_000_000
#: Where records live, relative to the repository root.
RESULTS_DIR = "results"
_NAME = re.compile(r"^[A-Za-z0-9+][A-Za-z0-9._+-]*$")  # variants such as +vr-k1k2 start with +
_POINT = re.compile(r"^[A-Za-z0-9+][A-Za-z0-9._=+-]*$")  # a sweep point's name: variant__key=value...


def check_name(value: str, what: str) -> str:
    """``value`` if it is a safe folder name (letters, digits, ``._+-``), else a ConfigError."""
    if not _NAME.match(value or ""):
        raise ConfigError(f"{what} {value!r}: not a valid name (allowed: letters, digits and . _ + -, "
                          "not starting with . _ or -)")
    return value


def verified_config(run_dir: Path) -> tuple[dict, str]:
    """The run's saved config and the text its record holds: the file itself when its fingerprint
    matches its content, the file with the computed fingerprint added when it has none."""
    path = run_dir / "config.yaml"
    saved = read_saved_config(run_dir)
    if saved is None:
        raise ConfigError(f"{run_dir}: no config.yaml (not a run folder)")
    computed = content_fingerprint(saved, path)
    if saved.get("fingerprint"):
        if str(saved["fingerprint"]) != computed:
            raise ConfigError(f"{path}: its fingerprint {saved['fingerprint']} does not match its content "
                              f"(computed {computed}); the file was edited after the run: not recorded")
        return saved, path.read_text()
    content = {k: v for k, v in saved.items() if k not in META_KEYS}
    saved = {"rpusim_version": saved.get("rpusim_version", ""), "fingerprint": computed, **content}
    return saved, yaml.safe_dump(saved, sort_keys=False)


def read_metric_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def unfinished_summary(config: dict, rows: list[dict]) -> dict:
    """What an unfinished run's record says in place of ``summary.json``: the training loop's own
    summary of the epochs done so far (:func:`.train.summarize`), marked unfinished."""
    from .tasks import TASKS
    from .train import summarize
    cfg = RunConfig.from_dict({k: v for k, v in config.items() if k not in META_KEYS})
    metric = TASKS[cfg.task].metric_names[0]
    numeric = [{"epoch": int(r["epoch"]), metric: float(r[metric]), "time_s": float(r.get("time_s") or 0)}
               for r in rows] or [{"epoch": 0, metric: math.nan, "time_s": 0.0}]
    return {**summarize(cfg, numeric, metric), "status": "unfinished"}


@dataclass
class PlannedRecord:
    """One run about to be recorded: where it comes from, where it goes, the files' text."""

    source: Path
    dest: Path
    files: dict[str, str]
    unfinished: bool


def record_name(run_dir: Path, config: dict) -> str:
    """The record's folder under the experiment: the variant, or for a point of a sweep over keys
    other than the seed (named in the ``sweep.json`` beside it) the point's name without the seed."""
    variant = check_name(str(config.get("variant", "")), f"{run_dir}: variant")
    sweep = run_dir.parent / "sweep.json"
    if not sweep.is_file():
        return variant
    try:
        entry = json.loads(sweep.read_text()).get("points", {}).get(run_dir.name)
    except (OSError, ValueError, AttributeError) as err:
        raise ConfigError(f"{sweep}: not a sweep's point list ({err})") from None
    if not isinstance(entry, dict):
        return variant
    seed = config.get("seed", 0)
    if entry.get("variant") != variant or entry.get("seed", seed) != seed:
        raise ConfigError(f"{run_dir}: {sweep.name} names it variant {entry.get('variant')!r}, seed "
                          f"{entry.get('seed')!r}, but its config.yaml holds variant {variant!r}, seed {seed!r}")
    values = {k: v for k, v in entry.items() if k not in ("variant", "seed")}
    name = point_name(variant, values) if values else variant
    if not _POINT.match(name):
        raise ConfigError(f"{run_dir}: point name {name!r} is not a valid record name")
    return name


def plan_record(run_dir: Path, study: str, root: Path, allow_unfinished: bool) -> PlannedRecord:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such folder")
    config, config_text = verified_config(run_dir)
    metrics = run_dir / "metrics.csv"
    if not metrics.is_file():
        raise ConfigError(f"{run_dir}: no metrics.csv (the run has not started an epoch)")
    summary = run_dir / "summary.json"
    files = {"config.yaml": config_text, "metrics.csv": metrics.read_text()}
    if summary.is_file():
        files["summary.json"] = summary.read_text()
    elif not allow_unfinished:
        raise ConfigError(f"{run_dir}: unfinished (no summary.json); --unfinished records it marked as "
                          "unfinished")
    else:
        rows = read_metric_rows(files["metrics.csv"])
        files["summary.json"] = json.dumps(unfinished_summary(config, rows), indent=2) + "\n"
    for name, text in files.items():
        if len(text.encode()) > MAX_FILE_BYTES:
            raise ConfigError(f"{run_dir / name}: {len(text.encode())} bytes, more than a record takes "
                              f"({MAX_FILE_BYTES}); records are committed and must stay small")
    dest = (root / RESULTS_DIR / study / check_name(str(config.get("experiment", "")), f"{run_dir}: experiment")
            / record_name(run_dir, config) / f"seed-{int(config.get('seed', 0))}")
    return PlannedRecord(run_dir, dest, files, unfinished=not summary.is_file())


def _record_conflict(plan: PlannedRecord) -> str | None:
    """Why writing ``plan`` would replace another record (None: the folder is new or holds the same)."""
    if not plan.dest.exists():
        return None
    present = sorted(p.name for p in plan.dest.iterdir())
    other = [n for n in present if n not in RECORD_FILES]
    if other:
        return f"{plan.dest} holds files a record does not ({', '.join(other)})"
    differ = [n for n in RECORD_FILES if not (plan.dest / n).is_file()
              or (plan.dest / n).read_text() != plan.files[n]]
    if differ:
        return f"{plan.dest} holds another record of this run ({', '.join(differ)} differ)"
    return None


def record_runs(run_dirs: list[str | Path], study: str, root: str | Path = ".", allow_unfinished: bool = False,
                overwrite: bool = False) -> list[tuple[PlannedRecord, str]]:
    """Record every run of ``run_dirs`` under ``root/results/STUDY``; returns (plan, what happened).

    Every run is checked before anything is written; any problem refuses them all (ConfigError)."""
    check_name(study, "--study")
    if not run_dirs:
        raise ConfigError("no run folder given")
    root = Path(root)
    plans, problems = [], []
    for d in run_dirs:
        try:
            plans.append(plan_record(Path(d), study, root, allow_unfinished))
        except ConfigError as err:
            problems.append(str(err))
    by_dest: dict[Path, list[Path]] = {}
    for p in plans:
        by_dest.setdefault(p.dest, []).append(p.source)
    for dest, sources in by_dest.items():
        if len(sources) > 1:
            problems.append(f"{', '.join(map(str, sources))}: the same experiment, variant and seed, so one "
                            f"record ({dest}); record them under different --study names")
    conflicts = {p.dest: _record_conflict(p) for p in plans}
    for conflict in conflicts.values():
        if conflict and not overwrite:
            problems.append(f"{conflict}; --overwrite replaces it")
    if problems:
        raise ConfigError("\n".join(dict.fromkeys(problems)))
    done = []
    for p in plans:
        if p.dest.exists() and conflicts[p.dest] is None:
            done.append((p, "unchanged"))
            continue
        p.dest.mkdir(parents=True, exist_ok=True)
        for name in os.listdir(p.dest):
            (p.dest / name).unlink()
        for name in RECORD_FILES:
            atomic_write_text(p.dest / name, p.files[name])
        done.append((p, "unfinished" if p.unfinished else "recorded"))
    return done


# --- reading records ----------------------------------------------------------------------

@dataclass
class Record:
    """One recorded run: its seed, config, per-epoch rows and summary."""

    path: Path
    seed: int
    config: dict
    summary: dict
    rows: list[dict] = field(default_factory=list)

    @property
    def unfinished(self) -> bool:
        return self.summary.get("status") == "unfinished"

    @property
    def metric(self) -> str:
        return str(self.summary["metric"])

    def value(self, column: str, epoch: int | None = None) -> float:
        """``column`` after ``epoch`` (the last recorded epoch if None); NaN if the run has no such row."""
        rows = self.rows if epoch is None else [r for r in self.rows if int(r["epoch"]) == epoch]
        if not rows or rows[-1].get(column) in (None, ""):
            return math.nan
        return float(rows[-1][column])

    def trained(self, column: str) -> list[float]:
        return [float(r[column]) for r in self.rows if int(r["epoch"]) > 0 and r.get(column) not in (None, "")]


def load_record(path: Path) -> Record:
    for name in RECORD_FILES:
        if not (path / name).is_file():
            raise ConfigError(f"{path}: a record without {name}")
    config = yaml.safe_load((path / "config.yaml").read_text()) or {}
    summary = json.loads((path / "summary.json").read_text())
    rows = read_metric_rows((path / "metrics.csv").read_text())
    return Record(path, int(config.get("seed", 0)), config, summary, rows)


def study_records(root: str | Path, study: str, experiment: str) -> dict[str, list[Record]]:
    """The records of ``experiment`` in ``study``: {variant: records ordered by seed} (empty if none)."""
    folder = Path(root) / RESULTS_DIR / study / experiment
    out: dict[str, list[Record]] = {}
    if not folder.is_dir():
        return out
    for variant_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        recs = [load_record(p) for p in variant_dir.iterdir() if p.is_dir() and p.name.startswith("seed-")]
        if recs:
            out[variant_dir.name] = sorted(recs, key=lambda r: r.seed)
    return out


# --- benchmark records --------------------------------------------------------------------

def _git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def commit_state(root: str | Path) -> tuple[str, bool]:
    """The short git commit of the repository at ``root`` ("unknown" outside git) and whether its
    tracked files differ from that commit (dirty)."""
    root = Path(root)
    commit = _git(root, "rev-parse", "--short", "HEAD")
    return commit or "unknown", bool(_git(root, "status", "--porcelain", "--untracked-files=no"))


def machine() -> dict:
    """The machine a benchmark ran on: CPU model, logical cores, OS, Python."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "os": platform.platform(), "python": platform.python_version()}


def write_bench_record(bench: str, figures: dict, settings: dict, root: str | Path | None = None,
                       argv: list[str] | None = None, now: _dt.datetime | None = None) -> Path:
    """Write ``results/benchmarks/BENCH/YYYYMMDDTHHMMSSZ.json`` under the repository ``root``.

    ``figures``: {name: {"value": median, "unit": ..., "rounds": [per-round values]}}; ``settings``:
    the benchmark's options. The record adds machine, commit (with a dirty flag), UTC date, the
    exact command line, torch's and rpusim's versions and the torch thread count."""
    import torch
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    now = now or _dt.datetime.now(_dt.timezone.utc)
    commit, dirty = commit_state(root)
    record = {
        "benchmark": check_name(bench, "benchmark"), "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit, "dirty": dirty,
        "command": " ".join(argv if argv is not None else [Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""), "torch_threads": torch.get_num_threads(),
        "machine": machine(), "torch": torch.__version__, "rpusim": __version__,
        "settings": settings, "figures": figures,
    }
    path = root / RESULTS_DIR / "benchmarks" / bench / f"{now.strftime('%Y%m%dT%H%M%SZ')}.json"
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path


def latest_bench_records(root: str | Path) -> dict[str, dict]:
    """The newest record of each benchmark under ``root/results/benchmarks`` (by file name: UTC time)."""
    folder = Path(root) / RESULTS_DIR / "benchmarks"
    out = {}
    for bench in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        files = sorted(bench.glob("*.json"))
        if files:
            out[bench.name] = {**json.loads(files[-1].read_text()), "path": files[-1]}
    return out
