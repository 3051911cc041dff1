"""Bounded-step devices: a weight moved by discrete, noisy, bounded steps.

The physics shared by the papers' device models (Gokmen & Vlasov 2016; aihwkit's
PulsedDevice): each device ij has its own mean step up/down and its own bounds,

    Δw_ij^up   = Δw_min·(1 + σ_d2d·ξ₁)·(1 + a_ij),   a_ij = up_down + up_down_dtod·ξ₂
    Δw_ij^down = Δw_min·(1 + σ_d2d·ξ₁)·(1 − a_ij)
    w_max_ij   = w_max·(1 + σ_wmax·ξ₃),   w_min_ij = w_min·(1 + σ_wmin·ξ₄)

drawn once per array (ξ ~ N(0,1)). One pulse in direction d ∈ {+1, −1} moves the weight by

    w ← clip(w + d·s_d(w)·(1 + σ_c2c·ξ), w_min_ij, w_max_ij)

where s_d(w) ≥ 0 is the device's step-size law (constant, linear in w, exponential, …)
and σ_c2c = ``dw_min_std`` is the cycle-to-cycle noise relative to the step.
"""
from __future__ import annotations

import torch
from pydantic import Field, model_validator
from torch import Tensor

from .base import PulsedDevice, spread


class BoundedStepDevice(PulsedDevice):
    """Shared parameters of bounded, noisy step devices (defaults: the papers' RPU baseline)."""

    type: str = "bounded_step"
    dw_min: float = Field(0.001, gt=0, le=1, description="mean step Δw_min per pulse (weight units)")
    dw_min_dtod: float = Field(0.3, ge=0, le=1, description="device-to-device spread of Δw_min (relative std)")
    dw_min_std: float = Field(0.3, ge=0, le=5, description="cycle-to-cycle noise of each step (relative std)")
    w_max: float = Field(0.6, gt=0, description="upper weight bound (mean over devices)")
    w_min: float = Field(-0.6, lt=0, description="lower weight bound (mean over devices)")
    w_max_dtod: float = Field(0.3, ge=0, le=1, description="device-to-device spread of w_max (relative std)")
    w_min_dtod: float = Field(0.3, ge=0, le=1, description="device-to-device spread of w_min (relative std)")
    up_down: float = Field(0.0, gt=-1, lt=1, description="global up/down asymmetry a: Δw_up ∝ 1+a, Δw_down ∝ 1−a")
    up_down_dtod: float = Field(0.01, ge=0, le=1, description="device-to-device spread of the asymmetry (absolute std)")

    @model_validator(mode="after")
    def _bounds_order(self):
        if not self.w_min < self.w_max:
            raise ValueError(f"w_min ({self.w_min}) must be below w_max ({self.w_max})")
        return self

    def sample_params(self, shape, gen, device="cpu"):
        dw = spread(shape, self.dw_min, self.dw_min_dtod, gen, device).clamp_min(0)
        asym = self.up_down + self.up_down_dtod * torch.randn(shape, generator=gen, device=device) \
            if self.up_down_dtod else torch.full(shape, self.up_down, device=device)
        asym = asym.clamp(-1, 1)
        return {
            "dw_up": dw * (1 + asym),
            "dw_down": dw * (1 - asym),
            # a bound drawn across zero is kept just on its own side (a device stuck near 0)
            "w_max": spread(shape, self.w_max, self.w_max_dtod, gen, device).clamp_min(1e-6),
            "w_min": spread(shape, self.w_min, self.w_min_dtod, gen, device).clamp_max(-1e-6),
        }

    def clip(self, w, p):
        return torch.minimum(torch.maximum(w, p["w_min"]), p["w_max"])

    def step_size(self, w: Tensor, up: Tensor, p: dict[str, Tensor]) -> Tensor:
        """Mean size s_d(w) ≥ 0 of one pulse at state w (``up`` is a bool tensor)."""
        raise NotImplementedError

    def pulse(self, w, direction, p, gen):
        up = direction > 0
        s = self.step_size(w, up, p).clamp_min(0)
        noise = 1 + self.dw_min_std * torch.randn(w.shape, generator=gen, device=w.device) \
            if self.dw_min_std else 1
        return self.clip(w + direction * s * noise, p)
