"""Training options checked by what they do: ``model.analog_layers`` and ``train.grad_clip``."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from rpusim.config import ConfigError
from rpusim.framework import train_run, variant_configs
from rpusim.framework.config import build_config
from rpusim.framework.network import build_network
from rpusim.framework.tasks import TASKS
from rpusim.papers.catalog import get_experiment
from rpusim.nn import AnalogLinear


def _fc(**model) -> nn.Module:
    cfg = build_config({"model": {"kind": "fc", "hidden": [6, 5], **model},
                        "layer_rpu": {2: {"update": {"bl": 7}}}})
    torch.manual_seed(0)
    return build_network(cfg, (1, 3, 3), 4)


def _linear_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model if isinstance(m, (nn.Linear, AnalogLinear))]


@pytest.mark.parametrize("chosen", [[], [1], [0, 2], [2]])
def test_analog_layers_puts_only_the_listed_layers_on_arrays(chosen):
    """With model.analog_layers only those (0-based) layers are AnalogLinear, the others stay
    torch's nn.Linear; empty means all. Each analog layer has its own layer_rpu, by the same index."""
    layers = _linear_layers(_fc(analog_layers=chosen))
    assert len(layers) == 3
    analog = set(chosen or [0, 1, 2])
    assert [type(m) for m in layers] == [AnalogLinear if i in analog else nn.Linear for i in range(3)]
    for i, m in enumerate(layers):
        if i in analog:
            assert m.rpu_config.update.bl == (7 if i == 2 else 10)
    assert [tuple(m.get_weights()[0].shape if i in analog else m.weight.shape) for i, m in enumerate(layers)] \
        == [(6, 9), (5, 6), (4, 5)]


@pytest.mark.parametrize("bad", [[3], [0, 5], [-1]])
def test_analog_layers_out_of_range_are_refused(bad):
    with pytest.raises(ConfigError, match=r"model\.analog_layers.*3 layers"):
        _fc(analog_layers=bad)


def test_layer_rpu_for_a_layer_the_model_does_not_have_is_refused():
    """layer_rpu.5 on a 3-layer network would be ignored without a word: refused, naming the key."""
    cfg = build_config({"model": {"kind": "fc", "hidden": [6, 5]}, "layer_rpu": {5: {"update": {"bl": 7}}}})
    torch.manual_seed(0)
    with pytest.raises(ConfigError, match=r"layer_rpu = \[5\]: no layer \[5\].*3 layers"):
        build_network(cfg, (1, 3, 3), 4)


@pytest.mark.data("mnist")
def test_cli_refuses_analog_layers_out_of_range_with_exit_2(tmp_path):
    from rpusim.cli import app
    result = CliRunner().invoke(app, ["run", "fc-mnist", "--preset", "quick", "--variants", "rpu-baseline",
                                      "--set", "model.analog_layers=[7]", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "model.analog_layers" in result.stderr and "Traceback" not in result.output
    assert not list(tmp_path.rglob("summary.json")) and not list(tmp_path.rglob("metrics.csv"))


def _one_step(tmp_path, clip: float, lr: float = 0.5):
    """One training step (4 images, one batch) of a 9·9-8-10 network whose first layer is analog;
    returns (initial state, state after the step, names of the digital parameters)."""
    overrides = {"model": {"hidden": [8], "analog_layers": [0]}, "seed": 5,
                 "train": {"epochs": 1, "batch_size": 4, "lr": lr, "grad_clip": clip, "eval_batch_size": 10},
                 "data": {"train_limit": 4, "test_limit": 10}}
    cfg = variant_configs(get_experiment("fc-mnist"), ["rpu-baseline"], "quick", overrides)["rpu-baseline"]
    task = TASKS[cfg.task](cfg)
    torch.manual_seed(cfg.seed)  # as train_run builds it
    start = task.build_model()
    digital = {n for n, p in start.named_parameters() if not hasattr(p, "analog_array")}
    out = tmp_path / f"clip{clip}"
    train_run(cfg, out, progress=False, log=lambda *_: None)
    after = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    return start.state_dict(), after, digital


@pytest.mark.data("mnist")
def test_grad_clip_limits_the_digital_step_and_leaves_analog_layers_alone(tmp_path):
    """clip_grad_norm_ on the digital parameters: their step is −lr·g·min(1, c/‖g‖) (‖g‖ over all of
    them together), the direction unchanged; the analog layer's pulsed update is not clipped."""
    lr, clip = 0.5, 0.05
    start, free, digital = _one_step(tmp_path, 0.0, lr)
    _, clipped, _ = _one_step(tmp_path, clip, lr)
    assert digital == {"3.weight", "3.bias"}
    step_free = torch.cat([(free[k] - start[k]).flatten() for k in sorted(digital)])
    step_clipped = torch.cat([(clipped[k] - start[k]).flatten() for k in sorted(digital)])
    grad_norm = step_free.norm() / lr
    assert grad_norm > 3 * clip  # the clip had work to do
    assert (step_clipped.norm() / lr).item() == pytest.approx(clip, rel=1e-4)
    torch.testing.assert_close(step_clipped, step_free * (clip / grad_norm), rtol=1e-4, atol=1e-9)
    analog = [k for k in start if k not in digital and torch.is_tensor(start[k])]
    assert any(k.endswith("state") for k in analog)
    moved = [k for k in analog if not torch.equal(free[k], start[k])]
    assert any(k.endswith("state") for k in moved)  # the analog weights were updated ...
    for k in analog:
        assert torch.equal(clipped[k], free[k]), k  # ... by the same pulses with and without clipping
