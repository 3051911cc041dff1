"""The Tiki-Taka family: a fast array A that learns the gradient and a slow array C that receives it.

:class:`TransferTile` is an :class:`AnalogTile` (its own devices are the slow array C, its periphery
is the layer's) with a child tile ``fast`` (A). With the optimizer's learning rate η:

* forward / backward: y = W·x, z = Wᵀ·δ through the layer's periphery on the effective weight
  W = γ·(A − R) + C (R: the reference, A's symmetry point, when ``reference`` is on; else 0).
* update: A += −η_A·(c'∘δ)·(c∘x)ᵀ as a stochastic pulsed update (η_A = fast_lr·η; choppers
  c, c' ∈ {±1} for chopped TTv2, else 1). Every ``transfer_every`` vector updates (the rows of x),
  the next ``n_reads_per_transfer`` columns k of A are read through ``transfer_forward`` with one-hot
  inputs, v = (A − R)·eₖ + noise, cycling over the columns, and then

  - Tiki-Taka (Gokmen & Haensch 2020, Front. Neurosci. 14:103): C += λ·v·eₖᵀ as a stochastic pulsed
    update of C (the layer's ``rpu.update``), λ = transfer_lr·η;
  - TTv2 (Gokmen 2021, Front. AI 4:699148): H[:, k] += λ·v/θ (digital buffer, θ = buffer_granularity·
    Δw_min(A)); elements with |H| ≥ 1 fire n = sign(H)·min(⌊|H|⌋, max_pulses) pulses on C, and H keeps
    momentum·H (forget_buffer) or H − (1 − momentum)·n (:func:`.transfer_math.buffer_fire`);
  - chopped TTv2 (Rasch et al. 2023, arXiv 2303.04721): as TTv2 with H[:, k] += λ·cₖ·(c'∘v)/θ;
    cₖ flips with probability in_chop_prob after each read of column k (or all together every
    n = max(⌈1/in_chop_prob⌉, 2) full passes, ``in_chop_random`` off), c' with out_chop_prob after
    each full pass over the columns. An offset of A (its drift towards a symmetry point ≠ 0)
    then enters H with alternating sign and averages out.
  - AGAD (same paper): as chopped TTv2 with H[:, k] += λ·cₖ·c'∘(v − p)/θ, p the reference: the
    running mean m ← (1 − β)·m + β·v of the column's raw reads, frozen into p at the first read after
    its chopper switched; β = min(tail_weightening/n, 1). No pulses on C during the first n + 1
    passes.

  Transfer events due within one update run after its gradient pulses, in column order.

State: A (child tile), C (this tile's devices), H, the choppers, the reference, AGAD's means and
switch flags; the transfer schedule (vector updates since the last event, next column, full passes)
is in the extra state with the random streams. Chopper flips and the transfer's reads and pulses draw from this tile's stream, A's update
from A's own.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .algorithm_config import AGADAlgorithm, ChoppedTTv2Algorithm, SGDAlgorithm, TTv2Algorithm
from .config import RPUConfig
from .grad_mode import without_grad
from .tile import AnalogTile
from ..devices import symmetry_point
from .transfer_math import buffer_fire, count_events, flip_signs, one_hot_inputs, read_columns

PULSE_STATS = ("pulse_probs", "pulse_probs_clipped")  # what A's gradient update adds to the tile's stats


def fast_seed(seed: int) -> int:
    """The seed of the fast array: deterministic in the tile's seed and distinct from it."""
    return (seed * 6364136223846793005 + 1442695040888963407) % 2**62


class TransferTile(AnalogTile):
    """Tiki-Taka, TTv2, chopped TTv2 and AGAD on an ``out_size × in_size`` pair of arrays (module docstring)."""

    def __init__(self, out_size: int, in_size: int, rpu_config: RPUConfig, seed: int):
        alg = rpu_config.algorithm
        super().__init__(out_size, in_size, rpu_config.model_copy(
            update={"device": alg.slow_device or rpu_config.device}), seed)
        self.algorithm = alg
        fast_cfg = rpu_config.model_copy(update={"device": alg.fast_device or rpu_config.device,
                                                 "algorithm": SGDAlgorithm()})
        self.fast = AnalogTile(out_size, in_size, fast_cfg, fast_seed(self.seed))
        self.buffered = isinstance(alg, TTv2Algorithm)
        self.chopped = isinstance(alg, ChoppedTTv2Algorithm)
        zero = symmetry_point(self.fast.device_model, self.fast.params) if alg.reference else None
        self.register_buffer("fast_zero", zero)  # A's symmetry point per device (with the reference)
        self.register_buffer("reference", None if zero is None else zero.mean(dim=0))
        self.register_buffer("buffer", torch.zeros(out_size, in_size) if self.buffered else None)
        self.register_buffer("in_chopper", torch.ones(in_size) if self.chopped else None)
        self.register_buffer("out_chopper", torch.ones(out_size) if self.chopped else None)
        self.agad = isinstance(alg, AGADAlgorithm)
        self.register_buffer("running_mean", torch.zeros(out_size, in_size) if self.agad else None)
        self.register_buffer("past_mean", torch.zeros(out_size, in_size) if self.agad else None)
        self.register_buffer("switched", torch.zeros(in_size, dtype=torch.bool) if self.agad else None)
        self._since, self._next_col, self._passes = 0, 0, 0  # the transfer schedule (extra state)
        self._program_fast_zero()

    # --- state ----------------------------------------------------------------------------
    def get_extra_state(self):
        return super().get_extra_state() | {"transfer": {"since": self._since, "next_col": self._next_col,
                                                         "passes": self._passes}}

    def set_extra_state(self, extra):
        super().set_extra_state(extra)
        schedule = extra["transfer"]
        self._since, self._next_col, self._passes = schedule["since"], schedule["next_col"], schedule["passes"]

    def fast_weights(self) -> Tensor:
        """A − R: what a read of the fast array gives (R = 0 without a reference)."""
        a = self.fast.get_weights()
        return a if self.reference is None else a - self.reference

    def get_weights(self) -> Tensor:
        """The effective weight W = γ·(A − R) + C the network computes with."""
        w = self._cached.get("weights")
        if w is None:
            w = self.read_devices()
            if self.algorithm.gamma:
                w = w + self.algorithm.gamma * self.fast_weights()
            self._cached["weights"] = w
        return w

    @torch.no_grad()
    def set_weights(self, w: Tensor) -> None:
        """Program C to ``w`` (clipped to its devices) and A to its zero (A − R = 0); empty H."""
        super().set_weights(w)
        self._program_fast_zero()
        if self.buffer is not None:
            self.buffer.zero_()
        self._cached.clear()

    def _program_fast_zero(self) -> None:
        """A to its zero: each device at its symmetry point (with the reference), else 0."""
        zero = self.fast_zero if self.fast_zero is not None else torch.zeros_like(self.fast.state)
        self.fast.set_weights(zero)

    def reset_stats(self) -> None:
        super().reset_stats()
        if hasattr(self, "fast"):
            self.fast.reset_stats()

    # --- update -----------------------------------------------------------------------------
    @without_grad
    def update(self, x: Tensor, d: Tensor, lr: float) -> None:
        """Gradient pulses into A (x: B × in, d: B × out), then the transfer events due."""
        alg = self.algorithm
        self.stats["updates"] += x.shape[0]
        if self.chopped:
            x, d = x * self.in_chopper.to(x.dtype), d * self.out_chopper.to(d.dtype)
        before = {k: self.fast.stats[k] for k in PULSE_STATS}
        self.fast.update(x, d, alg.fast_lr * (lr if alg.scale_fast_lr else 1.0))
        for k, v in before.items():
            self.stats[k] += self.fast.stats[k] - v
        self._cached.clear()
        events, self._since = count_events(self._since, 1 if alg.units_in_mbatch else x.shape[0],
                                           alg.transfer_every)
        if events:
            self._transfer(events * alg.n_reads_per_transfer,
                           alg.transfer_lr * (lr if alg.scale_transfer_lr else 1.0))

    def _transfer(self, n_cols: int, lam: float) -> None:
        """Read and transfer the next ``n_cols`` columns of A, in chunks that do not wrap around."""
        gen = self.random_stream()
        while n_cols > 0:
            start = self._next_col
            m = min(n_cols, self.in_size - start)
            cols = torch.arange(start, start + m, device=self.state.device)
            self._transfer_columns(cols, lam, gen)
            n_cols -= m
            self._next_col = (start + m) % self.in_size
            if self._next_col == 0:
                self._passes += 1
                if self.chopped:
                    self.out_chopper.copy_(flip_signs(self.out_chopper, self.algorithm.out_chop_prob, gen))
        self._cached.clear()

    def _transfer_columns(self, cols: Tensor, lam: float, gen: torch.Generator) -> None:
        v = read_columns(self.fast_weights(), cols, self.algorithm.transfer_forward, gen).T  # out × m
        if self.agad:
            v = self._against_reference(cols, v)
        if self.chopped:
            v = v * self.in_chopper[None, cols] * self.out_chopper[:, None]
        if self.buffered:
            self._buffered_transfer(cols, v, lam, gen)
        else:
            self.pulsed_update(one_hot_inputs(cols, self.in_size).to(v.dtype), -v.T, lam)
        if self.chopped:
            self._switch_in_choppers(cols, gen)

    def chop_period(self) -> int:
        """n = max(⌈1/in_chop_prob⌉, 2): reads of a column per chopper period (regular switching, AGAD)."""
        return max(math.ceil(1 / self.algorithm.in_chop_prob), 2) if self.algorithm.in_chop_prob else 0

    def _switch_in_choppers(self, cols: Tensor, gen: torch.Generator) -> None:
        """Flip the read columns' input choppers: each with in_chop_prob, or all at the end of every
        n-th full pass (``in_chop_random`` off)."""
        alg, old = self.algorithm, self.in_chopper[cols]
        if alg.in_chop_random:
            new = flip_signs(old, alg.in_chop_prob, gen)
        else:
            n = self.chop_period()
            new = -old if n and self._passes % n == n - 1 else old
        self.in_chopper[cols] = new
        if self.agad:
            self.switched[cols] = new != old

    def _against_reference(self, cols: Tensor, v: Tensor) -> Tensor:
        """AGAD: v − p for the raw reads v (out × m); p ← m where the chopper switched since the last
        read; then the running mean m takes up v."""
        beta = min(self.algorithm.tail_weightening / self.chop_period(), 1.0)
        mean = self.running_mean[:, cols]
        past = torch.where(self.switched[None, cols], mean, self.past_mean[:, cols])
        self.past_mean[:, cols] = past
        self.running_mean[:, cols] = (1 - beta) * mean + beta * v
        return v - past

    def _buffered_transfer(self, cols: Tensor, v: Tensor, lam: float, gen: torch.Generator) -> None:
        """H[:, cols] += λ·v/θ (v: out × m); the elements past the threshold fire their pulses on C."""
        alg = self.algorithm
        theta = alg.buffer_granularity * self.fast.device_model.nominal_dw_min
        n, h = buffer_fire(self.buffer[:, cols] + (lam / theta) * v, alg.max_pulses, alg.forget_buffer,
                           alg.momentum)
        self.buffer[:, cols] = h
        if self.agad and self._passes <= self.chop_period():
            return  # AGAD's reference is still being formed
        if bool((n != 0).any()):
            rows = torch.arange(self.out_size, device=n.device)
            n = n.to(self.state.dtype)
            self._apply_counts(rows, cols, n.clamp_min(0), (-n).clamp_min(0), alg.max_pulses, gen)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, algorithm={self.algorithm.type}"
