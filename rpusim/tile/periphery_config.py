"""Configs of one array's periphery: the converters and management of each direction (:class:`IOConfig`),
the stochastic pulsed update (:class:`UpdateConfig`) and the mapping of a layer onto arrays
(:class:`MappingConfig`). Defaults are the RPU baseline of Gokmen & Vlasov 2016 (Front. Neurosci.
10:333): 7-bit DAC over |x| ≤ 1, output noise σ = 0.06, 9-bit ADC over |y| ≤ 12, noise management
(abs-max), bound management, BL = 10 pulses.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from ..config import Config

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
