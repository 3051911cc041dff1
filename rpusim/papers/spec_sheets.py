"""The documents' device specification sheets, regenerated from their records (docs/spec.md).

View ``spec-fc-mnist``: the FC network's sheet (the ``rpusim spec`` command :data:`FC`, recorded
as study ``spec-fc-mnist``) with one column more, what the specifications quoted for Gokmen &
Vlasov 2016 (``papers.md`` §1; a secondary source, unverified) say about each parameter.
View ``spec-cnn-mnist``: the CNN's sheet (:data:`CNN`, study ``spec-cnn-mnist``) at a shorter
budget, with every management technique on (``+um``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..framework import Experiment
from ..framework.computed import ComputedView
from ..framework.records import RESULTS_DIR
from ..framework.spec import SpecIncomplete, band_text, sheet_table
from ..framework.spec_records import SpecRequest, curves_figure, sheet_from_records
from . import cnn, fc

FC = SpecRequest("fc-mnist", budget="spec", tolerance=0.3, seeds=2)
CNN = SpecRequest("cnn-mnist", variant="+um", budget="spec", tolerance=0.3, seeds=2)

#: The specifications quoted for Gokmen & Vlasov 2016 (papers.md §1: "~1000 states, up/down
#: symmetric within 2%, 5-bit DAC and 9-bit ADC enough, 6% analog noise tolerated"), by parameter:
#: (what it says, its value in the parameter's units or None); the baseline's own spreads (30 %) are
#: the paper's baseline values, not limits it states.
GOKMEN_VLASOV: dict[str, tuple[str, float | None]] = {
    "dw_min": ("≈ 1000 states (Δw_min ≈ 0.0012 on ±0.6)", 0.0012),
    "dw_min_dtod": ("30 % in the baseline (no limit stated)", None),
    "dw_min_std": ("30 % in the baseline (no limit stated)", None),
    "w_bounds_dtod": ("30 % in the baseline (no limit stated)", None),
    "up_down": ("symmetric within 2 % (global or device-to-device not said)", 0.02),
    "up_down_dtod": ("symmetric within 2 % (global or device-to-device not said)", 0.02),
    "out_noise": ("6 % tolerated (σ = 0.06)", 0.06),
    "dac_bits": ("5 bits enough", 5),
    "adc_bits": ("9 bits enough", 9),
}


def against(p: dict, paper: float | None) -> str:
    """Whether the sheet's limit of parameter ``p`` (:func:`.spec.sheet_data`) tolerates more than
    the paper's value (*looser*), less (*tighter*) or the same; "" where there is nothing to compare."""
    if paper is None or p["limit"] is None or p["status"] not in ("crossed", "not_reached"):
        return ""
    sign = 1 if p["worse"] == "larger" else -1
    if p["limit"] == paper:
        return "the same"
    if sign * (p["limit"] - paper) > 0:
        return "ours looser" + (" (its limit lies beyond the grid)" if p["status"] == "not_reached" else "")
    return "ours tighter" if p["status"] == "crossed" else ""


def paper_column(data: dict) -> tuple[str, dict[str, str]]:
    """The sheet's extra column: what Gokmen & Vlasov's specification says, and how our limit compares."""
    cells = {}
    for name, (text, value) in GOKMEN_VLASOV.items():
        verdict = against(data["params"][name], value) if name in data.get("params", {}) else ""
        cells[name] = f"{text}: **{verdict}**" if verdict else text
    return "Gokmen & Vlasov 2016 (papers.md §1, unverified)", cells


def compute(root: Path, exp: Experiment, req: SpecRequest) -> dict:
    study = f"spec-{exp.name}"
    try:
        return sheet_from_records(root, study, exp, req)
    except SpecIncomplete:  # not even the reference is recorded yet
        return {"recorded": 0, "command": req.command(), "records": f"{RESULTS_DIR}/{study}/{exp.name}/"}


def markdown(data: dict, extra: Callable[[dict], tuple[str, dict[str, str]]] | None = None) -> str:
    if not data["recorded"]:
        return f"No record yet in `{data['records']}`: `{data['command']} --out runs`, then record its runs."
    done = data["recorded"] == data["planned"]
    progress = "" if done else (f" **{data['recorded']} of the {data['planned']} runs are recorded so far**; "
                                "a value whose runs are missing reads as not finished.")
    return "\n".join([
        f"Sheet of `{data['experiment']}` variant `{data['variant']}` (device `{data['device']}`), "
        f"made by `{data['command']} --out runs` and recorded as study `{data['study']}` "
        f"(`rpusim record runs/{data['experiment']}/spec-{data['variant']}-{data['budget']}/*/ --study "
        f"{data['study']}`).{progress}",
        "",
        *band_text(data),
        "",
        sheet_table(data, extra(data) if extra else None),
        "",
        f"Records: `{data['records']}`.",
    ])


def _view(exp: Experiment, req: SpecRequest, extra=None) -> ComputedView:
    return ComputedView(compute=lambda root: compute(root, exp, req), markdown=lambda data: markdown(data, extra),
                        draw=curves_figure, title=f"{exp.name} spec sheet from its records",
                        records=f"{RESULTS_DIR}/spec-{exp.name}")


VIEWS = {"spec-fc-mnist": _view(fc.MNIST, FC, paper_column),
         "spec-cnn-mnist": _view(cnn.MNIST, CNN)}
