"""The constant-step response applied in place to the fired cells of a whole array (CPU, numba).

The same law as ``_LinearFamily._constant_steps`` (γ = 0), written as one pass over the fired
rows × columns instead of a gather, a dozen tensor operations and a scatter:

    w ← clip(w + n_up·Δw_up − n_down·Δw_down + σ_c2c·sqrt(n_up·Δw_up² + n_down·Δw_down²)·ξ)

for every device of each weight, over the cells that received pulses only (listed first), with
ξ ~ N(0, 1) drawn for all of them at once by :func:`rpusim.numba_random.fill`, seeded from the
tile's torch generator (reproducible, resumable).

:func:`constant_steps_ordered_at` is the per-pulse-clipped variant (``update.clip='per_pulse'``)
for the cells that receive pulses of both signs: each cell walks through the time slots in order,
w ← clip(w ± Δw_up/down·(1 + σ_c2c·ξ)) at each of its coincidences; its torch reference is
``_LinearFamily.apply_pulse_sequence`` (composed clipped steps).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from ..fast_path import draw_seed
from ..numba_random import fill, seeded_state


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


@njit(cache=True)
def _slots_by_row(d_signed):
    """For each row j, the slots t in which it fired, in time order (CSR: starts, slots)."""
    n_slots, n_rows = d_signed.shape
    starts = np.zeros(n_rows + 1, np.int64)
    for t in range(n_slots):
        for j in range(n_rows):
            starts[j + 1] += d_signed[t, j] != 0.0
    for j in range(n_rows):
        starts[j + 1] += starts[j]
    slots = np.empty(starts[n_rows], np.int64)
    fill_at = starts[:-1].copy()
    for t in range(n_slots):
        for j in range(n_rows):
            if d_signed[t, j] != 0.0:
                slots[fill_at[j]] = t
                fill_at[j] += 1
    return starts, slots


@njit(cache=True)
def _constant_steps_ordered_at(w, dw_up, dw_down, w_max, w_min, rows, cols, d_signed, x_signed, sigma, seed):
    n_dev = w.shape[0]
    starts, slots = _slots_by_row(d_signed)
    n_events = 0
    if sigma > 0.0:  # one normal per coincidence and device, drawn at once
        for k in range(rows.size):
            for s in range(starts[rows[k]], starts[rows[k] + 1]):
                n_events += x_signed[slots[s], cols[k]] != 0.0
    xi = np.empty(n_events * n_dev, np.float32)
    fill(xi, seeded_state(seed), True)
    used = 0
    for k in range(rows.size):
        j, i = rows[k], cols[k]
        for s in range(starts[j], starts[j + 1]):
            t = slots[s]
            v = d_signed[t, j] * x_signed[t, i]
            if v == 0.0:
                continue
            for q in range(n_dev):  # direction −sign(x·δ): v > 0 steps down
                step = dw_down[q, j, i] if v > 0.0 else dw_up[q, j, i]
                if sigma > 0.0:
                    step = step * (1.0 + sigma * xi[used * n_dev + q])
                u = w[q, j, i] - step if v > 0.0 else w[q, j, i] + step
                w[q, j, i] = min(max(u, w_min[q, j, i]), w_max[q, j, i])
            used += 1


def constant_steps_ordered_at(state: torch.Tensor, p: dict[str, torch.Tensor], rows: torch.Tensor,
                              cols: torch.Tensor, d_signed: torch.Tensor, x_signed: torch.Tensor,
                              sigma: float, gen: torch.Generator) -> None:
    """In place on the cells (rows[k], cols[k]) of ``state`` (n_devices × out × in): every coincidence of
    the signed pulse trains d_signed (T × out) and x_signed (T × in), slot after slot, one clipped step."""
    _constant_steps_ordered_at(state.numpy(), p["dw_up"].numpy(), p["dw_down"].numpy(), p["w_max"].numpy(),
                               p["w_min"].numpy(), rows.contiguous().numpy(), cols.contiguous().numpy(),
                               d_signed.contiguous().numpy(), x_signed.contiguous().numpy(), float(sigma),
                               draw_seed(gen))
