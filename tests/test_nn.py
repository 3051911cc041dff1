"""AnalogLinear, conversion and AnalogSGD against their floating-point counterparts."""
import math

import pytest
import torch
from torch import nn

from rpusim.nn import AnalogLinear, AnalogSequential, convert_to_analog
from rpusim.optim import AnalogSGD
from rpusim.tile import RPUConfig


def float_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 8), nn.Sigmoid(), nn.Linear(8, 5))


@pytest.mark.parametrize("digital_bias", [False, True])
def test_ideal_analog_linear_trains_exactly_like_torch(digital_bias):
    ref = float_net()
    cfg = RPUConfig.ideal()
    cfg.mapping.digital_bias = digital_bias
    analog = convert_to_analog(ref, cfg)
    assert isinstance(analog[0], AnalogLinear)
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.1)
    opt = AnalogSGD(analog.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        x, y = torch.randn(4, 12, generator=g), torch.randint(0, 5, (4,), generator=g)
        for model, o in ((ref, opt_ref), (analog, opt)):
            o.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            o.step()
        w, b = analog[2].get_weights()
        torch.testing.assert_close(w, ref[2].weight.detach(), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(b, ref[2].bias.detach(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(analog(x), ref(x), atol=1e-5, rtol=1e-5)


def test_input_gradient_equals_torch():
    ref = float_net()
    analog = convert_to_analog(ref, RPUConfig.ideal())
    x1 = torch.randn(3, 12, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    ref(x1).sum().backward()
    analog(x2).sum().backward()
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-6, rtol=1e-5)


def rpu_run(seed, steps=5):
    torch.manual_seed(seed)
    model = AnalogSequential(AnalogLinear(12, 8), nn.Sigmoid(), AnalogLinear(8, 5))
    opt = AnalogSGD(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(2, 12, generator=g), torch.randint(0, 5, (2,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model


def test_identical_seeds_give_identical_runs():
    a, b, c = rpu_run(3), rpu_run(3), rpu_run(4)
    torch.testing.assert_close(a[0].get_weights()[0], b[0].get_weights()[0], rtol=0, atol=0)
    assert not torch.equal(a[0].get_weights()[0], c[0].get_weights()[0])
    # the diagnostics: counts of 5 steps of 2 samples, reported as fractions of them
    raw = {name: a[int(name)].array.stats() for name in ("0", "2")}
    assert [(r["fwd_mvms"], r["updates"], r["pulse_probs"]) for r in raw.values()] == [(10, 10, 10 * (13 + 8)),
                                                                                         (10, 10, 10 * (9 + 5))]
    assert (raw["0"]["bwd_mvms"], raw["2"]["bwd_mvms"]) == (0, 10)  # no input gradient wanted below layer 0
    stats = a.layer_stats(reset=True)
    for name, r in raw.items():
        assert stats[name] == {"fwd_saturated": r["fwd_saturated"] / 10,
                               "fwd_saturated_after_bm": r["fwd_saturated_final"] / 10,
                               "bwd_saturated": r["bwd_saturated"] / max(r["bwd_mvms"], 1),
                               "clipped_pulse_probs": r["pulse_probs_clipped"] / r["pulse_probs"]}
    assert stats["0"]["clipped_pulse_probs"] > 0  # C = sqrt(0.05/(10·0.001)) ≈ 2.2 clips |x| > 0.45
    assert all(v == 0 for s in a.layer_stats().values() for v in s.values())  # reset


def test_rpu_baseline_weights_stay_at_their_own_bounds_and_move_by_the_pulse_law():
    """Each device is programmed and clipped to its own bound (drawn with 30 % spread); pulses
    pushing beyond it leave it there; pulses away from it move it by its own step Δw_ij^down per
    coincidence, BL·p·q coincidences per update on average."""
    torch.manual_seed(7)
    layer = AnalogLinear(12, 8)  # the RPU baseline: bias on the array, 8 × 13 devices
    tile = layer.array.tiles[0]
    w_max, w_min = tile.params["w_max"][0], tile.params["w_min"][0]
    assert w_max.std() / w_max.mean() == pytest.approx(0.3, abs=0.1)
    layer.set_weights(torch.full((8, 12), 10.0), torch.full((8,), 10.0))
    torch.testing.assert_close(tile.state[0], w_max, rtol=0, atol=0)
    x = torch.full((1, 13), 0.8)
    lr, bl, k = 0.01, 10, 40  # C = sqrt(lr/(BL·Δw_min)) = 1: p = 0.8, q = 0.5
    for _ in range(5):
        layer.array.update(x, torch.full((1, 8), -0.5), lr)  # ΔW = +lr·0.4: up, into the bound
    torch.testing.assert_close(tile.state[0], w_max, rtol=0, atol=0)
    for _ in range(k):
        layer.array.update(x, torch.full((1, 8), 0.5), lr)  # down, away from the bound
    assert (tile.state[0] <= w_max).all() and (tile.state[0] >= w_min).all()
    p, q, rows, cols = 0.8, 0.5, 8, 13
    steps = (w_max - tile.state[0]) / tile.params["dw_down"][0]  # coincidences (± cycle-to-cycle noise)
    free = w_max - w_min > 2 * k * bl * p * q * tile.params["dw_down"][0]  # the lower bound out of reach
    assert free.all()
    # all cells of a row (column) share its pulse train, so the mean over cells of one slot's
    # coincidences R·C/(rows·cols) has variance (E[R²]E[C²] − (E[R]E[C])²)/(rows·cols)², R ~ Bin(rows, q)
    e_r2, e_c2 = rows * q * (1 - q) + (rows * q) ** 2, cols * p * (1 - p) + (cols * p) ** 2
    var_slot = (e_r2 * e_c2 - (rows * q * cols * p) ** 2) / (rows * cols) ** 2
    se = math.sqrt(k * bl * var_slot + 0.3**2 * k * bl * p * q / (rows * cols))
    assert abs(steps.mean().item() - k * bl * p * q) < 5 * se, (steps.mean(), k * bl * p * q, se)


def test_model_state_dict_round_trip():
    a = rpu_run(5)
    torch.manual_seed(99)
    b = AnalogSequential(AnalogLinear(12, 8), nn.Sigmoid(), AnalogLinear(8, 5))
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, 12)
    torch.manual_seed(0)
    # same weights and the same generator state: the noisy forward is the same draw
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


def test_wrong_input_size_is_a_clear_error():
    layer = AnalogLinear(4, 3)
    with pytest.raises(ValueError, match="expected 4"):
        layer(torch.randn(2, 5))


def test_analog_sgd_rejects_bad_lr():
    with pytest.raises(ValueError, match="lr"):
        AnalogSGD(AnalogLinear(2, 2).parameters(), lr=-1)
