"""AnalogLinear, conversion and AnalogSGD against their floating-point counterparts."""
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
    stats = a.layer_stats()
    assert set(stats["0"]) >= {"fwd_saturated", "clipped_pulse_probs"}


def test_rpu_baseline_weights_move_and_stay_within_bounds():
    model = rpu_run(0, steps=20)
    w, b = model[0].get_weights()
    assert w.abs().max() <= 0.6 * (1 + 5 * 0.3)
    tile = model[0].array.tiles[0]
    assert (tile.state <= tile.params["w_max"]).all() and (tile.state >= tile.params["w_min"]).all()


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
