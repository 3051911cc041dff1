"""The code in docs/devices.md runs as written."""
import re
from pathlib import Path

import torch

DOC = Path(__file__).parents[1] / "docs" / "devices.md"


def test_custom_device_example_runs_and_trains():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    scope: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), scope)
    from rpusim.devices import DEVICES, device_from_dict
    assert "quadratic_step" in DEVICES
    dev = device_from_dict({"type": "quadratic_step", "curvature": 0.5})
    layer = scope["layer"]
    before = layer.get_weights()[0].clone()
    x = torch.rand(1, 784)
    layer(x).sum().backward()
    layer.array.apply_update(0.1)
    assert not torch.equal(before, layer.get_weights()[0])
    p = dev.sample_params((1, 4, 4), torch.Generator().manual_seed(0))
    w = dev.apply_pulses(torch.zeros(1, 4, 4), torch.full((4, 4), 5.0), torch.zeros(4, 4), p, None)
    assert (w > 0).all()
