"""The symmetry point of a bounded-step device or a charge-trap-flash cell: where an up and a down pulse cancel.

Every bounded device here has a mean up-step s_up(w) that does not grow and a mean down-step
s_down(w) that does not shrink as the state w rises. Alternating up and down pulses (what a
stochastic update with no net gradient delivers) then drive each device to the state w*_ij
where the two are equal,

    s_up(w*) = s_down(w*),

and keep it within about one step of it: such an array behaves as if every weight were pulled
towards its own w*, the reason why transfer algorithms (Tiki-Taka) subtract a reference at w*.
Cycle-to-cycle noise multiplies the step by (1 + σ_c2c·ξ), E[ξ] = 0, so the mean dynamics and
w* do not depend on it.

* Linear family (constant step γ = 0, soft bounds γ = 1, linear step): with the per-device
  Δw^up, Δw^down and bounds of :meth:`~.bounded.BoundedStepDevice.sample_params`,

      Δw^up·(1 − γ_up·w*/w_max) = Δw^down·(1 − γ_down·w*/w_min)
      ⇒  w* = (Δw^up − Δw^down) / (γ_up·Δw^up/w_max − γ_down·Δw^down/w_min)

  (w_min < 0). Soft bounds with symmetric bounds ±b and global asymmetry a (``up_down``:
  Δw^up ∝ 1 + a, Δw^down ∝ 1 − a): w* = a·b, so the asymmetry sets the symmetry point.
* Any other step law (exp step, pow step, piecewise step): bisection on the sign of
  s_up(w) − s_down(w) within the device's bounds (to float precision).

A w* outside the device's range is its bound: the device drifts into the bound whose direction
has the larger step everywhere (a constant-step device with Δw^up ≠ Δw^down). A device whose
up and down steps are equal everywhere (constant step without asymmetry) prefers no state;
its w* is 0, clipped to its range (there is nothing to subtract).

* Charge-trap-flash cell (:class:`~.ctf.CTFDevice`): a pulse of effective time τ moves the cell at
  window position h by dh_up ≈ s·τ·β/t_prog·(1 − h)^(1+1/β) (program) and dh_down ≈
  s·τ·β/t_erase·h^(1+1/β) (erase), s the cell's speed (common to both), so

      (1 − h*)/h* = (t_prog/t_erase)^(β/(1+β)),   w* = w_lo + h*·(w_hi − w_lo)

  per cell: mid-window (h* = 1/2) when t_prog = t_erase, exactly so also for finite pulses (the
  erase curve mirrors the program curve, and up and down trains share their effective-time
  tables), whatever the speed; its spread over the cells is that of the window edges.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..config import ConfigError
from .base import PulsedDevice
from .bounded import BoundedStepDevice
from .ctf import CTFDevice
from .linear_step import _LinearFamily

BISECTION_STEPS = 60  # halvings of the range: far below float precision of any weight range


def has_symmetry_point(device: PulsedDevice) -> bool:
    """Whether :func:`symmetry_point` knows the device's: a bounded-step device or a charge-trap-flash cell."""
    return isinstance(device, (BoundedStepDevice, CTFDevice))


def symmetry_point(device: PulsedDevice, params: dict[str, Tensor]) -> Tensor:
    """w*_ij of every device of an array (the shape of the array's state): the state where the
    mean up- and down-steps are equal (see the module docstring), within the device's bounds."""
    _require_symmetry_point(device)
    if isinstance(device, CTFDevice):
        return _ctf_symmetry_point(device, params)
    lo, hi = params["w_min"], params["w_max"]
    if isinstance(device, _LinearFamily):
        w_star = _linear_symmetry_point(device, params)
    else:
        w_star = _bisect_symmetry_point(device, params)
    return torch.minimum(torch.maximum(w_star, lo), hi)


def _require_symmetry_point(device: PulsedDevice) -> None:
    if not has_symmetry_point(device):
        raise ConfigError(f"device type {device.type!r} has no symmetry point: only bounded-step devices "
                          f"(a step law s_up(w), s_down(w) within bounds) and charge-trap-flash cells have one")


def _ctf_symmetry_point(device: CTFDevice, p: dict[str, Tensor]) -> Tensor:
    """w* = w_lo + h*·(w_hi − w_lo), h* = 1/(1 + (t_prog/t_erase)^(β/(1+β))): equal program and erase rates."""
    h_star = 1 / (1 + (device.t_prog / device.t_erase) ** (device.beta / (1 + device.beta)))
    return p["w_lo"] + h_star * (p["w_hi"] - p["w_lo"])


def _linear_symmetry_point(device: _LinearFamily, p: dict[str, Tensor]) -> Tensor:
    """Closed form for steps linear in w; a bound (or 0 when the steps are equal) where both slopes vanish."""
    g_up, g_down = device.gammas()
    num = p["dw_up"] - p["dw_down"]
    den = g_up * p["dw_up"] / p["w_max"] - g_down * p["dw_down"] / p["w_min"]
    flat = den <= 0  # both slopes zero: the sign of Δw^up − Δw^down decides alone
    drift = torch.where(num > 0, p["w_max"], torch.where(num < 0, p["w_min"], torch.zeros_like(num)))
    return torch.where(flat, drift, num / torch.where(flat, torch.ones_like(den), den))


def _bisect_symmetry_point(device: BoundedStepDevice, p: dict[str, Tensor]) -> Tensor:
    """Bisection on 'the up-step is larger' over [w_min_ij, w_max_ij]; 0 where the steps are equal throughout."""
    lo, hi = p["w_min"].clone(), p["w_max"].clone()
    up, down = torch.ones_like(lo, dtype=torch.bool), torch.zeros_like(lo, dtype=torch.bool)

    def excess(w: Tensor) -> Tensor:  # s_up(w) − s_down(w), non-increasing in w
        return device.step_size(w, up, p).clamp_min(0) - device.step_size(w, down, p).clamp_min(0)

    indifferent = (excess(lo) == 0) & (excess(hi) == 0)
    for _ in range(BISECTION_STEPS):
        mid = (lo + hi) / 2
        up_wins = excess(mid) > 0
        lo, hi = torch.where(up_wins, mid, lo), torch.where(up_wins, hi, mid)
    return torch.where(indifferent, torch.zeros_like(lo), (lo + hi) / 2)


def mean_params(device: PulsedDevice, dtype: torch.dtype = torch.float64) -> dict[str, Tensor]:
    """The parameters of the nominal device: every device-to-device spread (``*_dtod``) set to zero."""
    spreads = {name: 0.0 for name in type(device).model_fields if name.endswith("_dtod")}
    params = device.model_copy(update=spreads).sample_params((1,), None)
    return {k: v.to(dtype) for k, v in params.items()}


def nominal_symmetry_point(device: PulsedDevice) -> float:
    """w* of the nominal device (mean parameters, no device-to-device spread), e.g. 0.03 for
    ``SoftBoundsDevice(up_down=0.05, w_max=0.6, w_min=-0.6)`` (a·b)."""
    _require_symmetry_point(device)
    return float(symmetry_point(device, mean_params(device))[0])
