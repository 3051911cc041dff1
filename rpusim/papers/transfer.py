"""Training on asymmetric devices: plain analog SGD vs the Tiki-Taka family (``docs/transfer.md``).

Papers: Gokmen & Haensch 2020 (Tiki-Taka, Front. Neurosci. 14:103), Gokmen 2021 (TTv2, Front.
Artif. Intell. 4:699148), Rasch et al. 2023 (chopped TTv2, AGAD; arXiv 2303.04721, Nat. Commun. 15
(2024)), Nandakumar et al. 2020 (mixed precision). The algorithms are ``rpu.algorithm``
(``docs/algorithms.md``), the devices ``rpu.device`` and its presets (``docs/devices.md``).

Why SGD fails: on a device whose up and down steps differ, a stochastic update without net gradient
(opposite pulses) moves each weight to its symmetry point w*; the noisy gradient of SGD therefore
pulls every weight there, an implicit cost term (Gokmen & Haensch 2020). The transfer algorithms keep
the noisy gradient on a fast array A (read against a reference at w*, or chopped) and pass only its
filtered result to the slow array C the network computes with.

Experiments:

* ``transfer-fc-mnist``, ``transfer-fc-fashion``: fc-mnist's 784-256-128-10 sigmoid network
  (batch 1) at lr 0.1 (as ``ctf-mnist``: at lr 0.01 the network needs most of an epoch to leave its
  initial plateau), update management on (as the LSTM and CTF studies). Variants ``ALGORITHM+DEVICE``
  for every algorithm (``sgd``, ``tiki-taka``, ``ttv2``, ``chopped-ttv2``, ``agad``,
  ``mixed-precision``) on every device: ``soft-asym`` (see :data:`SOFT_ASYM`), each published
  preset and the charge-trap-flash cell of the CTF study at N = 100 (``ctf-N100``, see :data:`CTF_N`);
  ``sgd+soft-sym`` (the same device without the asymmetry) and ``fp``.
* ``transfer-lstm``: lstm-warpeace's 2×64 character LSTM with 2 % device-to-device and 5 % global
  up/down asymmetry on the baseline constant-step device: SGD vs Tiki-Taka, TTv2, chopped TTv2.

Hyper-parameters: :data:`TIKI_TAKA`, :data:`TTV2` (tuned on transfer-fc-mnist, see docs/transfer.md "Tuning"); on the
CTF cell :data:`CTF_TIKI_TAKA`, :data:`CTF_TTV2` (docs/transfer.md "Tuning on the CTF cell").
"""
from __future__ import annotations

from ..devices.presets import PRESETS as DEVICE_PRESETS
from ..framework import Experiment
from . import ctf, lstm
from .fc import base_config

LR = 0.1
RPU_UPDATE = {"update_management": True}

# Soft bounds ±1 with Δw_min 0.002 (≈ 1000 steps over the range, as the reram-sb preset) and a 10 %
# global up/down asymmetry: symmetry point w* = a·b = 0.1 (± 0.026 from the 1 % asymmetry spread),
# about 3× the initial weights' scale (|w| ≤ 1/√785 ≈ 0.036): SGD's pull towards w* is visible
# within one epoch. Other fields: the baseline's 30 % spreads and cycle-to-cycle noise.
SOFT_ASYM = {"type": "soft_bounds", "w_max": 1.0, "w_min": -1.0, "dw_min": 0.002, "up_down": 0.1}
SOFT_SYM = {**SOFT_ASYM, "up_down": 0.0}
DEVICES: dict[str, dict] = {"soft-asym": SOFT_ASYM, **{name: {"preset": name} for name in DEVICE_PRESETS}}

# The reference (A read against R at its symmetry point) where A's devices have a symmetry point inside
# their range; capacitor and gokmen-vlasov have w* at a bound for 40 % / all devices (constant-step-like
# steps with an asymmetry spread), idealized has w* = 0 (nothing to subtract).
WITH_REFERENCE = {"soft-asym", "reram-es", "reram-sb", "ecram", "ecram-mo"}
NEEDS_REFERENCE = {"tiki-taka", "ttv2"}  # chopped TTv2 and AGAD correct A's offset themselves

# Transfer settings for batch-1 training of this network, tuned (docs/transfer.md "Tuning"): A learns
# at 10–20× the network's lr, so that its entries (mean |A − R| ≈ 0.07 in the hidden layers after the
# study's pass, measured) span a few steps of the read's ADC (24/511 ≈ 0.047: the forward periphery's
# ±12 output range, 9 bits); C then takes λ = η per read.
TIKI_TAKA = {"fast_lr": 10.0, "transfer_lr": 1.0}
TTV2 = {"fast_lr": 20.0, "transfer_lr": 1.0, "max_pulses": 10}
# Chopped TTv2 and AGAD read READS_PER_UPDATE = 8 of A's columns per update (the CTF cell's setting, tuned there:
# see CTF_TIKI_TAKA below): at one read per
# update each column of the first layer is read about 10 times in the study's 8,000 updates, fewer than AGAD's
# n + 1 = 11 passes spent forming its reference before it fires C, and chopped TTv2's input chopper (flipped with
# probability 0.1 per read of a column) flips about once per column in the whole pass, too rarely to average A's
# offset away. At one read both ended at or above plain SGD's error (docs/transfer.md "Tuning").
READS_PER_UPDATE = 8
CHOPPED_TTV2 = {**TTV2, "n_reads_per_transfer": READS_PER_UPDATE}
FC_ALGORITHMS: dict[str, dict] = {
    "sgd": {"type": "sgd"},
    "tiki-taka": {"type": "tiki-taka", **TIKI_TAKA},
    "ttv2": {"type": "ttv2", **TTV2},
    "chopped-ttv2": {"type": "chopped-ttv2", **CHOPPED_TTV2},
    "agad": {"type": "agad", **CHOPPED_TTV2},
    "mixed-precision": {"type": "mixed-precision"},
}


def fc_point(algorithm: str, device: dict, reference: bool, algorithms: dict[str, dict] = FC_ALGORITHMS) -> dict:
    """Overrides of one FC variant: ``algorithm`` (a key of ``algorithms``) on ``device``."""
    algo = dict(algorithms[algorithm])
    if reference and algorithm in NEEDS_REFERENCE:
        algo["reference"] = True
    return {"rpu": {"device": dict(device), "algorithm": algo}}


# The charge-trap-flash cell (devices/ctf.py) at the CTF study's point ``N100-gap5`` (papers/ctf.py: N = BL = 100
# slots of pw = 1 µs, t_gap 5 µs, update management): ``sgd+ctf-N100`` is that study's run. Its program and erase
# steps saturate (∝ (1 − h)² and h² at β = 1, h the position in the cell's window), so opposite pulses pull every
# cell to mid-window, w* = (w_lo + w_hi)/2: 0 on average, but spread by the window edges' device-to-device spread
# (sd ≈ 0.14, four times the initial weights' scale). So Tiki-Taka and TTv2 read A against the reference, as on
# soft-asym.
CTF_N, CTF_GAP = 100, 5.0
CTF_DEVICE_NAME = f"ctf-N{CTF_N}"

# Transfer settings on the CTF cell (docs/transfer.md "Tuning on the CTF cell"): TIKI_TAKA / TTV2, but 8 columns of
# A read and transferred per update instead of 1. One read moves a device of C by at most one train of N pulses,
# N·Δw_min = 0.01 nominal and about 0.007 after the transient loss of a full train (Δw_min = 1e-4 at N = 100, a
# twentieth of soft-asym's), while in the output layer A runs to its soft window edge within a few hundred digits
# and its reads ask for λ·|A − R| several times that cap. With one read per update each column is visited once every
# 129–785 updates (the layers' inputs with bias), so C moved an order of magnitude slower than SGD's weights in every
# layer (measured in the first 1,500 digits) and Tiki-Taka / TTv2 stayed near the initial plateau. Reading k columns
# per update multiplies C's rate by k: k = 4–16 left the plateau at the study budget, k = 32 overshot (A, saturated,
# holds little more than the gradient's sign and lags C: C outgrew the forward periphery's range); 8 is the middle.
# Chopped TTv2 and AGAD take it too (at k = 1 AGAD's first n + 1 = 11 passes without pulses, spent forming its
# reference, outlast the study's 8,000 updates in the first layer). The TTv2 family may also fire up to N pulses per
# read (max_pulses 10 would cap C's transfer at 0.001 per read).
CTF_TIKI_TAKA = {**TIKI_TAKA, "n_reads_per_transfer": READS_PER_UPDATE}
CTF_TTV2 = {**CHOPPED_TTV2, "max_pulses": CTF_N}
CTF_ALGORITHMS: dict[str, dict] = {
    **FC_ALGORITHMS,
    "tiki-taka": {"type": "tiki-taka", **CTF_TIKI_TAKA},
    "ttv2": {"type": "ttv2", **CTF_TTV2},
    "chopped-ttv2": {"type": "chopped-ttv2", **CTF_TTV2},
    "agad": {"type": "agad", **CTF_TTV2},
}


def ctf_fc_point(algorithm: str) -> dict:
    """Overrides of ``ALGORITHM+ctf-N100``: ``algorithm`` (CTF_ALGORITHMS) at the CTF study's N = 100, t_gap 5 µs."""
    out = fc_point(algorithm, {}, reference=True, algorithms=CTF_ALGORITHMS)
    out["rpu"] |= ctf.point(CTF_N, CTF_GAP)["rpu"]
    return out


def fc_variants() -> dict[str, dict]:
    out = {"fp": {"model": {"analog": False}}, "sgd+soft-sym": fc_point("sgd", SOFT_SYM, False)}
    for device, spec in DEVICES.items():
        for algorithm in FC_ALGORITHMS:
            out[f"{algorithm}+{device}"] = fc_point(algorithm, spec, device in WITH_REFERENCE)
    for algorithm in FC_ALGORITHMS:
        out[f"{algorithm}+{CTF_DEVICE_NAME}"] = ctf_fc_point(algorithm)
    return out


FC_DEFAULT = ["fp", "sgd+soft-sym", *(f"{a}+soft-asym" for a in FC_ALGORITHMS), "sgd+reram-sb", "ttv2+reram-sb"]

FC_PRESETS = {
    # smoke run: the network is still on its initial plateau after 2,000 digits
    "quick": {"train": {"epochs": 1}, "data": {"train_limit": 2000, "test_limit": 500}},
    # one pass over 8,000 digits, 2,000 test digits: fp reaches 17.45 % / 19.6 % (seeds 0 / 1, measured),
    # off its initial plateau (15 % after 10,000 digits, ctf.py); SGD vs Tiki-Taka/TTv2 resolved (docs/transfer.md)
    "study": {"train": {"epochs": 1}, "data": {"train_limit": 8000, "test_limit": 2000}},
    "full": {"train": {"epochs": 10}},
}

GH2020 = "Gokmen & Haensch 2020"
FC_CLAIMS = {
    "sgd+soft-asym": f"asymmetric switching adds an implicit cost term to SGD that pulls the weights to the "
                     f"devices' symmetry point; SGD performs poorly on non-symmetric devices [{GH2020}; Gokmen 2021]",
    "tiki-taka+soft-asym": f"Tiki-Taka on non-symmetric devices matches the accuracy of SGD on symmetric (ideal) "
                           f"devices, for fully connected, convolutional and LSTM networks [{GH2020}]",
    "ttv2+soft-asym": "TTv2 (digital filter H between A and C) trains close to ideal accuracy at extremely noisy "
                      "settings [Gokmen 2021]",
    "ttv2+reram-sb": "TTv2 needs 10s instead of 1000s of states, tolerates ~100x more update noise and ~10x more "
                     "MVM noise than Tiki-Taka [Gokmen 2021]",
    "chopped-ttv2+soft-asym": "chopping removes TTv2's need for a precisely programmed reference at the symmetry "
                              "point, at the same O(1) parallel update [Rasch et al. 2023]",
    "agad+soft-asym": "AGAD forms the reference on the fly: robust to reference offsets, retains the fast "
                      "in-memory update [Rasch et al. 2023]",
    "mixed-precision+soft-asym": "digital gradient accumulation: robust to asymmetry, at O(N²) digital operations "
                                 "per update [Nandakumar et al. 2020; as summarised by Rasch et al. 2023]",
}

PAPERS = ("Gokmen & Haensch 2020, Front. Neurosci. 14:103; Gokmen 2021, Front. Artif. Intell. 4:699148; "
          "Rasch et al. 2023, arXiv 2303.04721")


def fc_base(dataset: str, name: str) -> dict:
    """fc-mnist's network and training on ``dataset`` at lr 0.1, with update management."""
    base = base_config(dataset, name)
    base["train"].update(lr=LR, epochs=10)
    base["rpu"] = {"update": dict(RPU_UPDATE)}
    return base


def _fc(name: str, dataset: str) -> Experiment:
    return Experiment(
        name=name,
        description=f"FC 784-256-128-10 on {dataset}, asymmetric devices: plain SGD vs Tiki-Taka, TTv2, chopped "
                    "TTv2, AGAD, mixed precision, on a soft-bounds device (w* = 0.1), each device preset and the "
                    "charge-trap-flash cell (N = 100)",
        base=fc_base(dataset, name), variants=fc_variants(), presets=FC_PRESETS, claims=FC_CLAIMS,
        paper=PAPERS, default_variants=FC_DEFAULT)


# --- the LSTM ----------------------------------------------------------------------------------
LSTM_ASYMMETRY = {"up_down_dtod": 0.02, "up_down": 0.05}
LSTM_ALGORITHMS = ("sgd", "tiki-taka", "ttv2", "chopped-ttv2")  # aihwkit's defaults, no reference:
# a constant-step device with an asymmetry has its symmetry point at a bound


# Tiki-Taka with its transfers counted in vector updates (rows of x: samples × time steps) instead of mini-batches:
# a column of A every 16 rows, 50 reads per mini-batch of the study preset (16 streams × 50 steps). Counted in
# mini-batches (aihwkit's tiki-taka preset), C sees each of the first layer's 147 columns about three times in the
# study's 500 updates and stays on the unigram plateau (docs/transfer.md "transfer-lstm").
LSTM_TIKI_TAKA_ROWS = {"type": "tiki-taka", "units_in_mbatch": False, "transfer_every": 16}


def lstm_variants() -> dict[str, dict]:
    """``fp``; each algorithm with aihwkit's defaults on the asymmetric device; ``tiki-taka-rows``
    (:data:`LSTM_TIKI_TAKA_ROWS`); ``sgd-sym``, plain SGD on the same device without the asymmetry (the
    reference the algorithms should reach); and two diagnostics, ``tiki-taka-rows-symA`` / ``-symC``, with
    the fast array A / the slow array C on the symmetric device (which array's asymmetry costs)."""
    def analog(algorithm: dict, device: dict) -> dict:
        return {"rpu": {"update": dict(lstm.RPU_UPDATE), "device": dict(device), "algorithm": dict(algorithm)}}
    out = {"fp": lstm.FP, "sgd-sym": analog({"type": "sgd"}, {k: 0.0 for k in LSTM_ASYMMETRY})}
    for algorithm in LSTM_ALGORITHMS:
        out[algorithm] = analog({"type": algorithm}, LSTM_ASYMMETRY)
    out["tiki-taka-rows"] = analog(LSTM_TIKI_TAKA_ROWS, LSTM_ASYMMETRY)
    symmetric = {"type": "constant_step", **{k: 0.0 for k in LSTM_ASYMMETRY}}
    for array, field in (("A", "fast_device"), ("C", "slow_device")):   # diagnostics: which array's asymmetry costs
        out[f"tiki-taka-rows-sym{array}"] = analog({**LSTM_TIKI_TAKA_ROWS, field: symmetric}, LSTM_ASYMMETRY)
    return out


LSTM_CLAIMS = {
    "sgd": "a few percent of up/down asymmetry already raise the test error [Gokmen, Rasch & Haensch 2018]",
    "tiki-taka": f"Tiki-Taka with non-symmetric devices reaches the accuracy of SGD with symmetric devices on "
                 f"LSTM networks too [{GH2020}]",
}

LSTM = Experiment(
    name="transfer-lstm",
    description="2×64 character LSTM, 2 % d2d + 5 % global up/down asymmetry: plain SGD vs Tiki-Taka, TTv2, "
                "chopped TTv2",
    base={**lstm.BASE, "experiment": "transfer-lstm"}, variants=lstm_variants(),
    presets={k: v for k, v in lstm.PRESETS.items() if k != "overfit"}, claims=LSTM_CLAIMS, paper=PAPERS)

MNIST = _fc("transfer-fc-mnist", "mnist")
FASHION = _fc("transfer-fc-fashion", "fashion-mnist")
