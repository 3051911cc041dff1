"""The program-time transient of a charge-trap-flash cell over a pulse train [ours].

Model (mechanism of Shrivastava et al., arXiv 2307.06088): a
transient enhancement e ∈ [0, 1] of the tunnelling field builds up during a pulse and
relaxes during a gap,

    during a pulse:  de/dt = (1 − e)/τ_on        during a gap:  de/dt = −e/τ_off,

and the program rate is (1 − a) + a·e of its steady-state value (a = ``transient``). A
pulse of width pw that starts at enhancement e₀ therefore has the effective program time

    t_eff = pw − a·τ_on·(1 − A)·(1 − e₀),   A = exp(−pw/τ_on),

and leaves e = 1 − (1 − e₀)·A. A cell starts every update relaxed (e = 0).

Pulse trains: an update has N slots of period t_slot = pw + t_gap; a cell that coincides
in n of them (a uniformly random n-subset of the N slots, as in the stochastic update)
loses a·τ_on·(1 − A)·L with L = Σ_k (1 − e₀,k). :func:`train_loss_moments` gives the
exact mean and variance of L given n, for every n = 0…N at once, by a dynamic programme
over the slots that carries the moments of (e, L) over all slot patterns with j pulses
so far (the maps are affine, so the first and second moments close): O(N²) work per
(N, pw, t_gap, τ_on, τ_off), cached.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def cold_loss_factor(pw: float, tau_on: float) -> float:
    """τ_on·(1 − exp(−pw/τ_on)) (µs): the on-time a fully relaxed cell loses per unit of a."""
    return tau_on * -math.expm1(-pw / tau_on) if tau_on > 0 else 0.0


@lru_cache(maxsize=256)
def train_loss_moments(n_slots: int, pw: float, t_gap: float, tau_on: float,
                       tau_off: float, max_count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of L = Σ_k (1 − e before pulse k), given n pulses among n_slots.

    Returns two float64 arrays indexed by n = 0…min(n_slots, max_count) (exact: patterns
    with more pulses never feed back into fewer).
    """
    A = math.exp(-pw / tau_on) if tau_on > 0 else 0.0
    c = math.exp(-t_gap / tau_off) if tau_off > 0 else 0.0          # decay over the gap after a pulse
    q = math.exp(-(pw + t_gap) / tau_off) if tau_off > 0 else 0.0   # decay over an empty slot
    alpha, gamma = c * (1 - A), c * A                               # after a pulse: e' = α + γ·e
    size = min(n_slots, n_slots if max_count is None else max_count) + 1
    # path-probability-weighted sums (each slot pulses with probability 1/2; the result is conditional on n)
    s0 = np.zeros(size)
    s0[0] = 1.0
    s1, s2, s11, s12, s22 = (np.zeros(size) for _ in range(5))      # Σ e, Σ L, Σ e², Σ eL, Σ L²
    for _ in range(n_slots):
        # no pulse in this slot: e → q·e
        n0, n1, n2, n11, n12, n22 = s0, q * s1, s2, q * q * s11, q * s12, s22
        # a pulse: L → L + 1 − e, e → α + γ·e (moments of the affine maps)
        p0 = s0
        p1 = alpha * s0 + gamma * s1
        p2 = s2 + s0 - s1
        p11 = alpha * alpha * s0 + 2 * alpha * gamma * s1 + gamma * gamma * s11
        p12 = alpha * (s2 + s0 - s1) + gamma * (s12 + s1 - s11)
        p22 = s22 + s0 + s11 + 2 * s2 - 2 * s12 - 2 * s1
        out = []
        for a, b in ((n0, p0), (n1, p1), (n2, p2), (n11, p11), (n12, p12), (n22, p22)):
            nxt = 0.5 * a
            nxt[1:] += 0.5 * b[:-1]
            out.append(nxt)
        s0, s1, s2, s11, s12, s22 = out
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(s0 > 0, s2 / s0, 0.0)
        var = np.where(s0 > 0, s22 / s0 - mean**2, 0.0)
    mean[0], var[0] = 0.0, 0.0
    return mean, np.clip(var, 0.0, None)
