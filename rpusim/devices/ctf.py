"""Charge-trap-flash (CTF) cell with non-ideal program time [ours, after Shrivastava et al. 2024].

Physics (Shrivastava et al., arXiv 2402.09792 and 2307.06088; equations ours):

* The cell's threshold voltage V_T moves inside the cell's own window [V_lo,ij, V_hi,ij];
  the weight is the linear map w = w_min + (V_T − v_lo)/(v_hi − v_lo)·(w_max − w_min) of
  the nominal window. The simulator stores the weight (``state`` = w); :meth:`CTFDevice.v_t`
  gives V_T. Let h ∈ [0, 1] be the position in the cell's window.
* Program curve, in effective program time t (µs): h(t) = 1 − (1 + t/t_prog,ij)^(−β),
  monotone and saturating at the window top (logarithmic in t for small β; β = 1: h is a
  logistic in ln t). A pulse of effective time τ moves a cell at h along the curve:
  1 − h' = (1 − h)·(1 + x)^(−β), x = (τ/t_prog,ij)·(1 − h)^(1/β). Erase mirrors it:
  h' = h·(1 + y)^(−β), y = (τ/t_erase,ij)·h^(1/β). Effective times add along the curve, so
  a train of same-sign pulses is the curve applied once to the sum of their effective times.
* The effective time of each pulse is its width minus the transient loss of
  :mod:`.ctf_transient` (τ_on, τ_off, amplitude a), times (1 + σ_c2c·ξ) cycle-to-cycle noise
  (applied to the V_T step of each pulse, ξ ~ N(0, 1)).
* Device-to-device: window edges spread by ``window_dtod``·(window width), program speed
  lognormal with ``speed_dtod``.
* Pulse-train compensation (``compensation: true``): every pulse is widened to k·pw, with
  k(N, t_gap) calibrated so that the expected effective on-time per pulse of a train with
  coincidence rate ``calib_rate`` per slot equals the nominal pw (:meth:`compensation_gain`).

Ideal (program-time conserving) reference: a pulse of width pw is worth pw of program time;
``nominal_dw_min`` is the weight change of such a pulse at the window centre.

The fast :meth:`apply_pulses` takes the counts n of one update of ``slots`` = N slots and uses
the exact mean and variance of the train's transient loss given n (random slot pattern): the
mean effective time moves the cell along the curve (up train before down train, each starting
relaxed), and one Gaussian factor on the step carries the relative variance of the transient
(linearised) and of the n pulses' cycle-to-cycle noise, σ_c2c²/n. The slot-by-slot reference
is :func:`reference_train`. The tile's ``mode: exact`` calls :meth:`pulse`, which sees no
slot timing and so models an isolated (relaxed) pulse.
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import Tensor

from ..fast_path import use_fast_kernel
from .base import PulsedDevice
from .ctf_transient import cold_loss_factor, train_loss_moments


class CTFDevice(PulsedDevice):
    """Charge-trap-flash cell: V_T moved along a saturating program curve by transient-limited pulses."""

    type: Literal["ctf"] = "ctf"
    v_lo: float = Field(1.0, description="bottom of the nominal V_T window (V)")
    v_hi: float = Field(5.0, description="top of the nominal V_T window (V)")
    w_min: float = Field(-1.0, lt=0, description="weight of V_T = v_lo (weight units)")
    w_max: float = Field(1.0, gt=0, description="weight of V_T = v_hi (weight units)")
    window_dtod: float = Field(0.1, ge=0, le=0.3, description="device-to-device std of each window edge (fraction of the window width)")
    t_prog: float = Field(5000.0, gt=0, description="program time constant t_prog: effective time from v_lo to mid-window at β=1 (µs)")
    t_erase: float = Field(5000.0, gt=0, description="erase time constant, mirror of t_prog (µs)")
    speed_dtod: float = Field(0.3, ge=0, le=2, description="device-to-device spread of program/erase speed (std of its log)")
    beta: float = Field(1.0, gt=0, le=10, description="program-curve exponent β (dimensionless; small β: logarithmic)")
    pw: float = Field(1.0, gt=0, description="nominal pulse width pw (µs)")
    t_gap: float = Field(5.0, ge=0, description="gap between successive pulse slots t_gap (µs); slot period pw + t_gap")
    tau_on: float = Field(1.0, ge=0, description="build-up time of the transient during a pulse τ_on (µs)")
    tau_off: float = Field(10.0, ge=0, description="relaxation time of the transient during a gap τ_off (µs)")
    transient: float = Field(0.9, ge=0, le=1, description="a: fraction of the program rate missing in a relaxed cell (0: program time conserved)")
    c2c_std: float = Field(0.3, ge=0, le=50, description="cycle-to-cycle noise of each pulse's V_T step (relative std)")
    compensation: bool = Field(False, description="widen pulses by the calibrated gain k(N, t_gap) (pulse-train design compensation)")
    calib_rate: float = Field(0.05, gt=0, le=1, description="coincidence probability per slot the compensation is calibrated for")

    @model_validator(mode="after")
    def _window_order(self):
        if not self.v_lo < self.v_hi:
            raise ValueError(f"v_lo ({self.v_lo}) must be below v_hi ({self.v_hi})")
        return self

    # --- mapping and ideal step ---------------------------------------------------------------
    @property
    def nominal_dw_min(self) -> float:
        """Weight change of one ideal pulse (pw of program time) at the window centre."""
        slope = self.beta * 0.5 ** (1 + 1 / self.beta) / self.t_prog          # dh/dt at h = 1/2
        return (self.w_max - self.w_min) * slope * self.pw

    def v_t(self, w: Tensor) -> Tensor:
        """Threshold voltage (V) of a cell holding weight w."""
        return self.v_lo + (w - self.w_min) / (self.w_max - self.w_min) * (self.v_hi - self.v_lo)

    def sample_params(self, shape, gen, device="cpu"):
        width = self.w_max - self.w_min
        lo = self.w_min + width * self.window_dtod * torch.randn(shape, generator=gen, device=device)
        hi = self.w_max + width * self.window_dtod * torch.randn(shape, generator=gen, device=device)
        speed = torch.exp(self.speed_dtod * torch.randn(shape, generator=gen, device=device))
        # each window keeps its own side of zero and at least a tenth of the nominal width
        lo = lo.clamp(max=-0.05 * width)
        hi = hi.clamp(min=0.05 * width)
        return {"w_lo": lo, "w_hi": hi, "speed": speed}

    def clip(self, w, p):
        return torch.minimum(torch.maximum(w, p["w_lo"]), p["w_hi"])

    # --- program curve ----------------------------------------------------------------------
    def move(self, w: Tensor, t_up: Tensor, t_down: Tensor, p: dict[str, Tensor]) -> Tensor:
        """Program by effective time t_up, then erase by t_down (µs, ≥ 0), along the curves."""
        lo, width = p["w_lo"], p["w_hi"] - p["w_lo"]
        h = ((w - lo) / width).clamp(0, 1)
        x = t_up * p["speed"] * (1 / self.t_prog)
        y = t_down * p["speed"] * (1 / self.t_erase)
        if self.beta == 1:                      # (1 + x)^(−1): the common case, fewer operations
            h = 1 - (1 - h) / (1 + x * (1 - h))
            h = h / (1 + y * h)
        else:
            b = self.beta
            h = 1 - (1 - h) * torch.exp(-b * torch.log1p(x * (1 - h).pow(1 / b)))
            h = h * torch.exp(-b * torch.log1p(y * h.pow(1 / b)))
        return lo + h * width

    # --- pulse trains -----------------------------------------------------------------------
    def pulse_width(self, n_slots: int | None) -> float:
        """Width of the pulses actually applied: pw, or k(N, t_gap)·pw with compensation."""
        if not self.compensation or n_slots is None:
            return self.pw * (self.compensation_gain(1) if self.compensation else 1.0)
        return self.pw * self.compensation_gain(n_slots)

    def cold_effective_time(self, pw: float) -> float:
        """Effective program time of one pulse of width pw in a relaxed cell (µs)."""
        return pw - self.transient * cold_loss_factor(pw, self.tau_on)

    def train_effective_time(self, n_slots: int, pw: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the total effective time (µs, µs²) of n pulses in N slots, n = 0…N."""
        mean_l, var_l = train_loss_moments(int(n_slots), float(pw), float(self.t_gap),
                                           float(self.tau_on), float(self.tau_off))
        k = self.transient * cold_loss_factor(pw, self.tau_on)
        n = np.arange(n_slots + 1)
        return n * pw - k * mean_l, k * k * var_l

    def compensation_gain(self, n_slots: int) -> float:
        """k(N, t_gap): pulse-width factor whose trains, at coincidence rate ``calib_rate``,
        deliver on average pw of effective time per pulse (a root in k: :func:`_increasing_root`)."""
        return _calibrated_gain(self._timing_key(), int(n_slots), self.calib_rate)

    def _timing_key(self) -> tuple:
        return (self.pw, self.t_gap, self.tau_on, self.tau_off, self.transient)

    def apply_pulses(self, w, n_up, n_down, p, gen, slots=None):
        up, down = n_up.long(), n_down.long()
        mean, rel_std = self.train_tables(slots, int(torch.maximum(up, down).max()) if up.numel() else 0,
                                          w.dtype, w.device)
        dw = self.move(w, mean[up], mean[down], p) - w
        if len(rel_std):
            total = (up + down).clamp(max=len(rel_std) - 1)
            dw = dw * (1 + rel_std[total] * torch.randn(w.shape, generator=gen, device=w.device))
        return torch.where((up > 0) | (down > 0), self.clip(w + dw, p), w)

    def apply_pulses_at(self, state, p, rows, cols, n_up, n_down, gen, slots=None) -> bool:
        """:meth:`apply_pulses` in place on the fired rows × cols of the whole array (float32 on
        the CPU: the numba kernel of :mod:`.ctf_kernel`); returns False elsewhere."""
        if not use_fast_kernel(state, n_up, n_down):
            return False
        from .ctf_kernel import ctf_trains_at
        up, down = n_up.contiguous().numpy(), n_down.contiguous().numpy()
        mean, rel_std = self._tables(slots, int(max(up.max(), down.max())) if up.size else 0)
        ctf_trains_at(state, p, rows, cols, up, down, mean, rel_std, self.t_prog, self.t_erase,
                      self.beta, gen)
        return True

    def train_tables(self, slots: int | None, top: int, dtype=torch.float32,
                     device="cpu") -> tuple[Tensor, Tensor]:
        """Per pulse count n = 0…top (at least): the mean effective time of a train (µs) and the
        relative std of its V_T step (transient scatter and cycle-to-cycle noise, σ_c2c/√n,
        combined; empty if none).

        Trains of a batch follow each other, so counts above N use tables of N·ceil(n/N) slots."""
        mean, rel_std = self._tables(slots, top)
        return torch.tensor(mean, dtype=dtype, device=device), torch.tensor(rel_std, dtype=dtype, device=device)

    def _tables(self, slots: int | None, top: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`train_tables` as float64 arrays, computed once per device law and table size
        (without slots: isolated pulses, the size rounded up to a power of two)."""
        blocks = max(1, -(-top // slots)) if slots is not None else 1 << max(top, 1).bit_length()
        key = (*self._timing_key(), self.c2c_std, self.compensation, self.calib_rate, slots, blocks)
        tables = _TABLES.get(key)
        if tables is None:
            if len(_TABLES) >= 256:
                _TABLES.clear()
            tables = _TABLES[key] = self._compute_tables(slots, blocks)
        return tables

    def _compute_tables(self, slots: int | None, blocks: int) -> tuple[np.ndarray, np.ndarray]:
        """The tables of ``blocks`` trains of N = ``slots`` slots, or of ``blocks`` − 1 isolated
        pulses when ``slots`` is None."""
        if slots is None:
            n = np.arange(blocks)
            mean, var = n * self.cold_effective_time(self.pulse_width(None)), np.zeros(blocks)
        else:
            mean, var = self.train_effective_time(slots * blocks, self.pulse_width(slots))
            n = np.arange(len(mean))
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_var = np.where(n > 0, var / np.maximum(mean, 1e-30) ** 2 + self.c2c_std**2 / np.maximum(n, 1), 0.0)
        noisy = self.c2c_std > 0 or (self.transient > 0 and self.tau_on > 0 and slots is not None)
        rel_std = np.sqrt(rel_var) if noisy else np.zeros(0)
        mean.flags.writeable = rel_std.flags.writeable = False
        return mean, rel_std

    def pulse(self, w, direction, p, gen):
        """One isolated pulse (relaxed cell) in direction ±1 (0: nothing)."""
        t = self.cold_effective_time(self.pulse_width(None))
        up = (direction > 0).to(w.dtype) * t
        down = (direction < 0).to(w.dtype) * t
        return self._noisy_step(w, self.move(w, up, down, p), direction != 0, p, gen)

    def _noisy_step(self, w, w_new, fired, p, gen):
        dw = w_new - w
        if self.c2c_std:
            dw = dw * (1 + self.c2c_std * torch.randn(w.shape, generator=gen, device=w.device))
        return torch.where(fired, self.clip(w + dw, p), w)


@torch.no_grad()
def reference_train(device: CTFDevice, w: Tensor, bits: Tensor, direction: Tensor,
                    p: dict[str, Tensor], gen: torch.Generator | None) -> Tensor:
    """Slot-by-slot reference: ``bits`` (N × shape, bool) are each cell's coincidences in the
    N slots of one update, ``direction`` (shape, ±1) their sign. Tracks every cell's transient
    through pulses and gaps and applies each pulse along the program curve with its own noise."""
    pw = device.pulse_width(bits.shape[0])
    decay_gap = math.exp(-device.t_gap / device.tau_off) if device.tau_off > 0 else 0.0
    decay_slot = math.exp(-(pw + device.t_gap) / device.tau_off) if device.tau_off > 0 else 0.0
    build = math.exp(-pw / device.tau_on) if device.tau_on > 0 else 0.0
    loss = device.transient * cold_loss_factor(pw, device.tau_on)
    e = torch.zeros_like(w)
    for fired in bits:
        t = torch.where(fired, pw - loss * (1 - e), torch.zeros_like(w))
        up, down = t * (direction > 0), t * (direction < 0)
        w = device._noisy_step(w, device.move(w, up, down, p), fired, p, gen)
        e = torch.where(fired, (1 - (1 - e) * build) * decay_gap, e * decay_slot)
    return w


@torch.no_grad()
def _mean_time_per_pulse(timing: tuple, n_slots: int, rate: float, gain: float) -> float:
    pw, t_gap, tau_on, tau_off, a = timing
    width = pw * gain
    top = n_slots if rate >= 1 else min(n_slots, int(n_slots * rate + 10 * math.sqrt(n_slots * rate) + 10))
    mean_l, _ = train_loss_moments(n_slots, float(width), float(t_gap), float(tau_on), float(tau_off), top)
    n = np.arange(top + 1)
    if rate >= 1:
        log_pmf = np.where(n == n_slots, 0.0, -np.inf)
    else:   # binomial(N, rate), truncated where it is negligible
        log_pmf = (np.array([math.lgamma(n_slots + 1) - math.lgamma(k + 1) - math.lgamma(n_slots - k + 1) for k in n])
                   + n * math.log(rate) + (n_slots - n) * math.log1p(-rate))
    pmf = np.exp(log_pmf - log_pmf.max())
    pmf /= pmf.sum()
    t = n * width - a * cold_loss_factor(width, tau_on) * mean_l
    return float((pmf * t).sum() / (pmf * n).sum())


_GAINS: dict[tuple, float] = {}
_TABLES: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # CTFDevice._tables


def _calibrated_gain(timing: tuple, n_slots: int, rate: float) -> float:
    key = (timing, n_slots, rate)
    if key not in _GAINS:
        pw, a = timing[0], timing[4]
        _GAINS[key] = _increasing_root(lambda k: _mean_time_per_pulse(timing, n_slots, rate, k) - pw,
                                       1.0, 1.0 / max(1.0 - a, 1e-3) + 1.0)   # the rate never drops below (1 − a)
    return _GAINS[key]


def _increasing_root(f, lo: float, hi: float, tol: float = 1e-10) -> float:
    """The root of an increasing f in [lo, hi] (lo if f(lo) ≥ 0, hi if f(hi) ≤ 0), by regula falsi
    with the Illinois halving: the bracket shrinks superlinearly, about ten evaluations of f."""
    f_lo, f_hi = f(lo), f(hi)
    if f_lo >= 0 or f_hi <= 0:
        return lo if f_lo >= 0 else hi
    side = 0
    for _ in range(100):
        mid = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        f_mid = f(mid)
        if f_mid == 0:
            return mid
        if f_mid < 0:
            lo, f_lo = mid, f_mid
            if side == -1:
                f_hi *= 0.5
            side = -1
        else:
            hi, f_hi = mid, f_mid
            if side == 1:
                f_lo *= 0.5
            side = 1
        if hi - lo < tol:
            break
    return 0.5 * (lo + hi)
