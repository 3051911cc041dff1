"""AnalogConv1d / AnalogConv2d: convolutions on RPU arrays (Gokmen, Onen, Haensch 2017).

A layer with M kernels of size k×k×d is one array of M × (k²d + 1) (the last column is
the bias, driven by a constant input 1; or a digital bias with
``rpu_config.mapping.digital_bias``). With the image unrolled into its L patches
(``torch.nn.functional.unfold``: one row of k²d values per output pixel),

* forward:  every patch x_l is one input vector, y_l = K·x_l, folded back to M × H' × W';
* backward: every output-error patch δ_l is one vector through the transpose, z_l = Kᵀ·δ_l,
  and unfold's own gradient scatters the z_l back onto the input image;
* update:   one rank-1 pulsed update per patch, K += −η·Σ_l δ_l x_lᵀ.

All B·L patches of a batch go through the array as one batch of row vectors; the array
remembers all (x_l, δ_l) and ``AnalogSGD.step`` applies them as one update. With
``rpu_config.update.mode = 'exact'`` that update is the papers' sequence of L rank-1
updates, patch after patch and slot after slot; the default 'fast' mode draws the same
pulse trains but sums the coincidences of all patches per cross-point first (see
:mod:`rpusim.tile.pulsed_update`).

The weight layout is ``nn.Conv2d``'s (M × d × k × k flattened to M × dk², matching
unfold's (channel, row, column) order), so a float ``nn.Conv2d`` converts with
``convert_to_analog`` and ``get_weights``/``set_weights`` exchange the same tensors.
Only ``groups = 1`` and zero padding are supported. AnalogConv1d is AnalogConv2d on an
image of height 1.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..tile import RPUConfig
from .base import AnalogLayerBase
from .patches import patch_rows


def _pair(v, name: str) -> tuple[int, int]:
    t = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(t) != 2 or not all(isinstance(i, int) for i in t):
        raise ValueError(f"AnalogConv2d: {name} = {v!r}: expected an int or a pair of ints")
    return t


class AnalogConv2d(AnalogLayerBase):
    """Like ``torch.nn.Conv2d`` (groups = 1, zero padding); weights on one analog array."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, rpu_config: RPUConfig | None = None):
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"AnalogConv2d: in_channels and out_channels must be >= 1, "
                             f"got {in_channels}, {out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.dilation = _pair(dilation, "dilation")
        self.padding = self._resolve_padding(padding)
        if min(self.kernel_size + self.stride + self.dilation) < 1 or min(self.padding) < 0:
            raise ValueError("AnalogConv2d: kernel_size, stride, dilation must be >= 1 and padding >= 0")
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        self._init_analog(out_channels, fan_in, bias, rpu_config)
        self._program_uniform(fan_in)

    def _resolve_padding(self, padding) -> tuple[int, int]:
        if padding == "valid":
            return 0, 0
        if padding == "same":
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            if any(t % 2 for t in total) or self.stride != (1, 1):
                raise ValueError("AnalogConv2d: padding='same' needs stride 1 and an even dilation·(k−1)")
            return total[0] // 2, total[1] // 2
        return _pair(padding, "padding")

    @property
    def fan_in(self) -> int:
        return self.in_channels * self.kernel_size[0] * self.kernel_size[1]

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in
                     zip((h, w), self.padding, self.dilation, self.kernel_size, self.stride))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"AnalogConv2d: expected input B × {self.in_channels} × H × W, got {tuple(x.shape)}")
        b = x.shape[0]
        h_out, w_out = self.output_size(x.shape[2], x.shape[3])
        rows = patch_rows(x, self.kernel_size, self.dilation, self.padding, self.stride,
                          (h_out, w_out), self.analog_bias)                      # B·L × (k²d [+ 1])
        y = self.analog_forward(rows, ones_appended=True)                        # B·L × M
        # rows (b, oh, ow) × channels, read as B × M × H' × W' (channels-last memory, no copy)
        return y.reshape(b, h_out, w_out, self.out_channels).permute(0, 3, 1, 2)

    def get_weights(self) -> tuple[Tensor, Tensor | None]:
        """(weight M × d × kh × kw, bias) as the array holds them."""
        w, b = super().get_weights()
        return w.reshape(self.out_channels, self.in_channels, *self.kernel_size), b

    @classmethod
    def from_digital(cls, module: nn.Conv2d, rpu_config: RPUConfig | None) -> "AnalogConv2d":
        _check_convertible(module)
        layer = cls(module.in_channels, module.out_channels, module.kernel_size, module.stride,
                    module.padding, module.dilation, module.bias is not None, rpu_config)
        layer.set_weights(module.weight.detach(), None if module.bias is None else module.bias.detach())
        return layer

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"bias={self.bias is not None or self.analog_bias}")


class AnalogConv1d(AnalogConv2d):
    """Like ``torch.nn.Conv1d`` (groups = 1, zero padding): an AnalogConv2d over a 1 × L image."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, rpu_config: RPUConfig | None = None):
        one = lambda v: v[0] if isinstance(v, (tuple, list)) else v  # noqa: E731
        pad = padding if isinstance(padding, str) else (0, one(padding))
        super().__init__(in_channels, out_channels, (1, one(kernel_size)), (1, one(stride)), pad,
                         (1, one(dilation)), bias, rpu_config)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"AnalogConv1d: expected input B × {self.in_channels} × L, got {tuple(x.shape)}")
        return super().forward(x.unsqueeze(2)).squeeze(2)

    def get_weights(self) -> tuple[Tensor, Tensor | None]:
        """(weight M × d × k, bias) as the array holds them."""
        w, b = super().get_weights()
        return w.squeeze(2), b


def _check_convertible(module: nn.Module) -> None:
    if module.groups != 1:
        raise ValueError(f"{type(module).__name__}: groups = {module.groups}: analog convolutions support groups = 1 only")
    if module.padding_mode != "zeros":
        raise ValueError(f"{type(module).__name__}: padding_mode = {module.padding_mode!r}: only 'zeros' is supported")
