"""The FC network's device specification sheet, regenerated from its records, beside the
specifications quoted for Gokmen & Vlasov 2016 (``papers.md`` §1; a secondary source, unverified).

View ``spec-fc-mnist`` (docs/spec.md): the sheet of :data:`REQUEST` (the ``rpusim spec`` command
that made the runs), read from study :data:`STUDY`, with one column more: what the paper's
specification says about the parameter, where it says anything.
"""
from __future__ import annotations

from pathlib import Path

from ..framework.computed import ComputedView
from ..framework.records import RESULTS_DIR
from ..framework.spec import SpecIncomplete, band_text, sheet_table
from ..framework.spec_records import SpecRequest, curves_figure, sheet_from_records
from .fc import MNIST

STUDY = "spec-fc-mnist"
REQUEST = SpecRequest("fc-mnist", budget="spec", tolerance=0.3, seeds=2)

#: The specifications quoted for Gokmen & Vlasov 2016 (papers.md §1: "~1000 states, up/down
#: symmetric within 2%, 5-bit DAC and 9-bit ADC enough, 6% analog noise tolerated"), by parameter;
#: the baseline's own spreads (30 %) are the paper's baseline values, not limits it states.
GOKMEN_VLASOV = {
    "dw_min": "≈ 1000 states (Δw_min ≈ 0.0012 on ±0.6)",
    "dw_min_dtod": "30 % in the baseline (no limit stated)",
    "dw_min_std": "30 % in the baseline (no limit stated)",
    "w_bounds_dtod": "30 % in the baseline (no limit stated)",
    "up_down": "symmetric within 2 % (global or device-to-device not said)",
    "up_down_dtod": "symmetric within 2 % (global or device-to-device not said)",
    "out_noise": "6 % tolerated (σ = 0.06)",
    "dac_bits": "5 bits enough",
    "adc_bits": "9 bits enough",
}


def compute(root: Path) -> dict:
    try:
        return sheet_from_records(root, STUDY, MNIST, REQUEST)
    except SpecIncomplete:  # not even the reference is recorded yet
        return {"recorded": 0, "command": REQUEST.command(), "records": f"{RESULTS_DIR}/{STUDY}/{MNIST.name}/"}


def markdown(data: dict) -> str:
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
        sheet_table(data, ("Gokmen & Vlasov 2016 (papers.md §1, unverified)", GOKMEN_VLASOV)),
        "",
        f"Records: `{data['records']}`.",
    ])


def draw(data: dict, path: Path) -> None:
    curves_figure(data, path)


VIEWS = {"spec-fc-mnist": ComputedView(compute=compute, markdown=markdown, draw=draw,
                                       title="FC spec sheet from its records", records=f"{RESULTS_DIR}/{STUDY}")}
