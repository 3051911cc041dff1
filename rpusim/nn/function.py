"""The autograd bridge between PyTorch and an analog array.

Forward runs y = W·x on the array; backward runs z = Wᵀ·δ on the same array (its
transpose read) and remembers (x, δ) for the pulsed update that ``AnalogSGD.step``
applies. The array's weights are not a torch parameter: each analog layer carries a
zero-size ``analog_ctx`` parameter that makes autograd call backward (even when the
input needs no gradient) and tells the optimizer which array to update.
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


class AnalogFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, analog_ctx: Tensor, x: Tensor, array: AnalogArray) -> Tensor:
        ctx.array = array
        ctx.save_for_backward(x)
        return array(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        array: AnalogArray = ctx.array
        array.remember(x, grad)
        grad_x = array.backward_pass(grad) if ctx.needs_input_grad[1] else None
        return None, grad_x, None  # the context parameter's gradient is never used


def analog_matmul(analog_ctx: AnalogContext, x: Tensor, array: AnalogArray) -> Tensor:
    """y = W·x for a batch of row vectors x (B × in) through ``array`` (B × out)."""
    if torch.is_grad_enabled() and (x.requires_grad or analog_ctx.requires_grad):
        return AnalogFunction.apply(analog_ctx, x, array)
    return array(x)
