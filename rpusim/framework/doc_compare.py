"""The ``rpusim:compare`` block of the documents: arms side by side from an arm record.

    <!-- rpusim:compare dir=results/compare-aihwkit/STUDY metrics=train_loss,test_error ref=aihwkit
         path=docs/img/STUDY.png -->
    ... generated: a table, and the figure's link when path= is given ...
    <!-- /rpusim:compare -->

(the marker is one line). Keys: ``dir`` (the record folder, from the repository root:
``records.jsonl`` + ``meta.json``, :mod:`.arm_records`); ``metrics`` (default: every metric of the
lines but ``seconds``); ``arms`` (in that order, an arm without lines
shows empty rows; default: the meta's order); ``ref`` (an arm: the
others' difference from it, judged by :func:`.seed_stats.difference`); ``epochs`` (default: all
recorded); ``digits`` (default 2); ``path`` (the figure, PNG); ``title``; ``run`` (the commands
that make and merge the runs, shown while there is no record); ``with`` (comma-separated further
record folders whose arms join the table, each with its own provenance: runs of another commit
that cannot be merged into ``dir``'s record; an arm may come from one record only).

The table has one row per epoch and arm: the seeds behind it, then per metric ``mean ± sd`` over
them and, with ``ref``, Δ ± its standard error and the verdict. The figure draws one panel per
metric, mean per epoch and arm with a ± sd band; its numbers go beside the PNG (``.json``).
"""
from __future__ import annotations

import math
from pathlib import Path

from ..config import ConfigError
from .arm_records import ArmStudy, load_arm_study
from .plots import metric_label
from .records import RESULTS_DIR
from .seed_stats import RESOLVE_SE, cell, diff_cell, mean_sd

KEYS = {"dir", "metrics", "arms", "ref", "epochs", "digits", "path", "title", "run", "with"}
REQUIRED = ("dir",)


def no_record(params: dict) -> str:
    text = f"No record yet in `{params['dir']}/`"
    if params.get("run"):
        text += f": make the runs with `{params['run']}`"
    return text + "."


def _record(folder: str, key: str, root: Path, where: str) -> ArmStudy | None:
    path = Path(folder)
    if path.is_absolute() or path.parts[:1] != (RESULTS_DIR,) or ".." in path.parts:
        raise ConfigError(f"{where}: {key}={folder}: expected a record folder under {RESULTS_DIR}/")
    return load_arm_study(root / path)


def compare_study(params: dict, root: Path, where: str) -> ArmStudy | None:
    """The record ``dir=`` names joined by those of ``with=`` (None: ``dir=`` has none yet); each must
    lie under ``results/``. The joined meta keeps ``dir=``'s and lists the others under ``with``."""
    study = _record(params["dir"], "dir", root, where)
    for folder in [f for f in params.get("with", "").split(",") if f]:
        other = _record(folder, "with", root, where)
        if study is None or other is None:
            continue
        shared = set(study.arms()) & set(other.arms())
        if shared:
            raise ConfigError(f"{where}: with={folder}: arm {sorted(shared)[0]} is recorded in {params['dir']} too "
                              "(an arm comes from one record)")
        meta = {**study.meta, "arms": {**study.meta["arms"], **other.meta["arms"]},
                "with": [*study.meta.get("with", []), [folder, other.meta]]}
        study = ArmStudy(study.lines + other.lines, meta)
    return study


def _listed(params: dict, key: str, recorded: list, where: str, cast=str) -> list:
    """The comma-separated values of ``key`` (default: all ``recorded``), each one of them."""
    if key not in params:
        return recorded
    try:
        chosen = [cast(v) for v in params[key].split(",") if v]
    except ValueError:
        raise ConfigError(f"{where}: {key}={params[key]!r}: expected comma-separated integers") from None
    unknown = [v for v in chosen if v not in recorded]
    if unknown:
        raise ConfigError(f"{where}: {key}={params[key]}: {unknown[0]} is not recorded "
                          f"(recorded: {', '.join(map(str, recorded))})")
    return chosen


def _choices(params: dict, study: ArmStudy, where: str) -> tuple[list[str], list[str], list[int], str | None]:
    metrics = _listed(params, "metrics", study.metrics(), where)
    arms = [a for a in params["arms"].split(",") if a] if "arms" in params else study.arms()  # unrecorded: empty rows
    epochs = _listed(params, "epochs", study.epochs(), where, int)
    ref = params.get("ref")
    if ref is not None and ref not in arms:
        raise ConfigError(f"{where}: ref={ref}: not among the arms ({', '.join(arms)})")
    return metrics, arms, epochs, ref


def provenance(meta: dict) -> str:
    """One line: the commit, the versions and the settings the record's runs share."""
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    settings = ", ".join(f"{k}={v}" for k, v in meta["settings"].items())
    return f"commit {meta['commit']}{' (dirty)' if meta['dirty'] else ''}; {versions}; {settings}"


def render_compare(params: dict, study: ArmStudy | None, where: str, link: str | None) -> str:
    """The block's Markdown: the table (and the figure's ``link`` first when it has one)."""
    if study is None:
        return no_record(params)
    metrics, arms, epochs, ref = _choices(params, study, where)
    digits = int(params.get("digits", 2))
    header = ["epoch", "arm", "seeds"]
    for m in metrics:
        header += [metric_label(m)] + ([f"vs `{ref}`"] if ref else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for e in epochs:
        for arm in arms:
            seeds = study.seeds(arm, e)
            cells = [str(e), f"`{arm}`", f"{len(seeds)} ({', '.join(map(str, seeds))})" if seeds else "0"]
            for m in metrics:
                cells.append(cell(study.values(arm, e, m), digits, len(seeds)))
                if ref:
                    cells.append("—" if arm == ref else
                                 diff_cell(study.values(arm, e, m), study.values(ref, e, m), digits))
            lines.append("| " + " | ".join(cells) + " |")
    note = (f"Mean ± sd over the seeds (sample standard deviation); records: `{params['dir']}/records.jsonl`, "
            f"{provenance(study.meta)}" + "".join(f"; `{folder}/records.jsonl`, {provenance(meta)}"
                                                  for folder, meta in study.meta.get("with", [])))
    if ref:
        note += (f"; a difference from `{ref}` is resolved when |Δ| > {RESOLVE_SE:g}·√(sd₁²/n₁ + sd₂²/n₂) "
                 "(shown: Δ ± that standard error), within seed spread otherwise")
    text = "\n".join(lines) + "\n\n" + note + "."
    if link is None:
        return text
    title = params.get("title") or "per epoch, mean over seeds"
    return (f"![{title}]({link})\n\nMean over seeds, band ± one sd; the numbers plotted: "
            f"[{Path(link).with_suffix('.json').name}]({Path(link).with_suffix('.json').as_posix()}).\n\n" + text)


def compare_figure_data(params: dict, study: ArmStudy | None, where: str) -> dict | None:
    """The numbers the figure plots: per metric and arm, the epochs and mean, sd, n over seeds."""
    if study is None:
        return None
    metrics, arms, epochs, _ = _choices(params, study, where)
    out = {"dir": params["dir"], "metrics": {}}
    for m in metrics:
        out["metrics"][m] = {}
        for arm in arms:
            stats = [(e, *mean_sd(study.values(arm, e, m))) for e in epochs]
            stats = [s for s in stats if s[3] > 0]
            out["metrics"][m][arm] = {"epochs": [s[0] for s in stats], "mean": [round(s[1], 6) for s in stats],
                                      "sd": [None if math.isnan(s[2]) else round(s[2], 6) for s in stats],
                                      "n": [s[3] for s in stats]}
    return out


def compare_drawer(params: dict):
    """``draw(data, png)``: one panel per metric, a line per arm with its ± sd band."""
    def draw(data: dict, png: Path) -> None:
        from matplotlib.ticker import MaxNLocator

        from .plots import pyplot, save_figure
        panels = data["metrics"]
        fig, axes = pyplot().subplots(1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False)
        for ax, (metric, arms) in zip(axes[0], panels.items()):
            for arm, d in arms.items():
                if not d["epochs"]:
                    continue
                sds = [s or 0.0 for s in d["sd"]]
                bars = ax.errorbar(d["epochs"], d["mean"], yerr=sds, marker="o", ms=3, capsize=3,
                                   label=f"{arm} (n={max(d['n'])})")
                ax.fill_between(d["epochs"], [m - s for m, s in zip(d["mean"], sds)],
                                [m + s for m, s in zip(d["mean"], sds)], color=bars.lines[0].get_color(), alpha=0.2)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel("epoch")
            ax.set_ylabel(metric_label(metric))
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(params.get("title") or f"{data['dir']}: per epoch, mean ± sd over seeds")
        save_figure(fig, png)
    return draw
