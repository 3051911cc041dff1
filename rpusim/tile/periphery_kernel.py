"""A whole analog pass in numba (CPU): :func:`mvm`, the periphery around a BLAS product.

The same arithmetic as the tensor reference :func:`.periphery._tensor_dac_mvm_adc`, in the same
float32 order: one loop over the inputs (noise-management scale, DAC levels, input noise, :func:`dac`),
the matrix product (BLAS, called from numba), one loop over the outputs (output noise,
saturation flag, ADC levels, rescale, :func:`adc`), then bound management repeating the pass
for the saturated rows only — instead of about fifteen small tensor operations per pass and a
Python loop. Random numbers come from a xoshiro256** state (ziggurat normals) or, for the
first pass, from arrays the caller drew in bulk; an empty array (shape 0 × 0) means that
source of randomness is off or not given.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ..numba_random import fill, seeded_state
from .periphery_params import NM_ABS_MAX, NM_CONSTANT


@njit(cache=True, inline="always")
def _level(v, kmax, u, b, i):
    """Level index round(v), or floor(v + u[b, i]) when stochastic (u non-empty), clipped to ±kmax."""
    v = np.float32(math.floor(np.float32(v + u[b, i]))) if u.shape[0] else np.rint(v)
    return np.float32(min(max(v, -kmax), kmax))


@intrinsic
def _bits_as_float32(typingctx, bits):
    """The float32 whose bit pattern is the int32 ``bits``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@njit(cache=True, inline="always")
def row_abs_max(bits, b):
    """max_i |v_bi| of a float32 matrix v, given as its bit patterns (``v.view(np.int32)``): the
    largest sign-cleared pattern (for floats ≥ 0 the patterns order as the values do; an integer
    maximum vectorises where a float one does not)."""
    m = np.int32(0)
    for i in range(bits.shape[1]):
        m = max(m, bits[b, i] & np.int32(0x7FFFFFFF))
    return _bits_as_float32(m)


@njit(cache=True)
def dac(x, scale, abs_max, inv_res, kmax, bound, u, noise, xi):
    """Inputs in units of the DAC step: levels of x/s (or x/s clipped to ±bound when kmax = 0),
    plus noise·xi. ``scale`` (B) is the noise-management scale; with ``abs_max`` it is computed
    here as max|x_b| (at least 1e-30) and written back."""
    n_samples, n = x.shape
    out = np.empty_like(x)
    bits = x.view(np.int32)
    fk = np.float32(kmax)
    deterministic_levels = kmax > 0 and not u.shape[0]
    for b in range(n_samples):
        if abs_max:
            scale[b] = max(row_abs_max(bits, b), np.float32(1e-30))
        inv = np.float32(1.0) / scale[b]
        if deterministic_levels:  # the common case, as one vectorised loop
            for i in range(n):
                out[b, i] = min(max(np.rint(np.float32(np.float32(x[b, i] * inv) * inv_res)), -fk), fk)
        else:
            for i in range(n):
                v = np.float32(x[b, i] * inv)
                if kmax > 0:
                    v = _level(np.float32(v * inv_res), kmax, u, b, i)
                else:
                    v = np.float32(min(max(v, -bound), bound))
                out[b, i] = v
        if xi.shape[0]:
            for i in range(n):
                out[b, i] = np.float32(out[b, i] + noise * xi[b, i])
    return out


@njit(cache=True)
def adc(y, res, scale, noise, xi, bound, inv_out_res, out_res, kmax, u, saturated, after_adc):
    """In place: y ← s·ADC(res·y + noise·xi); saturated[b]: max|res·y_b + noise·xi_b| ≥ bound, or with
    ``after_adc`` (and kmax > 0) some level index beyond ±kmax before the clip."""
    n_samples, m = y.shape
    bits = y.view(np.int32)
    fk = np.float32(kmax)
    deterministic_levels = kmax > 0 and not u.shape[0]
    after_adc = after_adc and kmax > 0
    for b in range(n_samples):
        if xi.shape[0]:
            for j in range(m):
                y[b, j] = np.float32(np.float32(y[b, j] * res) + np.float32(noise * xi[b, j]))
        else:
            for j in range(m):
                y[b, j] = np.float32(y[b, j] * res)
        if after_adc:  # the largest |y| has the largest rounded level (u per element: check each)
            saturated[b] = False
            if u.shape[0]:
                for j in range(m):
                    saturated[b] |= abs(math.floor(np.float32(np.float32(y[b, j] * inv_out_res) + u[b, j]))) > kmax
            else:
                saturated[b] = np.rint(np.float32(row_abs_max(bits, b) * inv_out_res)) > fk
        else:
            saturated[b] = row_abs_max(bits, b) >= bound
        s = scale[b]
        if deterministic_levels:
            for j in range(m):
                y[b, j] = np.float32(np.float32(min(max(np.rint(np.float32(y[b, j] * inv_out_res)), -fk), fk)
                                                * out_res) * s)
        else:
            for j in range(m):
                v = y[b, j]
                if kmax > 0:
                    v = np.float32(_level(np.float32(v * inv_out_res), kmax, u, b, j) * out_res)
                else:
                    v = np.float32(min(max(v, -bound), bound))
                y[b, j] = v * s


# --- a whole analog pass ---------------------------------------------------------------------------
@njit(cache=True)
def _or_draw(given, rng, n_rows, n_cols, on, normal):
    """The random numbers ``given`` for a pass, or fresh ones from ``rng`` when none were given."""
    if not on or given.shape[0]:
        return given
    out = np.empty((n_rows, n_cols), np.float32)
    fill(out, rng, normal)
    return out


@njit(cache=True)
def _kernel_dac_mvm_adc(v, scale, abs_max, w_t, p, rng, saturated, u_in, xi_in, xi_out, u_out):
    """One pass of the rows v through the periphery and the array (w_t: in × out): :func:`dac`,
    the product, :func:`adc`; random numbers not given (empty arrays) are drawn from ``rng``."""
    n_rows, n = v.shape
    m = w_t.shape[1]
    u_in = _or_draw(u_in, rng, n_rows, n, p.inp_sto_round and p.inp_kmax > 0, False)
    xi_in = _or_draw(xi_in, rng, n_rows, n, p.inp_noise > 0, True)
    x_unit = dac(v, scale, abs_max, np.float32(1 / p.inp_res), p.inp_kmax, np.float32(p.inp_bound),
                 u_in, np.float32(p.inp_noise / p.inp_res), xi_in)
    y = np.dot(x_unit, w_t)
    xi_out = _or_draw(xi_out, rng, n_rows, m, p.out_noise > 0, True)
    u_out = _or_draw(u_out, rng, n_rows, m, p.out_sto_round and p.out_kmax > 0, False)
    adc(y, np.float32(p.inp_res), scale, np.float32(p.out_noise), xi_out, np.float32(p.out_bound),
        np.float32(1 / p.out_res), np.float32(p.out_res), p.out_kmax, u_out, saturated, p.sat_after_adc)
    return y


@njit(cache=True)
def mvm(v, w_t, params, rng, stats, u_in, xi_in, xi_out, u_out):
    """y = v·w_t through the periphery of ``params`` (an array of one
    :data:`.periphery_params.IO_PARAMS` record), as :func:`.periphery.analog_mvm` does it
    (noise management, iterative bound management on the saturated rows only); ``stats`` +=
    (rows, saturated first, saturated finally). The first pass uses the random numbers given
    (u_in, xi_in: rows × in; xi_out, u_out: rows × out; empty arrays: draw from the xoshiro state
    ``rng``), the repetitions of bound management draw theirs from ``rng``."""
    n_rows = v.shape[0]
    p = params[0]
    if p.perfect:
        return np.dot(v, w_t)
    nm = p.nm
    scale = np.empty(n_rows, np.float32)
    if nm != NM_ABS_MAX:
        scale[:] = np.float32(p.nm_constant) if nm == NM_CONSTANT else np.float32(1.0)
    saturated = np.empty(n_rows, np.bool_)
    y = _kernel_dac_mvm_adc(v, scale, nm == NM_ABS_MAX, w_t, p, rng, saturated, u_in, xi_in, xi_out, u_out)
    idx = np.flatnonzero(saturated)
    stats[0] += n_rows
    stats[1] += idx.size
    none = np.zeros((0, 0), np.float32)
    for _ in range(p.bm_iter):
        if idx.size == 0:
            break
        sub_scale = scale[idx] * np.float32(2.0)
        scale[idx] = sub_scale
        sub_sat = np.empty(idx.size, np.bool_)
        y_sub = _kernel_dac_mvm_adc(v[idx], sub_scale, False, w_t, p, rng, sub_sat, none, none, none, none)
        for k in range(idx.size):
            y[idx[k]] = y_sub[k]
        idx = idx[sub_sat]
    stats[2] += idx.size
    return y


@njit(cache=True)
def seeded_mvm(v, w_t, params, seed):
    """:func:`mvm` with its random numbers from a xoshiro stream seeded by ``seed`` (all drawn in the
    kernel): (y, rows saturated in the first pass, rows saturated after bound management). One
    call from Python instead of seeding, allocating the counters and passing empty arrays."""
    stats = np.zeros(3, np.int64)
    none = np.zeros((0, 0), np.float32)
    y = mvm(v, w_t, params, seeded_state(seed), stats, none, none, none, none)
    return y, stats[1], stats[2]
