"""Peak memory of one training process: analog (rpusim) ÷ floating point (plain PyTorch), same network.

Each measurement is a fresh Python process (peak RSS only grows), which imports what it needs,
builds the network, and trains ``--steps`` steps on random inputs of the data's shape (no data set
in memory, so that the figure is the simulator's and the network's, not MNIST's):

* FC 784-256-128-10 (sigmoid) at batch 100, the RPU baseline (``fc-mnist rpu-baseline``);
* the paper's CNN at batch 8, ``cnn-mnist +vr-k1k2`` (4 devices per weight on K1 and K2).

The floating-point process imports torch only and builds the same layers in plain PyTorch; the
analog process builds the network the way ``rpusim run`` does (:mod:`rpusim.framework.network`)
and checks that its layer shapes are those of the plain network. Reported: RSS after the imports,
peak RSS, and the ratio of the peaks.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_memory.py [--steps 20] [--record]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

NETS = {"fc": {"batch": 100, "experiment": "fc-mnist", "variant": "rpu-baseline"},
        "cnn": {"batch": 8, "experiment": "cnn-mnist", "variant": "+vr-k1k2"}}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def plain_network(net: str):
    """The floating-point network in plain PyTorch (the shapes of rpusim.nn.models' fc and cnn)."""
    from torch import nn
    if net == "fc":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.Sigmoid(), nn.Linear(256, 128), nn.Sigmoid(),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 5), nn.Tanh(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 5), nn.Tanh(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(512, 128), nn.Tanh(), nn.Linear(128, 10))


def analog_network(net: str):
    from rpusim.framework.network import build_network
    from rpusim.framework.runner import variant_configs
    from rpusim.nn.models import build_model
    from rpusim.optim import AnalogSGD
    from rpusim.papers.catalog import get_experiment
    spec = NETS[net]
    cfg = variant_configs(get_experiment(spec["experiment"]), [spec["variant"]], None, {})[spec["variant"]]
    model = build_network(cfg, (1, 28, 28), 10)
    plain = [tuple(p.shape) for p in plain_network(net).parameters()]
    fp = [tuple(p.shape) for p in build_model(cfg.model, (1, 28, 28), 10).parameters()]
    if plain != fp:
        raise SystemExit(f"the plain {net} network {plain} is not rpusim's {fp}: update plain_network()")
    return model, AnalogSGD(model.parameters(), lr=cfg.train.lr)


def child(net: str, side: str, steps: int) -> dict:
    import torch
    if side == "analog":
        model, opt = analog_network(net)
    else:
        model = plain_network(net)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
    after_import = rss_mb()
    gen = torch.Generator().manual_seed(0)
    batch = NETS[net]["batch"]
    x, y = torch.rand(batch, 1, 28, 28, generator=gen), torch.randint(0, 10, (batch,), generator=gen)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return {"after_import_mb": after_import, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(net: str, side: str, steps: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", net, side, "--steps", str(steps)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes per side (the median peak is reported)")
    ap.add_argument("--child", nargs=2, metavar=("NET", "SIDE"), help=argparse.SUPPRESS)
    ap.add_argument("--record", action="store_true", help="also write the figures to results/benchmarks/NAME/DATE.json")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.steps)))
        return
    import statistics
    figures = {}
    print(f"{'net':>4} {'batch':>5} {'fp MB (import/peak)':>20} {'analog MB (import/peak)':>24} {'analog/fp':>10}")
    for net, spec in NETS.items():
        runs = {side: [measure(net, side, args.steps) for _ in range(args.rounds)] for side in ("fp", "analog")}
        peak = {s: statistics.median(r["peak_mb"] for r in runs[s]) for s in runs}
        imp = {s: statistics.median(r["after_import_mb"] for r in runs[s]) for s in runs}
        ratios = [a["peak_mb"] / f["peak_mb"] for a, f in zip(runs["analog"], runs["fp"])]
        print(f"{net:>4} {spec['batch']:>5} {imp['fp']:>9.0f} / {peak['fp']:<8.0f} {imp['analog']:>11.0f} / "
              f"{peak['analog']:<10.0f} {statistics.median(ratios):>9.2f}×")
        key = f"{net} batch {spec['batch']}"
        figures[f"{key}: analog ÷ fp peak memory"] = {"value": statistics.median(ratios), "unit": "×",
                                                      "rounds": ratios, "how": "median of fresh processes"}
        for side in ("fp", "analog"):
            figures[f"{key}: {side} peak MB"] = {"value": peak[side], "unit": " MB"}
            figures[f"{key}: {side} MB after import"] = {"value": imp[side], "unit": " MB"}
    if args.record:
        from rpusim.framework.records import write_bench_record
        print("record:", write_bench_record("memory", figures, vars(args)))


if __name__ == "__main__":
    main()
