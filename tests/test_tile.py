"""Analog tile: pulsed-update statistics, periphery (DAC/ADC, NM, BM), tiling, state."""
import math

import pytest
import torch

from rpusim.config import ConfigError
from rpusim.devices import ConstantStepDevice, IdealDevice
from rpusim.tile import AnalogArray, AnalogTile, IOConfig, RPUConfig, UpdateConfig, analog_mvm, quantize

CLEAN = dict(dw_min_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0, up_down_dtod=0.0, w_max=10.0, w_min=-10.0)


def update_samples(mode: str, x, d, lr, trials, bl=10, dw_min=0.001, std=0.3, **upd):
    """ΔW of `trials` independent updates of a fresh tile starting at W = 0."""
    cfg = RPUConfig(device=ConstantStepDevice(dw_min=dw_min, dw_min_std=std, **CLEAN),
                    update=UpdateConfig(bl=bl, mode=mode, **upd))
    tile = AnalogTile(d.shape[1], x.shape[1], cfg, seed=123)
    out = []
    for _ in range(trials):
        tile.set_weights(torch.zeros(d.shape[1], x.shape[1]))
        tile.update(x, d, lr)
        out.append(tile.get_weights().clone())
    return torch.stack(out)


def expected_moments(x, d, lr, bl, dw_min, std):
    """Mean and variance of ΔW for one sample: n ~ Binomial(BL, p·q), each step dw(1 + σξ)."""
    c = math.sqrt(lr / (bl * dw_min))
    pq = (c * x.abs()).clamp(max=1)[0][None, :] * (c * d.abs()).clamp(max=1)[0][:, None]
    mean_n = bl * pq
    var_n = bl * pq * (1 - pq)
    sign = -torch.sign(d[0])[:, None] * torch.sign(x[0])[None, :]
    return sign * mean_n * dw_min, dw_min**2 * (var_n + std**2 * mean_n)


@pytest.mark.parametrize("mode, counting", [("fast", "packed"), ("fast", "gemm"), ("exact", "auto")])
def test_update_is_unbiased_with_the_expected_variance(mode, counting):
    torch.manual_seed(0)
    x = torch.tensor([[0.9, -0.5, 0.2, 0.0, 0.7]])
    d = torch.tensor([[0.4, -0.8, 0.1]])
    lr, trials = 0.01, 3000 if mode == "fast" else 600
    dw = update_samples(mode, x, d, lr, trials, counting=counting)
    mean, var = expected_moments(x, d, lr, 10, 0.001, 0.3)
    torch.testing.assert_close(mean, -lr * d.T @ x)  # the scheme's expectation is the SGD step
    se = (var / trials).sqrt() + 1e-9
    assert ((dw.mean(0) - mean).abs() <= 4.5 * se).all(), (dw.mean(0), mean)
    rel = dw.var(0)[var > 0] / var[var > 0]
    assert ((rel > 0.75) & (rel < 1.3)).all(), rel


def test_fast_and_exact_agree_in_mean_and_spread_for_a_batch():
    torch.manual_seed(1)
    x = torch.rand(4, 6) * 2 - 1
    d = (torch.rand(4, 3) * 2 - 1) * 0.5
    packed = update_samples("fast", x, d, 0.01, 1500, counting="packed")
    gemm = update_samples("fast", x, d, 0.01, 1500, counting="gemm")
    exact = update_samples("exact", x, d, 0.01, 300)
    target = -0.01 * d.T @ x
    se = packed.std(0) / math.sqrt(300)
    for dw in (packed, gemm, exact):
        assert ((dw.mean(0) - target).abs() < 4 * se + 2e-5).all()
    ratio = packed.std(0) / gemm.std(0)
    assert ((ratio > 0.85) & (ratio < 1.15)).all()


@pytest.mark.parametrize("management", [{"update_management": True},
                                        {"update_management": True, "bl_management": True}])
def test_update_and_bl_management_stay_unbiased(management):
    x = torch.tensor([[1.0, 0.5]])
    d = torch.tensor([[0.01, -0.002]])
    dw = update_samples("fast", x, d, 0.01, 4000, **management)
    se = dw.std(0) / math.sqrt(4000)
    assert ((dw.mean(0) - (-0.01 * d.T @ x)).abs() < 4.5 * se + 1e-7).all()


def _bits(words, n, limit):
    import numpy as np
    return np.unpackbits(words.view(np.uint8), bitorder="little")[: n * limit].reshape(n, limit).astype(float)


@pytest.mark.parametrize("q", [0.004, 0.08, 0.25, 0.6])
@pytest.mark.parametrize("limit", [2, 10, 31, 64, 100])
def test_pulse_trains_are_independent_bernoulli_slots(q, limit):
    """Whatever branch draws a train (one word for ≤ 64 slots, word by word or by geometric
    skips beyond), its slots fire independently with probability q: per-slot rates, pairwise
    coincidences and the pulse-count distribution of Binomial(limit, q)."""
    import numpy as np
    from rpusim.numba_random import seeded_state
    from rpusim.tile.bernoulli_words import lane_streams
    from rpusim.tile.bit_counts import _pack_line_pulses
    n = 40_000
    x = np.full((n, 1), q, np.float32)
    limits, bases = np.full(n, limit, np.int64), np.arange(n, dtype=np.int64) * limit
    pos, neg = np.zeros((1, (n * limit + 63) // 64), np.uint64), np.zeros((1, (n * limit + 63) // 64), np.uint64)
    rng = seeded_state(9)
    _pack_line_pulses(x, np.ones(n), limits, bases, pos, neg, np.zeros(1, np.bool_), rng, lane_streams(rng))
    assert not neg.any()
    bits = _bits(pos[0], n, limit)
    se = math.sqrt(q * (1 - q) / n)
    assert np.abs(bits.mean(0) - q).max() < 4.5 * se
    both = (bits[:, 0] * bits[:, -1]).mean()  # first and last slot: independent
    assert abs(both - q * q) < 4.5 * math.sqrt(q * q / n) + 1e-4
    counts = np.bincount(bits.sum(1).astype(int), minlength=limit + 1)[:4] / n
    binom = [math.comb(limit, k) * q**k * (1 - q) ** (limit - k) for k in range(4)]
    assert np.allclose(counts[:len(binom)], binom[:len(counts)], atol=4.5 * math.sqrt(0.25 / n))


def test_many_sparse_lines_drawn_at_the_kept_slots_fire_at_their_own_rates():
    """The dense side's many lines with small, different probabilities (300 lines, q_i up to 0.02),
    drawn only at the slots kept: each line fires with its own probability and sign in every kept
    slot."""
    import numpy as np
    from rpusim.tile.bit_counts import _draw_trains
    n, limit, n_lines = 4_000, 10, 300
    q = np.linspace(0.0, 0.02, n_lines).astype(np.float32)
    x = np.tile(q, (n, 1))
    x[:, ::2] *= -1
    d = np.full((n, 1), 0.05, np.float32)
    ones, limits, bases = np.ones(n), np.full(n, limit, np.int64), np.arange(n, dtype=np.int64) * limit
    trains = _draw_trains(x, ones, d, ones, limits, bases, n * limit, False, 8)
    kept = int(sum(bin(int(w)).count("1") for w in trains[6]))
    assert 0 < kept <= n * limit / 3
    pulses = np.unpackbits((trains[0] | trains[1]).view(np.uint8), axis=1, bitorder="little")[:, :kept]
    assert not (trains[0][0::2].any() or trains[1][1::2].any())  # signs: even lines −, odd lines +
    rate = pulses.mean(1)
    assert np.all(np.abs(rate - q) < 4.5 * np.sqrt(q * (1 - q) / kept) + 1e-9)
    assert pulses[0].sum() == 0  # q = 0 never fires
    assert abs(rate.sum() - q.sum()) < 4.5 * math.sqrt(q.sum() / kept)


@pytest.mark.parametrize("limit", [1, 10])
def test_tiny_pulse_probabilities_keep_their_resolution(limit):
    """Short trains compare 16-bit quarters of random words; a probability below 2⁻¹⁶ (here 3·10⁻⁵,
    between 1 and 2 steps of 2⁻¹⁶) still fires at its own rate, not at a multiple of 2⁻¹⁶."""
    import numpy as np
    from rpusim.numba_random import seeded_state
    from rpusim.tile.bernoulli_words import lane_streams
    from rpusim.tile.bit_counts import _pack_line_pulses
    q, n_lines, n = 3e-5, 64, 100_000
    x = np.full((n, n_lines), q, np.float32)
    limits, bases = np.full(n, limit, np.int64), np.arange(n, dtype=np.int64) * limit
    words = (n * limit + 63) // 64
    pos, neg = np.zeros((n_lines, words), np.uint64), np.zeros((n_lines, words), np.uint64)
    rng = seeded_state(3)
    _pack_line_pulses(x, np.ones(n), limits, bases, pos, neg, np.zeros(n_lines, np.bool_), rng, lane_streams(rng))
    fired = int(np.unpackbits(pos.view(np.uint8)).sum())
    expected = q * n * limit * n_lines
    assert abs(fired - expected) < 4.5 * math.sqrt(expected)  # 2⁻¹⁶ alone would give half of it


@pytest.mark.parametrize("limit, q", [(1, 0.05), (10, 0.05), (10, 0.2), (100, 0.05)])
def test_coincidences_drawn_where_the_sparser_side_fired_are_binomial(limit, q):
    """The sparse side's trains are drawn first, the dense side's only in the slots where the sparse
    one fired (one slot of a sample, several, or a train longer than a word): the coincidences of
    two lines still follow Binomial(limit, p·q) per sample, and the sign decides up or down."""
    import numpy as np
    from rpusim.tile.bit_counts import _count, _draw_trains, _plan
    n, p = 30_000, 0.6
    x = np.full((n, 2), p, np.float32)
    x[:, 1] = -p
    d = np.full((n, 1), q, np.float32)
    cx, cd, limits, bases, _, n_slots, _, _, x_first = _plan(x, d, 1.0, 1.0, limit, False, False, False)
    assert not x_first and n_slots == n * limit  # δ expects fewer pulses: drawn first
    cx[:], cd[:] = 1.0, 1.0
    trains = _draw_trains(x, cx, d, cd, limits, bases, n_slots, False, 4)
    kept = np.flatnonzero(np.unpackbits(trains[6].view(np.uint8), bitorder="little"))
    assert 0 < kept.size <= n_slots / 3  # both sides were compressed to the slots where δ fired

    def per_slot(words):  # back from the kept slots to all slots
        full = np.zeros(n * limit)
        full[kept] = np.unpackbits(words.view(np.uint8), bitorder="little")[: kept.size]
        return full.reshape(n, limit)
    per_sample = [per_slot(trains[0][0]), per_slot(trains[2][0])]
    n_coinc = (per_sample[0] * per_sample[1]).sum(1)  # x line 0 (+) with the δ line (+): down steps
    pq = p * q
    counts = np.bincount(n_coinc.astype(int), minlength=3)[:3] / n
    binom = [math.comb(limit, k) * pq**k * (1 - pq) ** (limit - k) if k <= limit else 0.0 for k in range(3)]
    assert np.allclose(counts, binom, atol=4.5 * math.sqrt(0.25 / n))
    n_up, n_down = _count(*trains[:4], np.array([0]), np.array([0, 1]))
    assert n_up[0, 0] == 0 and n_down[0, 1] == 0  # same signs step down, opposite signs step up
    expected = n * limit * pq
    for total in (n_down[0, 0], n_up[0, 1]):
        assert abs(total - expected) < 4.5 * math.sqrt(expected)


def test_single_slot_trains_count_like_the_gemm_path():
    """Under BL management small updates get one slot per sample (the packed path's own branch):
    its counts have the mean and spread of the reference counting."""
    g = torch.Generator().manual_seed(5)
    x = torch.rand(300, 5, generator=g) * (torch.rand(300, 5, generator=g) > 0.3)
    d = (torch.rand(300, 3, generator=g) - 0.5) * 0.02
    upd = dict(update_management=True, bl_management=True, std=0.0)
    packed = update_samples("fast", x, d, 0.01, 800, counting="packed", **upd)
    gemm = update_samples("fast", x, d, 0.01, 800, counting="gemm", **upd)
    target = -0.01 * d.T @ x
    for dw in (packed, gemm):
        assert ((dw.mean(0) - target).abs() < 4.5 * gemm.std(0) / math.sqrt(800) + 1e-7).all()
    ratio = packed.std(0) / gemm.std(0)
    assert ((ratio > 0.85) & (ratio < 1.15)).all()


def test_bl_management_uses_fewer_pulses_for_small_updates():
    from rpusim.tile.pulsed_update import plan_pulses
    x, d = torch.tensor([[1.0, 0.5]]), torch.tensor([[0.01, -0.002]])
    assert plan_pulses(x, d, 0.01, 0.001, UpdateConfig(bl=10, bl_management=True)).bl == 1
    assert plan_pulses(x, d * 100, 0.01, 0.001, UpdateConfig(bl=10, bl_management=True)).bl == 10


@pytest.mark.parametrize("management", [{}, {"update_management": True},
                                        {"update_management": True, "bl_management": True}])
def test_cpu_kernel_plans_the_pulses_of_plan_pulses(management):
    """The numba fast path computes the same probabilities, slots and clip counts as the reference."""
    from rpusim.tile.bit_counts import _plan
    from rpusim.tile.pulsed_update import plan_pulses
    g = torch.Generator().manual_seed(0)
    x, d = torch.randn(40, 12, generator=g), torch.randn(40, 5, generator=g) * 0.3
    x[3], d[7] = 0, 0  # samples that fire nothing
    cfg = UpdateConfig(bl=31, **management)
    cx, cd, limits, bases, stride, n_slots, total, clipped, _ = _plan(
        x.numpy(), d.numpy(), 0.05, 0.001, cfg.bl, cfg.update_management, cfg.bl_management,
        cfg.um_overflow == "clip_delta")
    keep = torch.ones(40, dtype=torch.bool)
    keep[[3, 7]] = False
    plan = plan_pulses(x[keep], d[keep], 0.05, 0.001, cfg)
    ref_limits = plan.slot_mask.sum(1) if plan.slot_mask is not None else torch.full((38,), cfg.bl)
    assert (limits[[3, 7]] == 0).all() and limits[keep.numpy()].tolist() == ref_limits.long().tolist()
    assert stride == plan.bl and n_slots == ref_limits.sum() and total == plan.total and clipped == plan.clipped
    assert bases[keep.numpy()].tolist() == (ref_limits.cumsum(0) - ref_limits).long().tolist()
    torch.testing.assert_close(torch.from_numpy(cx[keep.numpy()])[:, None].float().mul(x[keep].abs()).clamp(max=1),
                               plan.px, rtol=1e-5, atol=1e-6, check_dtype=False)
    torch.testing.assert_close(torch.from_numpy(cd[keep.numpy()])[:, None].float().mul(d[keep].abs()).clamp(max=1),
                               plan.pd, rtol=1e-5, atol=1e-6, check_dtype=False)


def test_clipped_probabilities_are_counted():
    cfg = RPUConfig(update=UpdateConfig(bl=10))
    tile = AnalogTile(3, 4, cfg, seed=0)
    tile.update(torch.ones(1, 4), torch.ones(1, 3) * 0.01, lr=0.01)
    assert tile.stats["pulse_probs_clipped"] == 0
    tile.update(torch.ones(1, 4), torch.ones(1, 3) * 5, lr=1.0)  # C·|x| = 10 > 1
    assert tile.stats["pulse_probs_clipped"] > 0


def test_ideal_device_update_is_exact_sgd():
    cfg = RPUConfig.ideal()
    tile = AnalogTile(3, 4, cfg, seed=0)
    w0 = torch.randn(3, 4)
    tile.set_weights(w0)
    x, d = torch.randn(5, 4), torch.randn(5, 3)
    tile.update(x, d, 0.1)
    torch.testing.assert_close(tile.get_weights(), w0 - 0.1 * d.T @ x)


@pytest.mark.parametrize("bits", [2, 4, 7, 9])
def test_quantizer_has_2_to_the_bits_minus_one_levels(bits):
    x = torch.linspace(-3, 3, 100001)
    q = quantize(x, bits, 1.5, False, None)
    levels = q.unique()
    assert len(levels) == 2**bits - 1
    assert q.abs().max() <= 1.5
    assert levels.max() == pytest.approx(1.5)


def test_stochastic_rounding_is_unbiased_and_deterministic_is_not():
    g = torch.Generator().manual_seed(0)
    v = torch.full((200000,), 0.3 * 2 / 126)  # 0.3 of one 7-bit step
    assert quantize(v, 7, 1.0, True, g).mean().item() == pytest.approx(v[0].item(), rel=0.02)
    assert quantize(v, 7, 1.0, False, g).mean().item() == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_periphery_is_exact_when_perfect_and_noisy_otherwise(dtype):
    """The default periphery: y = s·ADC(W·DAC(x/s) + 0.06·ξ), s = max|x|. The 7-bit DAC rounds
    the input deterministically; the output noise (σ = 0.06 ≈ 1.3 ADC steps) dithers the 9-bit
    ADC, so the mean output is s·W·DAC(x/s) and the variance s²·(0.06² + r_out²/12)."""
    g = torch.Generator().manual_seed(0)
    w, x = torch.randn(8, 5, generator=g, dtype=dtype) * 0.3, torch.rand(16, 5, generator=g, dtype=dtype)
    torch.testing.assert_close(analog_mvm(x, w, IOConfig.perfect(), g), x @ w.T)
    d = torch.rand(16, 8, generator=g, dtype=dtype)
    torch.testing.assert_close(analog_mvm(d, w, IOConfig.perfect(), g, transposed=True), d @ w)
    n, x1 = 4000, x[:1] * 2.5
    s = x1.abs().max()
    r_in, r_out = 2 / 126, 24 / 510
    mean = s * (torch.round(x1 / s / r_in) * r_in) @ w.T
    var = s**2 * (0.06**2 + r_out**2 / 12)
    z = (analog_mvm(x1.expand(n, 5), w, IOConfig(), g) - mean) / var.sqrt()
    assert z.mean(0).abs().max() < 5 / math.sqrt(n), z.mean(0)
    assert abs(z.var().item() - 1) < 5 * math.sqrt(2 / z.numel()), z.var()


def test_noise_management_scales_inputs_into_range():
    io = IOConfig(out_noise=0.0, inp_bits=0, out_bits=0, bound_management="none")
    w, x = torch.randn(4, 6) * 0.2, torch.rand(3, 6) * 50
    with_nm = analog_mvm(x, w, io, None)
    without = analog_mvm(x, w, io.model_copy(update={"noise_management": "none"}), None)
    torch.testing.assert_close(with_nm, x @ w.T)  # scaled into |x| <= 1 and back
    assert not torch.allclose(without, x @ w.T)  # inputs clipped at 1 without it


def test_bound_management_recovers_saturated_outputs():
    io = IOConfig(out_noise=0.0, inp_bits=0, out_bits=0, out_bound=1.0)
    w, x = torch.full((2, 20), 0.5), torch.ones(3, 20)  # W·x = 10 ≫ out_bound
    stats = {}
    y = analog_mvm(x, w, io, None, stats=stats)
    torch.testing.assert_close(y, x @ w.T)
    assert stats["saturated"] == 3 and stats["saturated_final"] == 0
    clipped = analog_mvm(x, w, io.model_copy(update={"bound_management": "none"}), None)
    assert (clipped == 1.0).all()


@pytest.mark.parametrize("io", [
    dict(), dict(noise_management="none"), dict(inp_bits=0, out_bits=0), dict(out_bound=1.0),
    dict(noise_management="constant", nm_constant=2.0), dict(out_bound=1.0, noise_management="none"),
    dict(out_bound=1.0, noise_management="average_abs_max")])
@pytest.mark.parametrize("transposed", [False, True])
def test_numba_pass_equals_the_tensor_reference_without_noise(io, transposed, monkeypatch):
    """Levels, clipping, noise and bound management of the numba pass are those of the tensor
    reference (same float32 order: equal up to rounding of unquantised values), counters included."""
    from rpusim.tile import periphery
    io = IOConfig(out_noise=0.0, **io)
    x, w = torch.randn(64, 50) * torch.rand(64, 1) * 3, torch.randn(50 if transposed else 30, 30 if transposed else 50) * 0.3
    running = torch.full((1, 1), 0.7) if io.noise_management == "average_abs_max" else None
    runs = []
    for fused in (True, False):
        monkeypatch.setattr(periphery, "_fusable", lambda *a, f=fused: f)
        stats: dict = {}
        runs.append((analog_mvm(x, w, io, torch.Generator().manual_seed(1), transposed, stats, running), stats))
    torch.testing.assert_close(runs[0][0], runs[1][0], rtol=1e-5, atol=1e-5)
    assert runs[0][1] == runs[1][1]
    assert io.out_bound > 2 or runs[0][1]["saturated"] > 0  # bound management had work to do


@pytest.mark.parametrize("fused", [True, False])
def test_stochastic_rounding_in_the_dac_is_unbiased(fused, monkeypatch):
    from rpusim.tile import periphery
    monkeypatch.setattr(periphery, "_fusable", lambda *a: fused)
    x, w = (torch.rand(1, 20) * 0.9 + 0.05).expand(20000, 20), torch.randn(4, 20) * 0.2
    x = x / x.abs().max()
    exact = x[:1] @ w.T
    io = dict(out_noise=0.0, out_bits=0, inp_bits=5)
    sto = analog_mvm(x, w, IOConfig(inp_sto_round=True, **io), None).mean(0)
    det = analog_mvm(x, w, IOConfig(**io), None).mean(0)
    res = 2 / (2**5 - 2)  # a rounding error has variance ≤ res²/4
    tol = 5 * (w.pow(2).sum(1) * res**2 / 4 / x.shape[0]).sqrt()
    assert ((sto - exact).abs() < tol).all()
    assert (det - exact).abs().max() > 10 * (sto - exact).abs().max()


@pytest.mark.parametrize("fused", [True, False])
def test_periphery_noise_has_the_configured_spread(fused, monkeypatch):
    from rpusim.tile import periphery
    monkeypatch.setattr(periphery, "_fusable", lambda *a: fused)
    x, w = torch.rand(4000, 20), torch.randn(10, 20) * 0.1
    clean = analog_mvm(x, w, IOConfig(out_noise=0.0, out_bits=0, inp_bits=0), None)
    for key in ("out_noise", "inp_noise"):
        io = IOConfig(out_bits=0, inp_bits=0, **{"out_noise": 0.0, key: 0.1})
        err = (analog_mvm(x, w, io, torch.Generator().manual_seed(2)) - clean) / x.abs().amax(1, keepdim=True)
        expected = 0.1 if key == "out_noise" else 0.1 * w.norm(dim=1).mean().item()
        assert err.mean().abs() < 0.01 and err.std().item() == pytest.approx(expected, rel=0.1)


def test_split_array_equals_one_tile():
    torch.manual_seed(0)
    one = AnalogArray(7, 9, RPUConfig.ideal())
    cfg = RPUConfig.ideal().model_copy(deep=True)
    cfg.mapping.max_input_size, cfg.mapping.max_output_size = 4, 3
    split = AnalogArray(7, 9, cfg)
    assert len(split.tiles) == 9
    w = torch.randn(7, 9)
    one.set_weights(w)
    split.set_weights(w)
    x, d = torch.randn(5, 9), torch.randn(5, 7)
    torch.testing.assert_close(split(x), one(x))
    torch.testing.assert_close(split.backward_pass(d), one.backward_pass(d))
    split.update(x, d, 0.1)
    one.update(x, d, 0.1)
    torch.testing.assert_close(split.get_weights(), one.get_weights())


def test_state_dict_round_trip_continues_identically():
    cfg = RPUConfig()
    a = AnalogTile(6, 8, cfg, seed=1)
    x, d = torch.rand(2, 8), torch.rand(2, 6) * 0.1
    a.update(x, d, 0.05)
    state = {k: v.clone() if torch.is_tensor(v) else v for k, v in a.state_dict().items()}
    b = AnalogTile(6, 8, cfg, seed=999)
    b.load_state_dict(state)
    torch.testing.assert_close(b.dev_params, a.dev_params)
    for t in (a, b):
        t.update(x, d, 0.05)
    torch.testing.assert_close(a.get_weights(), b.get_weights())
    torch.testing.assert_close(a(x), b(x))


def test_cached_views_follow_a_changed_periphery_and_moved_buffers():
    """The caches that save Python time per pass (periphery parameter vector, per-device parameter
    views, weights read) never serve a stale value."""
    from rpusim.tile.periphery_params import io_params
    io = IOConfig(out_noise=0.06)
    first = io_params(io)
    with pytest.raises(ValueError, match="read-only"):
        first["out_noise"] = 123.0  # the cached parameters cannot be changed by a caller
    assert io_params(io)["out_noise"][0] == pytest.approx(0.06)
    io.out_noise = 0.2  # a config changed after use gives its new values
    assert io_params(io)["out_noise"][0] == pytest.approx(0.2)
    tile = AnalogTile(3, 4, RPUConfig(), seed=2)
    before = tile.params["dw_up"]
    tile.to(torch.float64)  # buffers replaced: the views are made again, on the new buffer
    assert tile.params["dw_up"].dtype == torch.float64 and before.dtype == torch.float32
    w = torch.full((3, 4), 0.1, dtype=torch.float64)
    tile.set_weights(w)
    programmed = tile.device_model.clip(w, tile.params)[0]
    torch.testing.assert_close(tile.get_weights(), programmed)
    tile.update(torch.ones(1, 4, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64), 0.5)
    assert not torch.equal(tile.get_weights(), programmed)  # read again after the update


def test_tile_methods_leave_no_autograd_graph():
    tile = AnalogTile(3, 4, RPUConfig(), seed=3)
    x = torch.rand(2, 4, requires_grad=True)
    with torch.enable_grad():
        y = tile(x)
        tile.update(x, torch.rand(2, 3), 0.1)
    assert not y.requires_grad and not tile.state.requires_grad
    assert torch.is_grad_enabled()  # the caller's mode is left as it was


@pytest.mark.parametrize("section, bad, field", [
    ("update", {"bl": 0}, "bl"), ("forward", {"inp_bits": 30}, "inp_bits"),
    ("forward", {"out_bits": -1}, "out_bits"), ("backward", {"inp_bits": 1}, "inp_bits"), ("forward", {"noise_management": "sometimes"}, "noise_management"),
    ("device", {"type": "constant_step", "dw_min": -0.01}, "dw_min"),
    ("device", {"type": "unobtainium"}, "unknown device"),
])
def test_bad_rpu_config_fails_naming_the_field(section, bad, field):
    with pytest.raises(ConfigError, match=field):
        RPUConfig.from_dict({section: bad})


def test_rpu_config_yaml_round_trip(tmp_path):
    cfg = RPUConfig(device=ConstantStepDevice(dw_min=0.002), update=UpdateConfig(bl=31))
    cfg.to_yaml(tmp_path / "rpu.yaml")
    back = RPUConfig.from_yaml(tmp_path / "rpu.yaml")
    assert back == cfg and isinstance(back.device, ConstantStepDevice)
    assert RPUConfig.from_dict({"device": {"type": "ideal"}}).device == IdealDevice()


def test_tile_public_random_stream_and_pass_counts():
    """What a kernel running a tile's passes outside forward/backward uses (the LSTM sequence
    kernel): the tile's own generator, and counters added under the direction's names."""
    tile = AnalogTile(3, 4, RPUConfig(), seed=5)
    assert tile.random_stream() is tile.generator
    tile.forward(torch.ones(2, 4))
    tile.count_passes("bwd", {"mvms": 3, "saturated": 2, "saturated_final": 1})
    assert tile.stats["fwd_mvms"] == 2
    assert (tile.stats["bwd_mvms"], tile.stats["bwd_saturated"], tile.stats["bwd_saturated_final"]) == (3, 2, 1)
