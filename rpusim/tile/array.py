"""A logical weight matrix realised on one or more analog tiles, results stitched digitally.

A layer larger than ``mapping.max_input_size`` × ``mapping.max_output_size`` is split into
a grid of tiles: tile (r, c) holds rows r and columns c of W. Forward sums the partial
outputs of the tiles of a row band digitally (y_r = Σ_c W_rc·x_c); backward sums over
column bands (z_c = Σ_r W_rcᵀ·δ_r); each tile updates with its own slice of x and δ and
runs its own periphery (noise/bound/update management per tile, as on hardware).

The array also keeps the (x, δ) pairs of the backward passes since the last update, so
that a layer used several times per step (patches of a convolution, time steps of an
LSTM) updates once from all of them, as ``AnalogSGD.step`` asks.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import RPUConfig
from .grad_mode import without_grad
from .mixed_precision import MixedPrecisionTile
from .tile import AnalogTile
from .transfer import TransferTile

TILE_CLASSES: dict[str, type[AnalogTile]] = {
    "sgd": AnalogTile, "tiki-taka": TransferTile, "ttv2": TransferTile, "chopped-ttv2": TransferTile,
    "agad": TransferTile, "mixed-precision": MixedPrecisionTile}


def tile_class(rpu_config: RPUConfig) -> type[AnalogTile]:
    """The tile that implements ``rpu_config.algorithm.type`` (docs/algorithms.md)."""
    return TILE_CLASSES[rpu_config.algorithm.type]


def _splits(size: int, max_size: int) -> list[int]:
    if max_size <= 0 or size <= max_size:
        return [size]
    n = -(-size // max_size)
    base, extra = divmod(size, n)
    return [base + (i < extra) for i in range(n)]


class AnalogArray(nn.Module):
    """The analog arrays of one layer: ``out_size × in_size`` weights on a grid of tiles."""

    def __init__(self, out_size: int, in_size: int, rpu_config: RPUConfig):
        super().__init__()
        self.out_size, self.in_size, self.rpu_config = out_size, in_size, rpu_config
        self.row_sizes = _splits(out_size, rpu_config.mapping.max_output_size)
        self.col_sizes = _splits(in_size, rpu_config.mapping.max_input_size)
        seeds = torch.randint(0, 2**62, (len(self.row_sizes) * len(self.col_sizes),)).tolist()
        tile = tile_class(rpu_config)
        self.tiles = nn.ModuleList(
            tile(r, c, rpu_config, seeds[i * len(self.col_sizes) + j])
            for i, r in enumerate(self.row_sizes) for j, c in enumerate(self.col_sizes))
        self._grid = tuple(self.tiles)  # plain references (not registered twice) for fast indexing
        self.single = len(self._grid) == 1
        self._pending: list[tuple[Tensor, Tensor]] = []

    def _tile(self, i: int, j: int) -> AnalogTile:
        return self._grid[i * len(self.col_sizes) + j]

    def forward(self, x: Tensor) -> Tensor:
        if self.single:
            return self._grid[0](x)
        xs = x.split(self.col_sizes, dim=1)
        return torch.cat([sum(self._tile(i, j)(xs[j]) for j in range(len(xs)))
                          for i in range(len(self.row_sizes))], dim=1)

    def backward_pass(self, d: Tensor) -> Tensor:
        if self.single:
            return self._grid[0].backward(d)
        ds = d.split(self.row_sizes, dim=1)
        return torch.cat([sum(self._tile(i, j).backward(ds[i]) for i in range(len(ds)))
                          for j in range(len(self.col_sizes))], dim=1)

    def remember(self, x: Tensor, d: Tensor) -> None:
        """Keep the inputs and errors of one backward pass for the next update."""
        self._pending.append((x.detach(), d.detach()))

    def has_pending(self) -> bool:
        return bool(self._pending)

    def discard_pending(self) -> None:
        """Forget the remembered (x, δ) pairs without updating."""
        self._pending.clear()

    @without_grad
    def apply_update(self, lr: float) -> None:
        """Pulsed update from every (x, δ) remembered since the last update, then forget them."""
        if not self._pending:
            return
        x = torch.cat([p[0] for p in self._pending]) if len(self._pending) > 1 else self._pending[0][0]
        d = torch.cat([p[1] for p in self._pending]) if len(self._pending) > 1 else self._pending[0][1]
        self._pending.clear()
        self.update(x, d, lr)

    @without_grad
    def update(self, x: Tensor, d: Tensor, lr: float) -> None:
        if self.single:
            self._grid[0].update(x, d, lr)
            return
        xs, ds = x.split(self.col_sizes, dim=1), d.split(self.row_sizes, dim=1)
        for i in range(len(ds)):
            for j in range(len(xs)):
                self._tile(i, j).update(xs[j], ds[i], lr)

    def get_weights(self) -> Tensor:
        if self.single:
            return self._grid[0].get_weights()
        return torch.cat([torch.cat([self._tile(i, j).get_weights() for j in range(len(self.col_sizes))], dim=1)
                          for i in range(len(self.row_sizes))], dim=0)

    @torch.no_grad()
    def set_weights(self, w: Tensor) -> None:
        for i, wr in enumerate(w.split(self.row_sizes, dim=0)):
            for j, wrc in enumerate(wr.split(self.col_sizes, dim=1)):
                self._tile(i, j).set_weights(wrc)

    def stats(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for t in self.tiles:
            for k, v in t.stats.items():
                total[k] = total.get(k, 0) + v
        return total

    def reset_stats(self) -> None:
        for t in self.tiles:
            t.reset_stats()
