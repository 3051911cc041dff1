"""Devices whose step size is linear in the weight: ConstantStep, SoftBounds, LinearStep.

Step-size law (aihwkit's LinearStep; SoftBounds is γ = 1, ConstantStep is γ = 0):

    s_up(w)   = Δw_ij^up·(1 − γ_up·w / w_max_ij)
    s_down(w) = Δw_ij^down·(1 − γ_down·w / w_min_ij)

so the step shrinks linearly towards the bound it approaches (for γ = 1 it reaches zero
there). Without cycle-to-cycle noise one pulse is the affine map w ↦ r·w + c with
r_up = 1 − Δw^up·γ_up/w_max, c_up = Δw^up (down: r = 1 + Δw^down·γ_down/w_min, c = −Δw^down),
so n pulses have the closed form w_n = w* + (w₀ − w*)·rⁿ with w* = c/(1 − r) (w₀ + n·c when
r = 1). ``apply_pulses`` uses it: k = min(n_up, n_down) up/down pairs (the composed
affine map to the k-th power), then the |n_up − n_down| remaining pulses of one sign,
then Gaussian cycle-to-cycle noise of variance σ_c2c²·Σ_d n_d·s_d(w₀)²·r_d^(2(n_d−1)) (each pulse's
noise contracted by the pulses after it),
then the bounds. For pulses of one sign this equals the pulse-by-pulse reference in mean
exactly and in variance to first order in Δw/w_max; for ConstantStep it is exact away
from the bounds.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from ..fast_path import use_fast_kernel
from .bounded import BoundedStepDevice


def affine_power(w: Tensor, r: Tensor, c: Tensor, n: Tensor) -> Tensor:
    """Apply the affine map w ↦ r·w + c n times (elementwise, n ≥ 0)."""
    flat = (1 - r).abs() < 1e-12
    safe = torch.where(flat, torch.ones_like(r), 1 - r)
    fixed = c / safe
    iterated = fixed + (w - fixed) * r.pow(n)
    return torch.where(flat, w + n * c, iterated)


def compose_clipped_steps(steps: Tensor, low: Tensor, high: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(A, L, H) with clip(w + A, L, H) = the maps w ↦ clip(w + s_t, low, high) applied for t = 0 … T−1.

    ``steps``: T × shape; ``low``, ``high``: broadcastable to shape. The maps w ↦ clip(w + a, l, h)
    (l ≤ h) are closed under composition: a second map (a₂, l₂, h₂) after a first (a₁, l₁, h₁) is
    (a₁ + a₂, clip(l₁ + a₂, l₂, h₂), clip(h₁ + a₂, l₂, h₂)). Adjacent pairs are composed at once,
    halving T each round (an odd last map is paired with the identity (0, −∞, +∞))."""
    a = steps
    lo = low.expand_as(steps[0]).expand_as(steps)
    hi = high.expand_as(steps[0]).expand_as(steps)
    while a.shape[0] > 1:
        if a.shape[0] % 2:
            pad = torch.zeros_like(a[:1])
            a, lo, hi = torch.cat([a, pad]), torch.cat([lo, pad - torch.inf]), torch.cat([hi, pad + torch.inf])
        lo2, hi2, a2 = lo[1::2], hi[1::2], a[1::2]
        lo = torch.minimum(torch.maximum(lo[0::2] + a2, lo2), hi2)
        hi = torch.minimum(torch.maximum(hi[0::2] + a2, lo2), hi2)
        a = a[0::2] + a2
    return a[0], lo[0], hi[0]


class _LinearFamily(BoundedStepDevice):
    def gammas(self) -> tuple[float, float]:
        raise NotImplementedError

    def step_size(self, w, up, p):
        g_up, g_down = self.gammas()
        s_up = p["dw_up"] * (1 - g_up * w / p["w_max"])
        s_down = p["dw_down"] * (1 - g_down * w / p["w_min"])
        return torch.where(up, s_up, s_down)

    def apply_pulses(self, w, n_up, n_down, p, gen, slots=None):
        g_up, g_down = self.gammas()
        n_up, n_down = n_up.to(w.dtype), n_down.to(w.dtype)
        if not g_up and not g_down:
            return self._constant_steps(w, n_up, n_down, p, gen)
        c_up, c_dn = p["dw_up"], -p["dw_down"]
        # r < 0 would mean one step overshoots the fixed point (a device whose bound is drawn
        # within one step of zero): the device then just sits at its bound, i.e. r = 0
        r_up = (1 - c_up * g_up / p["w_max"]).clamp_min(0) if g_up else torch.ones_like(c_up)
        r_dn = (1 - c_dn * g_down / p["w_min"]).clamp_min(0) if g_down else torch.ones_like(c_dn)
        pairs = torch.minimum(n_up, n_down)
        w_new = affine_power(w, r_dn * r_up, r_dn * c_up + c_dn, pairs)
        extra_up, extra_down = n_up - pairs, n_down - pairs
        w_new = torch.where(extra_up > 0, affine_power(w_new, r_up, c_up, extra_up), w_new)
        w_new = torch.where(extra_down > 0, affine_power(w_new, r_dn, c_dn, extra_down), w_new)
        if self.dw_min_std:
            # the noise of pulse t is contracted by the r of the pulses after it and the step
            # shrinks by r per pulse: Var = σ²·s(w₀)²·n·r^(2(n−1)) for n pulses of one sign. A device
            # whose one step overshoots its bound (r clamped to 0 above) lands on the bound whatever
            # the step's noise (the pulse-by-pulse reference clips w + s·(1 + σξ), s far beyond it):
            # no noise there, instead of a first-order spread of the size of the overshooting step
            s_up = torch.where(r_up > 0, p["dw_up"] * (1 - g_up * w / p["w_max"]), 0.0).clamp_min(0)
            s_dn = torch.where(r_dn > 0, p["dw_down"] * (1 - g_down * w / p["w_min"]), 0.0).clamp_min(0)
            var = n_up * s_up**2 * r_up.pow(2 * (n_up - 1).clamp_min(0)) \
                + n_down * s_dn**2 * r_dn.pow(2 * (n_down - 1).clamp_min(0))
            w_new = w_new + self.dw_min_std * var.sqrt() * torch.randn(w.shape, generator=gen, device=w.device)
        return self.clip(w_new, p)


    def apply_pulse_sequence(self, w, directions, p, gen):
        """γ = 0: each pulse is the map w ↦ clip(w + s_t, w_min, w_max) with s_t = ±Δw_up/down·(1 + σ_c2c·ξ_t);
        their composition is again clip(w + A, L, H), so the sequence is reduced pairwise
        (:func:`compose_clipped_steps`, log₂T tensor steps) instead of pulse by pulse."""
        g_up, g_down = self.gammas()
        if g_up or g_down:
            return super().apply_pulse_sequence(w, directions, p, gen)
        directions = directions.expand(directions.shape[0], *w.shape).to(w.dtype)
        steps = directions * torch.where(directions > 0, p["dw_up"], p["dw_down"])
        if self.dw_min_std:
            steps = steps * (1 + self.dw_min_std * torch.randn(steps.shape, generator=gen, device=w.device,
                                                               dtype=w.dtype))
        total, low, high = compose_clipped_steps(steps, p["w_min"], p["w_max"])
        return torch.minimum(torch.maximum(w + total, low), high)

    def apply_pulse_sequence_at(self, state, p, rows, cols, d_signed, x_signed, gen) -> bool:
        """In place on the cells (rows[k], cols[k]): the pulses of the signed trains d_signed (T × out) and
        x_signed (T × in) in slot order, clipped at each, where a kernel exists (γ = 0, float32 on the
        CPU); returns False to ask for :meth:`apply_pulse_sequence`."""
        g_up, g_down = self.gammas()
        if not use_fast_kernel(state, d_signed, x_signed, supported=not g_up and not g_down):
            return False
        from .constant_step_kernel import constant_steps_ordered_at
        constant_steps_ordered_at(state, p, rows, cols, d_signed, x_signed, self.dw_min_std, gen)
        return True

    def apply_pulses_at(self, state, p, rows, cols, n_up, n_down, gen, slots=None) -> bool:
        """In place on the fired rows × cols of the whole array, where a fused kernel exists
        (γ = 0, float32 on the CPU); returns False to ask for the gather/apply/scatter path."""
        g_up, g_down = self.gammas()
        if not use_fast_kernel(state, n_up, n_down, supported=not g_up and not g_down):
            return False
        from .constant_step_kernel import constant_steps_at
        constant_steps_at(state, p, rows, cols, n_up, n_down, self.dw_min_std, gen)
        return True

    def _constant_steps(self, w, n_up, n_down, p, gen):
        """γ = 0: w + n_up·Δw_up − n_down·Δw_down + σ_c2c·sqrt(n_up·Δw_up² + n_down·Δw_down²)·ξ."""
        up, down = n_up * p["dw_up"], n_down * p["dw_down"]
        w_new = w + up - down
        if self.dw_min_std:
            std = (up * p["dw_up"] + down * p["dw_down"]).sqrt_().mul_(self.dw_min_std)
            w_new += std * torch.randn(w.shape, generator=gen, device=w.device)
        return self.clip(w_new, p)


class ConstantStepDevice(_LinearFamily):
    """The papers' RPU baseline: constant step ±Δw_ij, hard bounds (Gokmen & Vlasov 2016)."""

    type: Literal["constant_step"] = "constant_step"

    def gammas(self):
        return 0.0, 0.0


class SoftBoundsDevice(_LinearFamily):
    """Step shrinks linearly to zero at the bound it approaches: s_up = Δw·(1 − w/w_max)."""

    type: Literal["soft_bounds"] = "soft_bounds"

    def gammas(self):
        return 1.0, 1.0


class LinearStepDevice(_LinearFamily):
    """Step linear in w with slopes γ_up, γ_down (aihwkit's LinearStep; γ = 1 is SoftBounds)."""

    type: Literal["linear_step"] = "linear_step"
    gamma_up: float = Field(0.5, ge=0, le=1, description="slope of the up-step towards w_max (0: constant, 1: soft bound)")
    gamma_down: float = Field(0.5, ge=0, le=1, description="slope of the down-step towards w_min")

    def gammas(self):
        return self.gamma_up, self.gamma_down
