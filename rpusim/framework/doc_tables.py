"""Tables and figures of the documents, generated from the records in ``results/``.

A document holds each generated block between two markers; the opening one says what it shows:

    <!-- rpusim:table study=fc-30epochs experiment=fc-mnist epochs=1,2,3,30 columns=best compare=fp -->
    ... generated Markdown ...
    <!-- /rpusim:table -->

    <!-- rpusim:figure study=fc-30epochs experiment=fc-mnist path=docs/img/fc-mnist-30epochs.png -->
    ... an image link, generated ...
    <!-- /rpusim:figure -->

    <!-- rpusim:bench -->  ...  <!-- /rpusim:bench -->   (the latest benchmark records)

    <!-- rpusim:benchcurve bench=scaling-cpu-1thread path=docs/img/bench-scaling.png -->
    ... the cost curves of that benchmark's latest record: a figure and one table per axis ...
    <!-- /rpusim:benchcurve -->

    <!-- rpusim:computed name=ctf-update-noise path=docs/img/ctf_update_noise.png -->
    ... computed by a paper's code: from the code, or its analysis of a study's records (:mod:`.computed`) ...
    <!-- /rpusim:computed -->

    <!-- rpusim:compare dir=results/compare-aihwkit/STUDY ref=ARM path=docs/img/STUDY.png -->
    ... arms side by side from an arm record (:mod:`.doc_compare`) ...
    <!-- /rpusim:compare -->

Table keys: ``study``, ``experiment`` (required); ``metric`` (default: the records' main metric);
``variants`` (comma-separated, in that order; default: every recorded variant); ``epochs`` (the
metric after these epochs, one column each); ``columns`` (``final``, ``best``, ``mean_lastK`` —
the mean over the last K epochs —, ``stat:NAME`` — a per-layer diagnostic of metrics.csv such as
``fwd_saturated``, in % of the last epoch's passes, one column per layer); ``compare`` (a variant:
adds the difference of the others from it, see :func:`difference`); ``compare_at`` (the column the
comparison uses, default ``final``); ``digits`` (default 2); ``run`` (the command that makes the
runs, quoted, shown while there is no record). Figure keys: ``study``, ``experiment``, ``path``
(the PNG, relative to the repository root), ``metric``, ``variants``, ``title``. Computed keys:
``name`` (one of the views handed to :func:`report_documents`), ``path`` (optional: the view's
figure, PNG).

A cell over several seeds is ``mean ± sd`` (sample standard deviation), with ``(n=k)`` when fewer
seeds than the row's reach it; one seed: ``value (1 seed)``. A figure draws the mean per epoch with
a band of ± one sd and writes the plotted numbers beside the PNG (same name, ``.json``), which is
what ``--check`` compares (not the PNG's bytes).
"""
from __future__ import annotations

import json
import math
import os
import re
import shlex
import statistics
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError
from . import doc_compare
from .bench_curves import curve_data, draw_curves, render_curves
from .computed import ComputedView
from .plots import metric_label
from .records import RESULTS_DIR, Record, latest_bench_records, study_records
from .seed_stats import RESOLVE_SE, cell, diff_cell, mean_sd

#: The documents ``rpusim report --all`` rewrites (relative to the repository root).
DOC_GLOBS = ("README.md", "RESULTS.md", "BENCHMARKS.md", "docs/*.md")
BLOCK = re.compile(r"^<!-- rpusim:(?P<kind>table|figure|benchcurve|bench|computed|compare)(?P<params>[^\n]*?)-->\n"
                   r"(?P<body>.*?)^<!-- /rpusim:(?P=kind) -->", re.S | re.M)
OPENING = re.compile(r"^<!-- /?rpusim:", re.M)  # a marker starts a line (one inside prose is text)
TABLE_KEYS = {"study", "experiment", "metric", "variants", "epochs", "columns", "compare", "compare_at",
              "digits", "run"}
FIGURE_KEYS = {"study", "experiment", "metric", "variants", "path", "title", "run"}
BENCHCURVE_KEYS = {"bench", "path"}
COMPUTED_KEYS = {"name", "path"}
KEYS = {"table": TABLE_KEYS, "figure": FIGURE_KEYS, "bench": set(), "benchcurve": BENCHCURVE_KEYS,
        "computed": COMPUTED_KEYS, "compare": doc_compare.KEYS}
REQUIRED = {"table": ("study", "experiment"), "figure": ("study", "experiment", "path"), "bench": (),
            "benchcurve": ("bench", "path"), "computed": ("name",), "compare": doc_compare.REQUIRED}


@dataclass
class Block:
    """One marker block of a document: where it is, what it asks for, what it holds now."""

    doc: Path
    line: int
    kind: str
    params: dict[str, str]
    body: str
    span: tuple[int, int]

    def where(self) -> str:
        shown = " ".join(f"{k}={v}" for k, v in self.params.items() if k != "run")
        return f"{self.doc}:{self.line}: rpusim:{self.kind} {shown}".rstrip()


# --- parsing ------------------------------------------------------------------------------

def parse_params(text: str, where: str, allowed: set[str]) -> dict[str, str]:
    try:
        items = shlex.split(text)
    except ValueError as err:
        raise ConfigError(f"{where}: marker not readable ({err})") from None
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in allowed:
            raise ConfigError(f"{where}: {item!r}: unknown marker key (allowed: {', '.join(sorted(allowed))})")
        params[key] = value
    return params


FENCE = re.compile(r"^```.*?^```[^\n]*$", re.S | re.M)


def find_blocks(text: str, doc: Path) -> list[Block]:
    """Every marker block of ``text`` (markers inside fenced code are examples, not blocks); a marker
    without its pair or with unknown keys is refused."""
    blocks = []
    fenced = [(m.start(), m.end()) for m in FENCE.finditer(text)]
    covered = list(fenced)
    for m in BLOCK.finditer(text):
        if any(a <= m.start() < b for a, b in fenced):
            continue
        line = text.count("\n", 0, m.start()) + 1
        params = parse_params(m["params"], f"{doc}:{line}", KEYS[m["kind"]])
        for key in REQUIRED[m["kind"]]:
            if key not in params:
                raise ConfigError(f"{doc}:{line}: rpusim:{m['kind']} needs {key}=...")
        blocks.append(Block(doc, line, m["kind"], params, m["body"], (m.start("body"), m.end("body"))))
        covered.append((m.start(), m.end()))
    for m in OPENING.finditer(text):
        if not any(a <= m.start() < b for a, b in covered):
            line = text.count("\n", 0, m.start()) + 1
            raise ConfigError(f"{doc}:{line}: an rpusim marker without its pair (blocks are "
                              "<!-- rpusim:KIND ... --> ... <!-- /rpusim:KIND -->, KIND table, figure, bench, "
                              "benchcurve, computed or compare)")
    return blocks


def _ints(text: str, where: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v]
    except ValueError:
        raise ConfigError(f"{where}: epochs={text!r}: expected comma-separated integers") from None


# --- tables -------------------------------------------------------------------------------

def _chosen(block: Block, records: dict[str, list[Record]]) -> list[str]:
    if "variants" in block.params:
        return [v for v in block.params["variants"].split(",") if v]
    return list(records)


def no_record(block: Block) -> str:
    folder = f"{RESULTS_DIR}/{block.params['study']}/{block.params['experiment']}/"
    text = f"No record yet in `{folder}`"
    if block.params.get("run"):
        text += (f": make the runs with `{block.params['run']}`, then record them with "
                 f"`rpusim record RUN_DIR... --study {block.params['study']}`")
    return text + "."


def _column_values(recs: list[Record], col: str, metric: str, where: str) -> list[float]:
    """One value per record; the whole-run columns (final, best, mean_lastK) count finished runs only
    (an unfinished run gives NaN, left out of the cell's n): a run still training has no final figure."""
    if not re.fullmatch(r"e\d+", col) and any(r.unfinished for r in recs):
        finished = _column_values([r for r in recs if not r.unfinished], col, metric, where)
        values = iter(finished)
        return [math.nan if r.unfinished else next(values) for r in recs]
    if col == "final":
        return [r.value(metric) for r in recs]
    if col == "best":
        return [min(r.trained(metric), default=math.nan) for r in recs]
    if col.startswith("mean_last"):
        try:
            k = int(col.removeprefix("mean_last"))
        except ValueError:
            raise ConfigError(f"{where}: column {col!r}: expected mean_lastK with K a number") from None
        return [statistics.fmean(r.trained(metric)[-k:]) if r.trained(metric) else math.nan for r in recs]
    if re.fullmatch(r"e\d+", col):
        return [r.value(metric, int(col[1:])) for r in recs]
    raise ConfigError(f"{where}: column {col!r}: unknown (allowed: final, best, mean_lastK, stat:NAME)")


def _heading(col: str) -> str:
    if re.fullmatch(r"e\d+", col):
        return f"epoch {col[1:]}"
    if col.startswith("mean_last"):
        return f"mean of last {col.removeprefix('mean_last')}"
    return col


def _stat_columns(rows: dict[str, list[Record]], name: str) -> list[str]:
    keys = dict.fromkeys(k for recs in rows.values() for r in recs for k in (r.rows[-1] if r.rows else {})
                         if k.endswith("/" + name))
    return list(keys)


def _seeds_text(recs: list[Record]) -> str:
    parts = [str(r.seed) + (f" (unfinished, epoch {r.summary.get('epochs')})" if r.unfinished else "") for r in recs]
    return ", ".join(parts)


def render_table(block: Block, root: Path) -> str:
    p, where = block.params, block.where()
    records = study_records(root, p["study"], p["experiment"])
    if not records:
        return no_record(block)
    digits = int(p.get("digits", 2))
    metric = p.get("metric") or next(iter(records.values()))[0].metric
    cols = [f"e{e}" for e in _ints(p.get("epochs", ""), where)]
    cols += [c for c in p.get("columns", "").split(",") if c]
    variants = _chosen(block, records)
    rows = {v: records.get(v, []) for v in variants}
    stat_cols = []
    plain = []
    for c in cols:
        if c.startswith("stat:"):
            stat_cols += [(c, k) for k in _stat_columns(rows, c.removeprefix("stat:"))]
        else:
            plain.append(c)
    ref = p.get("compare")
    at = p.get("compare_at", "final")
    if ref and ref not in rows:
        raise ConfigError(f"{where}: compare={ref}: not among the table's variants ({', '.join(variants)})")
    header = ["variant", "seeds"] + [_heading(c) for c in plain]
    header += [f"{k.rsplit('/', 1)[1].replace('_', ' ')} % ({k.rsplit('/', 1)[0]})" for _, k in stat_cols]
    if ref:
        header.append(f"vs `{ref}` ({_heading(at)})")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for v, recs in rows.items():
        if not recs:
            lines.append("| " + " | ".join([f"`{v}`", "no record yet"] + ["–"] * (len(header) - 2)) + " |")
            continue
        cells = [f"`{v}`", _seeds_text(recs)]
        cells += [cell(_column_values(recs, c, metric, where), digits, len(recs)) for c in plain]
        cells += [cell([math.nan if r.unfinished else 100 * r.value(k) for r in recs], digits, len(recs))
                  for _, k in stat_cols]
        if ref:
            cells.append("—" if v == ref or not rows[ref] else
                         diff_cell(_column_values(recs, at, metric, where),
                                   _column_values(rows[ref], at, metric, where), digits))
        lines.append("| " + " | ".join(cells) + " |")
    what = metric_label(metric) if plain else "% of the last epoch's passes or pulse probabilities, per analog layer"
    note = (f"{what}; records: `{RESULTS_DIR}/{p['study']}/{p['experiment']}/`; "
            "a cell is mean ± sd over the seeds (sample standard deviation); whole-run columns (best, "
            "mean of last K, final, layer statistics) count finished runs only")
    if ref:
        note += (f"; a difference from `{ref}` is resolved when |Δ| > {RESOLVE_SE:g}·√(sd₁²/n₁ + sd₂²/n₂) "
                 "(shown: Δ ± that standard error)")
    return "\n".join(lines) + "\n\n" + note + "."


# --- figures ------------------------------------------------------------------------------

def figure_data(block: Block, root: Path) -> dict | None:
    """The numbers a figure plots: per variant and epoch, mean, sd and n over seeds (None: no record)."""
    p = block.params
    records = study_records(root, p["study"], p["experiment"])
    if not records:
        return None
    metric = p.get("metric") or next(iter(records.values()))[0].metric
    out = {"study": p["study"], "experiment": p["experiment"], "metric": metric, "variants": {}}
    for v in _chosen(block, records):
        recs = records.get(v, [])
        epochs = sorted({int(r["epoch"]) for rec in recs for r in rec.rows})
        stats = [mean_sd([rec.value(metric, e) for rec in recs]) for e in epochs]
        out["variants"][v] = {"epochs": epochs, "mean": [_round(m) for m, _, _ in stats],
                              "sd": [_round(s) for _, s, _ in stats], "n": [n for _, _, n in stats]}
    return out


def _round(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 6)


def _rel(target: Path, doc: Path, root: Path) -> str:
    return Path(os.path.relpath(root / target, (root / doc).parent)).as_posix()


def render_figure(block: Block, root: Path, data: dict | None) -> str:
    p = block.params
    if data is None:
        return no_record(block)
    title = p.get("title") or f"{p['experiment']}: {data['metric'].replace('_', ' ')} per epoch"
    png = Path(p["path"])
    return (f"![{title}]({_rel(png, block.doc, root)})\n\n"
            f"Mean over seeds, band ± one sd; the numbers plotted: "
            f"[{png.with_suffix('.json').name}]({_rel(png.with_suffix('.json'), block.doc, root)}).")


def draw_figure(data: dict, path: Path, title: str) -> None:
    from .plots import pyplot, save_figure, spans_decades
    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    values = []
    for v, d in data["variants"].items():
        pts = [(e, m, s) for e, m, s in zip(d["epochs"], d["mean"], d["sd"]) if m is not None]
        if not pts:
            continue
        xs, ms, sds = zip(*pts)
        values += ms
        line, = ax.plot(xs, ms, marker="o", ms=3, label=f"{v} (n={max(d['n'])})")
        lo = [m - (s or 0) for m, s in zip(ms, sds)]
        hi = [m + (s or 0) for m, s in zip(ms, sds)]
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric_label(data["metric"]))
    if "error" in data["metric"] and spans_decades(values):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)


def sidecar_problem(block: Block, root: Path, data: dict, source: str) -> str | None:
    """Why a figure's PNG and ``.json`` disagree with ``data`` (None: they agree)."""
    png = root / block.params["path"]
    side = png.with_suffix(".json")
    if not png.is_file() or not side.is_file():
        return f"{block.params['path']} or its .json missing"
    if json.loads(side.read_text()) != json.loads(json.dumps(data)):
        return f"{side.relative_to(root)} differs from the {source}"
    return None


def records_figure_drawer(block: Block):
    """``draw(data, png)`` for a figure block: :func:`draw_figure` under the block's title."""
    def draw(data: dict, png: Path) -> None:
        draw_figure(data, png, block.params.get("title")
                    or f"{data['experiment']}: {data['metric'].replace('_', ' ')} per epoch")
    return draw


def figure_sidecar_problem(block: Block, root: Path, data: dict | None) -> str | None:
    """Why the figure's files disagree with the records (None: they agree)."""
    return None if data is None else sidecar_problem(block, root, data, "records")


# --- computed blocks ----------------------------------------------------------------------

def computed_view(block: Block, views: dict[str, ComputedView]) -> ComputedView:
    name = block.params["name"]
    if name not in views:
        raise ConfigError(f"{block.where()}: name={name}: no such computed block "
                          f"(allowed: {', '.join(sorted(views)) or 'none'})")
    if "path" in block.params and views[name].draw is None:
        raise ConfigError(f"{block.where()}: path=: the computed block {name} draws no figure (leave path= out)")
    return views[name]


def render_computed(block: Block, root: Path, view: ComputedView, data: dict) -> str:
    """The view's Markdown, under its figure's image link when the block has ``path=``."""
    text = view.markdown(data)
    if "path" not in block.params:
        return text
    png = Path(block.params["path"])
    return (f"![{view.title or block.params['name']}]({_rel(png, block.doc, root)})\n\n"
            f"{view.source()}; the numbers plotted: "
            f"[{png.with_suffix('.json').name}]({_rel(png.with_suffix('.json'), block.doc, root)}).\n\n" + text)


def write_figure_files(png: Path, data: dict, draw) -> None:
    png.parent.mkdir(parents=True, exist_ok=True)
    draw(data, png)
    png.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")


# --- benchmarks ---------------------------------------------------------------------------

def render_bench(root: Path) -> str:
    """The latest record of each benchmark: one row per ratio (×) with its range over the rounds, then
    one line per record with its times, command, machine and record file."""
    latest = latest_bench_records(root)
    if not latest:
        return ("No benchmark record yet: run each `benchmarks/bench_*.py` with `--record` "
                f"(writes `{RESULTS_DIR}/benchmarks/BENCH/DATE.json`).")
    lines = ["| benchmark | ratio | value | how | range over rounds | rounds | commit | date (UTC) |",
             "|---|---|---|---|---|---|---|---|"]
    notes = []
    for bench, rec in latest.items():
        if all("curve" in fig for fig in rec["figures"].values()):
            continue  # cost curves: shown by their benchcurve block
        commit = rec["commit"] + (" (dirty)" if rec.get("dirty") else "")
        times = []
        for name, fig in rec["figures"].items():
            rounds, unit = fig.get("rounds", []), fig.get("unit", "")
            if unit != "×":
                times.append(f"{name} {fig['value']:.3g}{unit}")
                continue
            rng = f"{min(rounds):.3g}–{max(rounds):.3g}×" if rounds else "–"
            lines.append(f"| {bench} | {name} | **{fig['value']:.3g}×** | {fig.get('how', '')} | {rng} | "
                         f"{len(rounds)} | {commit} | {rec['date']} |")
        m = rec["machine"]
        timings = f"{', '.join(times)}; " if times else "ratios only; "
        notes.append(f"* {bench}: {timings}`{rec['command']}` (OMP_NUM_THREADS="
                     f"{rec.get('omp_num_threads') or 'unset'}, torch threads: {rec.get('torch_threads')}), "
                     f"{m.get('cpu')}, {m.get('cores')} cores, torch {rec.get('torch')}, rpusim {rec.get('rpusim')}; "
                     f"record `{Path(rec['path']).relative_to(root).as_posix()}`")
    return "\n".join(lines) + "\n\n" + "\n".join(notes)


def benchcurve_data(block: Block, root: Path) -> dict | None:
    """The cost curves of the benchmark's latest record (None: no record)."""
    rec = latest_bench_records(root).get(block.params["bench"])
    return None if rec is None else curve_data(rec)


def render_benchcurve(block: Block, root: Path, data: dict | None) -> str:
    if data is None:
        return (f"No record of benchmark `{block.params['bench']}` yet: run `benchmarks/bench_scaling.py` with "
                f"`--record` (writes `{RESULTS_DIR}/benchmarks/{block.params['bench']}/DATE.json`).")
    return render_curves(data, _rel(Path(block.params["path"]), block.doc, root))


# --- documents ----------------------------------------------------------------------------

def documents(root: Path) -> list[Path]:
    return [p for g in DOC_GLOBS for p in sorted(root.glob(g)) if p.is_file()]


def regenerate(doc: Path, root: Path, write: bool, views: dict[str, ComputedView],
               computed: dict) -> list[str]:
    """Regenerate every block of ``doc``; write the document and figures if ``write``, else
    return one line per block (or figure) that differs from what the records (or the code, for
    a computed block) give. ``computed`` keeps the numbers of each view's ``compute`` once computed
    (views sharing one ``compute``, e.g. a heat map and a verdict from the same records, compute once)."""
    rel = doc.relative_to(root)
    text = doc.read_text()
    blocks = find_blocks(text, rel)
    problems, pieces, last = [], [], 0
    for b in blocks:
        data, side, draw, source = None, None, None, "records"
        if b.kind == "table":
            body = render_table(b, root)
        elif b.kind == "figure":
            data = figure_data(b, root)
            body = render_figure(b, root, data)
            side = figure_sidecar_problem(b, root, data)
            draw = records_figure_drawer(b)
        elif b.kind == "benchcurve":
            data = benchcurve_data(b, root)
            body = render_benchcurve(b, root, data)
            side = figure_sidecar_problem(b, root, data)
            draw = draw_curves
        elif b.kind == "computed":
            view = computed_view(b, views)
            if view.compute not in computed:
                computed[view.compute] = view.numbers(root)
            data = computed[view.compute]
            source = "records" if view.records else "code's numbers"
            body = render_computed(b, root, view, data)
            if "path" in b.params:
                side = sidecar_problem(b, root, data, source)
                draw = view.draw
        elif b.kind == "compare":
            study = doc_compare.compare_study(b.params, root, b.where())
            link = _rel(Path(b.params["path"]), b.doc, root) if "path" in b.params and study else None
            body = doc_compare.render_compare(b.params, study, b.where(), link)
            if link:
                data = doc_compare.compare_figure_data(b.params, study, b.where())
                side = sidecar_problem(b, root, data, "records")
                draw = doc_compare.compare_drawer(b.params)
        else:
            body = render_bench(root)
        body += "\n"
        if body != b.body:
            problems.append(f"{b.where()}: the block differs from the {source}")
        if side and write and draw is not None:
            write_figure_files(root / b.params["path"], data, draw)
        elif side:
            problems.append(f"{b.where()}: {side}")
        pieces += [text[last:b.span[0]], body]
        last = b.span[1]
    new = "".join(pieces) + text[last:]
    if write and new != text:
        doc.write_text(new)
    return problems


def report_documents(root: str | Path = ".", write: bool = True,
                     views: dict[str, ComputedView] | None = None) -> list[str]:
    """``rpusim report --all`` (write) or ``--check`` (compare): every document under ``root``;
    ``views``: the computed blocks the documents may ask for, by name."""
    root = Path(root).resolve()
    if not (root / RESULTS_DIR).is_dir() and not any(root.glob("README.md")):
        raise ConfigError(f"{root}: not a repository root (no README.md, no {RESULTS_DIR}/)")
    problems, computed = [], {}
    for doc in documents(root):
        problems += regenerate(doc, root, write, views or {}, computed)
    return problems
