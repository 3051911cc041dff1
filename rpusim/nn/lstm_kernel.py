"""One analog LSTM layer over a whole sequence in numba: the time loop, the gates and BPTT.

The arithmetic of :class:`.lstm.AnalogLSTMCell` step by step (Gokmen, Rasch, Haensch 2018):

    zₜ = [xₜ; hₜ₋₁; 1],  [aᵢ; a_f; a_g; aₒ] = W·zₜ (forward periphery),
    cₜ = σ(a_f)∘cₜ₋₁ + σ(aᵢ)∘tanh(a_g),  hₜ = σ(aₒ)∘tanh(cₜ)
    (σ(a) = 1/(1 + e⁻ᵃ), tanh a = 1 − 2/(e²ᵃ + 1), with a vectorised eˣ)

and backward, from the errors dhₜ (output and recurrent) and dcₜ:

    dcₜ += dhₜ∘o∘(1 − tanh²cₜ),  δₜ = [dcₜ∘g∘i(1−i); dcₜ∘cₜ₋₁∘f(1−f); dcₜ∘i∘(1−g²); dhₜ∘tanh cₜ∘o(1−o)],
    [dxₜ; dhₜ₋₁; ·] = Wᵀ·δₜ (backward periphery),  dcₜ₋₁ = dcₜ∘f

with every array pass through :func:`rpusim.tile.periphery_kernel.mvm`: the same periphery
as the step-by-step path, its bound-management repetitions drawing from a xoshiro stream
seeded by the tile's generator (and the first pass of each step from random numbers drawn for the whole
sequence at once by torch's vectorised samplers). One call per layer and direction replaces ~T autograd nodes and T periphery
calls from Python, which is where the step-by-step LSTM spent its time.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..numba_random import seeded_state
from ..tile.periphery_kernel import mvm


_LOG2E = np.float32(1.4426950408889634)
_LN2_HI, _LN2_LO = np.float32(0.693359375), np.float32(-2.12194440e-4)  # ln 2 = hi + lo, hi·n exact


@njit(cache=True, fastmath={"contract"})
def _exp_into(x, out, shift):
    """out = eˣ for flat float32 arrays, in a loop the compiler vectorises (libm's expf is scalar):
    eˣ = 2ⁿ·eʳ, n = round(x·log₂e), r = x − n·ln 2 (Cody–Waite), eʳ by its Taylor polynomial of
    degree 7 (|r| ≤ ln 2/2: truncation < 6e-9), 2ⁿ added to the exponent bits. Relative error
    < 1e-7; x is clamped to ±80 (e^±80 stays a normal float32); NaN stays NaN."""
    for k in range(x.size):
        v = x[k]
        finite = v == v
        v = min(max(v, np.float32(-80.0)), np.float32(80.0)) if finite else v
        n = np.floor(v * _LOG2E + np.float32(0.5)) if finite else np.float32(0.0)
        r = v - n * _LN2_HI - n * _LN2_LO
        p = np.float32(1.0 / 5040.0)
        p = p * r + np.float32(1.0 / 720.0)
        p = p * r + np.float32(1.0 / 120.0)
        p = p * r + np.float32(1.0 / 24.0)
        p = p * r + np.float32(1.0 / 6.0)
        p = p * r + np.float32(0.5)
        p = p * r + np.float32(1.0)
        out[k] = p * r + np.float32(1.0)
        shift[k] = np.int32(n) << 23
    bits = out.view(np.int32)
    for k in range(x.size):
        bits[k] += shift[k]


@njit(cache=True, inline="always")
def _at(draws, t):
    """Step t's slice of a sequence of pre-drawn random numbers (empty when that source is off)."""
    return draws[t] if draws.shape[0] else np.zeros((0, 0), np.float32)


@njit(cache=True)
def lstm_forward(xs, h0, c0, w_t, has_bias, p, seed, noise):
    """Forward over xs (T × B × n_in) from (h0, c0) (B × H) on the array W (w_t = Wᵀ); ``noise``:
    the first passes' random numbers (u_in, xi_in, xi_out, u_out), see ``draw_pass_noise``.

    Returns (outputs hₜ (T × B × H), array inputs zₜ (T × B × n), gate activations
    [i, f, g, o] (T × B × 4H), cells c₀…c_T ((T + 1) × B × H), tanh c₁…c_T, periphery counters).
    """
    n_steps, n_batch, n_in = xs.shape
    hidden = h0.shape[1]
    n = n_in + hidden + has_bias
    rng = seeded_state(seed)
    stats = np.zeros(3, np.int64)
    z = np.empty((n_steps, n_batch, n), np.float32)
    acts = np.empty((n_steps, n_batch, 4 * hidden), np.float32)
    cells = np.empty((n_steps + 1, n_batch, hidden), np.float32)
    tanh_c = np.empty((n_steps, n_batch, hidden), np.float32)
    out = np.empty((n_steps, n_batch, hidden), np.float32)
    cells[0] = c0
    h = h0
    arg = np.empty(n_batch * 4 * hidden, np.float32)  # exponents: −a for σ, 2a for tanh
    e = np.empty_like(arg)
    shift = np.empty(arg.size, np.int32)
    arg_gates, e_gates = arg.reshape(n_batch, 4 * hidden), e.reshape(n_batch, 4 * hidden)
    e_cell = e[:n_batch * hidden].reshape(n_batch, hidden)
    for t in range(n_steps):
        zt = z[t]
        zt[:, :n_in] = xs[t]
        zt[:, n_in:n_in + hidden] = h
        if has_bias:
            zt[:, n - 1] = 1.0
        a = mvm(zt, w_t, p, rng, stats, _at(noise[0], t), _at(noise[1], t), _at(noise[2], t), _at(noise[3], t))
        for b in range(n_batch):
            for k in range(4 * hidden):
                in_cell_gate = 2 * hidden <= k < 3 * hidden
                arg_gates[b, k] = np.float32(2.0) * a[b, k] if in_cell_gate else -a[b, k]
        _exp_into(arg, e, shift)
        act = acts[t]
        for b in range(n_batch):
            for k in range(4 * hidden):
                ek = e_gates[b, k]
                in_cell_gate = 2 * hidden <= k < 3 * hidden
                act[b, k] = np.float32(1.0) - np.float32(2.0) / (ek + np.float32(1.0)) if in_cell_gate \
                    else np.float32(1.0) / (np.float32(1.0) + ek)
            for k in range(hidden):
                c = act[b, hidden + k] * cells[t, b, k] + act[b, k] * act[b, 2 * hidden + k]
                cells[t + 1, b, k] = c
                arg[b * hidden + k] = np.float32(2.0) * c
        _exp_into(arg[:n_batch * hidden], e[:n_batch * hidden], shift)
        for b in range(n_batch):
            for k in range(hidden):
                tanh_c[t, b, k] = tc = np.float32(1.0) - np.float32(2.0) / (e_cell[b, k] + np.float32(1.0))
                out[t, b, k] = act[b, 3 * hidden + k] * tc
        h = out[t]
    return out, z, acts, cells, tanh_c, stats


@njit(cache=True)
def lstm_backward(grad_out, grad_h, grad_c, acts, cells, tanh_c, w, n_in, p, seed, first_needs_pass, noise):
    """BPTT of :func:`lstm_forward` on the array W (out × in, read transposed).

    Returns (dxₜ (T × B × n_in), dh₀, dc₀, gate errors δₜ (T × B × 4H), periphery counters).
    The pass of step 0 runs only when ``first_needs_pass`` (its input or h₀ needs a gradient).
    """
    n_steps, n_batch, hidden = grad_out.shape
    rng = seeded_state(seed)
    stats = np.zeros(3, np.int64)
    deltas = np.empty((n_steps, n_batch, 4 * hidden), np.float32)
    dxs = np.zeros((n_steps, n_batch, n_in), np.float32)
    dh = grad_h.copy()
    dc = grad_c.copy()
    for t in range(n_steps - 1, -1, -1):
        dt = deltas[t]
        for b in range(n_batch):
            for k in range(hidden):
                i, f = acts[t, b, k], acts[t, b, hidden + k]
                g, o = acts[t, b, 2 * hidden + k], acts[t, b, 3 * hidden + k]
                tc = tanh_c[t, b, k]
                dh_k = dh[b, k] + grad_out[t, b, k]
                dc_k = dc[b, k] + dh_k * o * (np.float32(1.0) - tc * tc)
                dt[b, k] = dc_k * g * i * (np.float32(1.0) - i)
                dt[b, hidden + k] = dc_k * cells[t, b, k] * f * (np.float32(1.0) - f)
                dt[b, 2 * hidden + k] = dc_k * i * (np.float32(1.0) - g * g)
                dt[b, 3 * hidden + k] = dh_k * tc * o * (np.float32(1.0) - o)
                dc[b, k] = dc_k * f
        if t > 0 or first_needs_pass:
            dz = mvm(dt, w, p, rng, stats, _at(noise[0], t), _at(noise[1], t), _at(noise[2], t), _at(noise[3], t))
            dxs[t] = dz[:, :n_in]
            dh = np.ascontiguousarray(dz[:, n_in:n_in + hidden])
        else:
            dh[:] = 0.0
    return dxs, dh, dc, deltas, stats
