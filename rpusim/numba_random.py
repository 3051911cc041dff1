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
    """4 words of xoshiro256** state from one integer seed (splitmix64 expansion); kernels copy
    them into local variables and advance them with :func:`step`."""
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
def step(s0, s1, s2, s3):
    """xoshiro256** on a state held in four local variables (kept in registers by the compiler,
    unlike an array that may alias the kernel's output): (output, new state)."""
    result = _rotl(s1 * uint64(5), 7) * uint64(9)
    t = s1 << uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return result, s0, s1, s2, s3


@njit(cache=True, inline="always")
def to_uniform(r):
    return float(r >> uint64(11)) * _U53


@njit(cache=True, inline="always")
def normal_pair(s0, s1, s2, s3):
    """Two independent N(0, 1) draws (Marsaglia's polar method): (a, b, new state)."""
    while True:
        r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
        a = 2.0 * to_uniform(r) - 1.0
        r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
        b = 2.0 * to_uniform(r) - 1.0
        q = a * a + b * b
        if 0.0 < q < 1.0:
            f = math.sqrt(-2.0 * math.log(q) / q)
            return a * f, b * f, s0, s1, s2, s3
