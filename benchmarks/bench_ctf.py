"""Training-step time of the FC network (784-256-128-10, batch 1) with CTF arrays vs constant-step
arrays at the same N = BL, measured in one process, interleaved in blocks.

An epoch is 60,000 such steps, so the ratio of step times is the ratio of epoch times. Both devices
use the same step Δw_min (so the same pulse probabilities and coincidence counts); the CTF run has
the transient, compensation and noise of the study.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_ctf.py [--slots 1000] [--steps 200] [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from rpusim.devices import CTFDevice
from rpusim.experiments.config import build_config
from rpusim.experiments.ctf import ctf_device, study_base
from rpusim.experiments.tasks import TASKS
from rpusim.optim import AnalogSGD


def make(device: dict, slots: int, steps: int):
    cfg = build_config(study_base("mnist"), {"rpu": {"device": device, "update": {"bl": slots, "update_management": True}},
                                             "data": {"train_limit": steps, "test_limit": 10}})
    task = TASKS[cfg.task](cfg)
    torch.manual_seed(0)
    model = task.build_model()
    return task, model, AnalogSGD(model.parameters(), lr=cfg.train.lr)


def block(task, model, opt) -> float:
    """Seconds per training step over one pass of the task's (small) training set."""
    t0, n = time.perf_counter(), 0
    for batch in task.batches(0):
        opt.zero_grad()
        task.loss(model, batch).backward()
        opt.step()
        n += 1
    return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slots", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--record", action="store_true", help="also write the figures to results/benchmarks/NAME/DATE.json")
    args = ap.parse_args()
    ctf = ctf_device(args.slots, 5.0, compensation=True)
    dw = CTFDevice(**{k: v for k, v in ctf.items() if k != "type"}).nominal_dw_min
    runs = {"constant_step": make({"type": "constant_step", "dw_min": dw}, args.slots, args.steps),
            "ctf": make(ctf, args.slots, args.steps)}
    for r in runs.values():      # warm-up (the CTF tables and calibration are computed once)
        block(*r)
    times = {k: [] for k in runs}
    for _ in range(args.rounds):
        for k, r in runs.items():
            times[k].append(block(*r))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"{k:14s} {1e3 * v:7.2f} ms/step  (epoch of 60k steps ≈ {60000 * v / 60:.1f} min)")
    print(f"N = {args.slots}: CTF ÷ constant step = {med['ctf'] / med['constant_step']:.2f}× (limit 3×)")
    if args.record:
        from rpusim.experiments.records import write_bench_record
        median = "median of the rounds"
        figures = {"CTF ÷ constant step": {"value": med["ctf"] / med["constant_step"], "unit": "×",
                                           "how": "ratio of the medians",
                                           "rounds": [c / k for k, c in zip(times["constant_step"], times["ctf"])]}}
        figures.update({f"{k} ms/step": {"value": 1e3 * med[k], "unit": " ms", "how": median,
                                         "rounds": [1e3 * t for t in times[k]]} for k in times})
        print("record:", write_bench_record("ctf", figures, vars(args)))


if __name__ == "__main__":
    main()
