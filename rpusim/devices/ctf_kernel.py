"""The CTF train response applied in place to the fired cells of a whole array (CPU, numba).

The same law as :meth:`.ctf.CTFDevice.apply_pulses`, as one pass over the fired rows × columns
instead of gathering the cells, a chain of tensor operations on them and a scatter: per cell,
with h = (w − w_lo)/(w_hi − w_lo) and the train tables t̄(n) (mean effective time of n pulses)
and r(n) (relative std of the step),

    x = t̄(n_up)·speed/t_prog,   y = t̄(n_down)·speed/t_erase
    β = 1:  h ← 1 − (1 − h)/(1 + x·(1 − h)),  h ← h/(1 + y·h)
    β ≠ 1:  h ← 1 − (1 − h)·(1 + x·(1 − h)^(1/β))^(−β),  h ← h·(1 + y·h^(1/β))^(−β)
    w ← clip(w + (w_lo + h·(w_hi − w_lo) − w)·(1 + r(n_up + n_down)·ξ))

for every device of each weight, over the cells that received pulses only (the tables sized
beforehand by the largest count, :meth:`.ctf.CTFDevice.apply_pulses_at`), with ξ ~ N(0, 1) drawn for all of them at once by
:func:`rpusim.numba_random.fill`, seeded from the tile's torch generator.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from ..fast_path import draw_seed
from ..numba_random import fill, seeded_state


@njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _respond(w0, lo, hi, speed, t_up, t_down, r, xi, beta, beta_one):
    """The new weight of one cell (float64 arithmetic): the step along the program curve, written
    without the cancellation of lo + h'·width − w (for β = 1, Δh_up = x(1 − h)²/(1 + x(1 − h))
    and Δh_down = y·h₁²/(1 + y·h₁) with h₁ = h + Δh_up), times the noise factor, clipped to the
    cell's window."""
    width = hi - lo
    h = min(max((w0 - lo) / width, 0.0), 1.0)
    x = t_up * speed
    y = t_down * speed
    g = 1.0 - h
    if beta_one:
        up = x * g * g / (1.0 + x * g)
        h1 = h + up
        down = y * h1 * h1 / (1.0 + y * h1)
    else:
        up = g * -math.expm1(-beta * math.log1p(x * g ** (1.0 / beta)))
        h1 = h + up
        down = h1 * -math.expm1(-beta * math.log1p(y * h1 ** (1.0 / beta)))
    dw = (up - down) * width * (1.0 + r * xi)
    return min(max(w0 + dw, lo), hi)


@njit(cache=True, fastmath=True, error_model="numpy")  # numpy errors: the divisions vectorise
def _trains_at(w, w_lo, w_hi, speed, rows, cols, n_up, n_down, mean, rel_std, inv_t_prog, inv_t_erase, beta,
               seed):
    """Row by row: the row's tables looked up per column, then per device the fired columns' cells
    gathered into contiguous buffers, their response computed in one loop the compiler vectorises,
    and the cells with a pulse written back."""
    rng = seeded_state(seed)
    last = rel_std.size - 1
    n_cols = cols.size
    xi = np.zeros(n_cols, np.float32)
    t_up, t_down, r = np.empty(n_cols), np.empty(n_cols), np.zeros(n_cols)
    g_w, g_lo, g_hi, g_sp, new = np.empty(n_cols), np.empty(n_cols), np.empty(n_cols), np.empty(n_cols), np.empty(n_cols)
    fired = np.empty(n_cols, np.bool_)
    for a in range(rows.size):
        j = rows[a]
        for c in range(n_cols):  # the row's tables, shared by the devices of each weight
            nu, nd = int(n_up[a, c]), int(n_down[a, c])
            t_up[c] = mean[nu] * inv_t_prog
            t_down[c] = mean[nd] * inv_t_erase
            if last >= 0:
                r[c] = rel_std[min(nu + nd, last)]
            fired[c] = (nu | nd) != 0
        for k in range(w.shape[0]):  # every device of the weight gets the same pulses
            if last >= 0:
                fill(xi, rng, True)
            wk, lo, hi, sp = w[k, j], w_lo[k, j], w_hi[k, j], speed[k, j]
            for c in range(n_cols):
                i = cols[c]
                g_w[c], g_lo[c], g_hi[c], g_sp[c] = wk[i], lo[i], hi[i], sp[i]
            if beta == 1.0:  # separate loops: only the one without calls vectorises
                for c in range(n_cols):
                    new[c] = _respond(g_w[c], g_lo[c], g_hi[c], g_sp[c], t_up[c], t_down[c], r[c], xi[c], 1.0, True)
            else:
                for c in range(n_cols):
                    new[c] = _respond(g_w[c], g_lo[c], g_hi[c], g_sp[c], t_up[c], t_down[c], r[c], xi[c], beta, False)
            for c in range(n_cols):
                if fired[c]:
                    wk[cols[c]] = new[c]


def ctf_trains_at(state: torch.Tensor, p: dict[str, torch.Tensor], rows: torch.Tensor, cols: torch.Tensor,
                  n_up: np.ndarray, n_down: np.ndarray, mean: np.ndarray,
                  rel_std: np.ndarray, t_prog: float, t_erase: float, beta: float, gen: torch.Generator) -> None:
    """Apply the counts (len(rows) × len(cols), float32 arrays) to ``state`` (n_devices × out × in)
    in place; ``mean``, ``rel_std``: the float64 train tables, covering every count up to the largest of ``n_up``, ``n_down``."""
    seed = draw_seed(gen)
    _trains_at(state.numpy(), p["w_lo"].numpy(), p["w_hi"].numpy(), p["speed"].numpy(), rows.numpy(),
               cols.numpy(), n_up, n_down, mean, rel_std, 1.0 / t_prog, 1.0 / t_erase,
               float(beta), seed)
