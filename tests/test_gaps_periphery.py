"""Periphery and tiling behaviours checked quantitatively: weight read noise, ADC stochastic
rounding, the 'average_abs_max' running scale, bound management giving up, and a layer split
over several tiles with a noisy device and a noisy periphery.

float32 inputs take the CPU kernel path where one exists, float64 inputs the tensor reference:
both are checked through the public ``analog_mvm`` / ``AnalogTile`` / ``AnalogArray`` only.
"""
import math

import pytest
import torch

from rpusim.devices import ConstantStepDevice, IdealDevice
from rpusim.tile import AnalogArray, AnalogTile, IOConfig, MappingConfig, RPUConfig, UpdateConfig, analog_mvm

CLEAN_IO = dict(out_noise=0.0, inp_bits=0, out_bits=0, bound_management="none")


# --- weight read noise ----------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_weight_noise_adds_output_noise_of_std_w_noise_times_input_norm(seed):
    """y = s·(W + σ_w·Ξ)·(x/s) = W·x + σ_w·Ξ·x: for each single-sample MVM every output gets
    independent noise of variance σ_w²·‖x‖², whatever the noise-management scale s. Tested with
    B = 1 and repeated calls, so it holds whether the read noise is drawn per sample or per batch."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(4, 6, generator=g) * 0.2
    base = torch.randn(1, 6, generator=g)
    calls = 1500
    for sigma in (0.02, 0.05):
        io = IOConfig(w_noise=sigma, **CLEAN_IO)
        for scale in (0.5, 3.0):  # ‖x‖ (and the NM scale max|x|) changes by 6×
            x = base * scale
            exact = x @ w.T
            ys = torch.cat([analog_mvm(x, w, io, g) for _ in range(calls)])
            z = (ys - exact) / (sigma * x.norm())  # should be N(0, 1), independent
            n = z.numel()
            assert z.mean().abs() < 5 / math.sqrt(n), (sigma, scale, z.mean())
            assert abs(z.var().item() - 1) < 5 * math.sqrt(2 / n), (sigma, scale, z.var())
            # outputs read independent noise (no shared term between rows)
            corr = torch.corrcoef(z.T)[~torch.eye(4, dtype=torch.bool)]
            assert corr.abs().max() < 5 / math.sqrt(calls)


def test_no_weight_noise_gives_the_exact_product():
    g = torch.Generator().manual_seed(0)
    w, x = torch.randn(4, 6, generator=g) * 0.2, torch.randn(1, 6, generator=g) * 2
    io = IOConfig(w_noise=0.0, **CLEAN_IO)
    ys = torch.cat([analog_mvm(x, w, io, g) for _ in range(50)])
    torch.testing.assert_close(ys, (x @ w.T).expand(50, 4))
    assert ys.std(0).max() == 0


# --- ADC stochastic rounding ----------------------------------------------------------------

ADC_RES = 2 * 1.0 / (2**5 - 2)  # 5 bits over ±1: step 1/15
ADC_LEVELS = torch.tensor([3.1, -6.3, 0.5, 7.75, -0.9, 11.0])  # exact outputs in units of the step


def _adc_outputs(stochastic: bool, dtype, seed: int, n: int = 20000):
    """n samples of y = W·x for x = [1] (so the noise-management scale is 1) through a
    noise-free 5-bit ADC over ±1; the exact outputs are ADC_LEVELS steps."""
    io = IOConfig(out_noise=0.0, inp_bits=0, out_bits=5, out_bound=1.0, out_sto_round=stochastic,
                  bound_management="none")
    w = (ADC_LEVELS * ADC_RES).to(dtype)[:, None]
    x = torch.ones(n, 1, dtype=dtype)
    return analog_mvm(x, w, io, torch.Generator().manual_seed(seed)) / ADC_RES, w[:, 0] / ADC_RES


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adc_stochastic_rounding_is_unbiased_with_bernoulli_variance(dtype, seed):
    """Stochastic rounding r·floor(v/r + u): an output at fraction p between two levels lands on
    the upper one with probability p, so its mean is the exact value and its variance p(1−p)·r²."""
    k, exact = _adc_outputs(True, dtype, seed)
    n = k.shape[0]
    lower = torch.floor(exact)
    p = exact - lower
    assert ((k - lower[None]).round() == k - lower[None]).all()  # on the level grid
    up = (k - lower[None]).round()
    assert ((up == 0) | (up == 1)).all(), "only the two neighbouring levels"
    frac = up.mean(0)
    se = (p * (1 - p) / n).sqrt()
    assert ((frac - p).abs() <= 5 * se + 1e-9).all(), (frac, p)  # mean of k = exact ± 5 SE
    var = k.var(0)
    var_se = ((p * (1 - p) * (1 - 3 * p * (1 - p))).clamp_min(0) / n).sqrt()  # SE of a Bernoulli variance
    assert ((var - p * (1 - p)).abs() <= 5 * var_se + 1e-6).all(), (var, p * (1 - p))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adc_deterministic_rounding_is_biased_between_levels(dtype):
    k, exact = _adc_outputs(False, dtype, 0, n=10)
    torch.testing.assert_close(k, torch.round(exact)[None].expand_as(k), rtol=0, atol=1e-4)
    bias = (k.mean(0) - exact).abs()
    between = (exact - torch.round(exact)).abs() > 0.05
    assert (bias[between] > 0.05).all()  # e.g. 3.1 steps reads as 3: 0.1 step off, every time


# --- 'average_abs_max' noise management -----------------------------------------------------

def _avg_tile(decay: float, dtype) -> AnalogTile:
    io = IOConfig(noise_management="average_abs_max", nm_decay=decay, **CLEAN_IO)
    cfg = RPUConfig(device=IdealDevice(), forward=io, backward=io)
    tile = AnalogTile(3, 5, cfg, seed=0).to(dtype)
    tile.set_weights(torch.tensor([[0.3, -0.2, 0.1, 0.5, -0.4], [0.2, 0.2, -0.3, 0.1, 0.0],
                                   [-0.1, 0.4, 0.3, -0.2, 0.2]], dtype=dtype))
    return tile


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_average_abs_max_follows_its_running_average_and_scales_by_it(dtype):
    """In training, each pass first updates the running scale s ← d·s + (1 − d)·mean_b max_i|x_bi|,
    then scales every sample by it: y = s·W·clip(x/s, ±inp_bound). In eval mode s stays put.
    Two decays on the same inputs give their own sequences (the decay constant matters)."""
    g = torch.Generator().manual_seed(3)
    batches = [torch.randn(4, 5, generator=g, dtype=dtype) * m for m in (0.5, 3.0, 1.0, 8.0, 0.2)]
    finals, clipped = {}, 0
    for decay in (0.6, 0.9):
        tile = _avg_tile(decay, dtype)
        w = tile.get_weights()
        for x in batches:
            s_prev = tile.nm_running_fwd.item()
            y = tile(x)
            s = decay * s_prev + (1 - decay) * x.abs().amax(1).mean().item()
            assert tile.nm_running_fwd.item() == pytest.approx(s, rel=1e-5)
            torch.testing.assert_close(y, s * ((x / s).clamp(-1, 1) @ w.T), rtol=1e-5, atol=1e-6)
            clipped += int((x.abs() > s).any())
        finals[decay] = tile.nm_running_fwd.item()
        tile.eval()
        x = batches[3]
        y = tile(x)
        assert tile.nm_running_fwd.item() == finals[decay]  # eval: no update, the running scale is used
        torch.testing.assert_close(y, finals[decay] * ((x / finals[decay]).clamp(-1, 1) @ w.T), rtol=1e-5, atol=1e-6)
    assert abs(finals[0.6] - finals[0.9]) > 0.1
    assert clipped >= 4  # inputs beyond the running scale were met (and clipped) several times


def test_average_abs_max_backward_keeps_its_own_running_scale():
    tile = _avg_tile(0.8, torch.float32)
    w = tile.get_weights()
    d = torch.tensor([[2.0, -1.0, 0.5], [4.0, 0.0, 1.0]])
    s_fwd, s_bwd = tile.nm_running_fwd.item(), tile.nm_running_bwd.item()
    z = tile.backward(d)
    s = 0.8 * s_bwd + 0.2 * 3.0  # mean of the per-sample maxima 2 and 4
    assert tile.nm_running_bwd.item() == pytest.approx(s, rel=1e-6)
    assert tile.nm_running_fwd.item() == s_fwd
    torch.testing.assert_close(z, s * ((d / s).clamp(-1, 1) @ w), rtol=1e-5, atol=1e-6)


# --- bound management giving up ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("max_iter", [1, 2, 5])
def test_bound_management_gives_up_after_its_last_iteration(dtype, max_iter):
    """A sample whose outputs saturate at every scale is halved bm_max_iter times and then returned
    clipped at the last scale: y = s·2^K·out_bound (K = bm_max_iter); it counts as saturated before
    and after bound management. A sample that fits after one halving gets its exact value; one
    that never saturates is untouched."""
    io = IOConfig(out_noise=0.0, inp_bits=0, out_bits=0, out_bound=0.01, bm_max_iter=max_iter)
    w = torch.tensor([[5.0, 5.0]], dtype=dtype)
    x = torch.tensor([[1.0, 1.0],       # W·x/s = 10: saturates even after 2^5 = 32× less input
                      [2.0, 2.0],       # s = 2, W·x/s = 10: the same, returned at twice the scale
                      [1.0, -0.997],    # W·x/s = 0.015: saturates once, fits after one halving
                      [1.0, -1.0]], dtype=dtype)  # W·x = 0: never saturates
    stats = {}
    y = analog_mvm(x, w, io, torch.Generator().manual_seed(0), stats=stats)
    expected = torch.tensor([[2**max_iter * 0.01], [2 * 2**max_iter * 0.01], [0.015], [0.0]], dtype=dtype)
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-7)
    assert stats == {"mvms": 4, "saturated": 3, "saturated_final": 2}


def test_tile_counts_samples_still_saturated_after_bound_management():
    cfg = RPUConfig(device=IdealDevice(), forward=IOConfig(out_noise=0.0, inp_bits=0, out_bits=0,
                                                           out_bound=0.01, bm_max_iter=3))
    tile = AnalogTile(1, 2, cfg, seed=0)
    tile.set_weights(torch.tensor([[5.0, 5.0]]))
    tile(torch.tensor([[1.0, 1.0], [1.0, -0.997], [1.0, -1.0]]))
    assert (tile.stats["fwd_mvms"], tile.stats["fwd_saturated"], tile.stats["fwd_saturated_final"]) == (3, 2, 1)


# --- a layer split over several tiles, with a noisy device and periphery ------------------------

NOISY_IO = dict(inp_bits=0, out_bits=0, inp_noise=0.05, out_noise=0.06, bound_management="none")


def _noisy_array(split: bool, seed: int) -> AnalogArray:
    mapping = MappingConfig(max_input_size=4, max_output_size=3) if split else MappingConfig()
    cfg = RPUConfig(device=ConstantStepDevice(), forward=IOConfig(**NOISY_IO), backward=IOConfig(**NOISY_IO),
                    update=UpdateConfig(bl=10), mapping=mapping)
    torch.manual_seed(seed)
    return AnalogArray(6, 8, cfg)


def _bands(sizes):
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [slice(a, a + n) for a, n in zip(starts, sizes)]


def _stitched(arr: AnalogArray, name: str) -> torch.Tensor:
    """A per-device parameter of every tile, put back at its place in the logical matrix."""
    full = torch.empty(arr.out_size, arr.in_size)
    tiles = iter(arr.tiles)
    for rows in _bands(arr.row_sizes):
        for cols in _bands(arr.col_sizes):
            full[rows, cols] = next(tiles).params[name][0]
    return full


X = torch.tensor([[0.9, -0.5, 0.2, 1.0, 0.3, -0.1, 0.8, -0.3]])  # column bands: max|x| 1.0 and 0.8
D = torch.tensor([[0.4, -0.8, 0.1, -0.2, 0.6, 0.05]])           # row bands: max|δ| 0.8 and 0.6


def _pass_variance(w: torch.Tensor, v: torch.Tensor, in_bands) -> torch.Tensor:
    """Variance of each output of y = Σ_bands s_b·(W_b·(v_b/s_b + σ_in·ξ) + σ_out·ξ'), every tile
    scaling its own slice v_b of the input by s_b = max|v_b|: Σ_b s_b²·(σ_out² + σ_in²·‖W_b row‖²)."""
    var = torch.zeros(w.shape[0])
    for band in in_bands:
        s = v[0, band].abs().max()
        var += s**2 * (NOISY_IO["out_noise"] ** 2 + NOISY_IO["inp_noise"] ** 2 * w[:, band].pow(2).sum(1))
    return var


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_split_layer_forward_and_backward_statistics(split, seed):
    """Forward and backward of a noisy 6 × 8 layer, whole or on a 2 × 2 grid of tiles: outputs
    unbiased (mean W·x, Wᵀ·δ) with the variance of one periphery per tile (split) or one for
    the whole array (unsplit), within the standard error."""
    arr = _noisy_array(split, seed)
    assert len(arr.tiles) == (4 if split else 1)
    arr.set_weights(torch.randn(6, 8, generator=torch.Generator().manual_seed(seed)) * 0.15)
    w = arr.get_weights()
    n = 3000
    col_bands = _bands(arr.col_sizes)
    row_bands = _bands(arr.row_sizes)
    for y, exact, var in (
            (arr(X.expand(n, 8)), X @ w.T, _pass_variance(w, X, col_bands)),
            (arr.backward_pass(D.expand(n, 6)), D @ w, _pass_variance(w.T, D, row_bands))):
        z = (y - exact) / var.sqrt()
        assert z.mean(0).abs().max() < 5 / math.sqrt(n), z.mean(0)
        assert abs(z.var().item() - 1) < 5 * math.sqrt(2 / z.numel()), z.var()
    # the test tells the two apart: one periphery per tile has a far larger variance than one for all
    assert (_pass_variance(w, X, _bands([4, 4])) / _pass_variance(w, X, _bands([8]))).min() > 1.3


@pytest.mark.parametrize("split", [False, True])
def test_split_layer_update_statistics(split):
    """One pulsed update of the split layer: every device moves by n ~ Binomial(BL, p_i·q_j) steps of
    its own size dw_ij(1 + σ_c2c·ξ), p = C|x|, q = C|δ| — the same law as the unsplit array, each
    tile updating from its own slices of x and δ (devices far from their bounds)."""
    arr = _noisy_array(split, 2)  # this seed draws one device (of 48) with w_min ≈ 0
    lr, bl, dw_min, c2c = 0.01, 10, 0.001, 0.3
    c = math.sqrt(lr / (bl * dw_min))
    pq = (c * D.abs()).clamp(max=1)[0][:, None] * (c * X.abs()).clamp(max=1)[0][None, :]
    up = (-torch.sign(D[0])[:, None] * torch.sign(X[0])[None, :]) > 0
    dw = torch.where(up, _stitched(arr, "dw_up"), _stitched(arr, "dw_down"))
    mean = torch.where(up, 1.0, -1.0) * bl * pq * dw
    var = dw**2 * bl * pq * (1 - pq + c2c**2)
    trials = 500
    zero = torch.zeros(6, 8)
    deltas = []
    for _ in range(trials):
        arr.set_weights(zero)
        arr.update(X, D, lr)
        deltas.append(arr.get_weights().clone())
    deltas = torch.stack(deltas)
    # a device whose bound was drawn near 0 is clipped by it, which the law leaves out
    free = (_stitched(arr, "w_max") > 0.05) & (_stitched(arr, "w_min") < -0.05) & (var > 0)
    assert free.sum() >= 44
    z = ((deltas - mean) / var.sqrt())[:, free]
    assert (z.mean(0).abs() < 5 / math.sqrt(trials)).all(), z.mean(0)
    # pooled variance; its standard error from the sample fourth moment (few pulses: far from Gaussian)
    v = z.var(0)
    se = (((z - z.mean(0)) ** 4).mean(0) - v**2).clamp_min(0).div(trials).sum().sqrt() / v.numel()
    assert abs(v.mean().item() - 1) < 5 * se.item(), (v.mean(), se)
