"""AnalogSGD: stochastic gradient descent where analog weights update in place by pulses.

Used exactly like ``torch.optim.SGD``: ``zero_grad()``, ``loss.backward()``, ``step()``.
For each analog layer, ``step`` applies the pulsed update W += −lr·Σ δxᵀ from the inputs
and errors its array saw in the backward pass (Gokmen & Vlasov 2016); every digital
parameter gets the ordinary SGD update (with momentum/weight decay if asked).
"""
from __future__ import annotations

import torch
from torch.optim import SGD

from ..nn.function import AnalogContext


class AnalogSGD(SGD):
    """``torch.optim.SGD`` that routes analog layers' updates through their arrays."""

    def __init__(self, params, lr: float = 0.01, **kwargs):
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"AnalogSGD: lr = {lr!r}: must be a number > 0")
        super().__init__(params, lr=lr, **kwargs)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if isinstance(p, AnalogContext):
                    p.analog_array.apply_update(group["lr"])
                    p.grad = None
        super().step()
        return loss
