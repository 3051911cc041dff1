"""Collect run directories into one Markdown report with comparison plots.

``rpusim report DIR...`` finds every run directory below the given folders (a folder with
``metrics.csv``, or a failed sweep point's ``error.txt``) and writes into ``--out``:

* ``report.md`` — one table row per run: its path, experiment, variant, the main metric's
  final and best value and its mean over the last 5 epochs, epochs, training time, status,
  and the paper's claim where the experiment declares one (:attr:`Experiment.claims`; the
  caller passes the experiments, e.g. ``rpusim.papers.catalog.EXPERIMENTS``);
* ``curves.png`` (``curves_<metric>.png`` when runs score different metrics) — the main
  metric against epoch, one line per run;
* for each sweep (``sweep.json``) over two keys, ``heatmap_<sweep>_<variant>.png`` of the
  final metric; over one key, ``sweep_<sweep>_<variant>.png`` (metric against value).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


from .experiment import Experiment
from .identity import read_saved_config, read_summary
from .plots import heatmap, learning_curves, metric_vs_value, read_metrics


TAIL = 5  # epochs averaged in the report's "mean, last 5" column


@dataclass
class RunRecord:
    path: Path
    label: str
    config: dict = field(default_factory=dict)
    summary: dict | None = None
    rows: list[dict] = field(default_factory=list)
    error: str = ""

    @property
    def metric(self) -> str:
        if self.summary:
            return self.summary["metric"]
        keys = [k for k in (self.rows[0] if self.rows else {}) if k not in ("epoch", "train_loss")]
        return keys[0] if keys else ""

    @property
    def status(self) -> str:
        if self.error:
            return "failed: " + self.error
        if self.summary:
            return "done"
        return f"unfinished (epoch {self.rows[-1]['epoch'] if self.rows else 0})"

    def values(self) -> list[float]:
        return [float(r[self.metric]) for r in self.rows if int(r["epoch"]) > 0]

    @property
    def final(self) -> float:
        if self.summary:
            return float(self.summary["final"])
        return float(self.rows[-1][self.metric]) if self.rows else math.nan

    @property
    def best(self) -> float:
        if self.summary:
            return float(self.summary["best"])
        return min(self.values(), default=math.nan)

    @property
    def tail_mean(self) -> float:
        """Mean of the main metric over the last :data:`TAIL` epochs (fewer if the run has fewer):
        steadier than the final value where the metric moves from epoch to epoch."""
        tail = self.values()[-TAIL:]
        return sum(tail) / len(tail) if tail else math.nan

    @property
    def epochs(self) -> int:
        return int(self.rows[-1]["epoch"]) if self.rows else 0

    @property
    def time_s(self) -> float:
        return sum(float(r.get("time_s") or 0) for r in self.rows)


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "error"


def find_runs(dirs: list[str | Path]) -> list[RunRecord]:
    """Every run directory below ``dirs`` (each counted once), in path order."""
    seen, runs = set(), []
    for root in map(Path, dirs):
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: no such folder")
        found = {p.parent for p in root.rglob("metrics.csv")} | {p.parent for p in root.rglob("error.txt")}
        for d in sorted(found):
            key = d.resolve()
            if key in seen:
                continue
            seen.add(key)
            label = str(d.relative_to(root)) if d != root else d.name
            if len(dirs) > 1:
                label = f"{root.name}/{label}" if d != root else label
            runs.append(load_run(d, label))
    return runs


def load_run(d: Path, label: str) -> RunRecord:
    rec = RunRecord(d, label)
    rec.config = read_saved_config(d) or {}
    if (d / "summary.json").exists():
        rec.summary = read_summary(d)
    if (d / "metrics.csv").exists():
        rec.rows = read_metrics(d)
    if (d / "error.txt").exists() and rec.summary is None:
        rec.error = _last_line((d / "error.txt").read_text())
    return rec


def _claim(config: dict, experiments: Mapping[str, Experiment]) -> str:
    exp = experiments.get(config.get("experiment", ""))
    return exp.claims.get(config.get("variant", ""), "") if exp is not None else ""


def _cell(x) -> str:
    if isinstance(x, float):
        return "–" if math.isnan(x) else f"{x:.3f}"
    return str(x).replace("|", "\\|").replace("\n", " ")


def markdown_table(runs: list[RunRecord], experiments: Mapping[str, Experiment] | None = None) -> str:
    """One row per run; the paper's claim where ``experiments`` declares one for its variant."""
    claims = [_claim(r.config, experiments or {}) for r in runs]
    header = ["run", "experiment", "variant", "metric", "final", "best", f"mean, last {TAIL}", "epochs",
              "time (s)", "status"]
    if any(claims):
        header.append("paper's claim")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r, claim in zip(runs, claims):
        cells = [r.label, r.config.get("experiment", ""), r.config.get("variant", ""), r.metric,
                 r.final, r.best, r.tail_mean, r.epochs, f"{r.time_s:.1f}", r.status] + ([claim] if any(claims) else [])
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "sweep"


def sweep_plots(dirs: list[Path], runs: list[RunRecord], out: Path) -> list[Path]:
    """Heat maps (two keys) or metric-vs-value plots (one key) of each sweep found below ``dirs``."""
    by_path = {r.path.resolve(): r for r in runs}
    made = []
    sweep_files = sorted({p.resolve() for d in dirs for p in Path(d).rglob("sweep.json")})
    for sweep_file in sweep_files:
        info = json.loads(sweep_file.read_text())
        keys, points = info.get("keys", []), info.get("points", {})
        by_variant: dict[str, dict[str, dict]] = {}
        for name, values in points.items():
            by_variant.setdefault(values.get("variant", ""), {})[name] = values
        for variant, pts in by_variant.items():
            recs = {n: by_path.get((sweep_file.parent / n).resolve()) for n in pts}
            metric = next((r.metric for r in recs.values() if r is not None and r.metric), "")
            if not metric:
                continue

            def final(name: str) -> float:
                r = recs[name]
                return r.final if r is not None and not r.error else math.nan

            title = f"{info.get('experiment', '')} {variant}: final {metric}"
            stem = f"{_safe(sweep_file.parent.name)}_{_safe(variant)}"
            axes = [list(dict.fromkeys(json.dumps(v[k]) for v in pts.values())) for k in keys]
            if len(keys) == 2:
                cell = {(json.dumps(v[keys[0]]), json.dumps(v[keys[1]])): n for n, v in pts.items()}
                grid = [[final(cell[(a, b)]) if (a, b) in cell else math.nan for b in axes[1]] for a in axes[0]]
                made.append(heatmap(grid, keys[0], [json.loads(a) for a in axes[0]], keys[1],
                                    [json.loads(b) for b in axes[1]], metric, out / f"heatmap_{stem}.png", title))
            elif len(keys) == 1:
                names = list(pts)
                made.append(metric_vs_value([pts[n][keys[0]] for n in names], [final(n) for n in names],
                                            keys[0], metric, out / f"sweep_{stem}.png", title))
    return made


def write_report(dirs: list[str | Path], out: str | Path | None = None,
                 experiments: Mapping[str, Experiment] | None = None) -> Path:
    """Write ``report.md`` and its plots into ``out`` (default: the first folder); return its path.
    ``experiments`` (by name) give the papers and claims shown beside the runs."""
    dirs = [Path(d) for d in dirs]
    runs = find_runs(dirs)
    if not runs:
        raise FileNotFoundError(f"no run directories (metrics.csv) below {', '.join(map(str, dirs))}")
    out = Path(out) if out is not None else dirs[0]
    out.mkdir(parents=True, exist_ok=True)
    images = []
    by_metric: dict[str, list[RunRecord]] = {}
    for r in runs:
        if r.rows:
            by_metric.setdefault(r.metric, []).append(r)
    for metric, group in by_metric.items():
        name = "curves.png" if len(by_metric) == 1 else f"curves_{_safe(metric)}.png"
        images.append(learning_curves({r.label: r.path for r in group}, metric, out / name,
                                      title=f"{metric} per epoch"))
    images += sweep_plots(dirs, runs, out)
    papers = _papers(runs, experiments or {})
    text = ["# rpusim report", "", f"Runs below: {', '.join(f'`{d}`' for d in dirs)} ({len(runs)} runs).", ""]
    if papers:
        text += ["Papers: " + "; ".join(f"{k}: {v}" for k, v in papers.items()), ""]
    text += [markdown_table(runs, experiments), ""]
    text += [f"![{p.stem}]({p.name})" for p in images]
    path = out / "report.md"
    path.write_text("\n".join(text) + "\n")
    return path


def _papers(runs: list[RunRecord], experiments: Mapping[str, Experiment]) -> dict[str, str]:
    names = dict.fromkeys(r.config.get("experiment", "") for r in runs)
    return {name: experiments[name].paper for name in names if name in experiments and experiments[name].paper}
