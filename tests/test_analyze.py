"""`rpusim analyze bounds`: devices within k steps of a weight bound, per analog layer."""
from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from rpusim.cli import app
from rpusim.framework.analyze import near_bounds
from rpusim.nn import AnalogLinear, AnalogSequential
from rpusim.tile import RPUConfig

runner = CliRunner()


def test_near_bounds_counts_devices_by_their_own_steps_and_bounds():
    torch.manual_seed(0)
    model = AnalogSequential(AnalogLinear(10, 4, bias=False, rpu_config=RPUConfig()), torch.nn.Sigmoid(),
                             AnalogLinear(4, 2, bias=False, rpu_config=RPUConfig.from_dict({"device": {"type": "ideal"}})))
    tile = model[0].array.tiles[0]
    p = tile.params
    state = torch.zeros_like(tile.state)  # 40 devices, all at 0: far from both bounds
    flat = state.view(-1)
    flat[:5] = (p["w_max"] - 1.5 * p["dw_up"]).view(-1)[:5]  # 1.5 own steps below the upper bound
    flat[5:8] = (p["w_min"] + 0.5 * p["dw_down"]).view(-1)[5:8]  # half a step above the lower bound
    flat[8:10] = (p["w_max"] - 2.5 * p["dw_up"]).view(-1)[8:10]  # 2.5 steps: outside k = 2
    tile.state.copy_(state)
    two = near_bounds(model, steps=2)
    assert list(two) == ["0"]  # the ideal device's layer has no bounds: left out
    assert two["0"] == {"devices": 40, "upper": 5 / 40, "lower": 3 / 40, "either": 8 / 40}
    one = near_bounds(model, steps=1)["0"]
    assert one["upper"] == 0 and one["lower"] == 3 / 40
    assert near_bounds(model, steps=3)["0"]["upper"] == 7 / 40


def test_analyze_bounds_refuses_what_is_no_checkpoint(tmp_path):
    res = runner.invoke(app, ["analyze", "bounds", str(tmp_path)])
    assert res.exit_code == 2 and "no checkpoint" in res.output and "Traceback" not in res.output
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    res = runner.invoke(app, ["analyze", "bounds", str(tmp_path / "checkpoint.pt")])
    assert res.exit_code == 2 and "no config.yaml" in res.output


@pytest.mark.data("mnist")
def test_analyze_bounds_on_a_run_checkpoint(tmp_path):
    res = runner.invoke(app, ["run", "fc-mnist", "--preset", "quick", "--variants", "rpu-baseline", "--out", str(tmp_path),
                              "--set", "data.train_limit=50", "--set", "data.test_limit=20", "--set", "model.hidden=[8]"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["analyze", "bounds", str(tmp_path / "fc-mnist" / "rpu-baseline"), "--steps", "1e6"])
    assert res.exit_code == 0, res.output
    # every device is within a million steps of a bound: 785·8 and 9·10 devices, 100 % each
    assert "| 1 | 6280 |" in res.output and "| 3 | 90 |" in res.output
    assert res.output.count("| 100.00 |") == 2 and "after epoch 1" in res.output
