"""Time per training step of each training algorithm ÷ plain analog SGD, on the 784-256-128-10 network.

Every network is the RPU baseline (constant-step device, BL 10, 7-bit DAC, 9-bit ADC, noise and bound
management) with ``rpu.algorithm`` set to one algorithm and its defaults (docs/algorithms.md); the
reference is the same network with plain SGD. All train on real MNIST digits in the same process,
in alternating rounds (sgd, tiki-taka, ..., sgd, ...), and the ratio to SGD is taken per round; the
median round is reported. Target (issue 17): each algorithm ≤ 1.5× plain SGD at batch 1 and 100.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_algorithms.py --threads 1 [--batches 1,100] [--record]
"""
from __future__ import annotations

import statistics

import torch
from torch import nn

from bench_fc import step_bench_args, time_steps  # the FC benchmark's options and timing loop (this folder)
from rpusim.data import load_mnist
from rpusim.nn import AnalogLinear
from rpusim.optim import AnalogSGD
from rpusim.tile import RPUConfig

ALGORITHMS = ("sgd", "tiki-taka", "ttv2", "chopped-ttv2", "agad", "mixed-precision")


def network(algorithm: str) -> nn.Module:
    torch.manual_seed(0)
    cfg = RPUConfig.from_dict({"algorithm": {"type": algorithm}})
    linear = lambda i, o: AnalogLinear(i, o, rpu_config=cfg)  # noqa: E731
    return nn.Sequential(linear(784, 256), nn.Sigmoid(), linear(256, 128), nn.Sigmoid(), linear(128, 10))


def bench(batch: int, rounds: int, steps: int, x, y, algorithms: list[str]) -> dict[str, dict]:
    runs = {}
    for name in algorithms:
        model = network(name)
        runs[name] = (model, AnalogSGD(model.parameters(), lr=0.01))
        time_steps(*runs[name], x, y, batch, max(5, steps // 10), 0)  # warm-up
    times = {name: [] for name in runs}
    for r in range(rounds):
        for name, (m, o) in runs.items():
            times[name].append(time_steps(m, o, x, y, batch, steps, r * steps))
    out = {}
    for name in algorithms:
        ratios = [t / s for t, s in zip(times[name], times["sgd"])]
        out[name] = {"ms": statistics.median(times[name]) * 1e3, "ratio": statistics.median(ratios), "rounds": ratios}
    return out


def main() -> None:
    args = step_bench_args(__doc__.splitlines()[0], 5, "200 at batch 1, 20 else")
    x, y = load_mnist("train")
    x = x.reshape(len(x), -1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'batch':>5} {'algorithm':>16} {'ms/step':>9} {'÷ sgd':>7}")
    figures = {}
    for b in (int(v) for v in args.batches.split(",")):
        steps = args.steps or (200 if b == 1 else 20)
        result = bench(b, args.rounds, steps, x, y, list(ALGORITHMS))
        for name, r in result.items():
            print(f"{b:>5} {name:>16} {r['ms']:>9.3f} {r['ratio']:>6.2f}×", flush=True)
            figures[f"batch {b}: {name} ms/step"] = {"value": r["ms"], "unit": " ms"}
            if name != "sgd":
                figures[f"batch {b}: {name} ÷ sgd"] = {"value": r["ratio"], "unit": "×", "rounds": r["rounds"],
                                                       "how": "median of the rounds"}
    if args.record:
        from rpusim.framework.records import write_bench_record
        print("record:", write_bench_record(f"algorithms-{torch.get_num_threads()}thread", figures, vars(args)))


if __name__ == "__main__":
    main()
