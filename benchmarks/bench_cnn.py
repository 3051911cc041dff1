"""Time per training image of the paper's CNN (Gokmen, Onen, Haensch 2017): analog ÷ floating point.

Both networks train on the same MNIST images in the same process, in alternating rounds,
so that load from other processes hits both alike; the figure is CPU time of this
process (``time.process_time``) per image, forward + backward + update, at batch 1 and 8.

    OMP_NUM_THREADS=1 python3 benchmarks/bench_cnn.py [--images 200] [--rounds 3] [--variant +vr-k1k2]
"""
from __future__ import annotations

import argparse
import time

import torch

from rpusim.framework.runner import variant_configs
from rpusim.framework.tasks import TASKS
from rpusim.papers.catalog import get_experiment
from rpusim.optim import AnalogSGD


def trainer(variant: str, batch: int, images: int):
    cfg = variant_configs(get_experiment("cnn-mnist"), [variant], None,
                          {"data": {"train_limit": images, "test_limit": 10}, "train": {"batch_size": batch}})[variant]
    task = TASKS[cfg.task](cfg)
    torch.manual_seed(0)
    model = task.build_model()
    opt = AnalogSGD(model.parameters(), lr=cfg.train.lr)
    batches = list(task.batches(1))

    def epoch() -> float:
        t = time.process_time()
        for b in batches:
            opt.zero_grad()
            task.loss(model, b).backward()
            opt.step()
        return (time.process_time() - t) / images
    return epoch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variant", default="+vr-k1k2", help="analog variant of cnn-mnist to time")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--record", action="store_true", help="also write the figures to results/benchmarks/NAME/DATE.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.images} images × {args.rounds} rounds")
    figures = {}
    for batch in (int(b) for b in args.batches.split(",")):
        fp, analog = trainer("fp", batch, args.images), trainer(args.variant, batch, args.images)
        fp(), analog()   # warm-up
        rounds = [(fp(), analog()) for _ in range(args.rounds)]  # alternating
        t_fp, t_an = min(r[0] for r in rounds), min(r[1] for r in rounds)
        print(f"batch {batch}: floating point {t_fp * 1e3:.2f} ms/image, analog ({args.variant}) "
              f"{t_an * 1e3:.2f} ms/image, ratio {t_an / t_fp:.1f}×")
        best = "ratio of the best (shortest) round of each"
        figures[f"batch {batch}: analog ÷ fp"] = {"value": t_an / t_fp, "unit": "×", "how": best,
                                                  "rounds": [a / f for f, a in rounds]}
        figures[f"batch {batch}: fp ms/image"] = {"value": t_fp * 1e3, "unit": " ms", "how": "best round",
                                                  "rounds": [f * 1e3 for f, _ in rounds]}
        figures[f"batch {batch}: analog ms/image"] = {"value": t_an * 1e3, "unit": " ms", "how": "best round",
                                                      "rounds": [a * 1e3 for _, a in rounds]}
    if args.record:
        from rpusim.framework.records import write_bench_record
        print("record:", write_bench_record("cnn", figures, vars(args)))


if __name__ == "__main__":
    main()
