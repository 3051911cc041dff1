"""The fast CTF update at large N (issue 16): the vectorised CTF kernel against the torch
reference law, the long compressed pulse trains and the blocked coincidence count."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rpusim.devices import CTFDevice
from rpusim.fast_path import reference_path

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


@pytest.mark.parametrize("q_delta", [0.3, 0.9])
def test_long_trains_at_the_kept_slots_fire_independently_at_their_own_rates(q_delta):
    """δ drawn first fires in more than 64 slots of each sample, so x's lines are drawn line by line
    over those kept slots: sparse lines by geometric skips, dense ones word by word. Each line fires
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
