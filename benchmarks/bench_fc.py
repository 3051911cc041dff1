"""Time per training step of the 784-256-128-10 network: RPU baseline ÷ floating point.

Both networks train on real MNIST digits in the same process, in alternating rounds
(analog, floating point, analog, ...), and the ratio is taken per round; the median
round is reported. The analog network is the RPU baseline (constant-step device with
device-to-device and cycle-to-cycle variation, BL 10, 7-bit DAC, 9-bit ADC, output
noise, noise and bound management) in the default (fast) update mode. If aihwkit is
importable, its RPU baseline is timed in the same rounds too.

    python benchmarks/bench_fc.py                 # batch 1 and 100, default threads
    OMP_NUM_THREADS=1 python benchmarks/bench_fc.py --threads 1
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch
from torch import nn

from rpusim.data import load_mnist
from rpusim.nn import AnalogLinear
from rpusim.optim import AnalogSGD
from rpusim.tile import RPUConfig


def network(analog: bool) -> nn.Module:
    linear = (lambda i, o: AnalogLinear(i, o, rpu_config=RPUConfig())) if analog else nn.Linear
    return nn.Sequential(linear(784, 256), nn.Sigmoid(), linear(256, 128), nn.Sigmoid(), linear(128, 10))


def aihwkit_network():
    try:
        from aihwkit.nn import AnalogLinear as AKLinear, AnalogSequential
        from aihwkit.optim import AnalogSGD as AKSGD
        from aihwkit.simulator.configs import SingleRPUConfig, ConstantStepDevice
    except ImportError:
        return None
    cfg = SingleRPUConfig(device=ConstantStepDevice())
    model = AnalogSequential(AKLinear(784, 256, rpu_config=cfg), nn.Sigmoid(), AKLinear(256, 128, rpu_config=cfg),
                             nn.Sigmoid(), AKLinear(128, 10, rpu_config=cfg))
    opt = AKSGD(model.parameters(), lr=0.01)
    opt.regroup_param_groups(model)
    return model, opt


def time_steps(model, opt, x, y, batch: int, steps: int, offset: int) -> float:
    """Seconds per training step over `steps` consecutive mini-batches."""
    t0 = time.perf_counter()
    for s in range(steps):
        i = ((offset + s) * batch) % (len(y) - batch)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[i:i + batch]), y[i:i + batch]).backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def bench(batch: int, rounds: int, steps: int, x, y) -> dict:
    torch.manual_seed(0)
    fp, an = network(False), network(True)
    runs = {"fp": (fp, torch.optim.SGD(fp.parameters(), lr=0.01)), "rpusim": (an, AnalogSGD(an.parameters(), lr=0.01))}
    ak = aihwkit_network()
    if ak is not None:
        runs["aihwkit"] = ak
    for name, (m, o) in runs.items():  # warm-up
        time_steps(m, o, x, y, batch, max(5, steps // 10), 0)
    times = {name: [] for name in runs}
    for r in range(rounds):
        for name, (m, o) in runs.items():
            times[name].append(time_steps(m, o, x, y, batch, steps, r * steps))
    out = {f"{n}_ms": statistics.median(t) * 1e3 for n, t in times.items()}
    out["rounds"] = {f"{n}_ms": [t * 1e3 for t in ts] for n, ts in times.items()}
    out["rounds"]["rpusim/fp"] = [a / f for a, f in zip(times["rpusim"], times["fp"])]
    out["rpusim/fp"] = statistics.median(out["rounds"]["rpusim/fp"])
    if "aihwkit" in times:
        out["aihwkit/fp"] = statistics.median(a / f for a, f in zip(times["aihwkit"], times["fp"]))
        out["aihwkit/rpusim"] = statistics.median(a / r for a, r in zip(times["aihwkit"], times["rpusim"]))
    return out


def step_bench_args(description: str, rounds: int, steps_default: str) -> argparse.Namespace:
    """The options of the interleaved step benchmarks (--batches, --rounds, --steps, --threads,
    --record), parsed, with torch's thread count set from --threads."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--batches", default="1,100", help="comma-separated mini-batch sizes")
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--steps", type=int, default=0, help=f"steps per round (default: {steps_default})")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--record", action="store_true", help="also write the figures to results/benchmarks/NAME/DATE.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def main() -> None:
    args = step_bench_args(__doc__.splitlines()[0], 7, "300 at batch 1, 30 else")
    x, y = load_mnist("train")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'batch':>5} {'fp ms/step':>11} {'rpusim ms/step':>15} {'rpusim/fp':>10}  others")
    figures = {}
    for b in (int(v) for v in args.batches.split(",")):
        steps = args.steps or (300 if b == 1 else 30)
        r = bench(b, args.rounds, steps, x, y)
        others = "  ".join(f"{k} {v:.2f}" for k, v in r.items() if k.startswith("aihwkit"))
        print(f"{b:>5} {r['fp_ms']:>11.3f} {r['rpusim_ms']:>15.3f} {r['rpusim/fp']:>9.2f}×  {others}")
        for key, name, unit in (("rpusim/fp", "rpusim ÷ fp", "×"), ("fp_ms", "fp ms/step", " ms"),
                                ("rpusim_ms", "rpusim ms/step", " ms")):
            figures[f"batch {b}: {name}"] = {"value": r[key], "unit": unit, "rounds": r["rounds"][key],
                                             "how": "median of the rounds"}
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    if args.record:
        from rpusim.framework.records import write_bench_record
        name = f"fc-{torch.get_num_threads()}thread"
        print("record:", write_bench_record(name, figures, vars(args)))


if __name__ == "__main__":
    main()
