"""The one decision between a CPU kernel (numba) and the torch reference path, and the seeds of the kernels.

Every computation that has a numba kernel also has a reference in tensor operations (any
device, any dtype, every feature). :func:`use_fast_kernel` decides, for each call, which one
runs. A kernel is used exactly when

* the reference path is not forced: neither inside :func:`reference_path` nor with the
  environment variable ``RPUSIM_REFERENCE=1`` (``0`` or unset: not forced; read once, at the
  process's first decision);
* every tensor the kernel reads or writes is a float32 tensor on the CPU: the kernels compute
  in float32 (their roundings, clamps and random draws are written for it) and reach the
  tensors' memory through numpy; they make their inputs contiguous themselves. Any other
  dtype, float64 included, takes the reference path and keeps its precision throughout;
* the call site's configuration is one its kernel implements (``supported``).

The call sites and what each kernel implements (everything else: reference path):

=====================================  ==========================================================
site                                   kernel and the features it implements
=====================================  ==========================================================
``tile.AnalogTile.update``             :func:`.tile.bit_counts.packed_update_counts`: the fast
                                       update (``mode='fast'``, ``counting`` 'auto' or 'packed'),
                                       update and BL management included, clipping per update
                                       (``clip='per_update'``, or one sample; long trains drawn
                                       and counted sample by sample, :mod:`.tile.sample_trains`);
                                       tensors x, δ
``pulsed_update.ordered_update``       :func:`.devices.constant_step_kernel.constant_steps_ordered_at`:
                                       ``clip='per_pulse'``, the cells that got pulses of both
                                       signs walked slot by slot (γ = 0); tensors: state, trains
``tile.periphery.analog_mvm``          :func:`.tile.periphery_kernel.seeded_mvm`: one direction's
                                       periphery, noise and bound management included, without
                                       weight read noise (``w_noise = 0``); tensors x, W
``nn.lstm.AnalogLSTMCell``             :mod:`.nn.lstm_kernel`: a whole sequence, forward and
                                       BPTT, for one tile with the bias on the array and a
                                       periphery without weight noise or 'average_abs_max'
                                       (:func:`.tile.periphery.kernel_supports`), any tile
                                       class (W: its ``get_weights()``, a compound's effective
                                       weight); tensors sequence, h₀, c₀, W
``nn.patches.patch_rows``              :mod:`.nn.patches_kernel`: the patch walk of a convolution
                                       (unfold and its gradient); tensor: the images
``devices.linear_step`` (γ = 0)        :mod:`.devices.constant_step_kernel`: constant-step
                                       response in place; tensors: state, counts
``devices.ctf.CTFDevice``              :mod:`.devices.ctf_kernel`: the CTF train response in
                                       place; tensors: state, counts
=====================================  ==========================================================

The kernels and the reference draw their random numbers differently, so forcing the
reference path changes the random stream of a run (not the distribution of anything).

numba is imported by the kernel modules only, and they are imported by their call sites where
this predicate chose them: a process that never runs a kernel (floating point, the reference path,
the command line's listings) does not load numba and its LLVM. The seeds of the kernels' random
streams come from :func:`draw_seed`, here because it needs torch only.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import torch
from torch import Tensor

from .config import ConfigError

REFERENCE_ENV = "RPUSIM_REFERENCE"
_forced_depth = 0  # nesting depth of reference_path() blocks (process-wide)
_env_forced: bool | None = None  # RPUSIM_REFERENCE, read once per process at the first decision


def reference_forced() -> bool:
    """Whether the reference path is forced (:func:`reference_path`, or ``RPUSIM_REFERENCE=1`` in the
    environment when the process made its first decision; another value than 1, 0 or empty is refused)."""
    global _env_forced
    if _env_forced is None:
        value = os.environ.get(REFERENCE_ENV, "0")
        if value not in ("0", "1", ""):
            raise ConfigError(f"environment variable {REFERENCE_ENV}={value!r}: allowed are 1 (force the "
                              f"torch reference path) and 0 or unset (numba kernels where they apply)")
        _env_forced = value == "1"
    return _forced_depth > 0 or _env_forced


def use_fast_kernel(*tensors: Tensor, supported: bool = True) -> bool:
    """True when a numba kernel computes this call: not forced to the reference path, the call
    site's configuration ``supported`` by its kernel, and every tensor float32 on the CPU (see the
    module docstring for the sites and their features)."""
    if not supported or reference_forced():
        return False
    for t in tensors:
        if t.dtype is not torch.float32 or not t.is_cpu:
            return False
    return True


_SEED_SLOT = threading.local()  # one reusable int64 scalar per thread: no tensor allocated per draw


def draw_seed(gen: torch.Generator | None) -> int:
    """A seed for a kernel's random stream (:func:`rpusim.numba_random.seeded_state`), drawn from a
    torch generator (None: torch's default one), so that runs stay reproducible and resumable with
    the generator's state."""
    slot = getattr(_SEED_SLOT, "tensor", None)
    if slot is None:
        slot = _SEED_SLOT.tensor = torch.empty((), dtype=torch.int64)
    return int(slot.random_(0, 2**62, generator=gen))


@contextmanager
def reference_path():
    """Within this block every call takes the torch reference path (process-wide, nestable)."""
    global _forced_depth
    _forced_depth += 1
    try:
        yield
    finally:
        _forced_depth -= 1
