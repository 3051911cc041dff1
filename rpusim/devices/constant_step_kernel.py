"""The constant-step response applied in place to the fired cells of a whole array (CPU, numba).

The same law as ``_LinearFamily._constant_steps`` (γ = 0), written as one pass over the fired
rows × columns instead of a gather, a dozen tensor operations and a scatter:

    w ← clip(w + n_up·Δw_up − n_down·Δw_down + σ_c2c·sqrt(n_up·Δw_up² + n_down·Δw_down²)·ξ)

for every device of each weight, ξ ~ N(0, 1) from :mod:`rpusim.numba_random`, seeded from
the tile's torch generator (reproducible, resumable).
"""
from __future__ import annotations

import math

import torch
from numba import njit

from ..numba_random import draw_seed, seeded_state, ziggurat


@njit(cache=True)
def _constant_steps_at(w, dw_up, dw_down, w_max, w_min, rows, cols, n_up, n_down, sigma, seed):
    rng = seeded_state(seed)
    s0, s1, s2, s3 = rng[0], rng[1], rng[2], rng[3]
    for k in range(w.shape[0]):
        for a in range(rows.size):
            j = rows[a]
            for c in range(cols.size):
                nu = n_up[a, c]
                nd = n_down[a, c]
                if nu == 0.0 and nd == 0.0:
                    continue
                i = cols[c]
                up = nu * dw_up[k, j, i]
                down = nd * dw_down[k, j, i]
                v = w[k, j, i] + up - down
                if sigma > 0.0:
                    xi, s0, s1, s2, s3 = ziggurat(s0, s1, s2, s3)
                    v += sigma * math.sqrt(up * dw_up[k, j, i] + down * dw_down[k, j, i]) * xi
                w[k, j, i] = min(max(v, w_min[k, j, i]), w_max[k, j, i])


def constant_steps_at(state: torch.Tensor, p: dict[str, torch.Tensor], rows: torch.Tensor, cols: torch.Tensor,
                      n_up: torch.Tensor, n_down: torch.Tensor, sigma: float, gen: torch.Generator) -> None:
    """Apply the counts (len(rows) × len(cols)) to ``state`` (n_devices × out × in) in place."""
    seed = draw_seed(gen)
    _constant_steps_at(state.numpy(), p["dw_up"].numpy(), p["dw_down"].numpy(), p["w_max"].numpy(),
                       p["w_min"].numpy(), rows.numpy(), cols.numpy(), n_up.contiguous().numpy(),
                       n_down.contiguous().numpy(), float(sigma), seed)
