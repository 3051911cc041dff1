"""Records of side-by-side comparisons: several *arms* (ways of training one network), over seeds.

A comparison run writes into its folder ``OUT``:

* ``records.jsonl`` — one JSON object per line and finished epoch,
  ``{"arm": str, "seed": int, "epoch": int >= 1, METRIC: number, ..., "seconds": number}``,
  appended while it trains (arms and seeds in any order);
* ``meta.json`` — what made them (:func:`write_arm_meta`): ``commit`` and ``dirty`` (the code),
  ``versions`` ({package: version}), ``settings`` (what the numbers depend on besides the arm and
  the seed: experiment, epochs, data limits...), ``arms`` ({arm: its options}), and the run's own
  ``command``, ``date`` (UTC), ``machine`` and ``seeds``.

:func:`merge_arm_runs` joins such folders into one *arm record* folder under ``results/``: one
``records.jsonl`` (each (arm, seed, epoch) once, sorted) and one ``meta.json`` holding the shared
``commit``, ``dirty``, ``versions``, ``settings``, the union of the ``arms`` and every run's meta
under ``runs``. A merged folder can itself be merged again (more seeds, more arms, more epochs).
Refused with a :class:`ConfigError` naming the file, before anything is written: a missing or
unreadable ``records.jsonl`` / ``meta.json``; a line that is not such an object (file:line named);
a line of an arm its meta does not list; two different lines for one (arm, seed, epoch); metas
that differ in ``commit``, ``dirty``, ``versions`` or ``settings``, or give one arm other options.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..config import ConfigError
from ..io import atomic_write_text
from .records import MAX_FILE_BYTES, commit_state, machine

LINES, META = "records.jsonl", "meta.json"
#: The keys every line holds besides its metrics.
LINE_KEYS = ("arm", "seed", "epoch")
#: What the metas of merged runs must share.
SHARED = ("commit", "dirty", "versions", "settings")


def write_arm_meta(out: str | Path, settings: dict, arms: dict[str, dict], seeds: list[int],
                   versions: dict[str, str | None] | None = None, repo: str | Path | None = None,
                   argv: list[str] | None = None, date: str | None = None) -> Path:
    """Write ``out/meta.json`` for a comparison run; returns its path.

    ``settings``: what the numbers depend on besides arm and seed (JSON-able); ``arms``: {arm: its
    options}; ``versions``: extra packages ({name: version or None}), added to rpusim's and
    torch's; ``repo``: the checkout the run's code came from (its commit and dirty flag; default:
    this package's); ``argv``: the command line (default: this process's); ``date``: when the run
    started, ``YYYY-MM-DDTHH:MM:SSZ`` (default: now)."""
    import torch
    commit, dirty = commit_state(repo if repo is not None else Path(__file__).resolve().parents[2])
    meta = {"commit": commit, "dirty": dirty,
            "versions": {"rpusim": __version__, "torch": torch.__version__, **(versions or {})},
            "settings": settings, "arms": arms, "seeds": list(seeds),
            "command": " ".join(argv if argv is not None else [sys.executable, *sys.argv]),
            "date": date or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": machine()}
    path = Path(out) / META
    atomic_write_text(path, json.dumps(meta, indent=1) + "\n")
    return path


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _line_problem(line: dict) -> str | None:
    """Why ``line`` is not an epoch record (None: it is one)."""
    if not isinstance(line, dict):
        return "not a JSON object"
    missing = [k for k in LINE_KEYS if k not in line]
    if missing:
        return f"no {', '.join(missing)}"
    if not isinstance(line["arm"], str) or not line["arm"]:
        return f"arm {line['arm']!r}: expected a name"
    if not isinstance(line["seed"], int) or isinstance(line["seed"], bool):
        return f"seed {line['seed']!r}: expected an integer"
    if not isinstance(line["epoch"], int) or isinstance(line["epoch"], bool) or line["epoch"] < 1:
        return f"epoch {line['epoch']!r}: expected an integer >= 1"
    wrong = [k for k, v in line.items() if k not in LINE_KEYS and not _is_number(v)]
    if wrong:
        return f"{wrong[0]} = {line[wrong[0]]!r}: expected a number"
    return None


def read_lines(path: Path) -> list[dict]:
    """The epoch records of a ``records.jsonl`` (each line checked; blank lines skipped)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not readable ({err.__class__.__name__})") from None
    lines = []
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path}:{n}: not a JSON line ({err.msg})") from None
        problem = _line_problem(line)
        if problem:
            raise ConfigError(f"{path}:{n}: {problem} (a line is {{arm, seed, epoch, metrics...}})")
        lines.append(line)
    return lines


def read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: not a readable meta.json ({err.__class__.__name__})") from None
    missing = [k for k in (*SHARED, "arms") if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise ConfigError(f"{path}: no {', '.join(missing)} (write it with write_arm_meta)")
    return meta


@dataclass
class ArmRun:
    """One folder's records: its lines and meta, and where they came from."""

    folder: Path
    lines: list[dict]
    meta: dict

    @property
    def run_metas(self) -> list[dict]:
        """The metas of the runs behind the folder (one for a run, several for a merged record)."""
        return self.meta["runs"] if "runs" in self.meta else [self.meta]


def read_arm_run(folder: str | Path) -> ArmRun:
    """A run folder's (or a merged record folder's) ``records.jsonl`` and ``meta.json``, checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder")
    for name in (LINES, META):
        if not (folder / name).is_file():
            raise ConfigError(f"{folder}: no {name}")
    run = ArmRun(folder, read_lines(folder / LINES), read_meta(folder / META))
    foreign = sorted({ln["arm"] for ln in run.lines} - set(run.meta["arms"]))
    if foreign:
        raise ConfigError(f"{folder / LINES}: arm {foreign[0]} is not among the arms of its meta.json "
                          f"({', '.join(run.meta['arms'])})")
    return run


def _merged_meta(runs: list[ArmRun]) -> dict:
    first = runs[0]
    for run in runs[1:]:
        for key in SHARED:
            if run.meta[key] != first.meta[key]:
                raise ConfigError(f"{run.folder / META} and {first.folder / META}: {key} differ "
                                  f"({json.dumps(run.meta[key])} vs {json.dumps(first.meta[key])}); only runs "
                                  "of one code and settings merge")
    arms: dict[str, dict] = {}
    for run in runs:
        for arm, options in run.meta["arms"].items():
            if arms.setdefault(arm, options) != options:
                raise ConfigError(f"{run.folder / META}: arm {arm} has other options than in another folder; "
                                  "only runs of one code and settings merge")
    metas = []
    for run in runs:
        metas += [m for m in run.run_metas if m not in metas]
    return {**{k: first.meta[k] for k in SHARED}, "arms": arms, "runs": metas}


def _merged_lines(runs: list[ArmRun]) -> list[dict]:
    by_key: dict[tuple, tuple[dict, Path]] = {}
    for run in runs:
        for line in run.lines:
            key = tuple(line[k] for k in LINE_KEYS)
            seen = by_key.setdefault(key, (line, run.folder))
            if seen[0] != line:
                raise ConfigError(f"{run.folder / LINES} and {seen[1] / LINES}: two different lines for arm "
                                  f"{key[0]}, seed {key[1]}, epoch {key[2]}")
    return [by_key[k][0] for k in sorted(by_key)]


def merge_arm_runs(folders: list[str | Path], into: str | Path) -> tuple[int, int]:
    """Merge the run folders (and what ``into`` holds already) into the record folder ``into``;
    returns (lines written, lines that were there before). Everything is checked first."""
    into = Path(into)
    if not folders:
        raise ConfigError("no run folder given")
    if into.exists() and not into.is_dir():
        raise ConfigError(f"{into}: not a folder")
    foreign = sorted(p.name for p in into.iterdir() if p.name not in (LINES, META)) if into.is_dir() else []
    if foreign:
        raise ConfigError(f"{into}: holds files a comparison record does not ({', '.join(foreign)})")
    before = [read_arm_run(into)] if (into / LINES).exists() or (into / META).exists() else []
    runs = before + [read_arm_run(f) for f in folders]
    meta, lines = _merged_meta(runs), _merged_lines(runs)
    text = "".join(json.dumps(line) + "\n" for line in lines)
    if len(text.encode()) > MAX_FILE_BYTES:
        raise ConfigError(f"{into / LINES}: would be {len(text.encode())} bytes, more than a record takes "
                          f"({MAX_FILE_BYTES})")
    atomic_write_text(into / META, json.dumps(meta, indent=1) + "\n")
    atomic_write_text(into / LINES, text)
    return len(lines), len(before[0].lines) if before else 0


# --- reading a record for the documents ---------------------------------------------------

@dataclass
class ArmStudy:
    """A merged arm record: the values of each arm over seeds, per epoch."""

    lines: list[dict]
    meta: dict

    def arms(self) -> list[str]:
        """The arms in the meta's order, then any other arm of the lines."""
        return list(dict.fromkeys([*self.meta["arms"], *(ln["arm"] for ln in self.lines)]))

    def epochs(self) -> list[int]:
        return sorted({ln["epoch"] for ln in self.lines})

    def metrics(self) -> list[str]:
        keys = dict.fromkeys(k for ln in self.lines for k in ln if k not in LINE_KEYS and k != "seconds")
        return list(keys)

    def seeds(self, arm: str, epoch: int) -> list[int]:
        return sorted(ln["seed"] for ln in self.lines if ln["arm"] == arm and ln["epoch"] == epoch)

    def values(self, arm: str, epoch: int, metric: str) -> list[float]:
        """``metric`` of ``arm`` after ``epoch``, one value per seed (by seed; NaN where a line lacks it)."""
        lines = sorted((ln for ln in self.lines if ln["arm"] == arm and ln["epoch"] == epoch),
                       key=lambda ln: ln["seed"])
        return [float(ln.get(metric, math.nan)) for ln in lines]


def load_arm_study(folder: Path) -> ArmStudy | None:
    """The record in ``folder`` (None while it has no ``records.jsonl`` or no line in it)."""
    if not (folder / LINES).is_file():
        return None
    run = read_arm_run(folder)
    return ArmStudy(run.lines, run.meta) if run.lines else None
