"""Devices with a nonlinear step-size law: ExpStep and PowStep (aihwkit's models).

ExpStep (an exponential fit to measured devices), with z = 2·a·w/(w_max − w_min) + b:

    s_up(w)   = Δw_ij^up  ·max(1 − A_up·exp(γ_up·z), 0)
    s_down(w) = Δw_ij^down·max(1 − A_down·exp(−γ_down·z), 0)

(defaults are aihwkit's ExpStepDevice fit). PowStep, with the distance to the bound
approached as a fraction of the range:

    s_up(w)   = Δw_ij^up  ·(2·(w_max_ij − w)/(w_max_ij − w_min_ij))^γ_up
    s_down(w) = Δw_ij^down·(2·(w − w_min_ij)/(w_max_ij − w_min_ij))^γ_down

(Δw_min is the step at mid-range). Neither has a closed form for n pulses, so
``apply_pulses`` is the pulse-by-pulse default of :class:`PulsedDevice`.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from .bounded import BoundedStepDevice


class ExpStepDevice(BoundedStepDevice):
    """Exponential step-size law fitted to measured devices (aihwkit's ExpStep)."""

    type: Literal["exp_step"] = "exp_step"
    A_up: float = Field(0.00081, description="prefactor A_up of the exponential term of the up-step "
                        "(> 0: the step saturates; < 0: it grows, as in aihwkit's ReRAM fit)")
    A_down: float = Field(0.36833, description="prefactor A_down of the exponential term of the down-step")
    gamma_up: float = Field(12.44625, ge=0, description="exponent rate of the up-step saturation")
    gamma_down: float = Field(12.78785, ge=0, description="exponent rate of the down-step saturation")
    a: float = Field(0.244, description="scale of the weight in z = 2·a·w/(w_max − w_min) + b")
    b: float = Field(0.2425, description="offset b in z")

    def step_size(self, w, up, p):
        z = 2 * self.a * w / (p["w_max"] - p["w_min"]) + self.b
        s_up = p["dw_up"] * (1 - self.A_up * torch.exp(self.gamma_up * z)).clamp_min(0)
        s_down = p["dw_down"] * (1 - self.A_down * torch.exp(-self.gamma_down * z)).clamp_min(0)
        return torch.where(up, s_up, s_down)


class PowStepDevice(BoundedStepDevice):
    """Step ∝ (distance to the bound approached)^γ (aihwkit's PowStep)."""

    type: Literal["pow_step"] = "pow_step"
    pow_gamma_up: float = Field(1.0, gt=0, le=10, description="exponent γ_up of the up-step law")
    pow_gamma_down: float = Field(1.0, gt=0, le=10, description="exponent γ_down of the down-step law")

    def step_size(self, w, up, p):
        rng = p["w_max"] - p["w_min"]
        s_up = p["dw_up"] * (2 * (p["w_max"] - w) / rng).clamp_min(0).pow(self.pow_gamma_up)
        s_down = p["dw_down"] * (2 * (w - p["w_min"]) / rng).clamp_min(0).pow(self.pow_gamma_down)
        return torch.where(up, s_up, s_down)
