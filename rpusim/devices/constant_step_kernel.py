"""The constant-step response applied in place to the fired cells of a whole array (CPU, numba).

The same law as ``_LinearFamily._constant_steps`` (γ = 0), written as one pass over the fired
rows × columns instead of a gather, a dozen tensor operations and a scatter:

    w ← clip(w + n_up·Δw_up − n_down·Δw_down + σ_c2c·sqrt(n_up·Δw_up² + n_down·Δw_down²)·ξ)

for every device of each weight, over the cells that received pulses only (listed first), with
ξ ~ N(0, 1) drawn for all of them at once by :func:`rpusim.numba_random.fill`, seeded from the
tile's torch generator (reproducible, resumable).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from ..numba_random import draw_seed, fill, seeded_state


@njit(cache=True)
def _constant_steps_at(w, dw_up, dw_down, w_max, w_min, rows, cols, n_up, n_down, sigma, seed):
    # the cells that received pulses, listed without branching on each count
    cell_a = np.empty(rows.size * cols.size, np.int64)
    cell_c = np.empty(rows.size * cols.size, np.int64)
    n_cells = 0
    for a in range(rows.size):
        for c in range(cols.size):
            cell_a[n_cells], cell_c[n_cells] = a, c
            n_cells += (n_up[a, c] != 0.0) | (n_down[a, c] != 0.0)
    n_dev = w.shape[0]
    xi = np.empty(n_cells * n_dev if sigma > 0.0 else 0, np.float32)
    fill(xi, seeded_state(seed), True)
    for t in range(n_cells):
        a, c = cell_a[t], cell_c[t]
        j, i = rows[a], cols[c]
        nu, nd = n_up[a, c], n_down[a, c]
        for k in range(n_dev):  # every device of the weight gets the same pulses
            up = nu * dw_up[k, j, i]
            down = nd * dw_down[k, j, i]
            v = w[k, j, i] + up - down
            if sigma > 0.0:
                v += sigma * math.sqrt(up * dw_up[k, j, i] + down * dw_down[k, j, i]) * xi[t * n_dev + k]
            w[k, j, i] = min(max(v, w_min[k, j, i]), w_max[k, j, i])


def constant_steps_at(state: torch.Tensor, p: dict[str, torch.Tensor], rows: torch.Tensor, cols: torch.Tensor,
                      n_up: torch.Tensor, n_down: torch.Tensor, sigma: float, gen: torch.Generator) -> None:
    """Apply the counts (len(rows) × len(cols)) to ``state`` (n_devices × out × in) in place."""
    seed = draw_seed(gen)
    _constant_steps_at(state.numpy(), p["dw_up"].numpy(), p["dw_down"].numpy(), p["w_max"].numpy(),
                       p["w_min"].numpy(), rows.numpy(), cols.numpy(), n_up.contiguous().numpy(),
                       n_down.contiguous().numpy(), float(sigma), seed)
