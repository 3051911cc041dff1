"""Mixed-precision training (Nandakumar et al. 2020, Front. Neurosci. 14:406): the gradient in digital,
whole device steps to the analog array.

:class:`MixedPrecisionTile` is an :class:`AnalogTile` whose forward and backward run on its one array
as usual; only the update differs. With the optimizer's learning rate η and granularity ε
(``granularity``, default the device's Δw_min):

* accumulate: χ ← χ − η·δ̂ᵀ·x̂ in floating point (χ: out × in), x̂ and δ̂ the inputs and errors,
  optionally quantised per vector to n bins (:func:`.transfer_math.quantize_dynamic`);
* transfer, every ``transfer_every`` vector updates (rows of x): each selected device receives
  n = trunc(χ/ε) pulses (up for n > 0, down for n < 0) and χ ← χ − n·ε keeps the remainder
  (|χ| < ε after a transfer). ``n_rows_per_transfer`` rows are selected per event, cycling (0: all).
  The pulses go out in trains of the array's BL slots (``rpu.update.bl``), a count above BL in
  consecutive trains: a device with a pulse-train response (the CTF cell) sees the slot pattern of
  the gradient update, whatever the largest count of the transfer.

Events due within one update run once after it, on the χ of the whole update (k events of r
rows select min(out, k·r) consecutive rows).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .config import RPUConfig
from .grad_mode import without_grad
from .tile import AnalogTile
from .transfer_math import count_events, quantize_dynamic, whole_steps


class MixedPrecisionTile(AnalogTile):
    """An analog array updated from a digital gradient accumulator χ (module docstring)."""

    def __init__(self, out_size: int, in_size: int, rpu_config: RPUConfig, seed: int):
        super().__init__(out_size, in_size, rpu_config, seed)
        self.algorithm = rpu_config.algorithm
        self.register_buffer("chi", torch.zeros(out_size, in_size))
        self._since, self._next_row = 0, 0  # the transfer schedule (extra state)

    def get_extra_state(self):
        return super().get_extra_state() | {"transfer": {"since": self._since, "next_row": self._next_row}}

    def set_extra_state(self, extra):
        super().set_extra_state(extra)
        self._since, self._next_row = extra["transfer"]["since"], extra["transfer"]["next_row"]

    @torch.no_grad()
    def set_weights(self, w: Tensor) -> None:
        """Program the array to ``w`` and empty χ."""
        super().set_weights(w)
        self.chi.zero_()

    @without_grad
    def update(self, x: Tensor, d: Tensor, lr: float) -> None:
        """χ ← χ − lr·dᵀx (x: B × in, d: B × out), then the transfer of whole steps if due."""
        alg = self.algorithm
        self.stats["updates"] += x.shape[0]
        gen = self.random_stream()
        x = quantize_dynamic(x, alg.n_x_bins, alg.stoc_round_x, gen)
        d = quantize_dynamic(d, alg.n_d_bins, alg.stoc_round_d, gen)
        self.chi.sub_(lr * (d.T @ x))
        events, self._since = count_events(self._since, x.shape[0], alg.transfer_every)
        if events:
            self._transfer(self._rows(events), gen)

    def _rows(self, events: int) -> Tensor:
        """The rows of χ the ``events`` transfer events select (consecutive, cycling)."""
        per = self.algorithm.n_rows_per_transfer
        n = self.out_size if not per else min(self.out_size, events * per)
        rows = (self._next_row + torch.arange(n, device=self.chi.device)) % self.out_size
        self._next_row = (self._next_row + n) % self.out_size
        return rows

    def _transfer(self, rows: Tensor, gen: torch.Generator) -> None:
        eps = self.algorithm.granularity or self.device_model.nominal_dw_min
        n, rest = whole_steps(self.chi[rows], eps)
        self.chi[rows] = rest
        if bool((n != 0).any()):
            cols = torch.arange(self.in_size, device=n.device)
            n = n.to(self.state.dtype)
            self._apply_counts(rows, cols, n.clamp_min(0), (-n).clamp_min(0), self.rpu_config.update.bl, gen)
            self._cached.clear()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, algorithm=mixed-precision"
