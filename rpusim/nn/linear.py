"""AnalogLinear: a fully connected layer y = Wx + b on RPU arrays (Gokmen & Vlasov 2016).

The bias is an extra array column driven by a constant input 1 (as in the papers), or a
floating-point parameter with ``rpu_config.mapping.digital_bias``. Weights are
initialised like ``torch.nn.Linear`` (uniform ±1/sqrt(in_features)) and programmed onto
the devices, clipped to their bounds.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..tile import RPUConfig
from .base import AnalogLayerBase


class AnalogLinear(AnalogLayerBase):
    """Like ``torch.nn.Linear``; with no ``rpu_config`` it is the papers' RPU baseline."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rpu_config: RPUConfig | None = None):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"AnalogLinear: in_features and out_features must be >= 1, "
                             f"got {in_features}, {out_features}")
        self.in_features, self.out_features = in_features, out_features
        self._init_analog(out_features, in_features, bias, rpu_config)
        self._program_uniform(in_features)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"AnalogLinear: input has {x.shape[-1]} features, expected {self.in_features}")
        if x.dim() == 2:  # a batch of rows already: no reshaping (two views fewer per pass)
            return self.analog_forward(x)
        lead = x.shape[:-1]
        y = self.analog_forward(x.reshape(-1, self.in_features))
        return y.reshape(*lead, self.out_features)

    @classmethod
    def from_digital(cls, module: nn.Linear, rpu_config: RPUConfig | None) -> "AnalogLinear":
        layer = cls(module.in_features, module.out_features, module.bias is not None, rpu_config)
        layer.set_weights(module.weight.detach(), None if module.bias is None else module.bias.detach())
        return layer

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"bias={self.bias is not None or self.analog_bias}"
