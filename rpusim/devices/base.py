"""What one cross-point device does to one pulse: the interface every device implements.

A device model is a typed config (a :class:`~rpusim.config.Config`) plus pure tensor
functions over a whole array of devices:

* ``sample_params(shape, gen)`` draws the per-device parameters (device-to-device spread)
  once per array from the array's generator; they are kept for the array's lifetime.
* ``pulse(w, direction, params, gen)`` is the plain one-pulse reference: every device
  whose ``direction`` is +1 (-1) receives one up (down) pulse.
* ``apply_pulses(w, n_up, n_down, params, gen, slots)`` is the vectorised response
  of every device to ``n_up`` up- and ``n_down`` down-pulses. The default applies the
  pulses one after another with :meth:`pulse`, alternating up and down while both remain;
  devices with a closed form override it. For pulses of one sign (a single rank-1
  update, the papers' case) the closed forms are exact in distribution.

``w`` is the device state (the weight for every device here; a device whose state is
not the weight, such as a charge-trap cell's threshold voltage, maps it in ``read``).

To add a device, subclass :class:`PulsedDevice`, give it a unique ``type`` literal,
implement ``pulse`` (and, for speed, ``apply_pulses``), and add it to
:data:`.catalog.DEVICE_TYPES`; it can then be named in YAML (``device: {type: my_device}``).
Published devices are presets of these types (:mod:`.presets`, ``device: {preset: ecram}``).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ..config import Config

def spread(shape: tuple, mean: float, rel_std: float, gen: torch.Generator | None,
           device: torch.device | str = "cpu") -> Tensor:
    """Per-device values mean·(1 + rel_std·ξ), ξ ~ N(0, 1), drawn once per array."""
    if rel_std == 0:
        return torch.full(shape, float(mean), device=device)
    return mean * (1 + rel_std * torch.randn(shape, generator=gen, device=device))


class PulsedDevice(Config):
    """Base of every device model (see the module docstring for the contract)."""

    type: str
    is_ideal: ClassVar[bool] = False

    # nominal step size used by the update to choose the pulse probabilities (C = sqrt(η/(BL·Δw_min)))
    @property
    def nominal_dw_min(self) -> float:
        return float(getattr(self, "dw_min", 0.001))

    def sample_params(self, shape: tuple, gen: torch.Generator | None,
                      device: torch.device | str = "cpu") -> dict[str, Tensor]:
        return {}

    def clip(self, w: Tensor, p: dict[str, Tensor]) -> Tensor:
        """Clip a programmed weight into what the devices can hold (default: nothing)."""
        return w

    def read(self, w: Tensor, p: dict[str, Tensor]) -> Tensor:
        """The weight the array computes with, from the device state."""
        return w

    def pulse(self, w: Tensor, direction: Tensor, p: dict[str, Tensor],
              gen: torch.Generator | None) -> Tensor:
        raise NotImplementedError

    def apply_pulses(self, w: Tensor, n_up: Tensor, n_down: Tensor, p: dict[str, Tensor],
                     gen: torch.Generator | None, slots: int | None = None) -> Tensor:
        """Reference-quality default: one pulse at a time, up/down alternating while both remain."""
        n_up, n_down = n_up.clone(), n_down.clone()
        step = 0
        while True:
            any_up, any_down = n_up > 0, n_down > 0
            if not bool((any_up | any_down).any()):
                return w
            both = any_up & any_down
            go_up = torch.where(both, torch.tensor(step % 2 == 0, device=w.device), any_up)
            direction = go_up.to(w.dtype) - (~go_up & any_down).to(w.dtype)
            w = self.pulse(w, direction, p, gen)
            n_up -= (direction > 0).to(n_up.dtype)
            n_down -= (direction < 0).to(n_down.dtype)
            step += 1

    def apply_pulse_sequence(self, w: Tensor, directions: Tensor, p: dict[str, Tensor],
                             gen: torch.Generator | None) -> Tensor:
        """The response to pulses in time order, each clipped to the bounds as it lands: ``directions``
        (T × broadcastable to w) holds +1 (up), −1 (down) or 0 (none) per time slot. Reference
        quality: one :meth:`pulse` per slot; devices with a closed form override it."""
        for t in range(directions.shape[0]):
            w = self.pulse(w, directions[t].expand_as(w), p, gen)
        return w
