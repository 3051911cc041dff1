"""Long pulse trains drawn and counted sample by sample (numba): small trains that stay in cache,
one popcount per word.

Within the slots of one sample b a line's pulses all have the sign of its value (v_bi > 0: a
step of one sign, else of the other), and a line with v_bi = 0 has none. So over sample b's
BL_b slots the cell (j, i) meets

    n_bji = popcount(D_bj & X_bi)    (D_bj, X_bi: the lines' trains in sample b)

coincidences, all of them steps down when sign(δ_bj)·sign(x_bi) > 0 and up otherwise. The
update's counts are the sums over the samples. Here each sample's trains are drawn into
buffers of BL_b/64 words per line (a few tens of kB, kept in cache) and counted at once, instead
of packing the whole mini-batch's B·BL slots per line (megabytes at batch 100 and N = 1000,
allocated, zeroed and read twice) and counting two popcounts per word over every fired line.

Per sample: the side expecting fewer pulses (``x_first``) is drawn in every slot, the other
only in the slots where the first fired (elsewhere a pulse meets nothing, so the counts keep
their distribution); dense lines 64 slots at a time by the lane-parallel bit-serial comparison
(:func:`.bernoulli_words.bernoulli_words`, 16 words side by side), lines with probability
≤ :data:`.bernoulli_words.SPARSE` per slot by geometric skips. For counting, one side is the
outer one (the lines that can fire in the sample, one at a time) and the other the inner one
(all its lines that can fire anywhere in the mini-batch, silent ones with zero words), so that
one vectorised loop over the inner lines adds the popcounts to one row of the result and the
signs are applied by masks, without a scatter: the outer side is the one with fewer (line,
sample) pairs, weighed by the other side's length.
"""
from __future__ import annotations

import numpy as np
from numba import njit, uint64

from ..numba_random import seeded_state
from .bernoulli_words import SPARSE, bernoulli_words, lane_streams, lines_that_can_fire, skip_to_pulses, slot_mask

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
def _union(v, c):
    """The lines that can fire in some sample (threshold ⌊c_b·|v_bi|·2³²⌋ > 0, as
    :func:`.bernoulli_words.lines_that_can_fire`), each line's position among them (−1: none),
    and the number of (line, sample) pairs that can fire."""
    n_samples, n = v.shape
    can = np.zeros(n, np.bool_)
    pairs = 0
    for b in range(n_samples):
        scale = c[b] * 4294967296.0
        for i in range(n):
            live = uint64(min(scale * abs(v[b, i]), 4294967296.0)) > 0
            can[i] |= live
            pairs += live
    lines = np.flatnonzero(can)
    where = np.full(n, -1, np.int64)
    for k in range(lines.size):
        where[lines[k]] = k
    return lines, where, pairs


@njit(cache=True)
def _draw_sample(v, c, b, width, active, buf, where, fired, lines, thresholds, pieces, lanes, rng):
    """Sample b's slots 0 … width − 1 of each line that can fire in it (listed in ``lines``; returns
    their number) into column where[i] of the word-major ``buf`` (zero before), only in the slots
    set in ``active`` (a word per 64 slots): lines with probability ≤ SPARSE by geometric skips
    (stream ``rng``), the others' words bit-parallel (streams ``lanes``)."""
    s0, s1, s2, s3 = rng[0], rng[1], rng[2], rng[3]
    n_lines = lines_that_can_fire(v, c, b, lines, thresholds)
    n_words = (width + 63) >> 6
    piece_line, piece_word = pieces[0], pieces[1]
    piece_mask, piece_thr, drawn = pieces[2].view(np.uint64), pieces[3].view(np.uint64), pieces[4].view(np.uint64)
    n_pieces = 0
    for k in range(n_lines):
        i = lines[k]
        q = c[b] * abs(v[b, i])
        if q <= SPARSE:
            hit, s0, s1, s2, s3 = skip_to_pulses(q, width, 0, buf[:, where[i]], s0, s1, s2, s3)
            fired[i] |= hit
            continue
        for w in range(n_words):
            mask = active[w] & slot_mask(0, min(64, width - 64 * w))
            if mask:
                piece_line[n_pieces], piece_word[n_pieces] = i, w
                piece_mask[n_pieces], piece_thr[n_pieces] = mask, thresholds[i]
                n_pieces += 1
    bernoulli_words(piece_thr[:n_pieces], piece_mask[:n_pieces], lanes, drawn[:n_pieces])
    for k in range(n_pieces):
        i = piece_line[k]
        buf[piece_word[k], where[i]] = drawn[k]
        fired[i] |= drawn[k] != uint64(0)
    rng[0], rng[1], rng[2], rng[3] = s0, s1, s2, s3
    return n_lines


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
            acc[a] += np.int32(popcount(v0 & g0[a]) + popcount(v1 & g1[a])
                               + popcount(v2 & g2[a]) + popcount(v3 & g3[a]))
        w += 4
    while w < n_words:
        vw, gw = v[w], gathered[w]
        for a in range(n):
            acc[a] += np.int32(popcount(vw & gw[a]))
        w += 1


@njit(cache=True)
def _count_sample(vo, b, o_lines, n_o, o_where, obuf, vi, i_lines, ibuf, n_words, positive, ow, acc,
                  same, opposite):
    """Add sample b's coincidences of the ``n_o`` listed outer lines with every inner line to
    ``same`` (equal signs) and ``opposite`` (rows: outer, columns: inner positions)."""
    for a in range(i_lines.size):
        positive[a] = -np.int32(vi[b, i_lines[a]] > 0)  # all ones where the inner line steps +
    for k in range(n_o):
        i = o_lines[k]
        o = o_where[i]
        seen = uint64(0)
        for w in range(n_words):
            ow[w] = obuf[w, o]
            seen |= ow[w]
        if seen == uint64(0):
            continue
        _popcount_words(ow[:n_words], ibuf[:n_words], acc)
        flip = np.int32(0) if vo[b, i] > 0 else np.int32(-1)
        same_o, opposite_o = same[o], opposite[o]
        for a in range(acc.size):
            m = positive[a] ^ flip
            same_o[a] += acc[a] & m
            opposite_o[a] += acc[a] & ~m


@njit(cache=True)
def _fired_part(counts, rows_where, rows, cols_where, cols, transposed):
    """counts (outer × inner positions) at the fired rows × cols, as float32 (rows: δ lines)."""
    out = np.empty((rows.size, cols.size), np.float32)
    for r in range(rows.size):
        for k in range(cols.size):
            a, b = rows_where[rows[r]], cols_where[cols[k]]
            out[r, k] = counts[b, a] if transposed else counts[a, b]
    return out


@njit(cache=True)
def _fired_slots(buf, n_words, active):
    """active[w] = the slots of word w where any line of the word-major ``buf`` fired; whether any did."""
    seen = uint64(0)
    for w in range(n_words):
        word = uint64(0)
        for k in range(buf.shape[1]):
            word |= buf[w, k]
        active[w] = word
        seen |= word
    return seen != uint64(0)


@njit(cache=True)
def sample_train_counts(x, cx, d, cd, limits, x_first, seed):
    """(rows, cols, up, down) of the update: the δ lines (rows) and x lines (cols) that fired, and
    the up and down coincidences of each (float32, rows × cols), drawn and counted sample by
    sample (module docstring); ``limits``: slots per sample (0: none), ``x_first``: whether x
    is drawn first, ``seed``: of the random streams."""
    rng = seeded_state(seed)
    lanes = lane_streams(rng)
    x_lines, x_where, x_pairs = _union(x, cx)
    d_lines, d_where, d_pairs = _union(d, cd)
    x_outer = x_pairs * (d_lines.size + 16) <= d_pairs * (x_lines.size + 16)
    n_words = (np.max(limits) + 63) >> 6
    xbuf = np.empty((n_words, x_lines.size), np.uint64)
    dbuf = np.empty((n_words, d_lines.size), np.uint64)
    x_fired, d_fired = np.zeros(x.shape[1], np.bool_), np.zeros(d.shape[1], np.bool_)
    x_list, d_list = np.empty(x.shape[1], np.int64), np.empty(d.shape[1], np.int64)
    thresholds = np.empty(max(x.shape[1], d.shape[1]), np.uint64)
    pieces = np.empty((5, max(x_lines.size, d_lines.size) * n_words), np.int64)
    n_outer, n_inner = (x_lines.size, d_lines.size) if x_outer else (d_lines.size, x_lines.size)
    same, opposite = np.zeros((n_outer, n_inner), np.int32), np.zeros((n_outer, n_inner), np.int32)
    positive, acc, ow = np.empty(n_inner, np.int32), np.empty(n_inner, np.int32), np.empty(n_words, np.uint64)
    everywhere = np.full(n_words, _ONES)
    active = np.empty(n_words, np.uint64)
    for b in range(limits.size):
        width = limits[b]
        if width == 0:
            continue
        w_b = (width + 63) >> 6
        xbuf[:w_b] = 0
        dbuf[:w_b] = 0
        if x_first:
            n_x = _draw_sample(x, cx, b, width, everywhere, xbuf, x_where, x_fired, x_list, thresholds, pieces,
                               lanes, rng)
            if not _fired_slots(xbuf, w_b, active):
                continue  # the first side is silent: no coincidence in this sample
            n_d = _draw_sample(d, cd, b, width, active, dbuf, d_where, d_fired, d_list, thresholds, pieces, lanes, rng)
        else:
            n_d = _draw_sample(d, cd, b, width, everywhere, dbuf, d_where, d_fired, d_list, thresholds, pieces,
                               lanes, rng)
            if not _fired_slots(dbuf, w_b, active):
                continue
            n_x = _draw_sample(x, cx, b, width, active, xbuf, x_where, x_fired, x_list, thresholds, pieces, lanes, rng)
        if x_outer:
            _count_sample(x, b, x_list, n_x, x_where, xbuf, d, d_lines, dbuf, w_b, positive, ow, acc, same, opposite)
        else:
            _count_sample(d, b, d_list, n_d, d_where, dbuf, x, x_lines, xbuf, w_b, positive, ow, acc, same, opposite)
    rows, cols = np.flatnonzero(d_fired), np.flatnonzero(x_fired)
    up = _fired_part(opposite, d_where, rows, x_where, cols, x_outer)
    down = _fired_part(same, d_where, rows, x_where, cols, x_outer)
    return rows, cols, up, down
