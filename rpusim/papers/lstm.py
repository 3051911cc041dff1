"""Gokmen, Rasch, Haensch 2018: character-level LSTM language models on RPU arrays (War and Peace).

Network (Gokmen, Rasch, Haensch 2018, Front. Neurosci. 12:745; :class:`rpusim.nn.models.CharLSTM`, task ``char_lm`` of
:mod:`rpusim.framework.tasks`): one-hot characters (82) → 2 LSTM layers of 64 units (each
one array 4h × (x + h + 1): 256 × 147 and 256 × 129) → linear softmax layer (82 × 65);
sequence length 100, batch 32 streams, truncated BPTT with the hidden state carried over.
Plain SGD; the floating-point runs clip the gradient norm at 1.0 (the analog arrays are
updated by pulses: nothing to clip). Learning rates: see ``docs/lstm.md`` (lr 0.01 leaves the
model on the unigram plateau ≈ 3.1 nats for many epochs; these rates were tuned).

Studies, as variants (each writes test cross-entropy in nats and bits/char per epoch):
1. ``fp`` vs ``rpu`` (the RPU baseline with update and BL management);
2. up/down asymmetry: ``asym-0`` … ``asym-10`` set the device-to-device spread of the up/down
   asymmetry (``device.up_down_dtod``, the baseline's 1 %) to 0, 0.5, 1, 2, 5, 10 %;
   ``asym-global-2`` / ``asym-global-5`` a global asymmetry (``device.up_down``) instead;
3. input resolution of the DAC, forward and backward: ``bits-5`` … ``bits-8``, and with
   stochastic rounding ``bits-5-sr`` … ``bits-8-sr`` (the baseline is 7 bits, deterministic);
4. overfitting: ``fp`` and ``fp-dropout`` (dropout after each LSTM layer) vs ``rpu``.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..framework import Experiment
from ..framework.plots import read_metrics

FP_LR = 3.0
RPU_LR = 3.0
RPU_UPDATE = {"update_management": True, "bl_management": True}


def _rpu(**over) -> dict:
    rpu = {"update": dict(RPU_UPDATE)}
    for key, value in over.items():
        section, _, field = key.partition("__")
        rpu.setdefault(section, {})[field] = value
    return {"rpu": rpu}


def _bits(bits: int, sto: bool) -> dict:
    io = {"inp_bits": bits, "inp_sto_round": sto}
    return {"rpu": {"update": dict(RPU_UPDATE), "forward": dict(io), "backward": dict(io)}}


FP = {"model": {"analog": False}, "train": {"lr": FP_LR, "grad_clip": 1.0}}

VARIANTS: dict[str, dict] = {
    "fp": FP,
    "rpu": _rpu(),
    **{f"asym-{name}": _rpu(device__up_down_dtod=value)
       for name, value in (("0", 0.0), ("0.5", 0.005), ("1", 0.01), ("2", 0.02), ("5", 0.05), ("10", 0.1))},
    **{f"asym-global-{name}": _rpu(device__up_down=value) for name, value in (("2", 0.02), ("5", 0.05))},
    **{f"bits-{b}{'-sr' if sr else ''}": _bits(b, sr) for sr in (False, True) for b in (5, 6, 7, 8)},
    "fp-dropout": {**FP, "model": {"analog": False, "dropout": 0.2}},
}

BASE = {
    "experiment": "lstm-warpeace", "task": "char_lm",
    "data": {"dataset": "warpeace", "seq_len": 100},
    "model": {"kind": "lstm", "hidden": [64, 64]},
    "rpu": {"update": dict(RPU_UPDATE)},
    "train": {"epochs": 10, "batch_size": 32, "lr": RPU_LR, "grad_clip": 1.0, "eval_batch_size": 64},
}

PRESETS = {
    # CI smoke run: tiny Shakespeare, 2 epochs of 4 windows of 50 steps (a few hundred time steps)
    "quick": {"data": {"dataset": "tinyshakespeare", "train_limit": 3200, "test_limit": 1600, "seq_len": 50},
              "train": {"epochs": 2, "batch_size": 16, "eval_batch_size": 16}},
    # what fits a shared 2-core CPU: 200k characters of War and Peace, windows of 50 × 16 streams
    # (250 steps per epoch), validation and test on their first 40k characters
    "study": {"data": {"train_limit": 200_000, "test_limit": 40_000, "seq_len": 50},
              "train": {"epochs": 2, "batch_size": 16}},
    # study 4 on a small training set, long enough to overfit: 10k characters, 12 steps per epoch
    "overfit": {"data": {"train_limit": 10_000, "test_limit": 20_000, "seq_len": 50},
                "train": {"epochs": 60, "batch_size": 16, "lr": 10.0}},
    "full": {"train": {"epochs": 10}},
}

CLAIMS = {
    "rpu": "RPU training of the LSTM comes close to floating point with the baseline device",
    "asym-2": "a few percent of up/down asymmetry already raise the test error",
    "bits-6": "below 7 bits of input resolution the test error rises",
    "bits-5-sr": "with stochastic rounding 5 bits are enough",
    "fp-dropout": "device variation and noise regularise the RPU model enough that dropout is less needed",
}

WARPEACE = Experiment(
    name="lstm-warpeace",
    description="2×64 character LSTM on War and Peace: FP vs RPU, up/down asymmetry, input bits (± stochastic "
                "rounding), dropout vs device noise",
    base=BASE, variants=VARIANTS, presets=PRESETS, claims=CLAIMS,
    paper="Gokmen, Rasch, Haensch 2018, Front. Neurosci. 12:745",
    default_variants=["fp", "rpu"])


def epoch_table(exp_dir: str | Path) -> str:
    """Markdown table of test cross-entropy per epoch, "nats (bits/char)", one column per run in ``exp_dir``."""
    def natural(d: Path) -> list:
        return [float(t) if t.replace(".", "", 1).isdigit() else t for t in re.split(r"(\d+(?:\.\d+)?)", d.name)]

    runs = {d.name: read_metrics(d) for d in sorted(Path(exp_dir).iterdir(), key=natural)
            if (d / "metrics.csv").exists()}
    epochs = max(len(rows) for rows in runs.values())
    lines = ["| epoch | " + " | ".join(runs) + " |", "|---" * (len(runs) + 1) + "|"]
    for e in range(epochs):
        cells = [f"{float(r[e]['test_loss_nats']):.3f} ({float(r[e]['test_bits_per_char']):.2f})"
                 if e < len(r) else "" for r in runs.values()]
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
