"""Shared machinery of analog layers: the array, its context parameter and weight access."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..tile import AnalogArray, RPUConfig
from .function import AnalogContext, analog_matmul


class AnalogLayerBase(nn.Module):
    """A layer whose weights (and optionally bias) live on an :class:`AnalogArray`.

    Subclasses call :meth:`_init_analog` with the logical matrix size (out × in, without the
    bias column) and use :meth:`analog_forward` on row vectors.
    """

    def _init_analog(self, out_size: int, in_size: int, bias: bool, rpu_config: RPUConfig | None):
        self.rpu_config = rpu_config if rpu_config is not None else RPUConfig()
        self.analog_bias = bias and not self.rpu_config.mapping.digital_bias
        self.array = AnalogArray(out_size, in_size + int(self.analog_bias), self.rpu_config)
        self.analog_ctx = AnalogContext(self.array)
        if bias and not self.analog_bias:
            self.bias = nn.Parameter(torch.zeros(out_size))
        else:
            self.register_parameter("bias", None)

    def _program_uniform(self, fan_in: int) -> None:
        """Initialise like torch's layers (weights and bias uniform in ±1/sqrt(fan_in)) and program it."""
        bound = 1 / math.sqrt(fan_in)
        out_size, in_size = self.array.out_size, self.array.in_size - int(self.analog_bias)
        w = torch.empty(out_size, in_size).uniform_(-bound, bound)
        has_bias = self.analog_bias or self.bias is not None
        b = torch.empty(out_size).uniform_(-bound, bound) if has_bias else None
        self.set_weights(w, b)

    def analog_forward(self, x: Tensor, ones_appended: bool = False) -> Tensor:
        """W·x (+ b) for a batch of row vectors x (B × in; with the bias on the array, B × (in + 1)
        when the caller has already appended its column of ones)."""
        y = analog_matmul(self.analog_ctx, x, self.array, self.analog_bias and not ones_appended)
        return y if self.bias is None else y + self.bias

    def get_weights(self) -> tuple[Tensor, Tensor | None]:
        """(weight, bias) as the arrays hold them (weight as a matrix out × in)."""
        w = self.array.get_weights()
        if self.analog_bias:
            return w[:, :-1].clone(), w[:, -1].clone()
        return w.clone(), None if self.bias is None else self.bias.detach().clone()

    @torch.no_grad()
    def set_weights(self, weight: Tensor, bias: Tensor | None = None) -> None:
        """Program the arrays (values beyond the device bounds are clipped)."""
        weight = weight.reshape(self.array.out_size, -1)
        if self.analog_bias:
            b = bias if bias is not None else torch.zeros(weight.shape[0])
            weight = torch.cat([weight, b.reshape(-1, 1).to(weight)], dim=1)
        elif bias is not None and self.bias is not None:
            self.bias.copy_(bias)
        self.array.set_weights(weight)
