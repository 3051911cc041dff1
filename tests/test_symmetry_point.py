"""The symmetry point w* of bounded devices: closed form, the defining equation, and where
alternating up/down pulses actually take a device (statistically)."""
import pytest
import torch

from rpusim.config import ConfigError
from rpusim.devices import (CTFDevice, ConstantStepDevice, ExpStepDevice, IdealDevice, LinearStepDevice, PiecewiseStepDevice,
                            PowStepDevice, SoftBoundsDevice, nominal_symmetry_point, symmetry_point)
from rpusim.devices.symmetry import _bisect_symmetry_point
from rpusim.tile import RPUConfig
from rpusim.tile.array import tile_class

NO_SPREAD = dict(dw_min_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0, up_down_dtod=0.0)


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("a, b", [(0.0, 0.6), (0.05, 0.6), (-0.2, 1.0), (0.3, 0.25)])
def test_soft_bounds_symmetric_range_puts_w_star_at_asymmetry_times_bound(a, b):
    """Soft bounds, bounds ±b, global asymmetry a: w* = a·b (worked out by hand)."""
    dev = SoftBoundsDevice(up_down=a, w_max=b, w_min=-b)
    assert nominal_symmetry_point(dev) == pytest.approx(a * b, abs=1e-6)


def test_per_device_closed_form_with_spreads():
    """Each device's own Δw_up, Δw_down and bounds: w* = (Δw_up − Δw_down)/(Δw_up/w_max − Δw_down/w_min)."""
    dev = SoftBoundsDevice(up_down=0.1, up_down_dtod=0.05, w_max=0.8, w_min=-0.5)
    p = dev.sample_params((2, 30, 40), gen(0))
    w_star = symmetry_point(dev, p)
    expected = (p["dw_up"] - p["dw_down"]) / (p["dw_up"] / p["w_max"] - p["dw_down"] / p["w_min"])
    torch.testing.assert_close(w_star, expected.clamp(p["w_min"], p["w_max"]))
    assert w_star.std() > 0.01  # the asymmetry spread gives every device its own w*


@pytest.mark.parametrize("dev", [
    SoftBoundsDevice(up_down=0.2), LinearStepDevice(gamma_up=0.2, gamma_down=0.9, up_down=-0.1),
    ExpStepDevice(), ExpStepDevice(A_up=-1.18445, A_down=-0.081404, a=-0.5, b=-0.5, gamma_up=5.0, gamma_down=5.0,
                                   up_down=0.26, w_max=1.0, w_min=-1.0),
    PowStepDevice(pow_gamma_up=2.0, pow_gamma_down=0.5), PiecewiseStepDevice(up_table=[3, 2, 0.5, 0.1],
                                                                              down_table=[0.2, 0.4, 1.0, 4.0]),
], ids=["soft_bounds", "linear_step", "exp_step", "exp_step_reram", "pow_step", "piecewise_step"])
def test_up_and_down_steps_are_equal_at_w_star(dev):
    p = dev.sample_params((1, 20, 20), gen(1))
    w_star = symmetry_point(dev, p)
    interior = (w_star > p["w_min"] + 1e-4) & (w_star < p["w_max"] - 1e-4)
    assert interior.float().mean() > 0.9
    up = dev.step_size(w_star, torch.ones_like(w_star, dtype=torch.bool), p)
    down = dev.step_size(w_star, torch.zeros_like(w_star, dtype=torch.bool), p)
    torch.testing.assert_close(up[interior], down[interior], rtol=1e-4, atol=1e-7)


def test_bisection_agrees_with_the_closed_form():
    dev = LinearStepDevice(gamma_up=0.3, gamma_down=0.7, up_down=0.15, up_down_dtod=0.1)
    p = {k: v.double() for k, v in dev.sample_params((1, 25, 25), gen(2)).items()}
    bisected = _bisect_symmetry_point(dev, p).clamp(p["w_min"], p["w_max"])
    torch.testing.assert_close(bisected, symmetry_point(dev, p), rtol=0, atol=1e-9)


def test_constant_step_drifts_to_the_bound_of_its_larger_step_or_prefers_nothing():
    dev = ConstantStepDevice(up_down=0.0, up_down_dtod=0.05, dw_min_dtod=0.1)  # no step drawn as 0
    p = dev.sample_params((1, 50, 50), gen(3))
    w_star = symmetry_point(dev, p)
    up_wins = p["dw_up"] > p["dw_down"]
    assert torch.equal(w_star[up_wins], p["w_max"][up_wins]) and torch.equal(w_star[~up_wins], p["w_min"][~up_wins])
    assert nominal_symmetry_point(ConstantStepDevice(up_down=0.0)) == 0.0
    assert nominal_symmetry_point(ConstantStepDevice(up_down=0.01)) == pytest.approx(0.6)


def test_a_device_without_steps_has_no_symmetry_point():
    with pytest.raises(ConfigError, match="no symmetry point"):
        nominal_symmetry_point(IdealDevice())


def alternate(dev, p, w, pairs, gen_, burn_in):
    """Alternating up, down pulses (the reference ``pulse``); the time average of the state after burn_in pairs."""
    up, down = torch.ones_like(w), -torch.ones_like(w)
    total = torch.zeros_like(w)
    for t in range(pairs):
        w = dev.pulse(w, up, p, gen_)
        total += w if t >= burn_in else 0
        w = dev.pulse(w, down, p, gen_)
        total += w if t >= burn_in else 0
    return total / (2 * (pairs - burn_in))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dev", [
    SoftBoundsDevice(up_down=0.25, w_max=0.6, w_min=-0.4, dw_min=0.004, **NO_SPREAD),
    LinearStepDevice(gamma_up=0.4, gamma_down=1.0, up_down=0.1, dw_min=0.004, **NO_SPREAD),
    ExpStepDevice(A_up=-1.18445, A_down=-0.081404, a=-0.5, b=-0.5, gamma_up=5.0, gamma_down=5.0, up_down=0.26,
                  w_max=1.0, w_min=-1.0, dw_min=0.004, **NO_SPREAD),
    PiecewiseStepDevice(up_table=[3, 2, 0.5, 0.1], down_table=[0.2, 0.4, 1.0, 4.0], dw_min=0.004, **NO_SPREAD),
], ids=["soft_bounds", "linear_step", "exp_step", "piecewise_step"])
def test_alternating_pulses_hold_the_device_at_w_star(dev, seed):
    """Replicas of one device, started anywhere in the range, receive up, down, up, … pulses with
    cycle-to-cycle noise: their time-averaged state converges to w*. Tolerance: 5 standard errors
    (over the independent replicas) plus one step, the state's offset between the up and down phases."""
    g = gen(seed)
    p = dev.sample_params((1, 400), g)
    w0 = p["w_min"] + (p["w_max"] - p["w_min"]) * torch.rand(p["w_max"].shape, generator=g)
    avg = alternate(dev, p, w0, 2500, g, burn_in=1500)
    w_star = float(symmetry_point(dev, p)[0, 0])
    se = float(avg.std()) / avg.numel() ** 0.5
    assert abs(float(avg.mean()) - w_star) < 5 * se + dev.dw_min
    assert (avg - w_star).abs().max() < 0.1 * (dev.w_max - dev.w_min)  # every replica got there
    assert abs(w_star) > 10 * dev.dw_min  # w* is not just the middle of the range


def test_alternating_pulses_hold_each_device_at_its_own_w_star():
    """With device-to-device spread every device settles at its own w*, not at a common one."""
    dev = SoftBoundsDevice(up_down=0.1, up_down_dtod=0.1, dw_min=0.004, dw_min_std=0.3)
    g = gen(7)
    p = dev.sample_params((1, 300), g)
    avg = alternate(dev, p, torch.zeros_like(p["w_max"]), 2500, g, burn_in=1500)
    w_star = symmetry_point(dev, p)
    err = avg - w_star
    assert err.abs().mean() < 0.1 * w_star.std()
    assert torch.corrcoef(torch.stack([avg.flatten(), w_star.flatten()]))[0, 1] > 0.98


@pytest.mark.parametrize("t_erase, beta", [(5000.0, 1.0), (2000.0, 0.5), (8000.0, 2.0)])
def test_alternating_pulses_hold_each_ctf_cell_at_its_own_w_star(t_erase, beta):
    """Charge-trap-flash cells with spread windows and speeds, isolated up/down pulses with
    cycle-to-cycle noise: each cell's time-averaged state settles at its own w* (mid-window for
    t_prog = t_erase; h* = 1/(1 + (t_prog/t_erase)^(β/(1+β))) otherwise). Tolerance: one mid-window
    step (the finite pulse's offset from the rates' balance) plus 5 standard errors of the mean error."""
    dev = CTFDevice(pw=200.0, t_erase=t_erase, beta=beta)
    g = gen(11)
    p = dev.sample_params((1, 300), g)
    w0 = p["w_lo"] + (p["w_hi"] - p["w_lo"]) * torch.rand(p["w_hi"].shape, generator=g)
    avg = alternate(dev, p, w0, 1500, g, burn_in=1000)
    w_star = symmetry_point(dev, p)
    err = avg - w_star
    step = (dev.w_max - dev.w_min) * 200.0 / 5000.0 / 4
    assert abs(float(err.mean())) < 5 * float(err.std()) / err.numel() ** 0.5 + step
    assert float(err.abs().max()) < 0.05 * (dev.w_max - dev.w_min)   # every cell got to its own w*
    assert float(w_star.std()) > 0.1                                  # w* spreads with the window edges
    mid = (p["w_lo"] + p["w_hi"]) / 2
    assert torch.allclose(w_star, mid, atol=1e-6) == (t_erase == dev.t_prog)


def test_a_reference_on_ctf_starts_a_at_mid_window_and_reads_zero():
    cfg = RPUConfig.from_dict({"device": {"type": "ctf"}, "algorithm": {"type": "tiki-taka", "reference": True}})
    tile = tile_class(cfg)(3, 4, cfg, 0)
    p = tile.fast.params
    torch.testing.assert_close(tile.fast.state, (p["w_lo"] + p["w_hi"]) / 2)
    torch.testing.assert_close(tile.fast_weights(), torch.zeros(3, 4), atol=1e-6, rtol=0)
