"""The known differences from the reference simulator (aihwkit), each an option: both behaviours on
small arrays with exact expectations or statistical ones (docs/fidelity.md quotes these numbers)."""
import math

import pytest
import torch

from rpusim.devices import ConstantStepDevice, SoftBoundsDevice
from rpusim.fast_path import reference_path
from rpusim.tile import AnalogTile, IOConfig, RPUConfig
from rpusim.tile.bit_counts import _plan, packed_update_counts
from rpusim.tile import UpdateConfig
from rpusim.tile.periphery import analog_mvm, bm_repeats
from rpusim.tile.pulsed_update import exact_update, ordered_update, plan_pulses

CLEAN = dict(dw_min_dtod=0.0, dw_min_std=0.0, w_max_dtod=0.0, w_min_dtod=0.0, up_down_dtod=0.0)


# --- 1. clipping at the bounds: once per update or at every pulse ---------------------------------
def _at_bound_up_then_down(clip: str, mode: str = "fast") -> float:
    """A device at w_max = 0.05 (Δw = 0.01) gets 3 up pulses (sample 0) then 3 down pulses (sample 1):
    BL = 3 and every probability clipped to 1, so the pulses are certain."""
    dev = ConstantStepDevice(dw_min=0.01, w_max=0.05, w_min=-0.05, **CLEAN)
    tile = AnalogTile(1, 1, RPUConfig(device=dev, update=UpdateConfig(bl=3, clip=clip, mode=mode)), seed=0)
    tile.set_weights(torch.tensor([[0.05]]))
    tile.update(torch.tensor([[1.0], [1.0]]), torch.tensor([[-1.0], [1.0]]), lr=1.0)
    return float(tile.get_weights())


@pytest.mark.parametrize("reference", [False, True])
def test_clip_per_update_nets_the_pulses_per_pulse_loses_those_beyond_the_bound(reference):
    with reference_path() if reference else _nothing():
        assert _at_bound_up_then_down("per_update") == pytest.approx(0.05, abs=1e-7)   # +0.03 − 0.03, then clip
        assert _at_bound_up_then_down("per_pulse") == pytest.approx(0.02, abs=1e-7)    # ups lost at w_max
        assert _at_bound_up_then_down("per_update", "exact") == pytest.approx(0.02, abs=1e-7)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _random_plan(seed, cfg, n_in=6, n_out=5, batch=4, lr=0.5):
    g = torch.Generator().manual_seed(seed)
    x, d = torch.randn(batch, n_in, generator=g), torch.randn(batch, n_out, generator=g)
    return plan_pulses(x, d, lr, 0.001, cfg)


@pytest.mark.parametrize("device", [ConstantStepDevice(dw_min_std=0.0, w_max=0.01, w_min=-0.01),
                                    SoftBoundsDevice(dw_min_std=0.0, w_max=0.01, w_min=-0.01)])
@pytest.mark.parametrize("reference", [False, True])
def test_per_pulse_clip_without_a_pulse_loop_equals_the_exact_reference(device, reference):
    """Same bit trains (same draws), no cycle-to-cycle noise: the CPU kernel and the composed clipped
    steps (constant step), and the soft-bounds device's pulse loop, give what the exact path gives."""
    with reference_path() if reference else _nothing():
        _per_pulse_equals_exact(device)


def _per_pulse_equals_exact(device):
    for seed in range(3):
        tile = AnalogTile(5, 6, RPUConfig(device=device, devices_per_weight=2), seed=seed)
        tile.set_weights(0.01 * torch.randn(5, 6, generator=torch.Generator().manual_seed(seed)))
        plan = _random_plan(seed, UpdateConfig(bl=10))
        want = exact_update(tile.state.clone(), plan, device, tile.params, torch.Generator().manual_seed(seed))
        for block in (1 << 22, 37):  # one block of slots, or many
            got = ordered_update(tile.state.clone(), plan, device, tile.params,
                                 torch.Generator().manual_seed(seed), max_elements=block)
            torch.testing.assert_close(got, want, atol=1e-7, rtol=0)
        assert (want - tile.state).abs().max() > 0.005  # the update did move (and clip) the devices


@pytest.mark.parametrize("reference", [False, True])
def test_per_pulse_clip_with_cycle_noise_matches_the_exact_reference_statistically(reference):
    """With cycle-to-cycle noise the two draw different normals: the final weights of 3 seeds × 300
    cells agree in mean and spread within 5 standard errors (CPU kernel, and the torch reference)."""
    with reference_path() if reference else _nothing():
        _per_pulse_matches_exact_statistically()


def _per_pulse_matches_exact_statistically():
    dev = ConstantStepDevice(dw_min=0.002, dw_min_std=0.5, dw_min_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0,
                             up_down_dtod=0.0, w_max=0.006, w_min=-0.006)
    finals = {"exact": [], "ordered": []}
    for seed in range(3):
        tile = AnalogTile(15, 20, RPUConfig(device=dev), seed=seed)
        plan = _random_plan(seed, UpdateConfig(bl=20), n_in=20, n_out=15, batch=3, lr=0.2)
        for name, fn in (("exact", exact_update), ("ordered", ordered_update)):
            finals[name].append(fn(tile.state.clone(), plan, dev, tile.params,
                                   torch.Generator().manual_seed(100 + seed)).flatten())
    a, b = torch.cat(finals["exact"]), torch.cat(finals["ordered"])
    se = math.sqrt((a.var() + b.var()) / a.numel())
    assert abs(float(a.mean() - b.mean())) < 5 * se
    assert abs(float(a.std() / b.std()) - 1) < 5 * math.sqrt(2 / a.numel()) + 0.02


# --- 2. update management when the update needs more than BL coincidences ------------------------
X, D = torch.tensor([[1.0, 0.5, 0.1]]), torch.tensor([[-2.0, 0.4, 0.1]])
LR, DW, BL = 0.04, 0.001, 10  # k = η·max|x|·max|δ|/Δw_min = 80 = 8·BL: p_max would be sqrt(8)


@pytest.mark.parametrize("overflow, px, pd", [
    ("clip_both", [1.0, 1.0, 0.1 * math.sqrt(8)], [1.0, 0.2 * math.sqrt(8), 0.05 * math.sqrt(8)]),
    ("clip_delta", [1.0, 0.5, 0.1], [1.0, 1.0, 0.4]),   # x: |x|/max|x|; δ: min(1, 8·|δ|/max|δ|)
])
def test_um_overflow_probabilities(overflow, px, pd):
    cfg = UpdateConfig(bl=BL, update_management=True, um_overflow=overflow)
    plan = plan_pulses(X, D, LR, DW, cfg)
    torch.testing.assert_close(plan.px, torch.tensor([px]))
    torch.testing.assert_close(plan.pd, torch.tensor([pd]))
    # the CPU kernel's plan gives the same scales (before clipping to 1)
    cx, cd = _plan(X.numpy(), D.numpy(), LR, DW, BL, True, False, overflow == "clip_delta")[:2]
    torch.testing.assert_close((torch.tensor(cx[0]) * X.double().abs()).clamp(max=1), torch.tensor([px], dtype=torch.float64))
    torch.testing.assert_close((torch.tensor(cd[0]) * D.double().abs()).clamp(max=1), torch.tensor([pd], dtype=torch.float64))


def test_um_overflow_clip_delta_counts_of_the_cpu_kernel_have_the_expected_mean():
    """Mean coincidences BL·p_x·p_δ per cross-point over 400 updates (packed kernel), within 5 SE."""
    cfg = UpdateConfig(bl=BL, update_management=True, um_overflow="clip_delta")
    px, pd = torch.tensor([1.0, 0.5, 0.1]), torch.tensor([1.0, 1.0, 0.4])
    p = pd[:, None] * px[None, :]
    total = torch.zeros(3, 3)
    gen = torch.Generator().manual_seed(0)
    n = 400
    for _ in range(n):
        rows, cols, n_up, n_down, *_ = packed_update_counts(X, D, LR, DW, cfg, gen)
        total[rows[:, None], cols[None, :]] += n_up + n_down
    se = (BL * p * (1 - p) / n).sqrt().clamp_min(1e-3)
    assert ((total / n - BL * p).abs() < 5 * se).all()


# --- 3. bound management: its ceiling and where it tests saturation ------------------------------
def test_bm_ceiling_by_input_resolution():
    assert bm_repeats(IOConfig()) == 10                                  # ours: up to 2^10 = 1024×
    assert bm_repeats(IOConfig(bm_max_res=0.25)) == 4                    # 7 bits: 0.25·63 = 15.75 → 16×
    assert bm_repeats(IOConfig(bm_max_res=0.25, inp_bits=8)) == 5        # 8 bits: 31.75 → 32×
    assert bm_repeats(IOConfig(bm_max_res=0.25, bm_max_iter=3)) == 3
    assert bm_repeats(IOConfig(bm_max_res=0.25, inp_bits=0)) == 10       # no DAC: no resolution limit
    assert bm_repeats(IOConfig(bound_management="none", bm_max_res=0.25)) == 0


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("bm_max_res, inp_bits, reduction", [(0.0, 0, 1024), (0.0, 7, 0), (0.25, 7, 16),
                                                             (0.25, 8, 32)])
def test_bm_stops_at_its_ceiling(reference, bm_max_res, inp_bits, reduction):
    """An output that saturates whenever it is not zero is returned clipped at the last pass:
    out_bound·r. Without a DAC ours halves 10 times (1024×); with a 7-bit DAC and no resolution
    limit the input (63 levels) rounds to level 0 at r = 128 and the output is lost (y = 0); the
    resolution limit stops at r = 16 (7 bits) or 32 (8 bits), where the input still has 4 levels."""
    io = IOConfig(out_noise=0.0, out_bits=0, out_bound=1e-4, inp_bits=inp_bits, bm_max_res=bm_max_res)
    with reference_path() if reference else _nothing():
        y = analog_mvm(torch.tensor([[1.0]]), torch.tensor([[1.0]]), io, torch.Generator().manual_seed(0))
    assert float(y) == pytest.approx(1e-4 * reduction, rel=1e-5)


@pytest.mark.parametrize("reference", [False, True])
def test_bm_test_before_or_after_the_adc(reference):
    """y = 12.01 lies between the ADC's full scale 12 and 12 + step/2 (step 24/510): saturated before
    the ADC (so halved: 2·ADC(6.005) = 2·128·step), not after it (ADC(12.01) = 255·step = 12)."""
    step = 24 / 510
    out = {}
    for test in ("before_adc", "after_adc"):
        io = IOConfig(out_noise=0.0, inp_bits=0, bm_test=test)
        stats = {}
        with reference_path() if reference else _nothing():
            y = analog_mvm(torch.tensor([[1.0]]), torch.tensor([[12.01]]), io, torch.Generator().manual_seed(0),
                           stats=stats)
        out[test] = (float(y), stats["saturated"])
    assert out["before_adc"][0] == pytest.approx(2 * 128 * step, rel=1e-5) and out["before_adc"][1] == 1
    assert out["after_adc"][0] == pytest.approx(12.0, rel=1e-5) and out["after_adc"][1] == 0


@pytest.mark.parametrize("reference", [False, True])
def test_bm_test_after_the_adc_with_stochastic_rounding(reference):
    """With stochastic rounding y = 12.02 (level 255.4) converts to level 256 with probability 0.4:
    after the ADC about 40 % of the samples count as saturated (before it: all)."""
    n = 4000
    io = IOConfig(out_noise=0.0, out_sto_round=True, bm_test="after_adc", noise_management="none")
    stats = {}
    with reference_path() if reference else _nothing():
        analog_mvm(torch.ones(n, 1), torch.tensor([[12.02]]), io, torch.Generator().manual_seed(0), stats=stats)
    frac = stats["saturated"] / n
    p = 12.02 / (24 / 510) - 255
    assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / n)


# --- 4. the draw of the up/down asymmetry --------------------------------------------------------
def _tail_beyond(threshold: float, draw: str, seed: int, n: int = 200_000) -> float:
    dev = ConstantStepDevice(up_down_draw=draw)  # baseline: σ_d2d = 0.3, up_down_dtod = 0.01
    p = dev.sample_params((n,), torch.Generator().manual_seed(seed))
    asym = (p["dw_up"] - p["dw_down"]) / (p["dw_up"] + p["dw_down"])
    return float((asym.abs() > threshold).double().mean())


def _additive_tail(threshold: float, gain_std: float = 0.3, r_std: float = 0.01) -> float:
    """P(|r/g| > t) = E_g[2Φ(−t·|g|/σ_r)], g ~ N(1, gain_std²), by the trapezoid rule over ±8σ."""
    g = torch.linspace(1 - 8 * gain_std, 1 + 8 * gain_std, 20001, dtype=torch.float64)
    density = torch.exp(-0.5 * ((g - 1) / gain_std) ** 2) / (gain_std * math.sqrt(2 * math.pi))
    tail = torch.erfc(threshold * g.abs() / r_std / math.sqrt(2))  # 2Φ(−z) = erfc(z/√2)
    return float(torch.trapezoid(density * tail, g))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_asymmetry_tail_of_both_draws_matches_its_closed_form(seed):
    n = 200_000
    want = {"relative": math.erfc(3 / math.sqrt(2)), "additive": _additive_tail(0.03)}
    assert want["additive"] == pytest.approx(0.026, abs=0.001)
    for draw, p in want.items():
        assert abs(_tail_beyond(0.03, draw, seed, n) - p) < 5 * math.sqrt(p * (1 - p) / n)


def test_global_asymmetry_under_both_draws():
    """up_down = 0.1 without spread: relative 1 ± 0.1 on both sides; additive (aihwkit) 0.1·Δw_min off
    the down step only."""
    for draw, up, down in (("relative", 1.1, 0.9), ("additive", 1.0, 0.9)):
        p = ConstantStepDevice(dw_min=0.01, dw_min_dtod=0.0, up_down_dtod=0.0, up_down=0.1,
                               up_down_draw=draw).sample_params((3,), torch.Generator().manual_seed(0))
        torch.testing.assert_close(p["dw_up"], torch.full((3,), 0.01 * up))
        torch.testing.assert_close(p["dw_down"], torch.full((3,), 0.01 * down))


# --- 6. aihwkit's clamp gradient: errors of outputs at the bound passed back or zeroed ----------------
def _layer_grads(out_bound_grad: str):
    """A 2 → 2 layer whose first output is driven far beyond the bound (bound management re-reads it
    unclipped) and whose second stays small; perfect backward, no noise."""
    from rpusim.nn import AnalogLinear

    rpu = RPUConfig(device=ConstantStepDevice(**CLEAN),
                    forward=IOConfig(out_noise=0.0, out_bound=1.0, inp_bits=0, out_bits=0, out_bound_grad=out_bound_grad),
                    backward=IOConfig.perfect())
    layer = AnalogLinear(2, 2, bias=False, rpu_config=rpu)
    layer.set_weights(torch.tensor([[0.5, 0.5], [0.1, -0.1]]))
    x = torch.tensor([[3.0, 3.0]], requires_grad=True)
    y = layer(x)
    y.backward(torch.tensor([[1.0, 1.0]]))
    (xs, ds), = layer.array._pending
    return y.detach(), x.grad, ds


def test_out_bound_grad_zero_drops_the_saturated_outputs_error_from_the_backward_pass_only():
    y, gx_pass, d_pass = _layer_grads("pass")
    assert y[0, 0] == pytest.approx(3.0, rel=1e-5)                 # recovered by bound management: 3 > out_bound 1
    assert torch.allclose(gx_pass, torch.tensor([[0.6, 0.4]]))    # Wᵀ·δ with both errors
    y, gx_zero, d_zero = _layer_grads("zero")
    assert torch.allclose(gx_zero, torch.tensor([[0.1, -0.1]]))   # only the second output's error
    assert torch.equal(d_zero, d_pass)                            # the layer's own update keeps both


def test_out_bound_grad_is_a_forward_option_and_the_lstm_kernel_leaves_it_to_the_python_path():
    from rpusim.config import ConfigError
    from rpusim.nn import AnalogLSTM

    with pytest.raises((ValueError, ConfigError), match="out_bound_grad acts on the forward"):
        RPUConfig.from_dict({"backward": {"out_bound_grad": "zero"}})
    seq, state = torch.randn(5, 2, 3), (torch.zeros(2, 4), torch.zeros(2, 4))
    applies = {grad: AnalogLSTM(3, 4, bias=False, rpu_config=RPUConfig(forward=IOConfig(out_bound_grad=grad)))
               .cells[0]._kernel_applies(seq, state) for grad in ("pass", "zero")}
    assert applies == {"pass": True, "zero": False}
