"""Coincidence counts of long pulse trains sample by sample (numba): one popcount per word.

Within the slots of one sample b a line's pulses all have the sign of its value (v_bi > 0: the
+ words, else the − words), and a line with v_bi = 0 has none. So over sample b's slots
S_b (a bit range of the packed, possibly compressed, trains) the cell (j, i) meets

    n_bji = popcount(D_j & X_i & S_b)    with D = D⁺ | D⁻, X = X⁺ | X⁻,

all of them steps down when sign(δ_bj)·sign(x_bi) > 0 and up otherwise. Summing over the
samples gives exactly the counts of :func:`.bit_counts._count` (which pays two popcounts per
word and counts every fired column over every word, also where the column is silent), but
each sample touches only its own words (plus one shared at each end, masked), and one side
only with the lines that fired in it: at N = 1000 and batch 10, the sparse MNIST inputs fire
in ≈ 130 of ≈ 380 columns per sample. The other side's lines all stay in one vectorised loop
(no scatter of per-sample results), their signs applied by masks.
"""
from __future__ import annotations

import numpy as np
from numba import njit, uint64

_ONES = uint64(0xFFFFFFFFFFFFFFFF)
_M1, _M2, _M4, _H01 = (uint64(0x5555555555555555), uint64(0x3333333333333333),
                       uint64(0x0F0F0F0F0F0F0F0F), uint64(0x0101010101010101))


@njit(cache=True, inline="always")
def popcount(v):
    """Set bits of a uint64 (SWAR; the compiler emits vpopcntq where the CPU has it)."""
    v = v - ((v >> uint64(1)) & _M1)
    v = (v & _M2) + ((v >> uint64(2)) & _M2)
    v = (v + (v >> uint64(4))) & _M4
    return (v * _H01) >> uint64(56)


@njit(cache=True)
def sample_segments(kept, limits, bases):
    """(first bit, number of bits) of each sample's slots in the packed trains: sample b's slots
    bases[b] … bases[b] + limits[b] − 1, or, when the trains were compressed to the ``kept``
    slots (a word per 64 slots; empty: not compressed), the ranks of its kept slots."""
    if kept.size == 0:
        return bases.copy(), limits.copy()
    starts = np.zeros(limits.size, np.int64)
    lengths = np.zeros(limits.size, np.int64)
    rank = 0
    for b in range(limits.size):
        m = 0
        for slot in range(bases[b], bases[b] + limits[b]):
            m += (kept[slot >> 6] >> uint64(slot & 63)) & uint64(1)
        starts[b], lengths[b] = rank, m
        rank += m
    return starts, lengths


@njit(cache=True, inline="always")
def _edge_mask(w, n_words, first, last):
    """The bits of word w (of n_words spanned by bits first … last, counted from the first word)
    that belong to the range."""
    mask = _ONES
    if w == 0:
        mask &= _ONES << uint64(first & 63)
    if w == n_words - 1:
        mask &= _ONES >> uint64(63 - (last & 63))
    return mask


@njit(cache=True)
def _signs_by_sample(pos, neg, lines, starts, lengths):
    """(samples × len(lines)) int8: +1 where the line fired in the sample's bits with its + words,
    −1 with its − words, 0 where it stayed silent."""
    signs = np.zeros((starts.size, lines.size), np.int8)
    for b in range(starts.size):
        if lengths[b] == 0:
            continue
        first, last = starts[b], starts[b] + lengths[b] - 1
        w0 = first >> 6
        n_words = (last >> 6) - w0 + 1
        for k in range(lines.size):
            seen_pos = seen_neg = uint64(0)
            for w in range(n_words):
                mask = _edge_mask(w, n_words, first, last)
                seen_pos |= pos[lines[k], w0 + w] & mask
                seen_neg |= neg[lines[k], w0 + w] & mask
            signs[b, k] = 1 if seen_pos else (-1 if seen_neg else 0)
    return signs


@njit(cache=True, inline="always")
def _popcount_words(v, gathered, acc):
    """acc[a] = Σ_w popcount(v[w] & gathered[w, a]) for every a, four words per pass over acc (a
    vectorised loop over a; fewer loads and stores of acc than one word per pass)."""
    n_words, n = v.size, acc.size
    acc[:] = 0
    w = 0
    while w + 4 <= n_words:
        v0, v1, v2, v3 = v[w], v[w + 1], v[w + 2], v[w + 3]
        g0, g1, g2, g3 = gathered[w], gathered[w + 1], gathered[w + 2], gathered[w + 3]
        for a in range(n):
            acc[a] += np.int64(popcount(v0 & g0[a]) + popcount(v1 & g1[a])
                               + popcount(v2 & g2[a]) + popcount(v3 & g3[a]))
        w += 4
    while w < n_words:
        vw, gw = v[w], gathered[w]
        for a in range(n):
            acc[a] += np.int64(popcount(vw & gw[a]))
        w += 1


@njit(cache=True)
def _sample_major(opos, oneg, outer, osigns, ipos, ineg, inner, isigns, starts, lengths):
    """Coincidences of the ``outer`` lines with the ``inner`` lines (int64, outer × inner) of equal
    sign (``same``) and of opposite sign (``opposite``), sample by sample: the inner lines' words
    of the sample gathered word-major and masked to its bits, then for each outer line that fired
    in it, one popcount per word and inner line (a vectorised loop over the inner lines, silent
    ones included: their words are zero), split by the inner lines' signs with masks."""
    n_outer, n_inner = outer.size, inner.size
    same = np.zeros((n_outer, n_inner), np.int64)
    opposite = np.zeros((n_outer, n_inner), np.int64)
    span = 0
    for b in range(starts.size):
        if lengths[b] > 0:
            span = max(span, ((starts[b] + lengths[b] - 1) >> 6) - (starts[b] >> 6) + 1)
    gathered = np.empty((span, n_inner), np.uint64)
    positive = np.empty(n_inner, np.int64)  # −1 (all ones) where the inner line fired +, else 0
    acc = np.empty(n_inner, np.int64)
    for b in range(starts.size):
        if lengths[b] == 0:
            continue
        first, last = starts[b], starts[b] + lengths[b] - 1
        w0 = first >> 6
        n_words = (last >> 6) - w0 + 1
        for w in range(n_words):
            mask = _edge_mask(w, n_words, first, last)
            for a in range(n_inner):
                gathered[w, a] = (ipos[inner[a], w0 + w] | ineg[inner[a], w0 + w]) & mask
        for a in range(n_inner):
            positive[a] = -np.int64(isigns[b, a] > 0)
        for o in range(n_outer):
            sign = osigns[b, o]
            if sign == 0:
                continue
            words = opos if sign > 0 else oneg
            _popcount_words(words[outer[o], w0:w0 + n_words], gathered, acc)
            flip = np.int64(0) if sign > 0 else np.int64(-1)  # same sign: inner + for an outer +
            same_o, opposite_o = same[o], opposite[o]
            for a in range(n_inner):
                m = positive[a] ^ flip
                same_o[a] += acc[a] & m
                opposite_o[a] += acc[a] & ~m
    return same, opposite


@njit(cache=True)
def count_by_sample(xpos, xneg, dpos, dneg, rows, cols, starts, lengths):
    """Up and down coincidences of δ lines ``rows`` with x lines ``cols`` (float32, rows × cols),
    sample by sample over the bit ranges (``starts``, ``lengths``) of :func:`sample_segments`
    (:func:`_sample_major`): the side with fewer (line, sample) pairs that fired, weighed by the
    other side's length, is the outer one; same signs step down, opposite ones up."""
    xsigns = _signs_by_sample(xpos, xneg, cols, starts, lengths)
    dsigns = _signs_by_sample(dpos, dneg, rows, starts, lengths)
    if np.count_nonzero(xsigns) * (rows.size + 16) <= np.count_nonzero(dsigns) * (cols.size + 16):
        same, opposite = _sample_major(xpos, xneg, cols, xsigns, dpos, dneg, rows, dsigns, starts, lengths)
        return opposite.T.astype(np.float32), same.T.astype(np.float32)
    same, opposite = _sample_major(dpos, dneg, rows, dsigns, xpos, xneg, cols, xsigns, starts, lengths)
    return opposite.astype(np.float32), same.astype(np.float32)
