"""Bounded-step devices: a weight moved by discrete, noisy, bounded steps.

The physics shared by the papers' device models (Gokmen & Vlasov 2016): each device ij has its
own mean step up/down and its own bounds, drawn once per array (ξ ~ N(0,1)), with the gain
g_ij = 1 + σ_d2d·ξ₁ and, by ``up_down_draw``, either a relative asymmetry (ours, the default)

    Δw_ij^up   = Δw_min·g_ij·(1 + a_ij),   a_ij = up_down + up_down_dtod·ξ₂
    Δw_ij^down = Δw_min·g_ij·(1 − a_ij)

or aihwkit's additive one (its PulsedDevice: an offset r_ij in units of Δw_min on the gain,
the global ``up_down`` taken off the smaller side only)

    Δw_ij^up   = Δw_min·|g_ij + r_ij + min(up_down, 0)|,   r_ij = up_down_dtod·ξ₂
    Δw_ij^down = Δw_min·|g_ij − r_ij − max(up_down, 0)|

whose relative asymmetry (Δw^up − Δw^down)/(Δw^up + Δw^down) ≈ r_ij/g_ij is heavier-tailed (a
device with a small step is more asymmetric): with the baseline's σ_d2d = 0.3 and up_down_dtod
= 0.01, P(|asymmetry| > 3 %) = E_g[2Φ(−0.03·|g|/0.01)] ≈ 2.6 % instead of 2Φ(−3) ≈ 0.27 %. Bounds:

    w_max_ij   = w_max·(1 + σ_wmax·ξ₃),   w_min_ij = w_min·(1 + σ_wmin·ξ₄)

One pulse in direction d ∈ {+1, −1} moves the weight by

    w ← clip(w + d·s_d(w)·(1 + σ_c2c·ξ), w_min_ij, w_max_ij)

where s_d(w) ≥ 0 is the device's step-size law (constant, linear in w, exponential, …)
and σ_c2c = ``dw_min_std`` is the cycle-to-cycle noise relative to the step.
"""
from __future__ import annotations

from typing import Literal

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
    up_down_draw: Literal["relative", "additive"] = Field(
        "relative", description="how a device's up/down asymmetry is drawn: relative, Δw_up,down = Δw_min·g·(1 ± a) "
        "with a ~ N(up_down, up_down_dtod²), independent of the device's gain g (its step size); additive "
        "(aihwkit), Δw_up,down = Δw_min·|g ± r| with r ~ N(0, up_down_dtod²) in units of Δw_min and up_down "
        "taken off the smaller side, so the relative asymmetry r/g grows on devices with small steps "
        "(heavier tail: 2.6 % of baseline devices beyond 3 % instead of 0.27 %)")

    @model_validator(mode="after")
    def _bounds_order(self):
        if not self.w_min < self.w_max:
            raise ValueError(f"w_min ({self.w_min}) must be below w_max ({self.w_max})")
        return self

    def sample_params(self, shape, gen, device="cpu"):
        gain = spread(shape, 1.0, self.dw_min_dtod, gen, device)
        spread_draw = self.up_down_dtod * torch.randn(shape, generator=gen, device=device) \
            if self.up_down_dtod else torch.zeros(shape, device=device)
        if self.up_down_draw == "additive":
            dw_up = (gain + spread_draw + min(self.up_down, 0.0)).abs() * self.dw_min
            dw_down = (gain - spread_draw - max(self.up_down, 0.0)).abs() * self.dw_min
        else:
            dw = gain.clamp_min(0) * self.dw_min
            asym = (self.up_down + spread_draw).clamp(-1, 1)
            dw_up, dw_down = dw * (1 + asym), dw * (1 - asym)
        return {
            "dw_up": dw_up,
            "dw_down": dw_down,
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
