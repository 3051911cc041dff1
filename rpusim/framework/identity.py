"""A run's identity and what its folder holds: fingerprints, config diffs, resume/overwrite checks,
the folder names of sweep points (:func:`point_name`).

The **fingerprint** of a run is a short hash of everything that determines its numbers: the
fully resolved :class:`RunConfig` (which holds the seed) and the package version
(``rpusim.__version__``, not the git commit, so that a long run resumes across commits of one
release). Not part of it: the output folder, the progress settings, ``train.epochs``, which
only says where the run stops (epoch k of a 10-epoch run is epoch k of a 30-epoch run), so
``--resume`` with more epochs extends a run, and ``train.device``, so that a run started on one
device resumes on another (statistically the same run, not bit-exactly: see docs/architecture.md). ``config.yaml`` records the fingerprint next to
``rpusim_version``; a ``config.yaml`` written by older code without one gets it recomputed
from its contents, so an old run folder stays resumable when its config matches.

A run folder is written only when it is empty, or holds the same run and ``resume`` is
asked for, or ``overwrite`` is asked for (its old outputs are deleted first). Every other
case is refused with a :class:`ConfigError` that names the folder, the keys that differ
(``key: old → new``) and how to go on.
"""
from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from ..config import ConfigError
from .config import META_KEYS, RunConfig

#: Files a run writes into its folder (``log.txt`` and ``error.txt``: sweep points).
RUN_FILES = ("config.yaml", "metrics.csv", "summary.json", "checkpoint.pt", "curves.png", "log.txt", "error.txt")
#: ``train`` keys that are not part of a run's fingerprint.
UNFINGERPRINTED_TRAIN_KEYS = ("epochs", "device")
HOW_TO_GO_ON = "choose a new --out to keep it, or --overwrite to delete it and start again"


def fingerprint(config: dict, version: str = __version__) -> str:
    """First 16 hex digits of the SHA-256 of the canonical JSON of the config's settings that differ
    from today's defaults, with ``version``; ``train.epochs`` and ``train.device`` left out (where
    the run stops and where it computes, not what its epochs give; across devices a resumed run is
    statistically, not bitwise, the same).

    Leaving out the settings equal to the defaults keeps a fingerprint stable when a later version
    adds a config field whose default keeps the old behaviour (a saved config without the field
    resolves to the default); two different resolved configs still get different fingerprints."""
    defaults = _default_settings()
    left_out = {f"train.{k}" for k in UNFINGERPRINTED_TRAIN_KEYS}
    settings = {k: v for k, v in _flatten(config).items()
                if k not in left_out and (k not in defaults or defaults[k] != v)}
    text = json.dumps({"settings": settings, "rpusim_version": version}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def _default_settings() -> dict:
    """The default RunConfig as dotted key → value."""
    return _flatten(RunConfig().to_dict())


def config_record(cfg: RunConfig) -> dict:
    """What ``config.yaml`` holds: version, fingerprint, then the resolved config."""
    data = cfg.to_dict()
    return {"rpusim_version": __version__, "fingerprint": fingerprint(data), **data}


def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _shown(value) -> str:
    return json.dumps(value) if isinstance(value, (list, dict, str)) else str(value)


def config_diff(old: dict, new: dict) -> list[str]:
    """``key.path: old → new`` for every dotted key whose value differs (``(absent)`` if missing)."""
    a, b = _flatten(old), _flatten(new)
    missing = object()
    lines = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, missing), b.get(key, missing)
        if va != vb:
            lines.append(f"{key}: {'(absent)' if va is missing else _shown(va)} → "
                         f"{'(absent)' if vb is missing else _shown(vb)}")
    return lines


def read_saved_config(run_dir: Path) -> dict | None:
    """The mapping in ``run_dir/config.yaml`` (None if there is none); an unreadable file is refused."""
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as err:
        raise ConfigError(f"{path}: unreadable ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a run config (expected a mapping)")
    return data


def read_summary(run_dir: Path) -> dict:
    """The mapping in ``run_dir/summary.json`` (a finished run's figures); an unreadable or damaged
    file is refused naming it."""
    path = Path(run_dir) / "summary.json"
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, OSError) as err:
        raise ConfigError(f"{path}: unreadable ({type(err).__name__}); delete it (the run then counts as "
                          "unfinished) or use --overwrite") from None
    if not isinstance(data, dict) or not {"metric", "final"} <= data.keys():
        raise ConfigError(f"{path}: not a run summary (expected a mapping with metric and final)")
    return data


def content_fingerprint(saved: dict, path: Path) -> str:
    """The fingerprint of a saved ``config.yaml``'s content (its config resolved, with the version it
    names), whatever fingerprint the file records; an unreadable config is refused naming ``path``."""
    config = {k: v for k, v in saved.items() if k not in META_KEYS}
    try:
        resolved = RunConfig.from_dict(config).to_dict()
    except ConfigError as err:
        raise ConfigError(f"{path}: not a config this rpusim can read ({err})") from None
    return fingerprint(resolved, str(saved.get("rpusim_version", "")))


def saved_fingerprint(saved: dict, path: Path) -> str:
    """The fingerprint a saved ``config.yaml`` records, or recomputed from it (older files have none)."""
    return str(saved["fingerprint"]) if saved.get("fingerprint") else content_fingerprint(saved, path)


@dataclass
class RunFolder:
    """What a run folder holds, measured against the run about to be written into it."""

    path: Path
    files: list[str] = field(default_factory=list)  # run files present (see RUN_FILES)
    same: bool = False  # config.yaml holds this run (same fingerprint)
    diff: list[str] = field(default_factory=list)  # key: old → new, when it holds another run
    finished: bool = False  # summary.json present
    epoch: int | None = None  # last epoch in metrics.csv
    saved_epochs: int | None = None  # train.epochs in config.yaml
    epochs: int | None = None  # train.epochs of the run about to be written

    @property
    def empty(self) -> bool:
        return not self.files

    @property
    def complete(self) -> bool:
        """Finished with as many epochs as asked for now (nothing left to train)."""
        return self.finished and self.saved_epochs == self.epochs

    def describe(self) -> str:
        if self.finished:
            return "finished"
        if self.epoch:
            return f"unfinished, after epoch {self.epoch}"
        return "unfinished, no epoch done"


def _last_epoch(run_dir: Path) -> int | None:
    path = run_dir / "metrics.csv"
    if not path.exists():
        return None
    lines = [line for line in path.read_text().splitlines()[1:] if line.strip()]
    try:
        return int(lines[-1].split(",", 1)[0]) if lines else None
    except ValueError:
        return None


def inspect_run_dir(cfg: RunConfig, run_dir: str | Path) -> RunFolder:
    """What ``run_dir`` holds compared with ``cfg``; writes nothing."""
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir, [f for f in RUN_FILES if (run_dir / f).exists()], epochs=cfg.train.epochs)
    if folder.empty:
        return folder
    folder.finished = "summary.json" in folder.files
    folder.epoch = _last_epoch(run_dir)
    saved = read_saved_config(run_dir)
    if saved is None:
        folder.diff = ["config.yaml: (absent) → this run's config"]
        return folder
    record = config_record(cfg)
    folder.same = saved_fingerprint(saved, run_dir / "config.yaml") == record["fingerprint"]
    train = saved.get("train")
    folder.saved_epochs = train.get("epochs") if isinstance(train, dict) else None
    if not folder.same:
        old = {k: v for k, v in saved.items() if k != "fingerprint"}
        new = {k: v for k, v in record.items() if k != "fingerprint"}
        folder.diff = config_diff(old, new) or [
            f"fingerprint: {saved.get('fingerprint')} → {record['fingerprint']} (config.yaml edited by hand?)"]
    return folder


def checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint at ``path`` cannot be read (None if it looks whole): checks the zip
    container torch.save writes and the CRC of every member, without unpickling anything."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f"{type(err).__name__}: {err}"
    return f"member {bad} fails its CRC check" if bad else None


def corrupt_checkpoint_error(path: Path, reason: str) -> ConfigError:
    return ConfigError(f"{path}: corrupt or truncated checkpoint ({reason}); no file was changed. "
                       "Use --overwrite to delete this run and start again, or a new --out to keep it.")


def check_run_dir(cfg: RunConfig, run_dir: str | Path, resume: bool = False, overwrite: bool = False) -> RunFolder:
    """Refuse (ConfigError) writing ``cfg``'s run into ``run_dir`` unless the folder is empty, or holds
    this run and ``resume`` is set (its checkpoint must then be readable), or ``overwrite`` is set."""
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other: --resume continues the run in "
                          "its folder, --overwrite deletes it first; choose one")
    run_dir = Path(run_dir)
    if overwrite:
        return RunFolder(run_dir, [f for f in RUN_FILES if (run_dir / f).exists()])
    try:
        folder = inspect_run_dir(cfg, run_dir)
    except ConfigError as err:
        raise ConfigError(f"{err}; it is kept as it is. {HOW_TO_GO_ON}") from None
    if folder.empty:
        return folder
    if not folder.same:
        raise ConfigError(f"{run_dir} holds another run ({folder.describe()}); its config differs from this "
                          "one:\n  " + "\n  ".join(folder.diff) + f"\n{HOW_TO_GO_ON}")
    if not resume:
        raise ConfigError(f"{run_dir} holds this run already ({folder.describe()}); use --resume to continue it "
                          f"to epoch {cfg.train.epochs} (a run that has it is skipped) or --overwrite to delete it "
                          "and start again")
    if (folder.epoch or 0) > cfg.train.epochs:
        raise ConfigError(f"{run_dir} holds this run trained to epoch {folder.epoch}, past train.epochs = "
                          f"{cfg.train.epochs}; a run is not shortened: {HOW_TO_GO_ON}")
    ckpt = run_dir / "checkpoint.pt"
    if not folder.complete and ckpt.exists():
        problem = checkpoint_problem(ckpt)
        if problem:
            raise corrupt_checkpoint_error(ckpt, problem)
    return folder


def clear_run_dir(run_dir: Path) -> None:
    """Delete a run's outputs (RUN_FILES) and stale temporary files; other files stay."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    remove_stale_tmp(run_dir)


def remove_stale_tmp(folder: Path) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files a killed atomic write (rpusim.io) left in ``folder``."""
    stale = sorted(Path(folder).glob(".*.tmp")) if Path(folder).is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _format_value(v: Any) -> str:
    return json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict)) else str(v)


def point_name(variant: str, values: dict[str, Any]) -> str:
    """Folder name of a grid point: variant and key=value pairs, safe on every file system."""
    text = "__".join([variant] + [f"{k}={_format_value(v)}" for k, v in values.items()])
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text)[:200]
