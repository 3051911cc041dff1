"""Cost curves: step time of one analog layer and of the same ``nn.Linear``, and their ratio, against
layer size, pulse slots BL, batch size and devices per weight.

The baseline point is a 512 × 512 layer at batch 100, BL 10, one device per weight, the RPU
baseline otherwise (constant-step device, 7-bit DAC, 9-bit ADC, output noise, noise and bound
management, fast update). Each axis moves one of these and keeps the others:

    size 256, 512, 1024, 2048, 4096 (square)   BL 1, 10, 100, 1000
    batch 1, 10, 100, 1000                     devices per weight 1, 2, 4

A step is forward, backward (mean squared error toward a fixed random target; the layer's input
requires a gradient, as a hidden layer's does, so the backward pass z = Wᵀδ runs) and update
(``AnalogSGD`` / ``torch.optim.SGD``, lr 0.01) on inputs uniform in [0, 1] (sigmoid-like
activations). The two layers run in alternating rounds in the same process, so that load from
other processes hits both alike; each round's ratio is taken, the median over the rounds reported.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_scaling.py --threads 1 [--rounds 3] [--record]
    python3 benchmarks/bench_scaling.py --device cuda --record      # where CUDA exists
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn

from rpusim.nn import AnalogLinear
from rpusim.optim import AnalogSGD
from rpusim.tile import RPUConfig

BASE = {"size": 512, "bl": 10, "batch": 100, "devices": 1}
AXES = {"size": (256, 512, 1024, 2048, 4096), "bl": (1, 10, 100, 1000), "batch": (1, 10, 100, 1000),
        "devices": (1, 2, 4)}


def layer(analog: bool, size: int, bl: int, devices: int, device: str) -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    if not analog:
        m = nn.Linear(size, size).to(device)
        return m, torch.optim.SGD(m.parameters(), lr=0.01)
    cfg = RPUConfig(devices_per_weight=devices, update={"bl": bl})
    m = AnalogLinear(size, size, rpu_config=cfg).to(device)
    return m, AnalogSGD(m.parameters(), lr=0.01)


def stepper(model, opt, size: int, batch: int, device: str):
    """A function that runs ``steps`` training steps and returns seconds per step."""
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(batch, size, generator=gen).to(device).requires_grad_()  # a hidden layer: δ goes on back
    target = (0.1 * torch.randn(batch, size, generator=gen)).to(device)

    def run(steps: int) -> float:
        if device != "cpu":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), target).backward()
            opt.step()
        if device != "cpu":
            torch.cuda.synchronize()
        return (time.perf_counter() - t) / steps
    return run


def measure(point: dict, rounds: int, seconds: float, device: str) -> dict:
    """Median fp and analog seconds per step and the median ratio over alternating rounds."""
    runs = {}
    for side in ("fp", "analog"):
        model, opt = layer(side == "analog", point["size"], point["bl"], point["devices"], device)
        run = stepper(model, opt, point["size"], point["batch"], device)
        run(1)  # warm-up: kernels compiled, caches filled
        runs[side] = (run, max(1, min(1000, int(seconds / max(run(1), 1e-6)))))  # steps per round
    times = {"fp": [], "analog": []}
    for _ in range(rounds):
        for side, (run, steps) in runs.items():
            times[side].append(run(steps))
    ratios = [a / f for a, f in zip(times["analog"], times["fp"])]
    return {"fp_ms": statistics.median(times["fp"]) * 1e3, "analog_ms": statistics.median(times["analog"]) * 1e3,
            "ratio": statistics.median(ratios), "rounds": ratios}


def refuse(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=0.3, help="time per side and round (sets the steps)")
    ap.add_argument("--axes", default=",".join(AXES), help=f"which axes to measure (of {', '.join(AXES)})")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--record", action="store_true", help="also write the figures to results/benchmarks/NAME/DATE.json")
    args = ap.parse_args()
    axes = [a.strip() for a in args.axes.split(",") if a.strip()]
    bad = [a for a in axes if a not in AXES]
    if bad or not axes:
        refuse(f"--axes {args.axes!r}: allowed {', '.join(AXES)}")
    if args.device not in ("cpu", "cuda") or (args.device == "cuda" and not torch.cuda.is_available()):
        refuse(f"--device {args.device!r}: allowed cpu, or cuda where a CUDA device is present")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"baseline {BASE}, {args.rounds} rounds")
    print(f"{'axis':>8} {'value':>6} {'fp ms/step':>11} {'analog ms/step':>15} {'analog/fp':>10}")
    figures = {}
    for axis in axes:
        for value in AXES[axis]:
            point = {**BASE, axis: value}
            r = measure(point, args.rounds, args.seconds, args.device)
            print(f"{axis:>8} {value:>6} {r['fp_ms']:>11.3f} {r['analog_ms']:>15.3f} {r['ratio']:>9.2f}×", flush=True)
            figures[f"{axis}={value}: analog ÷ fp"] = {
                "value": r["ratio"], "unit": "×", "rounds": r["rounds"], "how": "median of the rounds",
                "curve": {"axis": axis, "x": value, "fp_ms": r["fp_ms"], "analog_ms": r["analog_ms"]}}
    if args.record:
        from rpusim.framework.records import write_bench_record
        name = f"scaling-{args.device}" + (f"-{torch.get_num_threads()}thread" if args.device == "cpu" else "")
        print("record:", write_bench_record(name, figures, {**vars(args), "base": BASE}))


if __name__ == "__main__":
    main()
