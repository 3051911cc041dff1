"""The ideal device: a floating-point weight updated exactly (W ← W − η·∇W), for baselines.

An array of ideal devices has no step, no bounds and no noise; the tile applies the
gradient in floating point instead of pulses, so an AnalogLinear with an IdealDevice and
a perfect periphery trains exactly like ``torch.nn.Linear``.
"""
from __future__ import annotations

from typing import ClassVar, Literal

from .base import PulsedDevice


class IdealDevice(PulsedDevice):
    """Floating-point weight; the update is the exact SGD step."""

    type: Literal["ideal"] = "ideal"
    is_ideal: ClassVar[bool] = True

    def pulse(self, w, direction, p, gen):
        raise TypeError("an IdealDevice is updated in floating point, not by pulses")
