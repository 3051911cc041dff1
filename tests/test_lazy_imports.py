"""numba (and its LLVM, ≈ 70 MB) is loaded only when a numba kernel first runs (rpusim.fast_path).

Each check runs in a fresh interpreter, which reports the modules it ended with."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import rpusim

ROOT = Path(rpusim.__file__).parent.parent


def loaded_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (this checkout first on the path, the kernels not forced
    off); it sets ``out`` (a dict), returned with 'numba' and 'llvmlite': whether they got imported."""
    script = f"""
import json, sys
out = {{}}
{code}
out["numba"] = "numba" in sys.modules
out["llvmlite"] = "llvmlite" in sys.modules
print(json.dumps(out))
"""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    env.pop("RPUSIM_REFERENCE", None)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_floating_point_run_does_not_import_numba():
    out = loaded_after("""
import torch
import rpusim.nn, rpusim.optim, rpusim.framework
from rpusim.framework.config import RunConfig
from rpusim.framework.network import build_network
cfg = RunConfig(model={"kind": "cnn", "analog": False})
model = build_network(cfg, (1, 28, 28), 10)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
torch.nn.functional.cross_entropy(model(torch.rand(2, 1, 28, 28)), torch.tensor([1, 2])).backward()
opt.step()
out["layers"] = sum(1 for _ in model.modules())
""")
    assert out["layers"] > 3
    assert not out["numba"] and not out["llvmlite"]


def test_rpusim_list_does_not_import_numba():
    out = loaded_after("""
from rpusim.cli import app
try:
    app(["list"], prog_name="rpusim")
except SystemExit as stop:
    out["exit"] = stop.code
""")
    assert out["exit"] in (0, None)
    assert not out["numba"] and not out["llvmlite"]


def test_an_analog_float32_step_on_the_cpu_imports_numba_at_its_first_kernel():
    out = loaded_after("""
import torch
from torch import nn
from rpusim.nn import AnalogConv2d, AnalogLinear
from rpusim.optim import AnalogSGD
model = nn.Sequential(AnalogConv2d(1, 2, 3), nn.Flatten(), AnalogLinear(8, 3))
opt = AnalogSGD(model.parameters(), lr=0.1)
out["numba_after_build"] = "numba" in sys.modules
model(torch.rand(2, 1, 4, 4)).square().sum().backward()
opt.step()
""")
    assert not out["numba_after_build"]
    assert out["numba"] and out["llvmlite"]
