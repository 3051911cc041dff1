"""Device models: closed forms against the one-pulse reference, bounds, validation."""
import math
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rpusim.config import ConfigError
from rpusim.devices import (DEVICES, ConstantStepDevice, ExpStepDevice, LinearStepDevice, PiecewiseStepDevice,
                            PowStepDevice, PulsedDevice, SoftBoundsDevice, device_from_dict)

SHAPE = (1, 40, 50)
LINEAR_FAMILY = [ConstantStepDevice, SoftBoundsDevice, LinearStepDevice]
BOUNDED = LINEAR_FAMILY + [ExpStepDevice, PowStepDevice, PiecewiseStepDevice]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def pulse_by_pulse(dev, w, n, direction, p, g):
    """Reference: n[ij] pulses of one sign, one at a time."""
    for k in range(int(n.max())):
        w = dev.pulse(w, direction * (n > k).to(w.dtype), p, g)
    return w


@pytest.mark.parametrize("cls", LINEAR_FAMILY)
@pytest.mark.parametrize("sign", [1, -1])
def test_closed_form_equals_reference_without_noise(cls, sign):
    dev = cls(dw_min_std=0.0, dw_min=0.01)
    g = gen()
    p = dev.sample_params(SHAPE, g)
    w0 = dev.clip(0.3 * torch.randn(SHAPE, generator=g), p)
    n = torch.randint(0, 30, SHAPE[1:], generator=g).float()
    zeros = torch.zeros_like(n)
    fast = dev.apply_pulses(w0, n if sign > 0 else zeros, zeros if sign > 0 else n, p, g)
    ref = pulse_by_pulse(dev, w0, n, sign, p, g)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cls", [ConstantStepDevice, SoftBoundsDevice])
def test_closed_form_noise_statistics_match_reference(cls):
    """With cycle-to-cycle noise: mean and spread of n pulses match the pulse-by-pulse reference."""
    dev = cls(dw_min=0.005, dw_min_std=0.3, dw_min_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0, up_down_dtod=0.0)
    shape = (1, 200, 200)
    g = gen(1)
    p = dev.sample_params(shape, g)
    w0 = torch.zeros(shape)
    n = torch.full(shape[1:], 10.0)
    fast = dev.apply_pulses(w0, n, torch.zeros_like(n), p, g)
    ref = pulse_by_pulse(dev, w0, n, 1, p, g)
    assert abs(fast.mean() - ref.mean()) < 3 * ref.std() / 200
    assert fast.std() == pytest.approx(ref.std(), rel=0.05)


def test_constant_step_mixed_counts_exact_away_from_bounds():
    dev = ConstantStepDevice(dw_min_std=0.0, w_max_dtod=0.0, w_min_dtod=0.0)
    g = gen(2)
    p = dev.sample_params(SHAPE, g)
    w0 = torch.zeros(SHAPE)
    n_up = torch.randint(0, 20, SHAPE[1:], generator=g).float()
    n_down = torch.randint(0, 20, SHAPE[1:], generator=g).float()
    fast = dev.apply_pulses(w0, n_up, n_down, p, g)
    torch.testing.assert_close(fast, n_up * p["dw_up"] - n_down * p["dw_down"])
    ref = PulsedDevice.apply_pulses(dev, w0, n_up, n_down, p, g)  # pulse-by-pulse default
    torch.testing.assert_close(fast, ref, atol=1e-6, rtol=1e-5)


def test_soft_bounds_pairs_drift_to_symmetry_point():
    """Equal up and down pulses move a soft-bounds device towards its symmetry point (w = 0 here)."""
    dev = SoftBoundsDevice(dw_min_std=0.0, dw_min_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0, up_down_dtod=0.0,
                           dw_min=0.01)
    p = dev.sample_params((1, 1, 2), None)
    w0 = torch.tensor([[[0.4, -0.4]]])
    n = torch.full((1, 2), 50.0)
    w = dev.apply_pulses(w0, n, n, p, None)
    assert (w.abs() < w0.abs()).all()
    ref = PulsedDevice.apply_pulses(dev, w0, n, n, p, None)
    torch.testing.assert_close(w, ref, atol=2e-3, rtol=0.05)


@settings(max_examples=25, deadline=None)
@given(cls=st.sampled_from(BOUNDED), dw=st.floats(1e-4, 0.2), dtod=st.floats(0, 1), std=st.floats(0, 2),
       wmax=st.floats(0.05, 2), wmin=st.floats(-2, -0.05), asym=st.floats(-0.9, 0.9),
       n_max=st.integers(1, 60), seed=st.integers(0, 2**31))
def test_bounds_never_exceeded(cls, dw, dtod, std, wmax, wmin, asym, n_max, seed):
    dev = cls(dw_min=dw, dw_min_dtod=dtod, dw_min_std=std, w_max=wmax, w_min=wmin, w_max_dtod=dtod,
              w_min_dtod=dtod, up_down=asym)
    g = gen(seed)
    shape = (2, 6, 7)
    p = dev.sample_params(shape, g)
    w = dev.clip(torch.randn(shape, generator=g), p)
    for _ in range(3):
        n_up = torch.randint(0, n_max + 1, shape[1:], generator=g).float()
        n_down = torch.randint(0, n_max + 1, shape[1:], generator=g).float()
        w = dev.apply_pulses(w, n_up, n_down, p, g)
        assert torch.isfinite(w).all()
        assert (w <= p["w_max"] + 1e-6).all() and (w >= p["w_min"] - 1e-6).all()
        w = dev.pulse(w, torch.sign(torch.randn(shape[1:], generator=g)), p, g)
        assert (w <= p["w_max"] + 1e-6).all() and (w >= p["w_min"] - 1e-6).all()


def test_zero_counts_leave_devices_unchanged():
    for cls in BOUNDED:
        dev = cls()
        g = gen(3)
        p = dev.sample_params(SHAPE, g)
        w0 = dev.clip(0.2 * torch.randn(SHAPE, generator=g), p)
        z = torch.zeros(SHAPE[1:])
        torch.testing.assert_close(dev.apply_pulses(w0, z, z, p, g), w0)


def test_device_to_device_spread_drawn_once_per_array():
    dev = ConstantStepDevice()
    p1 = dev.sample_params((1, 100, 100), gen(5))
    p2 = dev.sample_params((1, 100, 100), gen(5))
    torch.testing.assert_close(p1["dw_up"], p2["dw_up"])
    rel = (p1["dw_up"] + p1["dw_down"]) / 2 / dev.dw_min
    assert rel.std() == pytest.approx(0.3, rel=0.1)


@pytest.mark.parametrize("bad, field", [
    ({"dw_min": -0.001}, "dw_min"), ({"dw_min": 0}, "dw_min"), ({"dw_min_std": -1}, "dw_min_std"),
    ({"w_max": -0.1}, "w_max"), ({"up_down": 1.5}, "up_down"), ({"nonsense": 1}, "nonsense"),
])
def test_bad_device_config_names_field(bad, field):
    with pytest.raises(ConfigError, match=field):
        ConstantStepDevice(**bad)


def test_unknown_device_type_lists_allowed():
    with pytest.raises(ConfigError, match="unknown device.*constant_step"):
        device_from_dict({"type": "memristor9000"})
    assert set(DEVICES) >= {"constant_step", "soft_bounds", "linear_step", "exp_step", "pow_step", "piecewise_step", "ideal"}


def test_fused_constant_step_kernel_matches_the_tensor_closed_form():
    """apply_pulses_at (in place on fired cells) ≡ apply_pulses on the gathered cells."""
    shape = (2, 30, 40)
    rows, cols = torch.tensor([1, 4, 7, 29]), torch.tensor([0, 3, 39])
    g = gen(11)
    n_up = torch.randint(0, 12, (4, 3), generator=g).float()
    n_down = torch.randint(0, 12, (4, 3), generator=g).float()
    for std in (0.0, 0.3):
        dev = ConstantStepDevice(dw_min_std=std)
        p = dev.sample_params(shape, g)
        w0 = dev.clip(0.1 * torch.randn(shape, generator=g), p)
        sub = {k: v[:, rows[:, None], cols[None, :]] for k, v in p.items()}
        trials = [] if std else None
        for t in range(1 if not std else 400):
            w = w0.clone()
            assert dev.apply_pulses_at(w, p, rows, cols, n_up, n_down, gen(t))
            untouched = torch.ones(shape, dtype=torch.bool)
            untouched[:, rows[:, None], cols[None, :]] = False
            assert torch.equal(w[untouched], w0[untouched])
            if not std:
                ref = dev.apply_pulses(w0[:, rows[:, None], cols[None, :]], n_up, n_down, sub, None)
                torch.testing.assert_close(w[:, rows[:, None], cols[None, :]], ref)
            else:
                trials.append(w[:, rows[:, None], cols[None, :]])
        if std:
            ref = torch.stack([dev.apply_pulses(w0[:, rows[:, None], cols[None, :]], n_up, n_down, sub, gen(t))
                               for t in range(400)])
            fused = torch.stack(trials)
            assert (fused.mean(0) - ref.mean(0)).abs().max() < 4 * ref.std(0).max() / 400**0.5 + 1e-6
            moved = ref.std(0) > 0
            ratio = fused.std(0)[moved] / ref.std(0)[moved]
            assert ratio.mean() == pytest.approx(1.0, abs=0.05)


NO_VARIATION = dict(dw_min=0.01, dw_min_dtod=0.0, dw_min_std=0.0, w_max=0.6, w_min=-0.4, w_max_dtod=0.0,
                    w_min_dtod=0.0, up_down_dtod=0.0)
STATES = torch.tensor([-0.39, -0.3, -0.1, 0.0, 0.1, 0.25, 0.45, 0.59])


def one_pulse_steps(dev):
    """(up step, down step) of one noise-free pulse from each state in STATES."""
    p = dev.sample_params((1, 1, len(STATES)), None)
    w = STATES.reshape(1, 1, -1)
    return [(dev.pulse(w, torch.full_like(w, d), p, None) - w).flatten() for d in (1.0, -1.0)]


def clipped_step(w, step_up, step_down, w_max=0.6, w_min=-0.4):
    """What one pulse does, given the law's step sizes: clip(w ± s) − w."""
    return (w + step_up).clamp(w_min, w_max) - w, (w - step_down).clamp(w_min, w_max) - w


@pytest.mark.parametrize("gamma_up, gamma_down", [(1.0, 1.0), (0.5, 2.5), (3.0, 0.3)])
@pytest.mark.parametrize("up_down", [0.0, 0.2])
def test_pow_step_follows_its_law(gamma_up, gamma_down, up_down):
    """PowStep: s_up(w) = Δw·(1 + a)·(2(w_max − w)/(w_max − w_min))^γ_up,
    s_down(w) = Δw·(1 − a)·(2(w − w_min)/(w_max − w_min))^γ_down (numbers worked out here)."""
    dev = PowStepDevice(pow_gamma_up=gamma_up, pow_gamma_down=gamma_down, up_down=up_down, **NO_VARIATION)
    up, down = one_pulse_steps(dev)
    w = STATES.double()
    s_up = 0.01 * (1 + up_down) * (2 * (0.6 - w) / 1.0) ** gamma_up
    s_down = 0.01 * (1 - up_down) * (2 * (w + 0.4) / 1.0) ** gamma_down
    exp_up, exp_down = clipped_step(w, s_up, s_down)
    torch.testing.assert_close(up.double(), exp_up, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(down.double(), exp_down, rtol=1e-4, atol=1e-7)
    mid = STATES == 0.1  # mid-range: the step is Δw_min·(1 ± a) whatever γ
    assert up[mid].item() == pytest.approx(0.01 * (1 + up_down)) and -down[mid].item() == pytest.approx(0.01 * (1 - up_down))


@pytest.mark.parametrize("params", [
    {},  # aihwkit's fit (the defaults)
    dict(A_up=0.5, A_down=0.2, gamma_up=5.0, gamma_down=3.0, a=0.5, b=0.1),  # saturates inside the range
])
@pytest.mark.parametrize("up_down", [0.0, -0.3])
def test_exp_step_follows_its_law(params, up_down):
    """ExpStep, z = 2a·w/(w_max − w_min) + b: s_up = Δw·(1 + a_ud)·max(1 − A_up·e^(γ_up·z), 0),
    s_down = Δw·(1 − a_ud)·max(1 − A_down·e^(−γ_down·z), 0) (numbers worked out here)."""
    dev = ExpStepDevice(up_down=up_down, **params, **NO_VARIATION)
    k = {"A_up": 0.00081, "A_down": 0.36833, "gamma_up": 12.44625, "gamma_down": 12.78785, "a": 0.244,
         "b": 0.2425} | params
    up, down = one_pulse_steps(dev)
    w = STATES.double()
    z = 2 * k["a"] * w / 1.0 + k["b"]
    s_up = 0.01 * (1 + up_down) * (1 - k["A_up"] * torch.exp(k["gamma_up"] * z)).clamp_min(0)
    s_down = 0.01 * (1 - up_down) * (1 - k["A_down"] * torch.exp(-k["gamma_down"] * z)).clamp_min(0)
    exp_up, exp_down = clipped_step(w, s_up, s_down)
    torch.testing.assert_close(up.double(), exp_up, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(down.double(), exp_down, rtol=1e-4, atol=1e-7)
    if params:  # the second set saturates: no up-step near w_max, the law's max(·, 0)
        assert (up[STATES > 0.3] == 0).all() and (up[STATES < -0.2] > 0).all()
    assert (up != up[0]).any() and (down != down[0]).any()  # state-dependent, not constant steps


def test_a_step_that_overshoots_a_bound_drawn_near_zero_lands_on_it_as_pulse_by_pulse():
    """A soft-bounds device whose upper bound was drawn across zero (kept at 1e-6) and sits below 0:
    one up pulse is a step of thousands of times the distance to its bound. The reference clips
    w + s·(1 + σξ) to the bound unless ξ < −1/σ; the closed form must not spread the noise of that
    step (it once sent 46 % of such devices to w_min)."""
    dev = SoftBoundsDevice(dw_min=0.002, dw_min_std=0.3)
    n = 20000
    p = {"dw_up": torch.full((n,), 0.002), "dw_down": torch.full((n,), 0.002),
         "w_max": torch.full((n,), 1e-6), "w_min": torch.full((n,), -1.0)}
    w = torch.full((n,), -0.014)
    gen = torch.Generator().manual_seed(0)
    fast = dev.apply_pulses(w, torch.ones(n), torch.zeros(n), p, gen)
    ref = dev.pulse(w, torch.ones(n), p, gen)
    for out in (fast, ref):
        at_top = (out == p["w_max"]).float().mean()
        assert at_top > 1 - 5 * math.sqrt(0.001 / n) - 0.001   # all but the rare ξ < −1/σ of the reference
