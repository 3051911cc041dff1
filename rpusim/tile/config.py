"""Configuration of one analog array and its periphery (the papers' "RPU baseline" by default).

Defaults follow the RPU baseline of Gokmen & Vlasov 2016 / Gokmen, Onen, Haensch 2017 as
encoded in aihwkit (Gokmen & Vlasov 2016, Front. Neurosci. 10:333): constant-step device, 7-bit DAC over
|x| ≤ 1, output noise σ = 0.06, 9-bit ADC over |y| ≤ 12, noise management (abs-max) in
both directions, bound management in the forward pass only, BL = 10 pulses.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, SerializeAsAny, field_validator

from ..config import Config, ConfigError
from ..devices import ConstantStepDevice, IdealDevice, PulsedDevice, device_from_dict, has_symmetry_point

NoiseManagement = Literal["none", "abs_max", "constant", "average_abs_max"]
BoundManagement = Literal["none", "iterative"]


class IOConfig(Config):
    """Periphery of one direction (forward y = Wx or backward z = Wᵀδ).

    Order of operations: x/s (noise & bound management) → DAC quantise (step
    2·inp_bound/(2^inp_bits − 2), 2^inp_bits − 1 levels) → clip to ±inp_bound → input noise →
    MVM with weight read noise → output noise → ADC quantise (step 2·out_bound/(2^out_bits − 2))
    → clip to ±out_bound (saturation triggers bound management; ``bm_test`` says where it is
    tested, ``bm_max_iter`` and ``bm_max_res`` how far the input is reduced) → ·s.

    Weight read noise (``w_noise`` = σ_w) is drawn per sample and per pass: the B samples of a
    batch are B analog MVMs one after another in time, and read noise fluctuates between reads,
    so sample b sees its own W̃_b = W + σ_w·Ξ_b (Ξ_b i.i.d. N(0, 1)), independent of the other
    samples and of the repeated passes of bound management (as aihwkit draws it per MVM). Its
    effect on the outputs, σ_w·Ξ_b·x̂_b with x̂_b the input after the DAC and input noise, is drawn as
    σ_w·||x̂_b||₂·ξ_b with ξ_b ~ N(0, 1) per output — the same distribution exactly.
    """

    is_perfect: bool = Field(False, description="bypass the whole periphery: exact floating-point MVM")
    inp_bound: float = Field(1.0, gt=0, description="input range |x| ≤ inp_bound after management")
    inp_bits: int = Field(7, ge=0, le=24, description="DAC resolution in bits (0: no quantisation)")
    inp_sto_round: bool = Field(False, description="stochastic rounding in the DAC: r·floor(v/r + u)")
    inp_noise: float = Field(0.0, ge=0, description="Gaussian noise σ added to each input (input units)")
    w_noise: float = Field(0.0, ge=0, description="Gaussian weight read noise σ per sample's MVM (weight units)")
    out_noise: float = Field(0.06, ge=0, description="Gaussian output noise σ (output of a unit input on a unit weight)")
    out_bound: float = Field(12.0, gt=0, description="output range |y| ≤ out_bound (ADC full scale)")
    out_bits: int = Field(9, ge=0, le=24, description="ADC resolution in bits (0: no quantisation)")
    out_sto_round: bool = Field(False, description="stochastic rounding in the ADC")
    noise_management: NoiseManagement = Field("abs_max", description="input scaling before the array")
    nm_constant: float = Field(1.0, gt=0, description="scale used by noise_management='constant'")
    nm_decay: float = Field(0.99, gt=0, lt=1, description="running-average decay for 'average_abs_max'")
    bound_management: BoundManagement = Field("iterative", description="halve the input and repeat while outputs saturate")
    bm_max_iter: int = Field(10, ge=1, le=40, description="most repetitions of bound management (10: at most 1024× "
                             "input reduction, aihwkit's max_bm_factor 1000)")
    bm_max_res: float = Field(
        0.0, ge=0, le=1, description="stop bound management once the input reduction r exceeds bm_max_res/DAC step "
        "(step 2·inp_bound/(2^inp_bits − 2)): the largest input then spans fewer than 1/bm_max_res DAC levels, so "
        "halving it again leaves too little input resolution to be worth the repeat. 0: no such limit (only "
        "bm_max_iter); 0.25: aihwkit's max_bm_res (at 7 bits: 0.25·63 = 15.75, the last pass at r = 16)")
    bm_test: Literal["before_adc", "after_adc"] = Field(
        "before_adc", description="where a pass counts as saturated: before_adc, the analog output reaches the ADC's "
        "full scale (|y| ≥ out_bound); after_adc, the ADC's level lies beyond its range (aihwkit: its rounded "
        "value exceeds out_bound, i.e. |y| ≥ out_bound + step/2 with deterministic rounding). A sensing amplifier "
        "flags the first, a digital check of the converted value the second")
    out_bound_grad: Literal["pass", "zero"] = Field(
        "pass", description="forward only: the error passed back through an output whose final value (after noise "
        "and bound management) lies at or beyond ±0.999·out_bound. pass: passed on like any other — the physical "
        "choice, since bound management re-read that output unclipped; zero: set to zero in the backward pass "
        "(not in the layer's own update), aihwkit's clamp gradient, which treats it as clipped by the ADC")

    @field_validator("inp_bits", "out_bits")
    @classmethod
    def _not_one_bit(cls, v: int) -> int:
        if v == 1:
            raise ValueError("1 bit has the single level 0; use 0 (no quantisation) or 2 to 24 bits")
        return v

    @classmethod
    def perfect(cls) -> "IOConfig":
        return cls(is_perfect=True)


def _backward_default() -> IOConfig:
    return IOConfig(bound_management="none")


class UpdateConfig(Config):
    """Stochastic pulsed update: W += −η·δxᵀ as coincidences of pulse trains of length BL.

    Column i fires in each of BL slots with probability Cx·|xᵢ|, row j with Cd·|δⱼ|
    (clipped to 1); a coincidence moves the device one step in direction −sign(xᵢδⱼ).
    Cx = Cd = sqrt(η/(BL·Δw_min)) so that E[ΔW] = −η·δxᵀ (Gokmen & Vlasov 2016).
    """

    bl: int = Field(10, ge=1, le=100000, description="pulse-train length BL (time slots per update)")
    update_management: bool = Field(False, description="Cx = C·m, Cd = C/m with m = sqrt(max|δ|/max|x|)")
    bl_management: bool = Field(False, description="per update use BL' = clip(ceil(η·max|x|·max|δ|/Δw_min), 1, BL)")
    um_overflow: Literal["clip_both", "clip_delta"] = Field(
        "clip_both", description="update management when the update needs more than BL coincidences "
        "(k = η·max|x|·max|δ|/Δw_min > BL, so p_max = sqrt(k/BL) > 1): clip_both, both sides' probabilities are "
        "clipped to 1 (the largest x and δ fire in every slot, the rest keep sqrt(k/BL)·|v|/max|v|); clip_delta "
        "(aihwkit), the x side is scaled to p = |x|/max|x| and the δ side takes the whole excess, "
        "p = min(1, (k/BL)·|δ|/max|δ|): rows whose δ stays below max|δ|·BL/k get their full update, columns "
        "with small x get less")
    clip: Literal["per_update", "per_pulse"] = Field(
        "per_update", description="when the fast mode clips a device to its bounds: per_update, once after the "
        "summed up/down coincidences of the whole update (the device sees them as one net change); per_pulse "
        "(aihwkit, and mode='exact'), after every pulse in time order (sample by sample, slot by slot): a device "
        "at its bound loses the pulses that push it further and keeps those that pull it back. Only cells that "
        "get pulses of both signs in one update (batch > 1) differ; constant-step devices walk them in a kernel "
        "(CPU) or by composed clipped steps (torch), others pulse by pulse")
    mode: Literal["fast", "exact"] = Field(
        "fast", description="fast: coincidence counts of the whole batch by GEMM, one device response; "
        "exact: each sample and each time slot applied in turn, pulse by pulse")
    counting: Literal["auto", "packed", "gemm"] = Field(
        "auto", description="how the fast mode counts coincidences: packed (bit-packed pulse trains and "
        "popcounts, a numba kernel: float32 on the CPU, elsewhere gemm; see rpusim.fast_path), gemm (two "
        "matrix products over the B·BL slots, any device and dtype), auto (the same as packed)")


class MappingConfig(Config):
    """How a layer is mapped onto arrays."""

    max_input_size: int = Field(0, ge=0, description="largest array input size (columns); 0: no split")
    max_output_size: int = Field(0, ge=0, description="largest array output size (rows); 0: no split")
    digital_bias: bool = Field(False, description="bias in floating point instead of an extra array column")


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


DEFAULT_DEVICE = ConstantStepDevice  # the papers' RPU baseline device


class RPUConfig(Config):
    """Everything about the analog arrays of one layer: device, periphery, update, mapping.

    ``device`` is a device config or a mapping. A mapping with a ``type`` is that device type
    with its own defaults for the fields not given (``{type: soft_bounds, dw_min: 0.002}``); a
    mapping without ``type`` refines the default device, the papers' constant-step baseline
    (``{up_down: 0.05}`` is the baseline with a 5 % asymmetry); a mapping with a ``preset`` is that
    published device (``{preset: ecram}``, :data:`rpusim.devices.PRESETS`), refined by the other keys.
    Merged overrides (``--set``, experiment variants, ``layer_rpu``) go through
    :func:`rpusim.framework.config.deep_merge`, which refines the device already chosen unless the
    override names another ``type`` or ``preset``.
    """

    device: SerializeAsAny[PulsedDevice] = Field(default_factory=DEFAULT_DEVICE)
    devices_per_weight: int = Field(1, ge=1, le=64, description="devices per weight (same pulses, read as mean)")
    forward: IOConfig = Field(default_factory=IOConfig)
    backward: IOConfig = Field(default_factory=_backward_default)
    update: UpdateConfig = Field(default_factory=UpdateConfig)
    mapping: MappingConfig = Field(default_factory=MappingConfig)
    algorithm: SerializeAsAny[AlgorithmConfig] = Field(
        default_factory=SGDAlgorithm, description="training algorithm: {type: sgd | tiki-taka | ttv2 | "
        "chopped-ttv2 | agad | mixed-precision, ...} (docs/algorithms.md)")

    @field_validator("backward")
    @classmethod
    def _backward_passes_its_errors(cls, v: IOConfig) -> IOConfig:
        if v.out_bound_grad != "pass":
            raise ValueError("out_bound_grad acts on the forward pass's outputs only: set rpu.forward.out_bound_grad")
        return v

    @field_validator("device", mode="before")
    @classmethod
    def _device(cls, v):
        if isinstance(v, dict) and "type" not in v and "preset" not in v:
            v = {"type": DEFAULT_DEVICE.model_fields["type"].default, **v}
        return device_from_dict(v)

    @field_validator("algorithm", mode="before")
    @classmethod
    def _algorithm(cls, v, info):
        alg = algorithm_from_dict(v)
        fast = getattr(alg, "fast_device", None) or info.data.get("device")
        if getattr(alg, "reference", False) and fast is not None and not has_symmetry_point(fast):
            raise ValueError(f"reference needs a symmetry point: the fast array's device ({fast.type}) must "
                             f"be a bounded-step one or a charge-trap-flash cell")
        if isinstance(alg, (TTv2Algorithm, MixedPrecisionAlgorithm)):
            target = getattr(alg, "slow_device", None) or info.data.get("device")
            if target is not None and target.is_ideal:
                raise ValueError(f"{alg.type} fires whole pulses on its "
                                 f"{'slow ' if isinstance(alg, TTv2Algorithm) else ''}array, whose "
                                 f"device must be a pulsed one, not ideal")
        return alg

    @classmethod
    def ideal(cls) -> "RPUConfig":
        """Ideal device and perfect periphery: trains exactly like floating point."""
        return cls(device=IdealDevice(), forward=IOConfig.perfect(), backward=IOConfig.perfect())
