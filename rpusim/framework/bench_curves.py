"""Cost curves of a benchmark record (``benchmarks/bench_scaling.py``): tables and a figure.

A scaling record's figures each carry ``curve: {axis, x, fp_ms, analog_ms}`` besides the ratio
(``value``, its ``rounds``). :func:`curve_data` gathers them per axis, in the order measured;
:func:`render_curves` writes one Markdown table per axis and :func:`draw_curves` one panel per
axis: step time of floating point and analog (log scale) and their ratio (right axis).
"""
from __future__ import annotations

from pathlib import Path


def curve_data(record: dict) -> dict:
    """{"bench", "commit", "date", "command", "axes": {axis: {"x", "fp_ms", "analog_ms", "ratio"}}}."""
    axes: dict[str, dict[str, list]] = {}
    for fig in record["figures"].values():
        c = fig.get("curve")
        if c is None:
            continue
        a = axes.setdefault(c["axis"], {"x": [], "fp_ms": [], "analog_ms": [], "ratio": []})
        for key, value in (("x", c["x"]), ("fp_ms", c["fp_ms"]), ("analog_ms", c["analog_ms"]),
                           ("ratio", fig["value"])):
            a[key].append(round(value, 6) if isinstance(value, float) else value)
    return {"bench": record["benchmark"], "commit": record["commit"] + (" (dirty)" if record.get("dirty") else ""),
            "date": record["date"], "command": record["command"], "axes": axes}


def render_curves(data: dict, image: str) -> str:
    """The figure's link, then per axis a table x → fp ms, analog ms, analog ÷ fp."""
    lines = [f"![cost curves of {data['bench']}]({image})", "",
             f"`{data['command']}` at {data['commit']}, {data['date']} (median of the rounds; "
             f"the numbers plotted: [{Path(image).with_suffix('.json').name}]({Path(image).with_suffix('.json').as_posix()})).", ""]
    for axis, a in data["axes"].items():
        lines += [f"| {axis} | fp ms/step | analog ms/step | analog ÷ fp |", "|---|---|---|---|"]
        lines += [f"| {x} | {f:.3g} | {an:.3g} | **{r:.2f}×** |"
                  for x, f, an, r in zip(a["x"], a["fp_ms"], a["analog_ms"], a["ratio"])]
        lines.append("")
    return "\n".join(lines).rstrip()


def draw_curves(data: dict, path: Path) -> None:
    from .plots import pyplot, save_figure
    axes = data["axes"]
    fig, panels = pyplot().subplots(1, max(1, len(axes)), figsize=(3.6 * max(1, len(axes)), 3.6), squeeze=False)
    for ax, (axis, a) in zip(panels[0], axes.items()):
        ax.plot(a["x"], a["fp_ms"], marker="o", label="floating point")
        ax.plot(a["x"], a["analog_ms"], marker="s", label="analog")
        ax.set_xscale("log")
        ax.set_xticks(a["x"], [str(x) for x in a["x"]])
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.set_xlabel(axis)
        ax.set_ylabel("ms per step")
        ax.grid(alpha=0.3)
        right = ax.twinx()
        right.plot(a["x"], a["ratio"], color="tab:red", ls="--", marker="^", label="analog ÷ fp")
        right.set_ylabel("analog ÷ fp", color="tab:red")
        right.set_ylim(bottom=0)
        if ax is panels[0][0]:
            ax.legend(fontsize=7, loc="upper left")
            right.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{data['bench']}: step time against each axis (others at the baseline)", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path)
