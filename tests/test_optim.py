"""AnalogSGD: an analog layer's pending update follows torch's rules for gradients.

Ideal devices and perfect periphery make every update exact (W ← W − lr·δᵀx), so the weights
after a step say exactly which backward passes were applied.
"""
import pytest
import torch
from torch import nn

from rpusim.nn import AnalogLinear, AnalogLSTM
from rpusim.optim import AnalogSGD
from rpusim.tile import RPUConfig

LR = 0.1


def make_layer() -> AnalogLinear:
    torch.manual_seed(0)
    return AnalogLinear(4, 3, rpu_config=RPUConfig.ideal())


def backward(model, x) -> None:
    model(x).square().sum().backward()


def step_of(x) -> torch.Tensor:
    """The weights of a fresh layer after one zero_grad/backward(x)/step: the reference."""
    layer = make_layer()
    opt = AnalogSGD(layer.parameters(), lr=LR)
    opt.zero_grad()
    backward(layer, x)
    opt.step()
    return layer.get_weights()[0]


XA, XB = torch.tensor([[1.0, -0.5, 0.2, 0.3]]), torch.tensor([[-0.3, 0.8, 0.5, -1.0]])


@pytest.mark.parametrize("zero", ["optimizer", "optimizer, set_to_none=False", "module"])
def test_zero_grad_discards_a_backward_that_was_not_stepped(zero):
    layer = make_layer()
    opt = AnalogSGD(layer.parameters(), lr=LR)
    backward(layer, XA)  # no step after it
    if zero == "optimizer":
        opt.zero_grad()
    elif zero == "module":
        layer.zero_grad()
    else:
        opt.zero_grad(set_to_none=False)
    backward(layer, XB)
    opt.step()
    torch.testing.assert_close(layer.get_weights()[0], step_of(XB))


def test_zero_grad_then_step_applies_nothing():
    layer = make_layer()
    w0 = layer.get_weights()[0]
    opt = AnalogSGD(layer.parameters(), lr=LR)
    backward(layer, XA)
    opt.zero_grad()
    opt.step()
    torch.testing.assert_close(layer.get_weights()[0], w0, rtol=0, atol=0)


def test_two_backwards_without_zero_grad_accumulate():
    """As torch sums the gradients of two backward passes, the step applies both pending updates."""
    layer = make_layer()
    w0 = layer.get_weights()[0]
    opt = AnalogSGD(layer.parameters(), lr=LR)
    opt.zero_grad()
    backward(layer, XA)
    backward(layer, XB)
    opt.step()
    both = step_of(XA) - w0 + step_of(XB) - w0
    torch.testing.assert_close(layer.get_weights()[0] - w0, both)


def test_a_step_consumes_the_pending_update():
    layer = make_layer()
    opt = AnalogSGD(layer.parameters(), lr=LR)
    backward(layer, XA)
    opt.step()
    w1 = layer.get_weights()[0]
    opt.step()  # no backward since the last step
    torch.testing.assert_close(layer.get_weights()[0], w1, rtol=0, atol=0)


def test_a_frozen_analog_layer_is_not_updated():
    """A layer whose analog_ctx does not require grad gets no gradient, hence no update (as torch)."""
    torch.manual_seed(1)
    model = nn.Sequential(AnalogLinear(4, 4, rpu_config=RPUConfig.ideal()),
                          AnalogLinear(4, 2, rpu_config=RPUConfig.ideal()))
    model[1].analog_ctx.requires_grad_(False)
    w_frozen, w_trained = model[1].get_weights()[0], model[0].get_weights()[0]
    opt = AnalogSGD(model.parameters(), lr=LR)
    opt.zero_grad()
    backward(model, XA)
    opt.step()
    torch.testing.assert_close(model[1].get_weights()[0], w_frozen, rtol=0, atol=0)
    assert not torch.equal(model[0].get_weights()[0], w_trained)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["sequence kernel", "step by step"])
def test_zero_grad_discards_an_lstm_backward(dtype):
    def fresh():
        torch.manual_seed(2)
        return AnalogLSTM(3, 4, rpu_config=RPUConfig.ideal()).to(dtype)
    seq_a, seq_b = torch.rand(5, 2, 3, dtype=dtype), torch.rand(5, 2, 3, dtype=dtype)
    lstm, reference = fresh(), fresh()
    opt, ref_opt = AnalogSGD(lstm.parameters(), lr=LR), AnalogSGD(reference.parameters(), lr=LR)
    lstm(seq_a)[0].sum().backward()
    opt.zero_grad()
    lstm(seq_b)[0].sum().backward()
    opt.step()
    reference(seq_b)[0].sum().backward()
    ref_opt.step()
    torch.testing.assert_close(lstm.get_weights()[0][0], reference.get_weights()[0][0])
