"""The fast CTF update at large N (issue 16): the vectorised CTF kernel against the torch
reference law, the long compressed pulse trains, the lane-parallel Bernoulli words of long dense
trains, the tile's whole fast update against the reference path, and the coincidence counts
(blocked over the whole batch, and sample by sample)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numba import njit

from rpusim.devices import CTFDevice
from rpusim.fast_path import reference_path
from rpusim.numba_random import seeded_state
from rpusim.tile.bernoulli_words import bernoulli_words, lane_streams

N = 1000
# (n_up, n_down) per column: single pulses, short and long trains, both signs, counts beyond N
COUNTS = [(1, 0), (0, 1), (4, 0), (0, 25), (3, 7), (300, 0), (0, 800), (40, 60), (1700, 0)]


def _device(**over) -> CTFDevice:
    """The study's CTF at N = 1000 (pw = 0.1 µs, compensated), with ``over``."""
    return CTFDevice(**{"pw": 100.0 / N, "t_gap": 5.0, "compensation": True, **over})


def _cells(dev: CTFDevice, n_dev: int, reps: int, seed: int):
    """State (n_dev × reps × len(COUNTS)) whose rows repeat the same cells (initial weight and
    device parameters per column), and the counts of each column."""
    gen = torch.Generator().manual_seed(seed)
    p = dev.sample_params((n_dev, 1, len(COUNTS)), gen)
    w = p["w_lo"] + (p["w_hi"] - p["w_lo"]) * torch.rand(p["w_lo"].shape, generator=gen)
    p = {k: v.expand(n_dev, reps, len(COUNTS)).contiguous() for k, v in p.items()}
    n_up = torch.tensor([u for u, _ in COUNTS], dtype=torch.float32).expand(reps, -1).contiguous()
    n_down = torch.tensor([d for _, d in COUNTS], dtype=torch.float32).expand(reps, -1).contiguous()
    return w.expand(n_dev, reps, len(COUNTS)).contiguous(), p, n_up, n_down


def _kernel_and_reference(dev, n_dev, reps, seed):
    """Δw of every cell from the numba kernel and from the torch reference (same cells)."""
    w, p, n_up, n_down = _cells(dev, n_dev, reps, seed)
    fast = w.clone()
    rows, cols = torch.arange(reps), torch.arange(len(COUNTS))
    assert dev.apply_pulses_at(fast, p, rows, cols, n_up, n_down, torch.Generator().manual_seed(seed + 1), N)
    with reference_path():
        ref = dev.apply_pulses(w.double(), n_up, n_down, {k: v.double() for k, v in p.items()},
                               torch.Generator().manual_seed(seed + 2), N)
    return (fast - w).double(), ref - w.double()


@pytest.mark.parametrize("beta, n_dev", [(1.0, 1), (0.5, 2)])
def test_noiseless_kernel_equals_the_reference_law(beta, n_dev):
    """Without noise the kernel's step is the reference's (float32 state, float64 arithmetic),
    for single pulses, long trains of both signs, counts beyond N and both program-curve forms."""
    dev = _device(beta=beta, c2c_std=0.0, transient=0.0)
    fast, ref = _kernel_and_reference(dev, n_dev, 4, 0)
    assert torch.allclose(fast, ref, rtol=1e-4, atol=2e-7)
    assert ref.abs().max() > 1e-3


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kernel_matches_the_reference_in_mean_and_spread(seed):
    """With the study's noise (transient scatter and cycle-to-cycle noise), the weight change of
    each fixed count has the reference's mean (within 5 standard errors) and standard deviation
    (ratio within 5 standard errors of a std estimate, ≈ 1/√(2·reps) each)."""
    reps = 3000
    dev = _device()
    fast, ref = _kernel_and_reference(dev, 1, reps, seed)
    fast, ref = fast[0], ref[0]
    se = torch.sqrt((fast.var(0) + ref.var(0)) / reps)
    assert ((fast.mean(0) - ref.mean(0)).abs() < 5 * se).all()
    ratio = fast.std(0) / ref.std(0)
    assert ((ratio - 1).abs() < 5 * math.sqrt(1 / reps)).all(), ratio
    assert (ref.std(0) > 1e-3 * ref.mean(0).abs()).all()  # the noise is there to compare


def test_kernel_leaves_cells_without_pulses_and_keeps_the_window():
    """Columns without counts keep their weights; a train far beyond the window stops at its edge."""
    dev = _device(c2c_std=0.0, t_prog=0.01)   # a fast cell: 1000 pulses drive it to the top
    w, p, n_up, n_down = _cells(dev, 1, 3, 5)
    n_up[:, 1:], n_down[:] = 0, 0
    n_up[:, 0] = N
    before = w.clone()
    dev.apply_pulses_at(w, p, torch.arange(3), torch.arange(len(COUNTS)), n_up, n_down, torch.Generator(), N)
    assert torch.equal(w[..., 1:], before[..., 1:])
    assert torch.allclose(w[..., 0], p["w_hi"][..., 0], atol=1e-3) and torch.all(w[..., 0] <= p["w_hi"][..., 0])


@pytest.mark.parametrize("q_delta", [0.3, 0.6])
def test_long_trains_at_the_kept_slots_fire_independently_at_their_own_rates(q_delta):
    """δ drawn first fires in more than 64 slots of each sample (but in less than three quarters of
    them: otherwise every slot is drawn), so x's lines are drawn line by line over those kept slots: sparse lines by geometric skips, dense ones word by word. Each line fires
    at its own rate with its sign, and two adjacent kept slots fire independently."""
    from rpusim.tile.bit_counts import _draw_trains
    n, limit = 60, 1000
    q = np.array([0.003, 0.02, 0.05, 0.051, 0.2, 0.7], np.float32)
    x = np.tile(q, (n, 1))
    x[:, 1::2] *= -1
    d = np.full((n, 1), q_delta, np.float32)
    ones, limits, bases = np.ones(n), np.full(n, limit, np.int64), np.arange(n, dtype=np.int64) * limit
    xpos, xneg, _, _, _, _, kept_words = _draw_trains(x, ones, d, ones, limits, bases, n * limit, False, 11)
    kept = int(np.unpackbits(kept_words.view(np.uint8)).sum())
    assert kept > 64 * n  # more than a word of kept slots per sample
    assert not (xpos[1::2].any() or xneg[0::2].any())  # signs: odd lines −, even lines +
    pulses = np.unpackbits((xpos | xneg).view(np.uint8), axis=1, bitorder="little")[:, :kept].astype(float)
    rate = pulses.mean(1)
    assert np.all(np.abs(rate - q) < 4.5 * np.sqrt(q * (1 - q) / kept)), rate
    both = (pulses[:, :-1] * pulses[:, 1:]).mean(1)
    assert np.all(np.abs(both - q * q) < 4.5 * np.sqrt(q * q * (1 - q * q) / kept) + 1e-4), both


def test_blocked_count_equals_the_popcount_of_every_slot():
    """Counts over many words (several cache blocks) equal the coincidences counted slot by slot,
    sign by sign."""
    from rpusim.tile.bit_counts import _COUNT_BLOCK_BYTES, _count
    rng = np.random.default_rng(0)
    n_x, n_d, n_words = 700, 9, 70
    assert _COUNT_BLOCK_BYTES // (16 * n_x) < n_words  # more than one block
    fired_x = rng.random((n_x, n_words * 64)) < 0.3
    fired_d = rng.random((n_d, n_words * 64)) < 0.2
    sign_x = rng.random((n_x, n_words * 64)) < 0.5
    sign_d = rng.random((n_d, n_words * 64)) < 0.5
    fired_d[2] = False  # a silent δ line

    def pack(bits):
        return np.packbits(bits, axis=1, bitorder="little").view(np.uint64)
    xpos, xneg = pack(fired_x & sign_x), pack(fired_x & ~sign_x)
    dpos, dneg = pack(fired_d & sign_d), pack(fired_d & ~sign_d)
    rows, cols = np.array([0, 2, 5, 8]), np.arange(3, n_x, 2)
    n_up, n_down = _count(xpos, xneg, dpos, dneg, rows, cols)
    both = fired_d[rows][:, None, :] & fired_x[cols][None, :, :]
    same = sign_d[rows][:, None, :] == sign_x[cols][None, :, :]
    assert np.array_equal(n_down, (both & same).sum(2))
    assert np.array_equal(n_up, (both & ~same).sum(2))


def test_long_dense_trains_are_drawn_in_every_slot_with_binomial_counts():
    """When the side drawn first fires in more than three quarters of a long train's slots, the other
    side is drawn in every slot (no kept-slot compression), and the coincidence counts of N = 1000
    slots have the Binomial(N, p·q) mean and variance per cell, and the covariance N·p₁p₂q(1 − q) of
    two cells sharing a row (within 5 standard errors; 400 seeds)."""
    from rpusim.tile.bit_counts import _count, _draw_trains
    n, reps = 1000, 400
    x = np.array([[0.6, -0.3, 0.05]], np.float32)
    d = np.array([[0.9, -0.4]], np.float32)
    ones, limits, bases = np.ones(1), np.array([n]), np.array([0])
    counts = []
    for seed in range(reps):
        xpos, xneg, dpos, dneg, xf, df, kept = _draw_trains(x, ones, d, ones, limits, bases, n, False, seed)
        assert kept.size == 0   # every slot drawn
        up, down = _count(xpos, xneg, dpos, dneg, np.flatnonzero(df), np.flatnonzero(xf))
        assert up.shape == (2, 3)
        counts.append(up + down)
    counts = np.array(counts, float)
    pq = np.abs(d[0])[:, None] * np.abs(x[0])[None, :]
    mean, var = n * pq, n * pq * (1 - pq)
    assert np.all(np.abs(counts.mean(0) - mean) < 5 * np.sqrt(var / reps))
    # variance of a variance estimate: ≈ 2σ⁴/reps for a near-normal count
    assert np.all(np.abs(counts.var(0, ddof=1) - var) < 5 * np.sqrt(2 * var**2 / reps) + 1)
    q, p1, p2 = abs(d[0, 0]), abs(x[0, 0]), abs(x[0, 1])
    cov = n * p1 * p2 * q * (1 - q)
    emp = np.cov(counts[:, 0, 0], counts[:, 0, 1])[0, 1]
    assert abs(emp - cov) < 5 * math.sqrt((var[0, 0] * var[0, 1] + cov**2) / reps)


@pytest.mark.parametrize("batch, seed", [(1, 0), (3, 1)])
def test_fast_update_at_n_1000_matches_the_reference_path_per_cell(batch, seed):
    """The whole fast update of a CTF tile at N = 1000 (packed trains with bit-parallel draws and the
    numba train response) against the reference path (GEMM counts, torch response): per cell, the
    mean and variance of the weight change over repeated updates from the same weights agree
    (means within 5 standard errors, variances within 5 standard errors of a variance estimate, from
    the fourth moment)."""
    from rpusim.tile import AnalogTile, RPUConfig
    cfg = RPUConfig.from_dict({"device": {"type": "ctf", **_device().model_dump(exclude={"type"})},
                               "update": {"bl": N, "update_management": True}})
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 12, generator=gen) * (torch.rand(batch, 12, generator=gen) < 0.7)
    d = 0.05 * torch.randn(batch, 6, generator=gen)
    reps = 300
    changes = {}
    for name, forced in (("fast", False), ("reference", True)):
        tile = AnalogTile(6, 12, cfg, seed=seed)
        w0 = 0.2 * torch.randn(6, 12, generator=torch.Generator().manual_seed(seed + 10))
        out = []
        for _ in range(reps):
            tile.set_weights(w0)
            start = tile.get_weights().clone()
            if forced:
                with reference_path():
                    tile.update(x, d, 0.1)
            else:
                tile.update(x, d, 0.1)
            out.append((tile.get_weights() - start).double())
        changes[name] = torch.stack(out)
    f, r = changes["fast"], changes["reference"]
    se = torch.sqrt((f.var(0) + r.var(0)) / reps)
    assert ((f.mean(0) - r.mean(0)).abs() <= 5 * se + 1e-9).all()
    def var_of_var(c):  # (μ₄ − σ⁴)/reps: the sampling variance of a variance estimate
        return (((c - c.mean(0)) ** 4).mean(0) - c.var(0) ** 2) / reps
    var_se = torch.sqrt(var_of_var(f) + var_of_var(r))
    assert ((f.var(0) - r.var(0)).abs() <= 5 * var_se + 1e-12).all()
    assert (r.mean(0).abs() > 3 * r.std(0) / math.sqrt(reps)).float().mean() > 0.5  # most cells move


@pytest.mark.parametrize("x_first", [False, True])
def test_counts_drawn_sample_by_sample_have_the_binomial_moments(x_first):
    """Long trains drawn and counted sample by sample (three samples of different lengths, a silent
    one, signs changing between samples, a sparse line drawn by geometric skips): per cell the up
    and down counts have the mean and variance of sums of independent Binomial(BL_b, p_bi·q_bj)
    by sign (within 5 standard errors; 400 seeds), two cells of one δ line share its pulses
    (covariance Σ_b BL_b·p₁p₂q(1 − q), within 5 standard errors), and lines that never fire are
    left out."""
    from rpusim.tile.sample_trains import sample_train_counts
    x = np.array([[0.6, -0.3, 0.0, 0.01], [-0.5, 0.2, 0.0, 0.01], [0.0, 0.0, 0.0, 0.0], [0.4, 0.4, 0.0, -0.01]],
                 np.float32)
    d = np.array([[0.9, -0.4, 0.0], [0.3, 0.3, 0.0], [0.5, 0.5, 0.0], [-0.2, 0.7, 0.0]], np.float32)
    limits = np.array([1000, 300, 0, 129], np.int64)
    ones, reps = np.ones(4), 400
    counts = []
    for seed in range(reps):
        rows, cols, up, down = sample_train_counts(x, ones, d, ones, limits, x_first, seed)
        assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1, 3]
        counts.append(np.stack([up, down]))
    counts = np.array(counts, float)
    p = x[:, [0, 1, 3]]
    q = d[:, [0, 1]]
    pq = q[:, :, None] * p[:, None, :]  # samples × rows × cols, signed
    n = limits[:, None, None]
    mean_up = (n * np.abs(pq) * (pq < 0)).sum(0)
    mean_down = (n * np.abs(pq) * (pq > 0)).sum(0)
    var_up = (n * np.abs(pq) * (1 - np.abs(pq)) * (pq < 0)).sum(0)
    var_down = (n * np.abs(pq) * (1 - np.abs(pq)) * (pq > 0)).sum(0)
    for k, (mean, var) in enumerate(((mean_up, var_up), (mean_down, var_down))):
        assert np.all(np.abs(counts[:, k].mean(0) - mean) <= 5 * np.sqrt(var / reps) + 1e-9)
        assert np.all(np.abs(counts[:, k].var(0, ddof=1) - var) <= 5 * np.sqrt(2 * var**2 / reps) + 0.05)
    total = counts.sum(1)  # up + down of each cell
    a, b = np.abs(p[:, 0]), np.abs(p[:, 1])
    qa = np.abs(q[:, 0])
    cov = (limits * a * b * qa * (1 - qa)).sum()
    emp = np.cov(total[:, 0, 0], total[:, 0, 1])[0, 1]
    v0, v1 = (var_up + var_down)[0, 0], (var_up + var_down)[0, 1]
    assert abs(emp - cov) < 5 * math.sqrt((v0 * v1 + cov**2) / reps)


@njit(cache=True)
def _lane_words(thresholds, masks, rounds, seed):
    """``rounds`` calls of the lane-parallel draw of all ``thresholds`` (rounds × words)."""
    lanes = lane_streams(seeded_state(seed))
    out = np.empty((rounds, thresholds.size), np.uint64)
    for k in range(rounds):
        bernoulli_words(thresholds, masks, lanes, out[k])
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lane_parallel_words_fire_independently_at_their_own_rates(seed):
    """The lane-parallel draw (16 streams, words of a group from different streams, groups cut
    short when every slot is decided): every word's slots in its mask fire with its own
    probability θ/2³² (0, tiny, moderate, 1 − 2⁻³², 1; within 4.5 standard errors), the others
    never; slots in one word, in other words (other streams, other groups) and in the same word
    of consecutive calls fire independently (P(both) = p₁p₂ within 4.5 standard errors)."""
    q = np.array([0.3, 0.0, 2.0**-20, 0.02, 0.5, 0.7, 1 - 2.0**-32, 1.0, 0.3, 0.1, 0.3, 0.9, 0.3, 0.05, 0.3, 0.3,
                  0.3, 0.25, 0.3])  # 19 words: a full group of 16 and a partial one
    widths = [64, 64, 64, 64, 64, 33, 64, 17, 1, 64, 64, 64, 64, 64, 64, 64, 64, 5, 64]
    masks = [(1 << w) - 1 for w in widths]
    masks[9] = 0xF0F0_0000_FFFF_0F00  # slots with gaps
    masks[10] = 0xFFFF << 48  # the top slots only
    masks = np.array(masks, np.uint64)
    thresholds = np.array([min(int(v * 2**32), 2**32) for v in q], np.uint64)
    p = thresholds.astype(float) / 2**32
    rounds = 6000
    words = _lane_words(thresholds, masks, rounds, seed)
    bits = np.unpackbits(words.view(np.uint8).reshape(rounds, q.size, 8), axis=2, bitorder="little").astype(float)
    inside = np.unpackbits(masks.view(np.uint8).reshape(q.size, 8), axis=1, bitorder="little").astype(bool)
    for k in range(q.size):
        assert not bits[:, k, ~inside[k]].any()
        lanes = bits[:, k, inside[k]]
        assert abs(lanes.mean() - p[k]) <= 4.5 * math.sqrt(p[k] * (1 - p[k]) / lanes.size) + 1e-12
    for a, b in ((0, 8), (0, 10), (10, 12), (4, 18)):  # words of other streams and groups
        slot_a, slot_b = np.flatnonzero(inside[a])[0], np.flatnonzero(inside[b])[-1]
        both = (bits[:, a, slot_a] * bits[:, b, slot_b]).mean()
        assert abs(both - p[a] * p[b]) <= 4.5 * math.sqrt(p[a] * p[b] / rounds)
    lanes = bits[:, 0, :]
    both = (lanes[:, :-1] * lanes[:, 1:]).mean()  # adjacent slots of one word
    assert abs(both - p[0] ** 2) <= 4.5 * math.sqrt(p[0] ** 2 / lanes[:, 1:].size)
    again = (lanes[:-1] * lanes[1:]).mean()  # the same slot in consecutive calls
    assert abs(again - p[0] ** 2) <= 4.5 * math.sqrt(p[0] ** 2 / lanes[1:].size)
