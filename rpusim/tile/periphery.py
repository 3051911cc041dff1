"""The periphery of an analog array: DAC, ADC, analog noise, noise and bound management.

An analog matrix-vector product of a batch x (B × n) with the array W (m × n) is

    y = s·ADC(clip(W̃·DAC(x/s) + σ_out·ξ))   (forward; backward uses Wᵀ)

with s the noise-management scale (max|x| per sample for 'abs_max': Gokmen, Onen, Haensch
2017) and, under bound management, doubled for each sample whose outputs saturated,
repeating the pass for those samples only (aihwkit's iterative bound management).
On the CPU (float32, no weight noise; :func:`rpusim.fast_path.use_fast_kernel` decides) a pass,
bound management included, is one call of :func:`.periphery_kernel.mvm` (numba, imported at the
first such pass; its random numbers from a xoshiro stream seeded by the tile's generator); elsewhere
the tensor operations of :func:`_tensor_pass`, the reference.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..fast_path import draw_seed, use_fast_kernel
from .periphery_config import IOConfig
from .periphery_params import NM_CONSTANT, bm_repeats, io_params, level_max


def quantize(x: Tensor, bits: int, bound: float, stochastic: bool,
             gen: torch.Generator | None) -> Tensor:
    """Round to the 2^bits − 1 symmetric levels k·r, r = 2·bound/(2^bits − 2), |k| ≤ 2^(bits−1) − 1.

    Stochastic rounding (Gokmen, Rasch, Haensch 2018): r·floor(v/r + u), u ~ U[0, 1).
    Values are also clipped to ±bound.
    """
    if bits <= 0:
        return x.clamp(-bound, bound)
    res = 2 * bound / (2**bits - 2)
    return _levels(x * (1 / res), bits, stochastic, gen).mul_(res)


def _levels(v: Tensor, bits: int, stochastic: bool, gen) -> Tensor:
    """Integer level index k = round(v) (or floor(v + u)), clipped to |k| ≤ 2^(bits−1) − 1."""
    return _rounded(v, stochastic, gen).clamp_(-level_max(bits), level_max(bits))


def _rounded(v: Tensor, stochastic: bool, gen) -> Tensor:
    """round(v), or floor(v + u) with u ~ U[0, 1) when stochastic (in place)."""
    if stochastic:
        return v.add_(torch.rand(v.shape, generator=gen, device=v.device, dtype=v.dtype)).floor_()
    return v.round_()


def _tensor_dac_mvm_adc(x: Tensor, scale: Tensor | None, w: Tensor, io: IOConfig, gen,
                        transposed: bool) -> tuple[Tensor, Tensor]:
    """One pass of the inputs x/s through DAC, array and ADC, in tensor operations; returns
    (s·y, per-sample saturated)."""
    x_unit = x if scale is None else x * (1 / scale)
    if io.inp_bits > 0:  # DAC: y is computed on the integer levels, then scaled by the step
        res = 2 * io.inp_bound / (2**io.inp_bits - 2)
        x_unit = _levels(x_unit * (1 / res) if x_unit is x else x_unit.mul_(1 / res), io.inp_bits,
                         io.inp_sto_round, gen)
    else:
        res = 1.0
        x_unit = x_unit.clamp(-io.inp_bound, io.inp_bound)
    if io.inp_noise:
        x_unit = x_unit + (io.inp_noise / res) * torch.randn(x_unit.shape, generator=gen, device=x.device,
                                                             dtype=x.dtype)
    y = x_unit @ w if transposed else x_unit @ w.T
    if io.w_noise:
        y.add_(_weight_read_noise(x_unit, y.shape[1], gen), alpha=io.w_noise)
    if res != 1.0:
        y.mul_(res)
    if io.out_noise:
        y.add_(torch.randn(y.shape, generator=gen, device=y.device, dtype=y.dtype), alpha=io.out_noise)
    if io.out_bits > 0:
        out_res = 2 * io.out_bound / (2**io.out_bits - 2)
        if io.bm_test == "after_adc":  # saturated: the converted level lies beyond the ADC's range
            y = _rounded(y.mul_(1 / out_res), io.out_sto_round, gen)
            saturated = y.abs().amax(dim=1) > level_max(io.out_bits)
            y = y.clamp_(-level_max(io.out_bits), level_max(io.out_bits)).mul_(out_res)
        else:
            saturated = y.abs().amax(dim=1) >= io.out_bound
            y = _levels(y.mul_(1 / out_res), io.out_bits, io.out_sto_round, gen).mul_(out_res)
    else:
        saturated = y.abs().amax(dim=1) >= io.out_bound
        y = y.clamp_(-io.out_bound, io.out_bound)
    return (y if scale is None else y.mul_(scale)), saturated


def _weight_read_noise(x_unit: Tensor, n_out: int, gen) -> Tensor:
    """Ξ_b·x_b for every sample b of x_unit (B × n), Ξ_b an independent n_out × n matrix of N(0, 1):
    each sample's MVM is a read of its own at its own time, W̃_b = W + σ_w·Ξ_b.

    Drawn as ||x_b||₂·ξ_bj with ξ ~ N(0, 1) (B × n_out): (Ξ_b·x_b)_j = Σ_i Ξ_b,ji·x_bi is a sum of
    independent Gaussians, N(0, ||x_b||²), and rows j of Ξ_b share no entry, so the outputs are
    independent — the same joint distribution exactly, at the cost of B·n_out normals instead of
    B·n_out·n. The same holds for the transposed read (columns of Ξ_b)."""
    xi = torch.randn((x_unit.shape[0], n_out), generator=gen, device=x_unit.device, dtype=x_unit.dtype)
    return xi.mul_(torch.linalg.vector_norm(x_unit, dim=1, keepdim=True))


def _kernel_pass(x: Tensor, w: Tensor, io: IOConfig, gen, transposed: bool,
                 running: Tensor | None) -> tuple[Tensor, int, int]:
    """The whole pass (noise management, DAC, product, ADC, bound management) in one numba call,
    :func:`.periphery_kernel.seeded_mvm`, its random numbers from a stream seeded by ``gen``.
    Returns (y, samples saturated in the first pass, samples saturated after bound management)."""
    from .periphery_kernel import seeded_mvm  # numba, loaded at the first kernel pass
    p = io_params(io)
    if io.noise_management == "average_abs_max" and running is not None:
        p = p.copy()
        p["nm"], p["nm_constant"] = NM_CONSTANT, max(float(running), 1e-30)
    w_np = w.detach().numpy()
    y, n_first, n_final = seeded_mvm(x.detach().contiguous().numpy(), w_np if transposed else w_np.T, p,
                                     draw_seed(gen))
    return torch.from_numpy(y), n_first, n_final


_OFF3 = np.zeros((0, 0, 0), np.float32)


def draw_pass_noise(io: IOConfig, gen, n_passes: int, n_rows: int, n_in: int, n_out: int):
    """The random numbers of the first pass of n_passes passes at once, as (u_in, xi_in, xi_out, u_out),
    each n_passes × rows × size, or empty (0 × 0 × 0) when off; drawn in numba (ziggurat normals)
    from streams seeded by the tile's generator."""
    from ..numba_random import fill, seeded_state

    def draw(normal, size, on):
        if not on or io.is_perfect:
            return _OFF3
        out = np.empty((n_passes, n_rows, size), np.float32)
        fill(out, seeded_state(draw_seed(gen)), normal)
        return out
    return (draw(False, n_in, io.inp_sto_round and io.inp_bits > 0), draw(True, n_in, io.inp_noise > 0),
            draw(True, n_out, io.out_noise > 0), draw(False, n_out, io.out_sto_round and io.out_bits > 0))


def kernel_supports(io: IOConfig) -> bool:
    """Whether a kernel that runs many passes inside numba implements this periphery ('average_abs_max'
    needs its running scale updated between passes, from Python)."""
    return io.is_perfect or (not io.w_noise and io.noise_management != "average_abs_max")


def _fusable(x: Tensor, w: Tensor, io: IOConfig) -> bool:
    """Whether :func:`_kernel_pass` computes this pass: :func:`rpusim.fast_path.use_fast_kernel` on x
    and W, the kernel implementing every periphery but weight noise."""
    return use_fast_kernel(x, w, supported=not io.w_noise)


def nm_scale(x: Tensor, io: IOConfig, running: Tensor | None) -> Tensor | None:
    """Per-sample noise-management scale s (B × 1), or None for no scaling."""
    if io.noise_management == "none":
        return None
    if io.noise_management == "constant":
        return torch.full((x.shape[0], 1), io.nm_constant, device=x.device, dtype=x.dtype)
    if io.noise_management == "average_abs_max" and running is not None:
        return running.expand(x.shape[0], 1).clamp_min(1e-30)
    return x.abs().amax(dim=1, keepdim=True).clamp_min_(1e-30)  # all-zero inputs give y ≈ 0


def _tensor_pass(x, w, io, gen, transposed, running) -> tuple[Tensor, int, int]:
    """The reference: :func:`_tensor_dac_mvm_adc`, bound management repeating it on the saturated
    samples; any device and dtype, weight noise included."""
    scale = nm_scale(x, io, running)
    y, sat = _tensor_dac_mvm_adc(x, scale, w, io, gen, transposed)
    n_first = n_final = int(sat.sum())
    if n_first and io.bound_management == "iterative":
        if scale is None:
            scale = torch.ones(x.shape[0], 1, device=x.device, dtype=x.dtype)
        for _ in range(bm_repeats(io)):
            idx = sat.nonzero().squeeze(1)
            scale[idx] *= 2
            y_i, sat_i = _tensor_dac_mvm_adc(x[idx], scale[idx], w, io, gen, transposed)
            y[idx] = y_i
            sat = sat.clone()
            sat[idx] = sat_i
            n_final = int(sat.sum())
            if not n_final:
                break
    return y, n_first, n_final


def analog_mvm(x: Tensor, w: Tensor, io: IOConfig, gen: torch.Generator | None,
               transposed: bool = False, stats: dict | None = None,
               running: Tensor | None = None) -> Tensor:
    """y = W·x (or Wᵀ·x when ``transposed``) for a batch x (B × n) through the periphery.

    ``stats`` (optional) accumulates counters: 'mvms' (samples), 'saturated' (samples whose
    first pass saturated), 'saturated_final' (still saturated after bound management).
    """
    if io.is_perfect:
        return x @ w if transposed else x @ w.T
    if _fusable(x, w, io):
        y, n_first, n_final = _kernel_pass(x, w, io, gen, transposed, running)
    else:
        y, n_first, n_final = _tensor_pass(x, w, io, gen, transposed, running)
    if stats is not None:
        stats["mvms"] = stats.get("mvms", 0) + x.shape[0]
        stats["saturated"] = stats.get("saturated", 0) + n_first
        stats["saturated_final"] = stats.get("saturated_final", 0) + n_final
    return y
