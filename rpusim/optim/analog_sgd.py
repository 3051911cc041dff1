"""AnalogSGD: stochastic gradient descent where analog weights update in place by pulses.

Used exactly like ``torch.optim.SGD``: ``zero_grad()``, ``loss.backward()``, ``step()``.
For each analog layer, ``step`` applies the pulsed update W += −lr·Σ δxᵀ from the inputs
and errors its array saw in the backward passes (Gokmen & Vlasov 2016); every digital
parameter gets the ordinary SGD update (with momentum/weight decay if asked).
"""
from __future__ import annotations

import torch
from torch.optim import SGD

from ..nn.function import AnalogContext


class AnalogSGD(SGD):
    """``torch.optim.SGD`` that routes analog layers' updates through their arrays.

    An analog layer's pending update — the (x, δ) pairs its backward passes remembered — is its
    gradient, with torch's semantics:

    * backward passes without ``zero_grad()`` in between accumulate: ``step`` applies all of
      them, as one pulsed update of the stacked pairs (as torch sums the gradients);
    * ``zero_grad()`` (``set_to_none`` True or False) discards it: a backward without a step,
      then ``zero_grad()``, backward, ``step()`` applies only the second; so does setting the
      gradients to None elsewhere (``module.zero_grad()``), see :mod:`rpusim.nn.function`;
    * ``step`` consumes it: a second ``step`` without a backward applies nothing;
    * a frozen analog layer (``analog_ctx.requires_grad`` False) remembers nothing.
    """

    def __init__(self, params, lr: float = 0.01, **kwargs):
        if not (isinstance(lr, (int, float)) and lr > 0):
            raise ValueError(f"AnalogSGD: lr = {lr!r}: must be a number > 0")
        super().__init__(params, lr=lr, **kwargs)

    def _analog_contexts(self):
        for group in self.param_groups:
            for p in group["params"]:
                if isinstance(p, AnalogContext):
                    yield group, p

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero the digital gradients as ``torch.optim.SGD`` and discard the analog layers'
        pending updates (either way of ``set_to_none``)."""
        super().zero_grad(set_to_none)
        for _, p in self._analog_contexts():
            p.discard_pending()

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, p in self._analog_contexts():
            p.apply_update(group["lr"])
        super().step()
        return loss
