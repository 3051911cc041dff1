"""Time per training step of the 2×64 character LSTM, analog ÷ floating point, in one run.

Floating-point and analog steps alternate, so that the machine's speed drifts hit both alike.
One step = forward over a window (sequence 100 × batch 32 streams of War and Peace, one-hot
input), cross-entropy, BPTT, optimizer step (AnalogSGD: for the analog model the pulsed
update of every array from all T·B rows). The analog model is the RPU baseline with update
and BL management (as in the lstm-warpeace experiment); ``--exact`` adds the sequential
reference update for comparison (slow). Prints the median step time of each and the ratio.

    OMP_NUM_THREADS=1 python benchmarks/bench_lstm.py [--steps 10] [--threads 1] [--exact]
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch

from rpusim.framework.config import RunConfig
from rpusim.framework.tasks import CharLanguageModel
from rpusim.optim import AnalogSGD


def trainer(analog: bool, mode: str = "fast", seq_len: int = 100, batch: int = 32):
    """A function that times one training step of the model on the next window."""
    cfg = RunConfig.from_dict({
        "task": "char_lm", "data": {"dataset": "warpeace", "train_limit": 40 * seq_len * batch, "seq_len": seq_len},
        "model": {"kind": "lstm", "hidden": [64, 64], "analog": analog},
        "rpu": {"update": {"update_management": True, "bl_management": True, "mode": mode}},
        "train": {"batch_size": batch, "lr": 1.0}})
    task = CharLanguageModel(cfg)
    torch.manual_seed(0)
    model = task.build_model()
    opt = AnalogSGD(model.parameters(), lr=cfg.train.lr)
    windows = (b for epoch in itertools.count(1) for b in task.batches(epoch))

    def step() -> float:
        batch_ = next(windows)
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = task.loss(model, batch_)
        loss.backward()
        if not analog:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return time.perf_counter() - t0
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--exact", action="store_true", help="also time the exact sequential update")
    parser.add_argument("--record", action="store_true", help="also write the figures to results/benchmarks/lstm/DATE.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fp_step, analog_step = trainer(False), trainer(True)
    fp_step(), analog_step()  # warm-up
    fp_times, analog_times = [], []
    for _ in range(args.steps):  # alternating, so that the machine's drifts hit both alike
        fp_times.append(fp_step())
        analog_times.append(analog_step())
    fp, ana = statistics.median(fp_times), statistics.median(analog_times)
    print(f"2x64 LSTM, seq 100 x batch 32, {args.threads} thread(s), median of {args.steps} alternating steps")
    print(f"floating point      {fp * 1e3:9.1f} ms/step")
    print(f"analog (fast)       {ana * 1e3:9.1f} ms/step   ratio {ana / fp:6.1f}x")
    if args.exact:
        exact_step = trainer(True, mode="exact")
        exact_step()
        exact = statistics.median([exact_step() for _ in range(2)])
        print(f"analog (exact)      {exact * 1e3:9.1f} ms/step   ratio {exact / fp:6.1f}x")
    if args.record:
        from rpusim.framework.records import write_bench_record
        median = "median of the steps"
        figures = {"analog ÷ fp": {"value": ana / fp, "unit": "×", "how": "ratio of the medians",
                                   "rounds": [a / f for f, a in zip(fp_times, analog_times)]},
                   "fp ms/step": {"value": fp * 1e3, "unit": " ms", "how": median, "rounds": [t * 1e3 for t in fp_times]},
                   "analog ms/step": {"value": ana * 1e3, "unit": " ms", "how": median,
                                      "rounds": [t * 1e3 for t in analog_times]}}
        print("record:", write_bench_record("lstm", figures, vars(args)))


if __name__ == "__main__":
    main()
