"""The piecewise-step device: its mean response follows the table, bad tables are refused, and it
trains through the tile's ordinary update path (gather, pulse-by-pulse response, scatter)."""
from contextlib import nullcontext

import pytest
import torch

from rpusim.config import ConfigError
from rpusim.devices import PiecewiseStepDevice, PulsedDevice, device_from_dict
from rpusim.fast_path import reference_path
from rpusim.nn import AnalogLinear
from rpusim.tile import RPUConfig

UP, DOWN = [2.0, 1.0, 0.5, 0.0], [0.0, 0.5, 1.0, 3.0]  # nodes at w = -0.4, 0.0, 0.4, 0.8
NO_SPREAD = dict(dw_min=0.01, w_max=0.8, w_min=-0.4, dw_min_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0,
                 up_down_dtod=0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_step_follows_the_table(seed):
    """One pulse from each state, 4000 replicas with 30 % cycle-to-cycle noise: the mean step is
    Δw·(table interpolated linearly), within 5 standard errors (numbers worked out by hand)."""
    dev = PiecewiseStepDevice(up_table=UP, down_table=DOWN, dw_min_std=0.3, up_down=0.1, **NO_SPREAD)
    states = torch.tensor([-0.3, -0.2, 0.0, 0.1, 0.3, 0.5, 0.7])
    # multipliers at those states (linear between the nodes -0.4, 0, 0.4, 0.8)
    up_mult = torch.tensor([1.75, 1.5, 1.0, 0.875, 0.625, 0.375, 0.125])
    down_mult = torch.tensor([0.125, 0.25, 0.5, 0.625, 0.875, 1.5, 2.5])
    g = torch.Generator().manual_seed(seed)
    shape = (1, 4000, len(states))
    p = dev.sample_params(shape, g)
    w = states.expand(shape)
    for direction, mult, dw in ((1.0, up_mult, 0.011), (-1.0, down_mult, 0.009)):  # Δw·(1 ± a), a = 0.1
        steps = (dev.pulse(w, torch.full(shape, direction), p, g) - w).squeeze(0)
        se = steps.std(0) / shape[1] ** 0.5
        assert ((steps.mean(0) - direction * dw * mult).abs() <= 5 * se + 1e-7).all()
        assert steps.std(0) == pytest.approx(0.3 * dw * mult, rel=0.1, abs=1e-6)


def test_table_nodes_span_each_devices_own_range():
    """With a spread of the bounds, node k sits at w_min_ij + k·(w_max_ij − w_min_ij)/(n − 1) of each device."""
    dev = PiecewiseStepDevice(up_table=UP, down_table=DOWN, dw_min_std=0.0, w_max_dtod=0.3, w_min_dtod=0.3,
                              **{k: v for k, v in NO_SPREAD.items() if k not in ("w_max_dtod", "w_min_dtod")})
    p = dev.sample_params((1, 50, 1), torch.Generator().manual_seed(3))
    for k, (u, d) in enumerate(zip(UP, DOWN)):
        node = p["w_min"] + k * (p["w_max"] - p["w_min"]) / 3
        up = torch.ones_like(node, dtype=torch.bool)
        torch.testing.assert_close(dev.step_size(node, up, p), p["dw_up"] * u)
        torch.testing.assert_close(dev.step_size(node, ~up, p), p["dw_down"] * d)


@pytest.mark.parametrize("fields, message", [
    ({"up_table": [1.0]}, "up_table"),
    ({"up_table": [], "down_table": []}, "at least 2"),
    ({"up_table": [1.0, 1.0, 1.0]}, "same length"),
    ({"down_table": [1.0, -0.1]}, "down_table.1 = -0.1"),
    ({"up_table": [1.0, float("nan")]}, "up_table.1 = nan: must be a finite number"),
    ({"up_table": [1.0, float("inf")]}, "up_table.1 = inf: must be a finite number"),
    ({"up_table": "steep"}, "up_table"),
])
def test_bad_tables_are_refused_naming_the_table(fields, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        device_from_dict({"type": "piecewise_step", **fields})


def test_counts_go_through_the_pulse_by_pulse_response():
    """apply_pulses is the reference default (no closed form, no numba kernel): noise-free, it equals
    the pulses applied one at a time, up/down alternating."""
    dev = PiecewiseStepDevice(up_table=UP, down_table=DOWN, dw_min_std=0.0)
    assert not hasattr(dev, "apply_pulses_at")
    g = torch.Generator().manual_seed(4)
    p = dev.sample_params((1, 10, 12), g)
    w0 = dev.clip(0.2 * torch.randn(1, 10, 12, generator=g), p)
    n_up, n_down = torch.randint(0, 9, (10, 12), generator=g).float(), torch.randint(0, 9, (10, 12), generator=g).float()
    w = w0
    for k in range(8):  # alternate while both remain, then the rest of one sign
        for direction, n in ((1.0, n_up), (-1.0, n_down)):
            w = dev.pulse(w, direction * (n > k).float(), p, None)
    torch.testing.assert_close(dev.apply_pulses(w0, n_up, n_down, p, None), w)
    torch.testing.assert_close(PulsedDevice.apply_pulses(dev, w0, n_up, n_down, p, None), w)


@pytest.mark.parametrize("reference", [False, True])
def test_a_layer_of_piecewise_devices_learns_a_step(reference):
    """One SGD step through the tile (gather → apply_pulses → scatter), kernels or reference path."""
    torch.manual_seed(5)
    layer = AnalogLinear(8, 4, bias=False, rpu_config=RPUConfig(device={"type": "piecewise_step",
                                                                        "up_table": UP, "down_table": DOWN}))
    x = torch.rand(16, 8)
    before = layer.get_weights()[0].clone()
    with reference_path() if reference else nullcontext():
        layer(x).sum().backward()
        layer.array.apply_update(0.1)
    change = layer.get_weights()[0] - before
    assert (change < 0).float().mean() > 0.9  # d(sum)/dW = Σx > 0: every weight moves down
