"""A small, fast random stream for the numba kernels of the update (xoshiro256**, Blackman & Vigna 2018).

Each kernel call seeds a 4-word state from one integer drawn from the tile's torch generator
(splitmix64 expansion), so runs stay reproducible and resumable. Against numba's
Mersenne twister with ``np.random.random()`` this saves most of the cost of a draw, and a
64-bit output serves two Bernoulli slots (32-bit comparisons, probability resolution 2⁻³²).

    uniform     u = (x >> 11)·2⁻⁵³ ∈ [0, 1)
    normal      Marsaglia's polar method: two N(0, 1) values from each accepted pair of uniforms
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, uint64

_U53 = 1.0 / 9007199254740992.0


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@njit(cache=True)
def seeded_state(seed):
    """4 words of xoshiro256** state from one integer seed (splitmix64 expansion)."""
    s = np.empty(4, np.uint64)
    z = uint64(seed)
    for i in range(4):
        z += uint64(0x9E3779B97F4A7C15)
        v = z
        v = (v ^ (v >> uint64(30))) * uint64(0xBF58476D1CE4E5B9)
        v = (v ^ (v >> uint64(27))) * uint64(0x94D049BB133111EB)
        s[i] = v ^ (v >> uint64(31))
    return s


@njit(cache=True, inline="always")
def next_u64(s):
    result = _rotl(s[1] * uint64(5), 7) * uint64(9)
    t = s[1] << uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return result


@njit(cache=True, inline="always")
def uniform(s):
    return float(next_u64(s) >> uint64(11)) * _U53


@njit(cache=True, inline="always")
def normal_pair(s):
    """Two independent N(0, 1) draws (Marsaglia's polar method)."""
    while True:
        a = 2.0 * uniform(s) - 1.0
        b = 2.0 * uniform(s) - 1.0
        r = a * a + b * b
        if 0.0 < r < 1.0:
            f = math.sqrt(-2.0 * math.log(r) / r)
            return a * f, b * f
