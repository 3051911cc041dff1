"""A device whose step size is a measured table: step-size multipliers against the weight.

The table gives, for up and for down pulses, the multipliers v_0 … v_{n−1} (n ≥ 2) of the step
at n equally spaced states from the device's own lower bound to its own upper bound
(node k at w_min_ij + k·(w_max_ij − w_min_ij)/(n − 1)); between nodes the multiplier is
interpolated linearly (aihwkit's PiecewiseStep):

    t = (w − w_min_ij)/(w_max_ij − w_min_ij)·(n − 1),   k = min(⌊t⌋, n − 2),   q = t − k
    s_d(w) = Δw_ij^d·((1 − q)·v^d_k + q·v^d_{k+1})

with Δw_ij^d, the bounds and the cycle-to-cycle noise of :class:`~.bounded.BoundedStepDevice`
(device-to-device spread of the step, of the bounds and of the asymmetry included). A table
measured as steps in weight units becomes multipliers by dividing it by ``dw_min``. There is no
closed form for n pulses: ``apply_pulses`` is the pulse-by-pulse default, on every torch device
(no numba kernel).
"""
from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field, ValidationInfo, field_validator
from torch import Tensor

from .bounded import BoundedStepDevice

Multiplier = Annotated[float, Field(ge=0)]
TABLE_DOC = ("step-size multipliers of {} pulses at equally spaced states from w_min to w_max of each "
             "device (at least 2 values, each ≥ 0; linear interpolation between them)")


def interpolate(table: list[float], w: Tensor, w_min: Tensor, w_max: Tensor) -> Tensor:
    """The table's value at state ``w``: nodes equally spaced over [w_min, w_max], linear in between."""
    values = torch.tensor(table, dtype=w.dtype, device=w.device)
    n = values.numel()
    t = ((w - w_min) / (w_max - w_min)).clamp(0, 1) * (n - 1)
    k = t.floor().clamp_max(n - 2)
    q = t - k
    k = k.long()
    return (1 - q) * values[k] + q * values[k + 1]


class PiecewiseStepDevice(BoundedStepDevice):
    """Step size from a measured table of multipliers against the weight (aihwkit's PiecewiseStep)."""

    type: Literal["piecewise_step"] = "piecewise_step"
    up_table: list[Multiplier] = Field([1.0, 1.0], min_length=2, max_length=1000, description=TABLE_DOC.format("up"))
    down_table: list[Multiplier] = Field([1.0, 1.0], min_length=2, max_length=1000,
                                         description=TABLE_DOC.format("down"))

    @field_validator("down_table")
    @classmethod
    def _same_states(cls, down: list[float], info: ValidationInfo) -> list[float]:
        up = info.data.get("up_table")
        if up is not None and len(up) != len(down):
            raise ValueError(f"up_table has {len(up)} values and down_table {len(down)}: the two tables must "
                             f"have the same length (the same states)")
        return down

    def step_size(self, w, up, p):
        s_up = p["dw_up"] * interpolate(self.up_table, w, p["w_min"], p["w_max"])
        s_down = p["dw_down"] * interpolate(self.down_table, w, p["w_min"], p["w_max"])
        return torch.where(up, s_up, s_down)
