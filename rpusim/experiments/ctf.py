"""Shrivastava et al. 2024 (arXiv 2402.09792): CTF RPUs, pulse count N × pulse gap t_gap.

The 784-256-128-10 sigmoid network of ``fc-mnist`` with every layer on charge-trap-flash
arrays (:class:`rpusim.devices.CTFDevice`, baseline periphery). One update is a train of
N = BL slots; the on-time budget of a full-scale update is fixed (``ON_TIME`` µs), so the
pulse width is pw = ON_TIME/N and the ideal weight step shrinks as 1/N (the pulse
probabilities stay the same, the update noise falls as 1/N).

* ``grid_configs``: N ∈ {10, 50, 100, 250, 500, 1000} × t_gap ∈ ``T_GAPS`` × compensation
  off/on, plus the floating-point (software) baseline.
* ``ablation_configs``: update noise and program-time non-ideality separated — transient
  off (noise only), noise matched to N = 10 at every N (program time only), both.
* ``run_study``: trains them one after another (resumable) and writes ``results.csv``/
  ``results.json``, heat maps and learning curves (:mod:`.ctf_plots`).

``rpusim run ctf-mnist`` / ``ctf-fashion`` run the named variants (a few grid points);
``--preset study --variants all`` runs the whole grid and the ablation at the study's budget
and draws the heat maps, curves and ablation plot (as ``run_study`` does).
"""
from __future__ import annotations

import math
from pathlib import Path

from .config import RunConfig, build_config
from .fc_mnist import _base
from .registry import Experiment, register

N_VALUES = (10, 50, 100, 250, 500, 1000)
T_GAPS = (1.0, 5.0, 20.0, 100.0)        # µs; the transient relaxes with τ_off = 10 µs
ON_TIME = 100.0                         # µs of program time in a full-scale update (all N slots)
LR = 0.1                                # fc-mnist's network at 10x its lr: see STUDY
ABLATION_N = (10, 100, 1000)
DATASETS = {"mnist": "ctf-mnist", "fashion-mnist": "ctf-fashion"}
N_REF = 10                              # the noise level the ablation matches
C2C = 0.3                               # CTFDevice's default cycle-to-cycle noise

# The study's budget: ~100 runs in about an hour and a half of one CPU core. The network is
# fc-mnist's (784-256-128-10, sigmoid, batch 1) at lr 0.1 instead of 0.01, because at 0.01 the
# sigmoid network needs most of a 60,000-sample epoch to leave its initial plateau: floating
# point reaches 15 % test error after 10,000 samples at lr 0.1 (16 % at lr 0.2).
STUDY = {"train": {"epochs": 1}, "data": {"train_limit": 8000, "test_limit": 2000}}


def ctf_device(n: int, t_gap: float, compensation: bool = False, **extra) -> dict:
    return {"type": "ctf", "pw": ON_TIME / n, "t_gap": t_gap, "compensation": compensation, **extra}


def matched_c2c(n: int, n_ref: int = N_REF, c2c: float = C2C) -> float:
    """Per-pulse noise that gives trains of N slots the update variance of N_ref slots.

    An update's variance is ≈ E[n]·(1 + σ²)·Δw² with E[n] ∝ N and Δw ∝ 1/N, so matching
    needs (1 + σ_N²) = (1 + σ_ref²)·N/N_ref."""
    return math.sqrt(max((1 + c2c**2) * n / n_ref - 1, 0.0))


def point(n: int, t_gap: float, compensation: bool = False, **device) -> dict:
    return {"rpu": {"device": ctf_device(n, t_gap, compensation, **device),
                    "update": {"bl": n, "update_management": True}}}


def point_name(n: int, t_gap: float, compensation: bool) -> str:
    return f"N{n}-gap{t_gap:g}" + ("-comp" if compensation else "")


def grid_variants() -> dict[str, dict]:
    out = {"fp": {"model": {"analog": False}}}
    for comp in (False, True):
        for n in N_VALUES:
            for gap in T_GAPS:
                out[point_name(n, gap, comp)] = point(n, gap, comp)
    return out


def ablation_variants(t_gap: float = 5.0) -> dict[str, dict]:
    out = {}
    for n in ABLATION_N:
        out[f"abl-noise-only-N{n}"] = point(n, t_gap, transient=0.0)
        out[f"abl-time-only-N{n}"] = point(n, t_gap, c2c_std=matched_c2c(n))
        out[f"abl-neither-N{n}"] = point(n, t_gap, transient=0.0, c2c_std=matched_c2c(n))
    return out


def study_base(dataset: str) -> dict:
    base = _base(dataset, DATASETS[dataset])
    base["train"]["lr"] = LR
    return base


def _configs(dataset: str, variants: dict[str, dict], budget: dict, seed: int) -> dict[str, RunConfig]:
    base = study_base(dataset)
    return {v: build_config(base, over, {"variant": v, "seed": seed}, budget) for v, over in variants.items()}


def grid_configs(dataset: str, budget: dict = STUDY, seed: int = 0) -> dict[str, RunConfig]:
    return _configs(dataset, grid_variants(), budget, seed)


def ablation_configs(dataset: str, budget: dict = STUDY, seed: int = 0) -> dict[str, RunConfig]:
    return _configs(dataset, ablation_variants(), budget, seed)


def run_study(out: str | Path, datasets=tuple(DATASETS), ablation_on=("mnist",), budget: dict = STUDY,
              seed: int = 0, only: tuple[str, ...] | None = None, log=print) -> None:
    """Train the grids of every data set, then the ablations, into ``out/EXPERIMENT``
    (finished runs are skipped, so it resumes); write the tables and figures. ``only``
    restricts the runs to those variants."""
    from .ctf_plots import study_figures
    from .runner import run_configs
    jobs = [(ds, grid_configs(ds, budget, seed)) for ds in datasets]
    jobs += [(ds, grid_configs(ds, budget, seed) | ablation_configs(ds, budget, seed)) for ds in ablation_on]
    for ds, configs in jobs:
        if only is not None:
            configs = {v: c for v, c in configs.items() if v in only}
        run_configs(DATASETS[ds], configs, Path(out) / DATASETS[ds], resume=True, progress=False, log=log)
        study_figures(Path(out) / DATASETS[ds], DATASETS[ds])


def _study_figures(out: Path, name: str) -> list[Path]:
    from .ctf_plots import study_figures
    return study_figures(out, name)


_NAMED = ("fp", "N10-gap1", "N10-gap100", "N100-gap5", "N1000-gap1", "N1000-gap100", "N100-gap5-comp",
          "N1000-gap5-comp")
for _ds, _name in DATASETS.items():
    _all = grid_variants() | ablation_variants()
    register(Experiment(
        name=_name,
        description=f"FC 784-256-128-10 on {_ds} with charge-trap-flash arrays: pulse count N × gap t_gap, "
                    "pulse-train compensation, noise/program-time ablation",
        base=study_base(_ds) | point(100, 5.0),
        variants=_all, default_variants=list(_NAMED),
        presets={"quick": {"train": {"epochs": 1}, "data": {"train_limit": 2000, "test_limit": 500}},
                 "study": STUDY},
        claims={"N1000-gap1": "N ≈ 1000: close to software level whatever t_gap [paper]",
                "N1000-gap100": "N ≈ 1000: close to software level whatever t_gap [paper]",
                "N100-gap5": "N < 500: accuracy depends on t_gap [paper]",
                "N100-gap5-comp": "compensation reduces the error [paper]"},
        paper="Shrivastava et al. 2024, arXiv 2402.09792",
        figures=lambda out, name=_name: _study_figures(out, name)))
