"""Time per training step of the 2×64 character LSTM, analog ÷ floating point, in one run.

One step = forward over a window (sequence 100 × batch 32 streams of War and Peace, one-hot
input), cross-entropy, BPTT, optimizer step (AnalogSGD: for the analog model the pulsed
update of every array from all T·B rows). The analog model is the RPU baseline with update
and BL management (as in the lstm-warpeace experiment); ``--exact`` adds the sequential
reference update for comparison (slow). Prints the median step time of each and the ratio.

    OMP_NUM_THREADS=1 python benchmarks/bench_lstm.py [--steps 10] [--threads 1] [--exact]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from rpusim.experiments.config import RunConfig
from rpusim.experiments.lm_task import CharLanguageModel
from rpusim.optim import AnalogSGD


def step_times(analog: bool, steps: int, mode: str = "fast", seq_len: int = 100, batch: int = 32) -> list[float]:
    cfg = RunConfig.from_dict({
        "task": "char_lm", "data": {"dataset": "warpeace", "train_limit": 40 * seq_len * batch, "seq_len": seq_len},
        "model": {"kind": "lstm", "hidden": [64, 64], "analog": analog},
        "rpu": {"update": {"update_management": True, "bl_management": True, "mode": mode}},
        "train": {"batch_size": batch, "lr": 1.0}})
    task = CharLanguageModel(cfg)
    torch.manual_seed(0)
    model = task.build_model()
    opt = AnalogSGD(model.parameters(), lr=cfg.train.lr)
    times = []
    for i, batch_ in zip(range(steps + 1), task.batches(1)):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = task.loss(model, batch_)
        loss.backward()
        if not analog:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i:  # the first step warms up
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--exact", action="store_true", help="also time the exact sequential update")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fp = statistics.median(step_times(False, args.steps))
    ana = statistics.median(step_times(True, args.steps))
    print(f"2x64 LSTM, seq 100 x batch 32, {args.threads} thread(s), median of {args.steps} steps")
    print(f"floating point      {fp * 1e3:9.1f} ms/step")
    print(f"analog (fast)       {ana * 1e3:9.1f} ms/step   ratio {ana / fp:6.1f}x")
    if args.exact:
        exact = statistics.median(step_times(True, 2, mode="exact"))
        print(f"analog (exact)      {exact * 1e3:9.1f} ms/step   ratio {exact / fp:6.1f}x")


if __name__ == "__main__":
    main()
