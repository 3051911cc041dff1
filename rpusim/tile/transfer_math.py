"""The arithmetic of the transfer algorithms (:mod:`.transfer`, :mod:`.mixed_precision`), as pure functions.

Shapes follow the tile: a weight matrix is out × in, a batch of inputs B × in; the buffers of the
algorithms (TTv2's H, mixed precision's χ) are out × in in floating point (digital memory).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .periphery_config import IOConfig
from .periphery import analog_mvm


def one_hot_inputs(cols: Tensor, in_size: int) -> Tensor:
    """Inputs that read columns ``cols`` of an array: row r is e_{cols[r]} (len(cols) × in_size)."""
    x = torch.zeros(cols.numel(), in_size, device=cols.device)
    x[torch.arange(cols.numel(), device=cols.device), cols] = 1.0
    return x


def read_columns(w: Tensor, cols: Tensor, io: IOConfig, gen: torch.Generator) -> Tensor:
    """v_r = W·e_{cols[r]} through the periphery ``io`` (noise, DAC/ADC): len(cols) × out."""
    x = one_hot_inputs(cols, w.shape[1]).to(w.dtype)
    return analog_mvm(x, w, io, gen)


def buffer_fire(h: Tensor, max_pulses: int, forget: bool, momentum: float) -> tuple[Tensor, Tensor]:
    """TTv2's threshold on the buffer H (in units of the slow array's pulses).

    Every element with |H| ≥ 1 fires n = sign(H)·min(⌊|H|⌋, max_pulses) pulses; the others fire none.
    Returns (n, H after firing): H ← momentum·H where n ≠ 0 (``forget``), else H ← H − (1 − momentum)·n
    (what was not fired stays)."""
    n = torch.trunc(h).clamp(-max_pulses, max_pulses)
    if forget:
        return n, torch.where(n != 0, momentum * h, h)
    return n, h - (1 - momentum) * n


def flip_signs(signs: Tensor, prob: float, gen: torch.Generator) -> Tensor:
    """Chopper signs ±1, each flipped independently with probability ``prob``."""
    if prob <= 0:
        return signs
    flip = torch.rand(signs.shape, generator=gen, device=signs.device) < prob
    return torch.where(flip, -signs, signs)


def whole_steps(chi: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """Mixed precision's transfer: n = trunc(χ/ε) pulses (signed) and the remainder χ − n·ε."""
    n = torch.trunc(chi / eps)
    return n, chi - n * eps


def quantize_dynamic(x: Tensor, n_bins: int, stochastic: bool, gen: torch.Generator) -> Tensor:
    """Each row of x on n_bins levels k·r, |k| ≤ K = (n_bins − 1)//2, r = max|x_row|/K (0 bins: x as is);
    stochastic rounding floor(x/r + u) (unbiased) or to the nearest level."""
    if not n_bins:
        return x
    half = (n_bins - 1) // 2
    scale = x.abs().amax(dim=1, keepdim=True) / half
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    v = x / scale
    v = torch.floor(v + torch.rand(v.shape, generator=gen, device=v.device, dtype=v.dtype)) if stochastic \
        else torch.round(v)
    return v.clamp(-half, half) * scale


def count_events(since: int, units: int, every: int) -> tuple[int, int]:
    """Transfer events due after ``units`` more units of the schedule: (events, units carried over)."""
    since += units
    return since // every, since % every
