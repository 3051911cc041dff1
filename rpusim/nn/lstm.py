"""AnalogLSTM: LSTM layers whose four gates live on one RPU array (Gokmen, Rasch, Haensch 2018).

Per layer, one array of 4h × (x + h + 1) holds [W_ih | W_hh | b] with the gate rows in
PyTorch's order (input i, forget f, cell g, output o). At each time step the array is
driven by [xₜ; hₜ₋₁; 1] and the pre-activations are split after it:

    [i; f; g; o] = W·[xₜ; hₜ₋₁; 1],   cₜ = σ(f)∘cₜ₋₁ + σ(i)∘tanh(g),   hₜ = σ(o)∘tanh(cₜ)

Back-propagation through time reads the same array transposed once per time step; the
layer remembers (zₜ, δₜ) of every step, so ``AnalogSGD.step`` gives each layer
T rank-1 pulsed updates per sample for a sequence of length T. With the default
``update.mode = 'fast'`` they are applied as one update of T·B rows (coincidence counts
over all T·B·BL slots); ``update.mode = 'exact'`` applies them row by row, slot by slot.

On the CPU (float32, one tile, bias on the array; :func:`rpusim.fast_path.use_fast_kernel`
decides) a layer runs the whole sequence, forward and BPTT, in the numba kernels of
:mod:`.lstm_kernel`; otherwise step by step through :class:`AnalogLSTMCell` and autograd. The two compute the same thing (tested); only the
random streams of the periphery differ.

A float ``nn.LSTM`` converts with :meth:`AnalogLSTM.from_digital`: the array gets
[W_ih | W_hh] and the bias column b_ih + b_hh (the array has one bias column, PyTorch two).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ..fast_path import draw_seed, use_fast_kernel
from ..tile import RPUConfig
from ..tile.periphery import draw_pass_noise, kernel_supports
from ..tile.periphery_params import io_params
from ..tile.tile import STAT_KEYS
from .base import AnalogLayerBase

GATE_ORDER = ("input", "forget", "cell", "output")


class AnalogLSTMCell(AnalogLayerBase):
    """One LSTM layer for one time step: the four gates on a 4h × (x + h [+ 1]) array."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 rpu_config: RPUConfig | None = None):
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"AnalogLSTMCell: input_size and hidden_size must be >= 1, "
                             f"got {input_size}, {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self._init_analog(4 * hidden_size, input_size + hidden_size, bias, rpu_config)
        self._program_uniform(hidden_size)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """(hₜ, cₜ) from xₜ (B × x) and (hₜ₋₁, cₜ₋₁) (B × h each; zeros when None)."""
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_size)
            state = (zeros, zeros)
        h, c = state
        gates = self.analog_forward(torch.cat([x, h], dim=1))  # [xₜ; hₜ₋₁; 1] through the array
        n = self.hidden_size
        act = torch.sigmoid(gates)
        g = torch.tanh(gates[:, 2 * n:3 * n])
        c = act[:, n:2 * n] * c + act[:, :n] * g
        h = act[:, 3 * n:] * torch.tanh(c)
        return h, c

    def forward_sequence(self, seq: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """All time steps of seq (T × B × x) from state (h₀, c₀): (outputs T × B × h, (h_T, c_T))."""
        if self._kernel_applies(seq, state):
            out, h, c = _LSTMSequence.apply(self.analog_ctx, seq.contiguous(), state[0].contiguous(),
                                            state[1].contiguous(), self)
            return out, (h, c)
        outputs = []
        for x_t in seq.unbind(0):
            state = self(x_t, state)
            outputs.append(state[0])
        return torch.stack(outputs), state

    def _kernel_applies(self, seq: Tensor, state: tuple[Tensor, Tensor]) -> bool:
        cfg = self.rpu_config
        supported = (self.array.single and self.bias is None and kernel_supports(cfg.forward)
                     and kernel_supports(cfg.backward) and cfg.forward.out_bound_grad == "pass")
        return supported and use_fast_kernel(seq, *state, self.array.get_weights())

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}, " \
               f"array={4 * self.hidden_size}x{self.array.in_size}"


class AnalogLSTM(nn.Module):
    """Like ``torch.nn.LSTM`` (unidirectional, no projection): stacked :class:`AnalogLSTMCell` layers.

    ``forward(input, (h0, c0))`` with input (T, B, x), or (B, T, x) when ``batch_first``;
    returns (output, (h_n, c_n)) with h_n, c_n of shape (num_layers, B, h). ``dropout``
    is applied to the outputs of every layer but the last, in training, as in PyTorch.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, rpu_config: RPUConfig | None = None):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"AnalogLSTM: num_layers must be >= 1, got {num_layers}")
        if not 0 <= dropout < 1:
            raise ValueError(f"AnalogLSTM: dropout must be in [0, 1), got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.dropout = batch_first, dropout
        self.cells = nn.ModuleList(
            AnalogLSTMCell(input_size if i == 0 else hidden_size, hidden_size, bias, rpu_config)
            for i in range(num_layers))

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None):
        if input.dim() != 3 or input.shape[-1] != self.input_size:
            raise ValueError(f"AnalogLSTM: expected a 3-D input with {self.input_size} features, "
                             f"got shape {tuple(input.shape)}")
        seq = input.transpose(0, 1) if self.batch_first else input
        batch = seq.shape[1]
        if hx is None:
            zeros = seq.new_zeros(self.num_layers, batch, self.hidden_size)
            hx = (zeros, zeros)
        h_n, c_n = [], []
        for layer, cell in enumerate(self.cells):
            seq, state = cell.forward_sequence(seq, (hx[0][layer], hx[1][layer]))
            if self.dropout and self.training and layer < self.num_layers - 1:
                seq = nn.functional.dropout(seq, self.dropout, training=True)
            h_n.append(state[0])
            c_n.append(state[1])
        out = seq.transpose(0, 1) if self.batch_first else seq
        return out, (torch.stack(h_n), torch.stack(c_n))

    def get_weights(self) -> list[tuple[Tensor, Tensor | None]]:
        """Per layer (weight 4h × (x + h) with gate rows i, f, g, o; bias 4h or None)."""
        return [cell.get_weights() for cell in self.cells]

    @classmethod
    def from_digital(cls, module: nn.LSTM, rpu_config: RPUConfig | None) -> "AnalogLSTM":
        if module.bidirectional or module.proj_size:
            raise ValueError("AnalogLSTM: bidirectional LSTMs and proj_size are not supported")
        layer = cls(module.input_size, module.hidden_size, module.num_layers, module.bias,
                    module.batch_first, module.dropout, rpu_config)
        for i, cell in enumerate(layer.cells):
            w = torch.cat([getattr(module, f"weight_ih_l{i}"), getattr(module, f"weight_hh_l{i}")], dim=1)
            b = getattr(module, f"bias_ih_l{i}") + getattr(module, f"bias_hh_l{i}") if module.bias else None
            cell.set_weights(w.detach(), None if b is None else b.detach())
        return layer

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, " \
               f"batch_first={self.batch_first}, dropout={self.dropout}"


class _LSTMSequence(torch.autograd.Function):
    """Autograd bridge of one layer over a whole sequence (:mod:`.lstm_kernel`)."""

    @staticmethod
    def forward(ctx, analog_ctx: Tensor, seq: Tensor, h0: Tensor, c0: Tensor, cell: AnalogLSTMCell):
        from .lstm_kernel import lstm_forward  # numba, loaded where the predicate chose the kernel
        tile = cell.array.tiles[0]
        w = tile.get_weights().detach().contiguous()
        io = cell.rpu_config.forward
        noise = draw_pass_noise(io, tile.random_stream(), seq.shape[0], seq.shape[1], w.shape[1], w.shape[0])
        out, z, acts, cells, tanh_c, stats = lstm_forward(
            seq.detach().numpy(), h0.detach().numpy(), c0.detach().numpy(), np.ascontiguousarray(w.numpy().T),
            int(cell.analog_bias), io_params(io), draw_seed(tile.random_stream()), noise)
        tile.count_passes("fwd", dict(zip(STAT_KEYS, stats.tolist())))
        ctx.cell, ctx.w, ctx.saved = cell, w, (z, acts, cells, tanh_c)
        return torch.from_numpy(out), torch.from_numpy(out[-1].copy()), torch.from_numpy(cells[-1].copy())

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_h: Tensor, grad_c: Tensor):
        from .lstm_kernel import lstm_backward
        cell: AnalogLSTMCell = ctx.cell
        tile = cell.array.tiles[0]
        first_needs_pass = ctx.needs_input_grad[1] or ctx.needs_input_grad[2]
        io, w = cell.rpu_config.backward, ctx.w
        noise = draw_pass_noise(io, tile.random_stream(), grad_out.shape[0], grad_out.shape[1], w.shape[0], w.shape[1])
        z, acts, cells, tanh_c = ctx.saved
        dxs, dh0, dc0, deltas, stats = lstm_backward(
            grad_out.contiguous().numpy(), grad_h.contiguous().numpy(), grad_c.contiguous().numpy(), acts,
            cells, tanh_c, w.numpy(), cell.input_size, io_params(io), draw_seed(tile.random_stream()), first_needs_pass, noise)
        tile.count_passes("bwd", dict(zip(STAT_KEYS, stats.tolist())))
        if ctx.needs_input_grad[0]:  # the layer is trained: its update is the gradient
            cell.analog_ctx.remember(torch.from_numpy(z.reshape(-1, z.shape[-1])),
                                     torch.from_numpy(deltas.reshape(-1, deltas.shape[-1])))
        ctx.saved = None
        return (None, torch.from_numpy(dxs) if ctx.needs_input_grad[1] else None,
                torch.from_numpy(dh0), torch.from_numpy(dc0), None)
