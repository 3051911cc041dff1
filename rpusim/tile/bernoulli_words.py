"""Bit-parallel Bernoulli draws: 64 pulse slots of one line from a few random words.

Each of the ≤ 64 lanes of a word is one slot that fires when its 32-bit uniform u is below the
line's threshold θ = ⌊min(q, 1)·2³²⌋, exactly as when each slot compares its own 32-bit half of
a random word (P(fire) = θ/2³²), but the lanes' uniforms are compared bit-serially, all at once:
random word k supplies bit 31 − k of every lane's u. Going from the most significant bit down,
a lane is decided at the first bit where u and θ differ (u < θ where θ has a 1 and u a 0,
u > θ the other way round) and stays undecided while they agree:

    θ_k = 1:   fired |= undecided & ~r,   undecided &= r
    θ_k = 0:   undecided &= ~r

Each word decides every undecided lane with probability ½, so a word of 64 lanes needs about
log₂ 64 + 1.3 ≈ 7.3 random words (at most 32; lanes still undecided after 32 have u = θ and do
not fire) instead of 32, whatever q. The bits of different lanes and words are independent
uniform bits, so the lanes are independent Bernoulli(θ/2³²) slots: the same distribution as
the slot-by-slot comparison, another random stream.
"""
from __future__ import annotations

from numba import njit, uint64

from ..numba_random import step

_ONES = uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True, inline="always")
def bernoulli_word(threshold, width, s0, s1, s2, s3):
    """``width`` (1…64) independent slots with P(1) = threshold/2³² (threshold ≤ 2³², uint64) as
    the low bits of a word: (word, new xoshiro state)."""
    undecided = _ONES if width >= 64 else (uint64(1) << uint64(width)) - uint64(1)
    if threshold >= uint64(4294967296):
        return undecided, s0, s1, s2, s3
    fired = uint64(0)
    bit = uint64(1) << uint64(31)
    while undecided and bit:
        r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
        if threshold & bit:
            fired |= undecided & ~r
            undecided &= r
        else:
            undecided &= ~r
        bit >>= uint64(1)
    return fired, s0, s1, s2, s3

