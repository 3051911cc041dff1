"""Gokmen, Onen, Haensch 2017: the CNN on RPU arrays and its ablation of management techniques.

Network (Gokmen, Onen, Haensch 2017, Front. Neurosci. 11:538; :func:`rpusim.nn.models.paper_cnn`): 28×28 → conv 16 5×5, tanh,
max-pool 2 → conv 32 5×5, tanh, max-pool 2 → 512 → fully connected 128, tanh → 10 (softmax
in the loss). Arrays K1 16×26, K2 32×401,
W3 128×513, W4 10×129. lr 0.01, mini-batch 1, 30 epochs, the RPU baseline device.

Variants, each adding one technique to the previous one (as in the paper's figures):
``rpu-baseline`` (no management at all) → ``+nm`` (noise management, forward and backward)
→ ``+bm`` (bound management, forward) → ``+um`` (update management) → ``+vr-k1``
(4 devices per weight on K1) → ``+vr-k1k2`` (4 devices per weight on K1 and K2); plus
floating point. The fast (patch-aggregated) update is the default; ``all-exact`` is
``+vr-k1k2`` with the sequential per-patch reference update, to measure what the
aggregation changes.
"""
from __future__ import annotations

from ..framework import Experiment
from ..framework.config import deep_merge

NO_MANAGEMENT = {"forward": {"noise_management": "none", "bound_management": "none"},
                 "backward": {"noise_management": "none", "bound_management": "none"},
                 "update": {"update_management": False}}
NM = {"forward": {"noise_management": "abs_max"}, "backward": {"noise_management": "abs_max"}}
BM = {"forward": {"bound_management": "iterative"}}
UM = {"update": {"update_management": True}}
VR = {"devices_per_weight": 4}


def _rpu(*parts: dict) -> dict:
    out: dict = {}
    for p in parts:
        out = deep_merge(out, p)
    return out


VARIANTS = {
    "fp": {"model": {"analog": False}},
    "rpu-baseline": {"rpu": NO_MANAGEMENT},
    "+nm": {"rpu": _rpu(NO_MANAGEMENT, NM)},
    "+bm": {"rpu": _rpu(NO_MANAGEMENT, NM, BM)},
    "+um": {"rpu": _rpu(NO_MANAGEMENT, NM, BM, UM)},
    "+vr-k1": {"rpu": _rpu(NO_MANAGEMENT, NM, BM, UM), "layer_rpu": {0: VR}},
    "+vr-k1k2": {"rpu": _rpu(NO_MANAGEMENT, NM, BM, UM), "layer_rpu": {0: VR, 1: VR}},
    "all-exact": {"rpu": _rpu(NO_MANAGEMENT, NM, BM, UM, {"update": {"mode": "exact"}}),
                  "layer_rpu": {0: VR, 1: VR}},
}
ABLATION = ["fp", "rpu-baseline", "+nm", "+bm", "+um", "+vr-k1", "+vr-k1k2"]

PRESETS = {
    "quick": {"train": {"epochs": 1}, "data": {"train_limit": 100, "test_limit": 200}},
    "short": {"train": {"epochs": 3}, "data": {"train_limit": 1500, "test_limit": 1000}},
    "full": {"train": {"epochs": 30}},
    # the spec sheet's budget: one epoch of 10,000 digits at the paper's lr 0.01, batch 1
    "spec": {"train": {"epochs": 1}, "data": {"train_limit": 10000}},
}

CLAIMS = {
    "fp": "≈0.8% test error after 30 epochs [unverified figure, Gokmen, Onen, Haensch 2017]",
    "rpu-baseline": "analog noise and bounds hurt CNN training significantly [paper]",
    "+nm": "lower error than the baseline [paper]",
    "+bm": "lower error than +nm [paper]",
    "+um": "lower error than +bm [paper]",
    "+vr-k1": "lower still; with all techniques close to floating point [paper]",
    "+vr-k1k2": "close to floating point (≈0.8%) [paper]",
}


# the paper has no Fashion-MNIST figures: only its ordering claims carry over
CLAIMS_FASHION = {v: c.replace(" (≈0.8%)", "") for v, c in CLAIMS.items() if v != "fp"}


def _experiment(name: str, dataset: str, what: str, claims: dict[str, str]) -> Experiment:
    return Experiment(
        name=name,
        description=f"2-conv CNN (16/32 5×5, tanh, pool) + 128 FC on {what}: RPU baseline, "
                    "+noise/bound/update management, +device-variability reduction",
        base={"experiment": name, "data": {"dataset": dataset},
              "model": {"kind": "cnn", "hidden": [128], "activation": "tanh"},
              "train": {"epochs": 30, "batch_size": 1, "lr": 0.01}},
        variants=VARIANTS, presets=PRESETS, claims=claims,
        paper="Gokmen, Onen, Haensch 2017, Front. Neurosci. 11:538", default_variants=ABLATION)


MNIST = _experiment("cnn-mnist", "mnist", "MNIST", CLAIMS)
FASHION = _experiment("cnn-fashion", "fashion-mnist", "Fashion-MNIST", CLAIMS_FASHION)
