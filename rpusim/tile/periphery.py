"""The periphery of an analog array: DAC, ADC, analog noise, noise and bound management.

An analog matrix-vector product of a batch x (B × n) with the array W (m × n) is

    y = s·ADC(clip(W̃·DAC(x/s) + σ_out·ξ))   (forward; backward uses Wᵀ)

with s the noise-management scale (max|x| per sample for 'abs_max': Gokmen, Onen, Haensch
2017) and, under bound management, doubled for each sample whose outputs saturated,
repeating the pass for those samples only (aihwkit's iterative bound management).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .config import IOConfig


def quantize(x: Tensor, bits: int, bound: float, stochastic: bool,
             gen: torch.Generator | None) -> Tensor:
    """Round to the 2^bits − 1 symmetric levels k·r, r = 2·bound/(2^bits − 2), |k| ≤ 2^(bits−1) − 1.

    Stochastic rounding (Gokmen, Rasch, Haensch 2018): r·floor(v/r + u), u ~ U[0, 1).
    Values are also clipped to ±bound.
    """
    if bits <= 0:
        return x.clamp(-bound, bound)
    res = 2 * bound / (2**bits - 2)
    v = x / res
    if stochastic:
        v = torch.floor(v + torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype))
    else:
        v = torch.round(v)
    return (v * res).clamp(-bound, bound)


def _one_pass(x: Tensor, w: Tensor, io: IOConfig, gen, transposed: bool) -> tuple[Tensor, Tensor]:
    """One pass of already scaled inputs through the array; returns (y, per-sample saturated)."""
    x = quantize(x, io.inp_bits, io.inp_bound, io.inp_sto_round, gen)
    if io.inp_noise:
        x = x + io.inp_noise * torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    if io.w_noise:
        w = w + io.w_noise * torch.randn(w.shape, generator=gen, device=w.device, dtype=w.dtype)
    y = x @ w if transposed else x @ w.T
    if io.out_noise:
        y = y + io.out_noise * torch.randn(y.shape, generator=gen, device=y.device, dtype=y.dtype)
    saturated = (y.abs() >= io.out_bound).any(dim=1)
    y = quantize(y, io.out_bits, io.out_bound, io.out_sto_round, gen)
    return y, saturated


def nm_scale(x: Tensor, io: IOConfig, running: Tensor | None) -> Tensor:
    """Per-sample noise-management scale s (B × 1); samples of all zeros get s = 1."""
    if io.noise_management == "none":
        return torch.ones(x.shape[0], 1, device=x.device, dtype=x.dtype)
    if io.noise_management == "constant":
        return torch.full((x.shape[0], 1), io.nm_constant, device=x.device, dtype=x.dtype)
    amax = x.abs().amax(dim=1, keepdim=True)
    if io.noise_management == "average_abs_max" and running is not None:
        amax = running.expand_as(amax)
    return torch.where(amax > 0, amax, torch.ones_like(amax))


def analog_mvm(x: Tensor, w: Tensor, io: IOConfig, gen: torch.Generator | None,
               transposed: bool = False, stats: dict | None = None,
               running: Tensor | None = None) -> Tensor:
    """y = W·x (or Wᵀ·x when ``transposed``) for a batch x (B × n) through the periphery.

    ``stats`` (optional) accumulates counters: 'mvms' (samples), 'saturated' (samples whose
    first pass saturated), 'saturated_final' (still saturated after bound management).
    """
    if io.is_perfect:
        return x @ w if transposed else x @ w.T
    scale = nm_scale(x, io, running)
    y, sat = _one_pass(x / scale, w, io, gen, transposed)
    first_sat = sat
    if io.bound_management == "iterative":
        factor = torch.ones_like(scale)
        for _ in range(io.bm_max_iter):
            if not bool(sat.any()):
                break
            idx = sat.nonzero().squeeze(1)
            factor[idx] *= 2
            y_i, sat_i = _one_pass(x[idx] / (scale[idx] * factor[idx]), w, io, gen, transposed)
            y[idx] = y_i
            sat = sat.clone()
            sat[idx] = sat_i
        scale = scale * factor
    if stats is not None:
        stats["mvms"] = stats.get("mvms", 0) + x.shape[0]
        stats["saturated"] = stats.get("saturated", 0) + int(first_sat.sum())
        stats["saturated_final"] = stats.get("saturated_final", 0) + int(sat.sum())
    return y * scale
