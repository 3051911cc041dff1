"""Configs of the training algorithms an array can run (``rpu.algorithm``): plain SGD, the Tiki-Taka
family (Tiki-Taka, TTv2, chopped TTv2, AGAD) and mixed precision. Each class documents its update rule
and its paper; :func:`algorithm_from_dict` picks the class by ``type``. The algorithms themselves are
:mod:`.transfer` and :mod:`.mixed_precision`.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, SerializeAsAny, field_validator

from ..config import Config, ConfigError
from ..devices import PulsedDevice, device_from_dict
from .periphery_config import IOConfig

def _transfer_read_default() -> IOConfig:
    return IOConfig(noise_management="none", bound_management="none")


def _optional_device(v, prefix: str):
    return None if v is None else device_from_dict(v, prefix)


class SGDAlgorithm(Config):
    """Plain analog SGD: every update is pulsed straight into the one array (Gokmen & Vlasov 2016)."""

    type: Literal["sgd"] = "sgd"


class _TransferAlgorithm(Config):
    """Fields shared by the Tiki-Taka family: a fast array A that receives the gradient pulses and a
    slow array C that receives A's columns, read one after another on a schedule.

    The network computes with the effective weight W = γ·A + C (one periphery on it, as aihwkit
    reads the compound). A gets ΔA = −fast_lr·η·δ·xᵀ as a stochastic pulsed update; every
    ``transfer_every`` vector updates (rows of x: samples × reuse, patches, time steps) the next
    ``n_reads_per_transfer`` columns k of A are read through ``transfer_forward`` with one-hot
    inputs eₖ (v = A·eₖ + noise) and written into C, cycling over the columns.
    Defaults: aihwkit's ``TransferCompound`` / ``build_config`` presets.
    """

    gamma: float = Field(0.0, ge=0, le=1, description="weight γ of the fast array in W = γ·A + C "
                         "(0: the network sees C alone; aihwkit's default)")
    fast_device: SerializeAsAny[PulsedDevice] | None = Field(
        None, description="device of the fast array A ({type: ..., ...} or {preset: ...}); none: the "
        "layer's rpu.device")
    slow_device: SerializeAsAny[PulsedDevice] | None = Field(
        None, description="device of the slow array C; none: the layer's rpu.device")
    transfer_every: int = Field(1, ge=1, le=10**9, description="vector updates (rows of x: samples × "
                                "reuse) between transfer events; with units_in_mbatch, updates (mini-batches)")
    units_in_mbatch: bool = Field(False, description="count transfer_every in updates (mini-batches) "
                                  "instead of vector updates")
    n_reads_per_transfer: int = Field(1, ge=1, le=100000, description="columns of A read and transferred "
                                      "per transfer event (consecutive, wrapping around)")
    fast_lr: float = Field(1.0, gt=0, le=1e6, description="learning rate of A's gradient update, in units "
                           "of the optimizer's lr (scale_fast_lr) or absolute")
    scale_fast_lr: bool = Field(True, description="fast_lr is relative to the optimizer's lr")
    transfer_lr: float = Field(1.0, gt=0, le=1e6, description="learning rate λ of the transfer "
                               "(C += λ·v), relative to the optimizer's lr (scale_transfer_lr) or absolute")
    scale_transfer_lr: bool = Field(True, description="transfer_lr is relative to the optimizer's lr")
    transfer_forward: IOConfig = Field(default_factory=_transfer_read_default, description=
                                       "periphery of the column reads of A (default: no noise or bound "
                                       "management, otherwise the forward defaults: out_noise 0.06, 7/9 bits)")
    reference: bool = Field(False, description="subtract a reference array programmed to A's symmetry "
                            "point (read differentially, A − R), and start A there: A's drift towards its "
                            "symmetry point then pulls A − R to zero (zero-shifting; A's device must be a "
                            "bounded-step one or a charge-trap-flash cell, rpusim.devices.symmetry_point)")

    @field_validator("fast_device", "slow_device", mode="before")
    @classmethod
    def _device(cls, v, info):
        return _optional_device(v, info.field_name)


class TikiTakaAlgorithm(_TransferAlgorithm):
    """Tiki-Taka (Gokmen & Haensch 2020, Front. Neurosci. 14:103): A's read columns go to C as
    stochastic pulsed updates, C += λ·v·eₖᵀ (the layer's ``rpu.update`` pulse trains).

    Needs A's symmetry point at zero (or ``reference``). Default transfer every update (mini-batch),
    as aihwkit's tiki-taka preset (``units_in_mbatch``)."""

    type: Literal["tiki-taka"] = "tiki-taka"
    units_in_mbatch: bool = Field(True, description="count transfer_every in updates (mini-batches) "
                                  "instead of vector updates (aihwkit's tiki-taka preset: True)")


class TTv2Algorithm(_TransferAlgorithm):
    """Tiki-Taka v2 (Gokmen 2021, Front. AI 4:699148): a digital buffer H (out × in, in units of C's
    pulses) integrates the reads, H[:, k] += λ·v/θ with θ = buffer_granularity·Δw_min(A); an
    element with |H| ≥ 1 fires n = sign(H)·min(⌊|H|⌋, max_pulses) pulses on C. Then H ← momentum·H
    on the fired elements (forget_buffer) or H ← H − (1 − momentum)·n (the remainder kept).
    Defaults: aihwkit's ChoppedTransferCompound with the choppers off (its ttv2 preset)."""

    type: Literal["ttv2"] = "ttv2"
    buffer_granularity: float = Field(1.0, gt=0, le=1e6, description="buffer threshold θ in units "
                                      "of A's Δw_min (aihwkit: thres_scale·buffer_granularity)")
    max_pulses: int = Field(1, ge=1, le=1000, description="most pulses one transfer fires on a device "
                            "of C (aihwkit: transfer_update.desired_bl = 1)")
    forget_buffer: bool = Field(True, description="after firing, H ← momentum·H (True) or "
                                "H ← H − (1 − momentum)·n, keeping the remainder (False)")
    momentum: float = Field(0.0, ge=0, lt=1, description="fraction of H kept after firing (see forget_buffer)")


class ChoppedTTv2Algorithm(TTv2Algorithm):
    """Chopped TTv2 (Rasch et al. 2023, arXiv 2303.04721): TTv2 with random sign choppers
    cᵢ ∈ {±1} on the inputs (and optionally c'ⱼ on the outputs). A receives
    ΔA = −η·(c'∘δ)·(c∘x)ᵀ and the read of column k is multiplied back, H[:, k] += λ·cₖ·c'∘v/θ, so A's
    drift towards its symmetry point (an offset) changes sign with the chopper and averages out of H.
    cₖ flips with probability in_chop_prob after each read of column k; c' flips with
    out_chop_prob after each full pass over the columns."""

    type: Literal["chopped-ttv2"] = "chopped-ttv2"
    in_chop_prob: float = Field(0.1, ge=0, le=1, description="probability that a column's input "
                                "chopper flips after its read (aihwkit's default 0.1)")
    out_chop_prob: float = Field(0.0, ge=0, le=1, description="probability that each output chopper "
                                 "flips after a full pass over the columns (aihwkit's default 0)")
    in_chop_random: bool = Field(True, description="input choppers flip at random (in_chop_prob per read) "
                                 "or all together every n = max(⌈1/in_chop_prob⌉, 2) full passes (False)")


class AGADAlgorithm(ChoppedTTv2Algorithm):
    """AGAD, analog gradient accumulation with dynamic reference (Rasch et al. 2023, arXiv 2303.04721):
    chopped TTv2 whose reads are taken against an on-the-fly reference instead of zero. Per element,
    m is a running mean of the raw reads v of its column (m ← (1 − β)·m + β·v, β = min(tail_weightening/n,
    1), n = max(⌈1/in_chop_prob⌉, 2) reads per chopper period); at the first read after the column's
    chopper switched, the reference p ← m (the mean of the last period). The buffer then gets
    H[:, k] += λ·cₖ·c'∘(v − p)/θ: A's offset and its slow drift cancel against p, so A needs no
    symmetry point at zero and no reset. C receives no pulses during the first n + 1 passes (p is
    still being formed). Defaults: aihwkit's DynamicTransferCompound (regular chopper periods)."""

    type: Literal["agad"] = "agad"
    in_chop_prob: float = Field(0.1, gt=0, le=1, description="chopper frequency: a period is "
                                "n = max(⌈1/in_chop_prob⌉, 2) reads of a column (aihwkit's default 0.1)")
    in_chop_random: bool = Field(False, description="switch at random (in_chop_prob per read) instead of "
                                 "every n full passes (aihwkit's default: regular)")
    tail_weightening: float = Field(5.0, gt=0, le=1e6, description="weight of the recent reads in the "
                                    "running mean: β = min(tail_weightening/n, 1) (aihwkit's default 5)")


class MixedPrecisionAlgorithm(Config):
    """Mixed precision (Nandakumar et al. 2020, Front. Neurosci. 14:406): the gradient is accumulated
    in a digital matrix χ ← χ − η·δ·xᵀ (x and δ optionally quantised to n bins around zero, scale
    max|·| per vector, stochastic rounding), and every ``transfer_every`` vector updates each device
    receives n = trunc(χ/ε) pulses (sign included) and χ ← χ − n·ε keeps the remainder. ε is the
    granularity (default: the device's Δw_min). Forward and backward use the one analog array.
    Defaults: aihwkit's MixedPrecisionCompound."""

    type: Literal["mixed-precision"] = "mixed-precision"
    transfer_every: int = Field(1, ge=1, le=10**9, description="vector updates (rows of x) between transfers of χ")
    n_rows_per_transfer: int = Field(0, ge=0, le=10**6, description="rows of χ transferred per event, "
                                     "cycling (0: the whole matrix)")
    granularity: float = Field(0.0, ge=0, le=1, description="ε: weight change of one pulse assumed by "
                               "the transfer (0: the device's Δw_min)")
    n_x_bins: int = Field(0, ge=0, le=2**24, description="quantisation bins of x before the outer "
                          "product (0: none; else odd levels around zero, ≥ 3)")
    n_d_bins: int = Field(0, ge=0, le=2**24, description="quantisation bins of δ (0: none; else ≥ 3)")
    stoc_round_x: bool = Field(True, description="stochastic rounding in x's quantisation")
    stoc_round_d: bool = Field(True, description="stochastic rounding in δ's quantisation")

    @field_validator("n_x_bins", "n_d_bins")
    @classmethod
    def _bins(cls, v: int) -> int:
        if v in (1, 2):
            raise ValueError("1 or 2 bins cannot hold zero and both signs; use 0 (no quantisation) or >= 3")
        return v


ALGORITHMS: dict[str, type[Config]] = {c.model_fields["type"].default: c for c in (
    SGDAlgorithm, TikiTakaAlgorithm, TTv2Algorithm, ChoppedTTv2Algorithm, AGADAlgorithm, MixedPrecisionAlgorithm)}
AlgorithmConfig = (SGDAlgorithm | TikiTakaAlgorithm | TTv2Algorithm | ChoppedTTv2Algorithm | AGADAlgorithm
                   | MixedPrecisionAlgorithm)


def algorithm_from_dict(data, prefix: str = "algorithm") -> Config:
    """The algorithm config of a mapping ``{type: NAME, FIELD: VALUE, ...}`` (no type: plain SGD)."""
    if isinstance(data, tuple(ALGORITHMS.values())):
        return data
    names = ", ".join(ALGORITHMS)
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix} = {data!r}: must be a mapping {{type: NAME, FIELD: VALUE, ...}} "
                          f"(types: {names})")
    name = data.get("type", "sgd")
    if name not in ALGORITHMS:
        raise ConfigError(f"{prefix}.type = {name!r}: unknown training algorithm (allowed: {names})")
    return ALGORITHMS[name].from_dict(data, prefix)
