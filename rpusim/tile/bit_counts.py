"""The fast update on the CPU (numba): pulse probabilities, packed pulse trains, coincidence counts.

The probabilities are those of :func:`.pulsed_update.plan_pulses` (update and BL management
included), computed per sample in the same pass that finds max|x| and max|δ|; samples with
x = 0 or δ = 0 get no slots. The time slots of an update (BL per sample, or BL_b under BL
management, the samples' trains back to back) are packed into 64-bit words per line,
separately for slots where the line's value is positive and negative. Column i fires in slot (b, t) with
probability p_bi, drawn as a Bernoulli process: slot by slot from 32-bit halves of
xoshiro256** words for short trains (≤ 64 slots), 64 slots at once by bit-parallel comparisons,
16 words side by side (:mod:`.bernoulli_words`), for long dense ones, by geometric skipping
(one random number per pulse instead of per slot) for long sparse ones. A cross-point's
coincidences are then popcounts of ANDed words:

    n_down_ij = popcount(X⁺_i & D⁺_j) + popcount(X⁻_i & D⁻_j)    (sign(x·δ) > 0: step down)
    n_up_ij   = popcount(X⁺_i & D⁻_j) + popcount(X⁻_i & D⁺_j)

for the rows and columns that fired at all (long trains: sample by sample, one popcount per
word, :mod:`.sample_trains`). Only coincidences matter, so the side expecting
fewer pulses is drawn first, and the other side only in the slots where it fired, both kept
compressed to those slots: the counts keep their exact distribution for a fraction of the random
numbers and of the words to count. The counts have exactly the distribution of
:func:`.pulsed_update.coincidence_counts` (the GEMM form used on other devices), at a
cost of one pass over the fired rows × columns instead of B·BL random draws per line and
two dense matrix products. The random stream (:mod:`rpusim.numba_random`) is seeded from
the tile's torch generator at every call, so runs stay reproducible and resumable.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit, uint64

from ..fast_path import draw_seed
from ..numba_random import seeded_state, step, to_uniform
from .bernoulli_words import (LANES, SPARSE, bernoulli_words, lane_streams, lines_that_can_fire, skip_to_pulses,
                              slot_mask)
from .periphery_kernel import row_abs_max
from .sample_trains import popcount, sample_train_counts

@njit(cache=True, fastmath=True)
def _abs_sum(row):
    """Σ|row_i| in any order (it only decides which side is drawn first)."""
    total = np.float32(0.0)
    for i in range(row.size):
        total += abs(row[i])
    return np.float64(total)


@njit(cache=True)
def _plan(x, d, lr, dw_min, bl, update_management, bl_management, um_clip_delta):
    """Per-sample pulse scales (Cx, Cd), slots used and first slot, as :func:`.pulsed_update.plan_pulses`.

    Samples with x = 0 or δ = 0 fire nothing and get no slots. Returns (cx, cd, slots of each
    sample, its first slot, most slots of a sample, slots in all, probabilities drawn,
    probabilities clipped, whether x expects fewer pulses than δ: Σ_b slots_b·C_b·Σ_i|v_bi|).
    """
    n_samples = x.shape[0]
    cx = np.zeros(n_samples)
    cd = np.zeros(n_samples)
    limits = np.zeros(n_samples, np.int64)
    bases = np.zeros(n_samples, np.int64)
    stride = 1
    n_slots = 0
    total = 0
    clipped = 0
    x_pulses = d_pulses = 0.0
    x_bits, d_bits = x.view(np.int32), d.view(np.int32)
    for b in range(n_samples):
        xmax, dmax = np.float64(row_abs_max(x_bits, b)), np.float64(row_abs_max(d_bits, b))
        if xmax == 0.0 or dmax == 0.0:
            continue
        xsum, dsum = _abs_sum(x[b]), _abs_sum(d[b])
        need = min(max(math.ceil(lr * xmax * dmax / dw_min), 1), bl) if bl_management else bl
        c = math.sqrt(lr / (need * dw_min))
        scale = math.sqrt(dmax / xmax) if update_management else 1.0
        cx[b], cd[b] = c * scale, c / scale
        if um_clip_delta and update_management and c * c * xmax * dmax > 1.0:  # δ takes the overflow (aihwkit)
            cx[b], cd[b] = 1.0 / xmax, c * c * xmax
        limits[b] = need
        bases[b] = n_slots  # samples' trains packed back to back: under BL management most are short
        n_slots += need
        stride = max(stride, need)
        total += x.shape[1] + d.shape[1]
        x_pulses += need * cx[b] * xsum
        d_pulses += need * cd[b] * dsum
        if cx[b] * xmax > 1.0:  # the largest probability tells whether any clips
            for i in range(x.shape[1]):
                clipped += cx[b] * abs(x[b, i]) > 1.0
        if cd[b] * dmax > 1.0:
            for j in range(d.shape[1]):
                clipped += cd[b] * abs(d[b, j]) > 1.0
    return cx, cd, limits, bases, stride, n_slots, total, clipped, x_pulses <= d_pulses


@njit(cache=True, inline="always")
def _draw_one_slot(v, b, lines, n_lines, thresholds, slot, pos, neg, fired, s0, s1, s2, s3):
    """Sample b's single slot ``slot`` for each of its ``n_lines`` lines that can fire, two lines
    per random word (its high, then its low 32-bit half): the new state."""
    word, bit = slot >> 6, uint64(1) << uint64(slot & 63)
    r = uint64(0)
    for k in range(n_lines):
        if k & 1 == 0:
            r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
        i = lines[k]
        if (r >> uint64(32 * (1 - (k & 1)))) & uint64(0xFFFFFFFF) < thresholds[i]:
            if v[b, i] > 0:
                pos[i, word] |= bit
            else:
                neg[i, word] |= bit
            fired[i] = True
    return s0, s1, s2, s3


@njit(cache=True, inline="always")
def _draw_word(width, threshold, s0, s1, s2, s3):
    """``width`` ≤ 64 Bernoulli slots as the low bits of a word, two per random word (32-bit halves
    against ``threshold``): (word, new state)."""
    acc = uint64(0)
    for a in range(0, width, 2):
        r, s0, s1, s2, s3 = step(s0, s1, s2, s3)
        acc |= (uint64((r >> uint64(32)) < threshold)
                | (uint64((r & uint64(0xFFFFFFFF)) < threshold) << uint64(1))) << uint64(a)
    if width < 64:  # an odd width drew one slot too many
        acc &= (uint64(1) << uint64(width)) - uint64(1)
    return acc, s0, s1, s2, s3


@njit(cache=True, inline="always")
def _place_word(pos, neg, i, first, width, acc, positive):
    """OR the ``width`` low bits of ``acc`` into line i of pos (``positive``) or neg at slot ``first``
    onwards (into one word, or two when they straddle a word boundary)."""
    word, shift = first >> 6, uint64(first & 63)
    straddles = (first & 63) + width > 64
    if positive:
        pos[i, word] |= acc << shift
        if straddles:
            pos[i, word + 1] |= acc >> (uint64(64) - shift)
    else:
        neg[i, word] |= acc << shift
        if straddles:
            neg[i, word + 1] |= acc >> (uint64(64) - shift)


@njit(cache=True, inline="always")
def _draw_short_trains(v, b, lines, n_lines, thresholds, first, width, pos, neg, fired, s0, s1, s2, s3):
    """Slots first … first + width − 1 (width ≤ 64) of each of sample b's ``n_lines`` listed lines,
    built in one word (:func:`_draw_word`) and placed where any fired: the new state."""
    for k in range(n_lines):
        i = lines[k]
        acc, s0, s1, s2, s3 = _draw_word(width, thresholds[i], s0, s1, s2, s3)
        if acc:
            _place_word(pos, neg, i, first, width, acc, v[b, i] > 0)
            fired[i] = True
    return s0, s1, s2, s3


@njit(cache=True)
def _draw_long_trains(v, c, b, lines, n_lines, thresholds, first, width, pos, neg, fired, pieces, words,
                      lanes, s0, s1, s2, s3):
    """Slots first … first + width − 1 (width > 64) of each of sample b's ``n_lines`` listed lines:
    a line firing with probability ≤ ``SPARSE`` per slot by geometric skips from pulse to pulse
    (stream s), every other line's slots word by word of the packed trains, all words of the
    sample drawn bit-parallel at once (:func:`.bernoulli_words.bernoulli_words`, the ``lanes``
    streams; ``pieces``, ``words``: scratch from :func:`_piece_scratch`) and ORed into place:
    the new state of stream s."""
    piece_line, piece_word = pieces[0], pieces[1]
    piece_mask, piece_thr, drawn = words[0], words[1], words[2]
    n_pieces = 0
    end = first + width
    for k in range(n_lines):
        i = lines[k]
        q = c[b] * abs(v[b, i])
        if q <= SPARSE:
            line_words = pos[i] if v[b, i] > 0 else neg[i]
            hit, s0, s1, s2, s3 = skip_to_pulses(q, width, first, line_words, s0, s1, s2, s3)
            fired[i] |= hit
            continue
        start = first
        while start < end:
            stop = min(end, (start | 63) + 1)
            piece_line[n_pieces], piece_word[n_pieces] = i, start >> 6
            piece_mask[n_pieces] = slot_mask(start & 63, stop - start)
            piece_thr[n_pieces] = thresholds[i]
            n_pieces += 1
            start = stop
    bernoulli_words(piece_thr[:n_pieces], piece_mask[:n_pieces], lanes, drawn[:n_pieces])
    for k in range(n_pieces):
        acc = drawn[k]
        if acc:
            i = piece_line[k]
            if v[b, i] > 0:
                pos[i, piece_word[k]] |= acc
            else:
                neg[i, piece_word[k]] |= acc
            fired[i] = True
    return s0, s1, s2, s3


@njit(cache=True)
def _piece_scratch(n_lines, limits):
    """Scratch for :func:`_draw_long_trains`, room for the one-word pieces of a sample's longest
    train on every line: (line, word) as int64 and (slots, threshold, drawn word) as uint64."""
    capacity = n_lines * (np.max(limits) // 64 + 2)
    return np.empty((2, capacity), np.int64), np.empty((3, capacity), np.uint64)


@njit(cache=True)
def _pack_line_pulses(v, c, limits, bases, pos, neg, fired, rng, lanes):
    """Draw the pulse train of every line i (probability c_b·|v_bi| per slot, sign of v_bi; v is
    samples × lines, read row by row) into pos/neg words: sample b occupies slots bases[b] …
    bases[b] + limits[b] − 1 of every line.

    Every slot compares one 32-bit half of a random word with the probability (resolution 2⁻³²).
    A train of up to 64 slots is built in one word, two slots per random word without branches,
    and ORed into the one or two words of the line it covers (single-slot trains use the two
    halves of a word for two lines); longer trains (:func:`_draw_long_trains`) go word by word
    when dense (64 slots from ≈ 11 random words, 16 words side by side:
    :func:`.bernoulli_words.bernoulli_words`) and skip geometrically from pulse to pulse when
    sparse (one logarithm per pulse).
    """
    s0, s1, s2, s3 = rng[0], rng[1], rng[2], rng[3]
    n_samples, n = v.shape
    lines = np.empty(n, np.int64)
    thresholds = np.empty(n, np.uint64)
    pieces, words = _piece_scratch(n, limits)
    for b in range(n_samples):
        limit = limits[b]
        if limit == 0:
            continue
        base = bases[b]
        if limit == 1:  # one slot (BL management's usual case for small updates)
            n_lines = lines_that_can_fire(v, c, b, lines, thresholds)
            s0, s1, s2, s3 = _draw_one_slot(v, b, lines, n_lines, thresholds, base, pos, neg, fired, s0, s1, s2, s3)
            continue
        if limit <= 64:  # a short train: built in one word, placed at its slots
            n_lines = lines_that_can_fire(v, c, b, lines, thresholds)
            s0, s1, s2, s3 = _draw_short_trains(v, b, lines, n_lines, thresholds, base, limit, pos, neg, fired,
                                                s0, s1, s2, s3)
            continue
        n_lines = lines_that_can_fire(v, c, b, lines, thresholds)
        s0, s1, s2, s3 = _draw_long_trains(v, c, b, lines, n_lines, thresholds, base, limit, pos, neg, fired,
                                           pieces, words, lanes, s0, s1, s2, s3)
    rng[0], rng[1], rng[2], rng[3] = s0, s1, s2, s3


@njit(cache=True)
def _pack_at_slots(v, c, limits, bases, active, pos, neg, fired, rng, lanes):
    """Like :func:`_pack_line_pulses`, but draw each line's slots only where ``active`` (a word per
    64 slots) is set: the slots where a line of the other side fired. Elsewhere a pulse could not
    meet one, so leaving it undrawn changes no count. The trains are written compressed: the k-th
    active slot (in slot order) is bit k of pos/neg, so a sample's m active slots are m adjacent
    bits. Each drawn slot compares one 32-bit half of a random word with the probability: with one
    active slot in a sample, two lines per word; with up to 64, a line's slots two per word,
    gathered in a register and written once; with more, as the long trains of
    :func:`_pack_line_pulses` (:func:`_draw_long_trains`)."""
    s0, s1, s2, s3 = rng[0], rng[1], rng[2], rng[3]
    n_samples, n = v.shape
    lines = np.empty(n, np.int64)
    thresholds = np.empty(n, np.uint64)
    pieces, words = _piece_scratch(n, limits)
    rank = 0  # compressed position of the sample's first active slot
    for b in range(n_samples):
        m = 0
        for slot in range(bases[b], bases[b] + limits[b]):
            m += (active[slot >> 6] >> uint64(slot & 63)) & uint64(1)
        if m == 0:
            continue
        n_lines = lines_that_can_fire(v, c, b, lines, thresholds)
        if m == 1:
            s0, s1, s2, s3 = _draw_one_slot(v, b, lines, n_lines, thresholds, rank, pos, neg, fired, s0, s1, s2, s3)
        elif m <= 64:
            s0, s1, s2, s3 = _draw_short_trains(v, b, lines, n_lines, thresholds, rank, m, pos, neg, fired,
                                                s0, s1, s2, s3)
        else:  # a long train, as in _pack_line_pulses
            s0, s1, s2, s3 = _draw_long_trains(v, c, b, lines, n_lines, thresholds, rank, m, pos, neg, fired,
                                               pieces, words, lanes, s0, s1, s2, s3)
        rank += m
    rng[0], rng[1], rng[2], rng[3] = s0, s1, s2, s3


@njit(cache=True)
def _compress_lines(trains, active, before, out):
    """Copy each line's pulses (a subset of the ``active`` slots) to ``out``, the k-th active slot
    as bit k (``before[w]``: active slots in the words before word w)."""
    for line in range(trains.shape[0]):
        for w in range(active.size):
            bits = trains[line, w]
            while bits:
                lowest = bits & (uint64(0) - bits)
                k = before[w] + popcount(active[w] & (lowest - uint64(1)))
                out[line, k >> 6] |= uint64(1) << uint64(k & 63)
                bits ^= lowest


@njit(cache=True)
def _compress(pos, neg, active, kept_words):
    """The trains pos/neg with only the ``active`` slots kept (``kept_words`` words per line)."""
    before = np.zeros(active.size, np.int64)
    for w in range(1, active.size):
        before[w] = before[w - 1] + popcount(active[w - 1])
    out_pos = np.zeros((pos.shape[0], kept_words), np.uint64)
    out_neg = np.zeros((pos.shape[0], kept_words), np.uint64)
    _compress_lines(pos, active, before, out_pos)
    _compress_lines(neg, active, before, out_neg)
    return out_pos, out_neg


@njit(cache=True)
def _draw_sides(first, c_first, second, c_second, limits, bases, n_slots, rng, lanes):
    """The first side's trains in full; the second's only in the slots where the first fired, both
    then compressed to those slots (see :func:`_pack_at_slots`), unless it fired in all of them,
    or, for long trains (more than 64 slots in a sample), in more than three quarters of them
    (then compressing saves less than it costs).
    Also returns the slots kept (a word per 64 slots; empty when all are)."""
    n_words = (n_slots + 63) // 64
    fpos = np.zeros((first.shape[1], n_words), np.uint64)
    fneg = np.zeros((first.shape[1], n_words), np.uint64)
    ffired = np.zeros(first.shape[1], np.bool_)
    sfired = np.zeros(second.shape[1], np.bool_)
    _pack_line_pulses(first, c_first, limits, bases, fpos, fneg, ffired, rng, lanes)
    active = np.zeros(n_words, np.uint64)
    for line in range(fpos.shape[0]):
        for w in range(n_words):
            active[w] |= fpos[line, w] | fneg[line, w]
    n_active = 0
    for w in range(n_words):
        n_active += popcount(active[w])
    if n_active == n_slots or (np.max(limits) > 64 and 4 * n_active > 3 * n_slots):  # long dense trains: all slots
        spos = np.zeros((second.shape[1], n_words), np.uint64)
        sneg = np.zeros((second.shape[1], n_words), np.uint64)
        _pack_line_pulses(second, c_second, limits, bases, spos, sneg, sfired, rng, lanes)
        return fpos, fneg, ffired, spos, sneg, sfired, np.zeros(0, np.uint64)
    kept_words = max((n_active + 63) // 64, 1)
    spos = np.zeros((second.shape[1], kept_words), np.uint64)
    sneg = np.zeros((second.shape[1], kept_words), np.uint64)
    _pack_at_slots(second, c_second, limits, bases, active, spos, sneg, sfired, rng, lanes)
    fpos, fneg = _compress(fpos, fneg, active, kept_words)
    return fpos, fneg, ffired, spos, sneg, sfired, active


@njit(cache=True)
def _draw_trains(x, cx, d, cd, limits, bases, n_slots, x_first, seed):
    """Trains of both sides as (x⁺, x⁻, δ⁺, δ⁻, x lines fired, δ lines fired, slots kept): the side expecting
    fewer pulses (x when ``x_first``) in full, the other one only in the slots where the first
    fired, and both compressed to those slots (coincidences elsewhere are impossible, so the counts
    are the same)."""
    rng = seeded_state(seed)
    # streams of the bit-parallel words, seeded only where a train is long (BL ≤ 64 draws as before)
    lanes = lane_streams(rng) if np.max(limits) > 64 else np.zeros((4, LANES), np.uint64)
    if x_first:
        xpos, xneg, xfired, dpos, dneg, dfired, kept = _draw_sides(x, cx, d, cd, limits, bases, n_slots, rng, lanes)
    else:
        dpos, dneg, dfired, xpos, xneg, xfired, kept = _draw_sides(d, cd, x, cx, limits, bases, n_slots, rng, lanes)
    return xpos, xneg, dpos, dneg, xfired, dfired, kept


_COUNT_BLOCK_BYTES = 1 << 18  # gathered x words per block of words: a part of a core's L2 cache
# drawn and counted sample by sample from this many slots per sample on (average): trains in cache and
# one popcount per word, against more work per sample
_SLOTS_PER_SAMPLE = 128


@njit(cache=True)
def _count(xpos, xneg, dpos, dneg, rows, cols):
    """Up and down coincidences of δ lines ``rows`` with x lines ``cols`` (float32, rows × cols).

    Block by block of words (sized to stay in cache while every δ line passes over it), the x
    words of the fired columns are gathered word-major, so that each δ word meets all columns
    in one vectorised loop (words where the δ line is silent are skipped). A line's + and −
    slots are disjoint, so each sign of coincidence is one popcount of an OR."""
    n_words, n_cols = xpos.shape[1], cols.size
    block = max(1, min(n_words, _COUNT_BLOCK_BYTES // (16 * max(n_cols, 1))))
    xp = np.empty((block, n_cols), np.uint64)
    xn = np.empty((block, n_cols), np.uint64)
    up = np.zeros((rows.size, n_cols), np.int32)
    down = np.zeros((rows.size, n_cols), np.int32)
    for first in range(0, n_words, block):
        size = min(block, n_words - first)
        for c in range(n_cols):
            for w in range(size):
                xp[w, c] = xpos[cols[c], first + w]
                xn[w, c] = xneg[cols[c], first + w]
        for a in range(rows.size):
            j = rows[a]
            up_a, down_a = up[a], down[a]
            for w in range(size):
                dp, dn = dpos[j, first + w], dneg[j, first + w]
                if not (dp | dn):
                    continue
                for c in range(n_cols):
                    down_a[c] += popcount((xp[w, c] & dp) | (xn[w, c] & dn))
                    up_a[c] += popcount((xp[w, c] & dn) | (xn[w, c] & dp))
    return up.astype(np.float32), down.astype(np.float32)


@njit(cache=True)
def _fired_counts(x, cx, d, cd, limits, bases, n_slots, x_first, seed):
    """(rows, cols, up, down): the counts of the δ lines (rows) and x lines (cols) that fired — one
    call from Python, four arrays back. Trains of ``_SLOTS_PER_SAMPLE`` slots per sample or more
    on average are drawn and counted sample by sample (:func:`.sample_trains.sample_train_counts`),
    shorter ones packed for the whole mini-batch (:func:`_draw_trains`) and counted at once
    (:func:`_count`); both have the same distribution of counts."""
    if n_slots >= _SLOTS_PER_SAMPLE * np.count_nonzero(limits):
        return sample_train_counts(x, cx, d, cd, limits, x_first, seed)
    xpos, xneg, dpos, dneg, xfired, dfired, _ = _draw_trains(x, cx, d, cd, limits, bases, n_slots, x_first, seed)
    rows, cols = np.flatnonzero(dfired), np.flatnonzero(xfired)
    up, down = _count(xpos, xneg, dpos, dneg, rows, cols)
    return rows, cols, up, down


def packed_update_counts(x: torch.Tensor, d: torch.Tensor, lr: float, dw_min: float, cfg,
                         gen: torch.Generator):
    """Pulse probabilities, trains and coincidence counts of the update W += −lr·dᵀx in one go.

    Returns (rows, cols, n_up, n_down, slots per sample, probabilities drawn, probabilities
    clipped), with the counts as in :func:`.pulsed_update.coincidence_counts` and the
    probabilities as in :func:`.pulsed_update.plan_pulses` (``cfg``: the UpdateConfig).
    """
    x = x.detach().contiguous().numpy()
    d = d.detach().contiguous().numpy()
    cx, cd, limits, bases, stride, n_slots, total, clipped, x_first = _plan(
        x, d, float(lr), float(dw_min), cfg.bl, cfg.update_management, cfg.bl_management,
        cfg.um_overflow == "clip_delta")
    rows, cols, n_up, n_down = _fired_counts(x, cx, d, cd, limits, bases, n_slots, x_first, draw_seed(gen))
    return (torch.from_numpy(rows), torch.from_numpy(cols), torch.from_numpy(n_up),
            torch.from_numpy(n_down), stride, total, clipped)
