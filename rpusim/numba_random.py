"""A small, fast random stream for the numba kernels of the update (xoshiro256**, Blackman & Vigna 2018).

Each kernel call seeds a 4-word state from one integer drawn from the tile's torch generator
(:func:`rpusim.fast_path.draw_seed`; splitmix64 expansion), so runs stay reproducible and
resumable. Against numba's Mersenne twister with ``np.random.random()`` this saves most of the
cost of a draw, and a 64-bit output serves two Bernoulli slots (32-bit comparisons, probability
resolution 2⁻³²).

    uniform     u = (x >> 11)·2⁻⁵³ ∈ [0, 1)
    normal      the ziggurat of Marsaglia & Tsang 2000: 256 layers of equal area v under
                f(x) = exp(−x²/2); one word (layer, sign, abscissa) is accepted at once in
                ≈ 99 % of draws, the rest test the wedge under f or sample the tail x > r by
                Marsaglia's exponential method. :func:`ziggurat` takes a 64-bit word (52-bit
                abscissa); :func:`fill` takes two draws from each word, one per 32-bit half
                (23-bit abscissa, a float32's resolution).
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


def _ziggurat_tables(n: int = 256, r: float = 3.6541528853610088):
    """Layer edges X₀ > X₁ = r > … > X_n = 0 of the ziggurat (float64), with f(X_i) and, for
    abscissae of 52 and of 23 bits, the fast-path thresholds k_i = ⌊2ᵇ·X_{i+1}/X_i⌋ and scales
    w_i = X_i·2⁻ᵇ."""
    f = lambda x: math.exp(-0.5 * x * x)  # noqa: E731
    v = r * f(r) + math.sqrt(math.pi / 2) * math.erfc(r / math.sqrt(2))  # area of each layer
    edges = np.zeros(n + 1)
    edges[0], edges[1] = v / f(r), r
    for i in range(1, n - 1):
        edges[i + 1] = math.sqrt(-2.0 * math.log(v / edges[i] + f(edges[i])))
    fx = np.exp(-0.5 * edges**2)
    ratio = edges[1:] / edges[:-1]
    return (edges, fx, np.floor(2.0**52 * ratio).astype(np.uint64), edges[:-1] / 2.0**52,
            np.floor(2.0**23 * ratio).astype(np.uint64), (edges[:-1] / 2.0**23).astype(np.float32))


_ZIG_X, _ZIG_F, _ZIG_K, _ZIG_W, _ZIG_K23, _ZIG_W23 = _ziggurat_tables()
_ZIG_R = float(_ZIG_X[1])


@njit(cache=True)
def _ziggurat_rest(layer, x, negative, s0, s1, s2, s3):
    """The rest of a ziggurat draw whose candidate x (in ``layer``) fell outside its rectangle: the
    tail |x| > r for layer 0 (always accepted), else the wedge test under f. Returns (value,
    accepted, new state); a rejected candidate means a fresh draw."""
    if layer == 0:  # the tail |x| > r, by Marsaglia's exponential method
        while True:
            r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
            xx = -math.log(1.0 - to_uniform(r)) / _ZIG_R
            r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
            yy = -math.log(1.0 - to_uniform(r))
            if 2.0 * yy > xx * xx:
                return (-(_ZIG_R + xx) if negative else _ZIG_R + xx), True, s0, s1, s2, s3
    r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
    y = _ZIG_F[layer] + to_uniform(r) * (_ZIG_F[layer + 1] - _ZIG_F[layer])
    return x, y < math.exp(-0.5 * x * x), s0, s1, s2, s3  # accepted: in the wedge under the curve


@njit(cache=True, inline="always")
def ziggurat(s0, s1, s2, s3):
    """One N(0, 1) draw by the ziggurat method: (value, new state)."""
    while True:
        r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
        layer = int(r & uint64(0xFF))
        negative = (r >> uint64(8)) & uint64(1)
        bits = r >> uint64(12)  # 52 bits of abscissa
        x = float(bits) * _ZIG_W[layer]
        if negative:
            x = -x
        if bits < _ZIG_K[layer]:  # inside the layer's rectangle under the curve
            return x, s0, s1, s2, s3
        x, accepted, s0, s1, s2, s3 = _ziggurat_rest(layer, x, negative, s0, s1, s2, s3)
        if accepted:
            return x, s0, s1, s2, s3


@njit(cache=True, inline="always")
def _ziggurat_half(h, s0, s1, s2, s3):
    """A ziggurat draw from a 32-bit half word h (8 bits of layer, a sign, 23 bits of abscissa: the
    resolution of a float32); after a rejection a fresh draw by :func:`ziggurat` (exact: a
    rejection sampler's accepted value does not depend on the attempt). (float32 value, state)."""
    layer = int(h & uint64(0xFF))
    negative = (h >> uint64(8)) & uint64(1)
    bits = h >> uint64(9)
    x = np.float32(bits) * _ZIG_W23[layer]
    if negative:
        x = -x
    if bits < _ZIG_K23[layer]:
        return x, s0, s1, s2, s3
    v, accepted, s0, s1, s2, s3 = _ziggurat_rest(layer, float(x), negative, s0, s1, s2, s3)
    if not accepted:
        v, s0, s1, s2, s3 = ziggurat(s0, s1, s2, s3)
    return np.float32(v), s0, s1, s2, s3


@njit(cache=True)
def fill(out, rng, normal):
    """Fill the contiguous float32 array ``out`` with N(0, 1) draws (ziggurat, two per random word:
    one from each 32-bit half; ``normal``) or U[0, 1) draws (24 bits, exactly < 1 in float32) from
    the state ``rng``, which is advanced."""
    s0, s1, s2, s3 = rng[0], rng[1], rng[2], rng[3]
    flat = out.reshape(-1)
    n = flat.size
    if normal:
        for k in range(0, n, 2):
            r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
            flat[k], s0, s1, s2, s3 = _ziggurat_half(r >> uint64(32), s0, s1, s2, s3)
            if k + 1 < n:
                flat[k + 1], s0, s1, s2, s3 = _ziggurat_half(r & uint64(0xFFFFFFFF), s0, s1, s2, s3)
    else:
        for k in range(n):
            r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
            flat[k] = np.float32(float(r >> uint64(40)) * 5.9604644775390625e-08)
    rng[0], rng[1], rng[2], rng[3] = s0, s1, s2, s3
