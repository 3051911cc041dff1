"""The autograd bridge between PyTorch and an analog array.

Forward runs y = W·x on the array; backward runs z = Wᵀ·δ on the same array (its
transpose read) and remembers (x, δ) for the pulsed update that ``AnalogSGD.step``
applies. The array's weights are not a torch parameter: each analog layer carries a
zero-size ``analog_ctx`` parameter that makes autograd call backward (even when the
input needs no gradient) and tells the optimizer which array to update.

The remembered (x, δ) pairs are the analog layer's gradient and follow torch's rules for
``.grad`` (:meth:`AnalogContext.remember`): backward passes accumulate them; setting the
gradients to None (``optimizer.zero_grad()`` of any torch optimizer, ``module.zero_grad()``, both
by default) discards them, and so does ``AnalogSGD.zero_grad(set_to_none=False)``; a layer whose
``analog_ctx`` does not require grad (frozen) remembers nothing. (``module.zero_grad(set_to_none=False)``
and other optimizers' ``zero_grad(set_to_none=False)`` zero the empty ``.grad`` in place, which
cannot be seen: the pending update stays.)
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..tile import AnalogArray


class AnalogContext(nn.Parameter):
    """Placeholder parameter of an analog layer; ``.analog_array`` is what the optimizer updates."""

    def __new__(cls, array: AnalogArray):
        p = super().__new__(cls, torch.empty(0), requires_grad=True)
        p.analog_array = array
        return p

    def remember(self, x: Tensor, d: Tensor) -> None:
        """Keep (x, δ) of a backward pass for the next update, as a gradient accumulates.

        ``.grad`` (an empty tensor) marks that updates are pending since the gradients were last
        zeroed: when it is None, the gradients were zeroed (or stepped) since the last backward,
        so the pairs remembered before are discarded first, as ``zero_grad`` discards a gradient."""
        if self.grad is None:
            self.analog_array.discard_pending()
            self.grad = torch.zeros_like(self)
        self.analog_array.remember(x, d)

    def apply_update(self, lr: float) -> None:
        """Apply the pending pulsed update (none when the gradients were zeroed since the last
        backward), then clear the gradient as a step consumes it."""
        if self.grad is None:
            self.analog_array.discard_pending()
        else:
            self.analog_array.apply_update(lr)
        self.grad = None

    def discard_pending(self) -> None:
        """Forget the pending update and the gradient marking it (``zero_grad``)."""
        self.analog_array.discard_pending()
        self.grad = None


#: aihwkit's clamp gradient (``rpu.forward.out_bound_grad: zero``) acts on outputs at or beyond this
#: fraction of the output bound.
CLAMP_FRACTION = 0.999


def clamped_outputs(y: Tensor, array: AnalogArray) -> Tensor | None:
    """Mask of the outputs whose error the backward pass zeroes (``rpu.forward.out_bound_grad: zero``:
    |y| ≥ 0.999·out_bound, y the array's output after noise and bound management), else None."""
    io = array.rpu_config.forward
    if io.out_bound_grad == "pass" or io.is_perfect:
        return None
    return y.abs() >= CLAMP_FRACTION * io.out_bound


class AnalogFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, analog_ctx: Tensor, x: Tensor, array: AnalogArray, ones: bool) -> Tensor:
        if ones:  # the bias column, appended here: no autograd node of its own
            x = nn.functional.pad(x, (0, 1), value=1.0)
        ctx.analog_ctx, ctx.array, ctx.ones = analog_ctx, array, ones
        y = array(x)
        ctx.clamped = clamped_outputs(y, array)
        ctx.save_for_backward(x)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        array: AnalogArray = ctx.array
        if ctx.needs_input_grad[0]:  # the layer is trained: its update is the gradient
            ctx.analog_ctx.remember(x, grad)
        grad_x = None
        if ctx.needs_input_grad[1]:
            if ctx.clamped is not None:  # aihwkit's clamp gradient: not in the update, only passed back
                grad = grad.masked_fill(ctx.clamped, 0.0)
            grad_x = array.backward_pass(grad)
            if ctx.ones:  # the bias column's input is a constant
                grad_x = grad_x[:, :-1]
        return None, grad_x, None, None  # the context parameter's gradient is never used


def analog_matmul(analog_ctx: AnalogContext, x: Tensor, array: AnalogArray, ones: bool = False) -> Tensor:
    """y = W·x for a batch of row vectors x (B × in) through ``array`` (B × out); with ``ones``, W·[x; 1]
    (x: B × (in − 1), the last column of W its bias)."""
    if torch.is_grad_enabled() and (x.requires_grad or analog_ctx.requires_grad):
        return AnalogFunction.apply(analog_ctx, x, array, ones)
    return array(nn.functional.pad(x, (0, 1), value=1.0) if ones else x)
