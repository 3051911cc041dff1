"""One direction's periphery as the numba kernels read it: a record of numbers (numba-free, so that
the torch path and the configuration code need not load numba).

:func:`io_params` turns an :class:`.config.IOConfig` into an array of one :data:`IO_PARAMS` record
for :func:`.periphery_kernel.mvm` and the LSTM kernels; :func:`bm_repeats` and :func:`level_max`
are shared with the torch reference of :mod:`.periphery`.
"""
from __future__ import annotations

import numpy as np

from .periphery_config import IOConfig

NM_NONE, NM_ABS_MAX, NM_CONSTANT = 0, 1, 2  # noise management as the kernels read it


IO_PARAMS = np.dtype([
    ("perfect", np.bool_),          # no periphery at all: y = W·x
    ("nm", np.int64),               # noise management: NM_NONE, NM_ABS_MAX or NM_CONSTANT
    ("nm_constant", np.float64),    # the scale of NM_CONSTANT
    ("inp_res", np.float64),
    ("inp_kmax", np.int64),
    ("inp_bound", np.float64),
    ("inp_sto_round", np.bool_),
    ("inp_noise", np.float64),      # std of the DAC's output noise, in units of the input bound
    ("out_noise", np.float64),      # std of the additive output noise
    ("out_bound", np.float64),
    ("out_res", np.float64),
    ("out_kmax", np.int64),
    ("out_sto_round", np.bool_),
    ("bm_iter", np.int64),          # bound-management repetitions (0: off)
    ("sat_after_adc", np.bool_),    # saturated: the ADC level beyond ±out_kmax (else |y| ≥ out_bound before it)
], align=True)
"""One direction's periphery as the kernels read it: a record (made by :func:`io_params`, passed as
an array of one, which numba takes at the cost of a plain array). Resolutions are the DAC/ADC steps
(2·bound / (2^bits − 2)), ``*_kmax`` the largest level index (2^(bits−1) − 1; 0: no quantisation)."""


def level_max(bits: int) -> int:
    """The largest level index of a converter of ``bits`` bits, 2^(bits−1) − 1 (0: no converter)."""
    return 2 ** (bits - 1) - 1 if bits > 0 else 0


def bm_repeats(io: IOConfig) -> int:
    """Most repetitions of bound management (the input reduction doubles with each): ``bm_max_iter``
    and, with ``bm_max_res`` > 0 and a DAC, none after the pass whose reduction r first exceeds
    bm_max_res / DAC step (aihwkit's max_bm_res rule: the last pass at the smallest power of two above it)."""
    if io.bound_management != "iterative":
        return 0
    if io.bm_max_res <= 0 or io.inp_bits <= 0:
        return io.bm_max_iter
    limit = io.bm_max_res * (2**io.inp_bits - 2) / (2 * io.inp_bound)
    repeats = 0
    while 2**repeats <= limit:
        repeats += 1
    return min(io.bm_max_iter, repeats)


_IO_PARAMS: dict[tuple, np.ndarray] = {}  # io_params by the config's field values


def io_params(io: IOConfig) -> np.ndarray:
    """The periphery of one direction as the kernels read it: an array of one :data:`IO_PARAMS`
    record (weight noise is not supported there; 'average_abs_max' reads as 'abs_max' unless the
    caller sets the running scale as a constant, see :func:`.periphery.kernel_supports`). Made once
    per distinct set of values and read-only (a caller that changes it works on a copy)."""
    key = tuple(io.__dict__.values())
    p = _IO_PARAMS.get(key)
    if p is None:
        if len(_IO_PARAMS) > 256:
            _IO_PARAMS.clear()
        p = _IO_PARAMS[key] = _io_params(io)
    return p


def _io_params(io: IOConfig) -> np.ndarray:
    nm = {"none": NM_NONE, "abs_max": NM_ABS_MAX, "average_abs_max": NM_ABS_MAX,
          "constant": NM_CONSTANT}[io.noise_management]
    inp_res = 2 * io.inp_bound / (2**io.inp_bits - 2) if io.inp_bits > 0 else 1.0
    out_res = 2 * io.out_bound / (2**io.out_bits - 2) if io.out_bits > 0 else 1.0
    values = {"perfect": io.is_perfect, "nm": nm, "nm_constant": io.nm_constant, "inp_res": inp_res,
              "inp_kmax": level_max(io.inp_bits), "inp_bound": io.inp_bound, "inp_sto_round": io.inp_sto_round,
              "inp_noise": io.inp_noise, "out_noise": io.out_noise, "out_bound": io.out_bound, "out_res": out_res,
              "out_kmax": level_max(io.out_bits), "out_sto_round": io.out_sto_round,
              "bm_iter": bm_repeats(io), "sat_after_adc": io.bm_test == "after_adc" and io.out_bits > 0}
    p = np.zeros(1, IO_PARAMS)
    for name, value in values.items():
        p[name] = value
    p.flags.writeable = False
    return p
