"""The periphery of one analog pass fused into two numba loops over the batch (CPU).

The same arithmetic as :func:`.periphery._one_pass`, in the same float32 order and with the
same random numbers drawn from the tile's torch generator in the same order, but one pass
over the inputs (noise-management scale, DAC levels, input noise) and one over the outputs
(output noise, saturation flag, ADC levels, rescale) instead of about fifteen small tensor
operations and their temporaries; the matrix product between them stays with torch (BLAS).
An empty random array (shape 0 × 0) means that source of randomness is off.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _level(v, kmax, u, b, i):
    """Level index round(v), or floor(v + u[b, i]) when stochastic (u non-empty), clipped to ±kmax."""
    v = np.float32(math.floor(np.float32(v + u[b, i]))) if u.shape[0] else np.rint(v)
    return np.float32(min(max(v, -kmax), kmax))


@njit(cache=True)
def dac(x, scale, abs_max, inv_res, kmax, bound, u, noise, xi):
    """Inputs in units of the DAC step: levels of x/s (or x/s clipped to ±bound when kmax = 0),
    plus noise·xi. ``scale`` (B) is the noise-management scale; with ``abs_max`` it is computed
    here as max|x_b| (at least 1e-30) and written back."""
    n_samples, n = x.shape
    out = np.empty_like(x)
    for b in range(n_samples):
        if abs_max:
            m = np.float32(0.0)
            for i in range(n):
                m = max(m, abs(x[b, i]))
            scale[b] = max(m, np.float32(1e-30))
        inv = np.float32(1.0) / scale[b]
        for i in range(n):
            v = np.float32(x[b, i] * inv)
            if kmax > 0:
                v = _level(np.float32(v * inv_res), kmax, u, b, i)
            else:
                v = np.float32(min(max(v, -bound), bound))
            if xi.shape[0]:
                v = np.float32(v + noise * xi[b, i])
            out[b, i] = v
    return out


@njit(cache=True)
def adc(y, res, scale, noise, xi, bound, inv_out_res, out_res, kmax, u, saturated):
    """In place: y ← s·ADC(res·y + noise·xi); saturated[b] = max|res·y_b + noise·xi_b| ≥ bound."""
    n_samples, m = y.shape
    for b in range(n_samples):
        peak = np.float32(0.0)
        for j in range(m):
            v = np.float32(y[b, j] * res)
            if xi.shape[0]:
                v = np.float32(v + noise * xi[b, j])
            peak = max(peak, abs(v))
            if kmax > 0:
                v = np.float32(_level(np.float32(v * inv_out_res), kmax, u, b, j) * out_res)
            else:
                v = np.float32(min(max(v, -bound), bound))
            y[b, j] = v * scale[b]
        saturated[b] = peak >= bound
