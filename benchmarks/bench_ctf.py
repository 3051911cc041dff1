"""Training-step time of the CTF study's network (784-256-128-10, sigmoid) on charge-trap-flash
arrays against floating point and against constant-step arrays at the same N = BL.

For each batch size and each N, three copies of the study's network train on MNIST in one
process, in interleaved rounds (floating point, constant step, CTF, floating point, ...): the
floating-point network (the study's software baseline), the network on constant-step arrays
and the network on CTF arrays, both with N pulse slots, update management and the same step
Δw_min (the CTF's nominal step at pw = 100 µs/N, so the same pulse probabilities and
coincidence counts). The CTF arrays have the study's transient, noise and (by default)
compensation. The ratios CTF ÷ FP, CTF ÷ constant and constant ÷ FP are taken per round;
the median round and the range over the rounds are printed. An epoch is 60,000 samples, so a
ratio of step times is a ratio of epoch times.

Targets (issue 16): CTF ÷ FP ≤ 3× at batch 1 and 100, CTF ÷ constant ≤ 1.5× at N = 1000.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_ctf.py [--slots 10,100,1000] [--batches 1,10,100]
        [--rounds 5] [--steps 0] [--t-gap 5] [--no-compensation] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from rpusim.devices import CTFDevice
from rpusim.framework.config import build_config
from rpusim.framework.tasks import TASKS
from rpusim.papers.ctf import ctf_device, study_base
from rpusim.optim import AnalogSGD

KINDS = ("fp", "constant", "ctf")


def make(model_over: dict, batch: int, steps: int):
    """The study's network with ``model_over`` applied, training on ``steps`` batches of ``batch``."""
    cfg = build_config(study_base("mnist", "ctf-mnist"), model_over, {"train": {"batch_size": batch},
                                                         "data": {"train_limit": steps * batch, "test_limit": 10}})
    task = TASKS[cfg.task](cfg)
    torch.manual_seed(0)
    model = task.build_model()
    return task, model, AnalogSGD(model.parameters(), lr=cfg.train.lr)


def networks(slots: int, batch: int, steps: int, t_gap: float, compensation: bool) -> dict:
    """Floating point, constant step and CTF at N = ``slots`` (same Δw_min for both devices)."""
    ctf = ctf_device(slots, t_gap, compensation=compensation)
    dw = CTFDevice(**{k: v for k, v in ctf.items() if k != "type"}).nominal_dw_min
    update = {"bl": slots, "update_management": True}
    return {"fp": make({"model": {"analog": False}}, batch, steps),
            "constant": make({"rpu": {"device": {"type": "constant_step", "dw_min": dw}, "update": update}},
                             batch, steps),
            "ctf": make({"rpu": {"device": ctf, "update": update}}, batch, steps)}


def block(task, model, opt, epoch: int) -> float:
    """Seconds per training step over one pass of the task's (small) training set."""
    t0, n = time.perf_counter(), 0
    for batch in task.batches(epoch):
        opt.zero_grad()
        task.loss(model, batch).backward()
        opt.step()
        n += 1
    return (time.perf_counter() - t0) / n


def bench(slots: int, batch: int, steps: int, rounds: int, t_gap: float, compensation: bool) -> dict:
    """Per kind the median seconds per step, and per ratio (median, low, high) over the rounds."""
    runs = networks(slots, batch, steps, t_gap, compensation)
    for r in runs.values():   # warm-up: kernels compiled, CTF tables and calibration computed
        block(*r, epoch=0)
    times = {k: [] for k in KINDS}
    for i in range(rounds):
        for k in KINDS:
            times[k].append(block(*runs[k], epoch=i + 1))
    out = {f"{k}_ms": 1e3 * statistics.median(times[k]) for k in KINDS}
    for num, den in (("ctf", "fp"), ("ctf", "constant"), ("constant", "fp")):
        ratios = [a / b for a, b in zip(times[num], times[den])]
        out[f"{num}/{den}"] = (statistics.median(ratios), min(ratios), max(ratios))
        out[f"{num}/{den} rounds"] = ratios
    return out


def _ratio(r: tuple) -> str:
    return f"{r[0]:5.2f}× ({r[1]:.2f}–{r[2]:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slots", default="10,100,1000", help="comma-separated N = BL values")
    ap.add_argument("--batches", default="1,10,100", help="comma-separated mini-batch sizes (10: the grid's)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=0, help="steps per round (default: 200 at batch 1, 20 else)")
    ap.add_argument("--t-gap", type=float, default=5.0, help="CTF gap between pulse slots (µs)")
    ap.add_argument("--no-compensation", action="store_true", help="CTF without the pulse-train compensation")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--record", action="store_true", help="also write the figures to results/benchmarks/ctf/DATE.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), t_gap {args.t_gap:g} µs, "
          f"compensation {'off' if args.no_compensation else 'on'}; ratios: median round (range)")
    print(f"{'batch':>5} {'N':>5} {'fp ms':>8} {'const ms':>9} {'ctf ms':>8}   {'CTF ÷ FP':>20} "
          f"{'CTF ÷ constant':>20} {'constant ÷ FP':>20}")
    figures = {}
    for b in (int(v) for v in args.batches.split(",")):
        for n in (int(v) for v in args.slots.split(",")):
            steps = args.steps or (200 if b == 1 else 20)
            r = bench(n, b, steps, args.rounds, args.t_gap, not args.no_compensation)
            print(f"{b:>5} {n:>5} {r['fp_ms']:>8.3f} {r['constant_ms']:>9.3f} {r['ctf_ms']:>8.3f}   "
                  f"{_ratio(r['ctf/fp']):>20} {_ratio(r['ctf/constant']):>20} {_ratio(r['constant/fp']):>20}",
                  flush=True)
            for name in ("ctf/fp", "ctf/constant"):
                label = {"ctf/fp": "CTF ÷ FP", "ctf/constant": "CTF ÷ constant step"}[name]
                figures[f"{label}, N = {n}, batch {b}"] = {"value": r[name][0], "unit": "×",
                                                           "how": "median of the rounds' ratios",
                                                           "rounds": r[f"{name} rounds"]}
    print("targets (issue 16), at N = 1000: CTF ÷ FP ≤ 3× at batch 1 and 100; CTF ÷ constant ≤ 1.5×")
    if args.record:
        from rpusim.framework.records import write_bench_record
        print("record:", write_bench_record("ctf", figures, vars(args)))


if __name__ == "__main__":
    main()
