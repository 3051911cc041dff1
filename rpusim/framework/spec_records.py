"""A spec sheet regenerated from committed records (``rpusim report``), not from a run folder.

A spec sweep's runs are recorded like any run::

    rpusim record runs/EXPERIMENT/spec-VARIANT-BUDGET/*/ --study STUDY

each point under its point name without the seed (``rpu-baseline__dw_min=0.003/seed-0``; see
:func:`.records.record_name`). :func:`sheet_from_records` plans the same sheet again from the
:class:`SpecRequest` (the arguments of the ``rpusim spec`` command that made it), finds each
point's record, refuses a record whose config is not the one the plan gives (its fingerprint
differs: the keys that differ are named), and returns the sheet's numbers as
:func:`.spec.sheet_data` does for a run folder, plus how many of the planned runs are recorded.
A point without a record counts as not finished (the sheet says how many values are missing).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError
from .config import META_KEYS
from .experiment import Experiment
from .identity import config_diff, fingerprint, point_name, read_saved_config
from .plots import metric_label, pyplot, save_figure
from .records import RESULTS_DIR
from .spec import budget_text, collect, draw_curve, plan_spec, sheet_data, sheet_numbers, stat_of
from .spec_search import Limit
from .sweep import SweepPoint


@dataclass(frozen=True)
class SpecRequest:
    """The arguments of one ``rpusim spec`` command (``params`` None: every parameter)."""

    experiment: str
    variant: str = "rpu-baseline"
    reference: str = "fp"
    budget: str = "quick"
    tolerance: float = 0.3
    seeds: int = 2
    params: tuple[str, ...] | None = None
    grids: dict = field(default_factory=dict)
    pairs: tuple[str, ...] = ()

    def command(self, workers: int = 2) -> str:
        parts = ["rpusim spec", self.experiment, f"--variant {self.variant}", f"--budget {self.budget}",
                 f"--tolerance {self.tolerance:g}", f"--seeds {self.seeds}"]
        if self.reference != "fp":
            parts.append(f"--reference {self.reference}")
        if self.params is not None:
            parts.append("--params " + ",".join(self.params))
        parts += [f"--grid {k}=" + ",".join(map(str, v)) for k, v in self.grids.items()]
        parts += [f"--pair {p}" for p in self.pairs]
        return " ".join(parts + [f"--workers {workers}"])


def record_folder(root: Path, study: str, experiment: str, pt: SweepPoint) -> Path:
    """Where the record of spec point ``pt`` lives."""
    label = {k: v for k, v in pt.values.items() if k != "seed"}
    return (Path(root) / RESULTS_DIR / study / experiment / point_name(pt.variant, label)
            / f"seed-{pt.values['seed']}")


def _check_record(folder: Path, pt: SweepPoint) -> None:
    """Refuse a record that is not the run the plan gives (another config: its keys named)."""
    saved = read_saved_config(folder)
    if saved is None:
        return
    recorded = {k: v for k, v in saved.items() if k not in META_KEYS}
    planned = pt.cfg.to_dict()
    if fingerprint(recorded) != fingerprint(planned):
        diff = "; ".join(config_diff(recorded, planned)[:6])
        raise ConfigError(f"{folder}: the record is not the run the spec sheet plans for {pt.name} "
                          f"(record → plan: {diff}); record the sheet's own runs, or change the request")


def sheet_from_records(root: Path, study: str, exp: Experiment, req: SpecRequest) -> dict:
    """The sheet's numbers (:func:`.spec.sheet_data`) from the records of ``study``, with
    ``recorded``/``planned`` run counts, the study and the command that makes the runs."""
    base, params, pairs, points = plan_spec(exp, req.variant, req.reference, req.budget, {}, req.tolerance,
                                            req.seeds, list(req.params) if req.params is not None else None,
                                            {k: list(v) for k, v in req.grids.items()}, list(req.pairs))
    folders = {pt.name: record_folder(root, study, exp.name, pt) for pt in points}
    for pt in points:
        _check_record(folders[pt.name], pt)
    where = f"{RESULTS_DIR}/{study}/{exp.name}/"
    ref_samples, samples, metric = collect(points, lambda pt: folders[pt.name], req.reference, where)
    ref, curves, limits, maps = sheet_numbers(params, pairs, ref_samples, samples, req.tolerance)
    seeds = [base.seed + i for i in range(req.seeds)]
    data = sheet_data(exp.name, req.variant, req.reference, req.budget, budget_text(req.budget, base), req.tolerance,
                      seeds, metric, params, pairs, ref, curves, limits, maps)
    recorded = len(ref_samples) + sum(len(v) for v in samples.values())  # the finished records collect read
    return {**data, "study": study, "records": where, "command": req.command(), "device": base.rpu.device.type,
            "recorded": recorded, "planned": len(points)}


def curves_figure(data: dict, path: Path) -> None:
    """Every parameter's tolerance curve of a :func:`sheet_from_records` sheet, one panel each (one
    empty panel saying so before any record)."""
    params = {n: p for n, p in data.get("params", {}).items() if p["stats"]}
    cols = 3 if params else 1
    rows = max(1, -(-len(params) // cols))
    fig, axes = pyplot().subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    if not params:
        axes[0, 0].text(0.5, 0.5, "no record yet", ha="center", va="center")
        axes[0, 0].axis("off")
        save_figure(fig, path)
        return
    ref = stat_of(data["reference_stat"])
    for ax, (name, p) in zip(axes.flat, params.items()):
        lim = Limit(p["status"], p["limit"], stat_of(p["last_inside"]), None)
        draw_curve(ax, name, p["what"], p["grid"], p["worse"], [stat_of(s) for s in p["stats"]], ref,
                   data["tolerance"], lim, legend=False)
        ax.set_ylabel(metric_label(data["metric"]), fontsize=8)
    for ax in list(axes.flat)[len(params):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle(f"{data['experiment']} `{data['variant']}`: tolerance curves (budget {data['budget']}; gray: "
                 f"floating point, red dashed: + {data['tolerance']:g}, green dotted: the limit)", fontsize=9)
    save_figure(fig, path)
