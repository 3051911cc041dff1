"""The CTF train response applied in place to the fired cells of a whole array (CPU, numba).

The same law as :meth:`.ctf.CTFDevice.apply_pulses`, as one pass over the fired rows × columns
instead of gathering the cells, a chain of tensor operations on them and a scatter: per cell,
with h = (w − w_lo)/(w_hi − w_lo) and the train tables t̄(n) (mean effective time of n pulses)
and r(n) (relative std of the step),

    x = t̄(n_up)·speed/t_prog,   y = t̄(n_down)·speed/t_erase
    β = 1:  h ← 1 − (1 − h)/(1 + x·(1 − h)),  h ← h/(1 + y·h)
    β ≠ 1:  h ← 1 − (1 − h)·(1 + x·(1 − h)^(1/β))^(−β),  h ← h·(1 + y·h^(1/β))^(−β)
    w ← clip(w + (w_lo + h·(w_hi − w_lo) − w)·(1 + r(n_up + n_down)·ξ))

ξ ~ N(0, 1) from :mod:`rpusim.numba_random`, seeded from the tile's torch generator.
"""
from __future__ import annotations

import math

import torch
from numba import njit

from ..numba_random import draw_seed, seeded_state, ziggurat


@njit(cache=True)
def _trains_at(w, w_lo, w_hi, speed, rows, cols, n_up, n_down, mean, rel_std, inv_t_prog, inv_t_erase,
               beta, seed):
    rng = seeded_state(seed)
    s0, s1, s2, s3 = rng[0], rng[1], rng[2], rng[3]
    last = rel_std.size - 1
    for k in range(w.shape[0]):
        for a in range(rows.size):
            j = rows[a]
            for c in range(cols.size):
                nu = int(n_up[a, c])
                nd = int(n_down[a, c])
                if nu == 0 and nd == 0:
                    continue
                i = cols[c]
                lo = w_lo[k, j, i]
                hi = w_hi[k, j, i]
                width = hi - lo
                w0 = w[k, j, i]
                h = min(max((w0 - lo) / width, 0.0), 1.0)
                x = mean[nu] * speed[k, j, i] * inv_t_prog
                y = mean[nd] * speed[k, j, i] * inv_t_erase
                if beta == 1.0:
                    h = 1.0 - (1.0 - h) / (1.0 + x * (1.0 - h))
                    h = h / (1.0 + y * h)
                else:
                    h = 1.0 - (1.0 - h) * math.exp(-beta * math.log1p(x * (1.0 - h) ** (1.0 / beta)))
                    h = h * math.exp(-beta * math.log1p(y * h ** (1.0 / beta)))
                dw = lo + h * width - w0
                if last >= 0:
                    xi, s0, s1, s2, s3 = ziggurat(s0, s1, s2, s3)
                    dw *= 1.0 + rel_std[min(nu + nd, last)] * xi
                w[k, j, i] = min(max(w0 + dw, lo), hi)


def ctf_trains_at(state: torch.Tensor, p: dict[str, torch.Tensor], rows: torch.Tensor, cols: torch.Tensor,
                  n_up: torch.Tensor, n_down: torch.Tensor, mean: torch.Tensor, rel_std: torch.Tensor,
                  t_prog: float, t_erase: float, beta: float, gen: torch.Generator) -> None:
    """Apply the counts (len(rows) × len(cols)) to ``state`` (n_devices × out × in) in place."""
    seed = draw_seed(gen)
    _trains_at(state.numpy(), p["w_lo"].numpy(), p["w_hi"].numpy(), p["speed"].numpy(), rows.numpy(),
               cols.numpy(), n_up.contiguous().numpy(), n_down.contiguous().numpy(),
               mean.double().numpy(), rel_std.double().numpy(), 1.0 / t_prog, 1.0 / t_erase, float(beta), seed)
