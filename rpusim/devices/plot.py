"""The pulse response of a device: weight against pulse number, N pulses up then N down.

Several devices of one array (each with its own parameters drawn by ``sample_params``:
the device-to-device spread) each receive the same pulse train many times over
(independent cycle-to-cycle noise); the plot shows, per device, the median trajectory
and the 5–95 % band of the repetitions, i.e. the cycle-to-cycle spread, and the nominal
symmetry point (:func:`.symmetry.nominal_symmetry_point`) of a bounded device. Pulses are
applied one at a time with the device's reference ``pulse`` function.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import torch
from torch import Tensor

from .base import PulsedDevice
from .bounded import BoundedStepDevice
from .symmetry import nominal_symmetry_point


def default_pulses(device: PulsedDevice) -> int:
    """Enough pulses to go from 0 into the upper bound and back down into the lower one."""
    span = getattr(device, "w_max", None), getattr(device, "w_min", None), getattr(device, "dw_min", None)
    if None in span:
        return 1000
    w_max, w_min, dw_min = span
    return int(min(20000, max(10, math.ceil(1.2 * (w_max - w_min) / dw_min))))


@torch.no_grad()
def pulse_response(device: PulsedDevice, n_pulses: int, n_devices: int = 5, repeats: int = 50,
                   seed: int = 0) -> Tensor:
    """Weights (2·n_pulses + 1, n_devices, repeats) read after each pulse, starting at state 0."""
    if device.is_ideal:
        from ..config import ConfigError
        raise ConfigError(f"device type {device.type!r} is updated in floating point: it has no pulse response")
    gen = torch.Generator().manual_seed(seed)
    shape = (1, n_devices, repeats)
    params = {k: v.expand(shape).contiguous() for k, v in device.sample_params((1, n_devices, 1), gen).items()}
    w = device.clip(torch.zeros(shape), params)
    trace = [device.read(w, params)[0]]
    up, down = torch.ones(shape), -torch.ones(shape)
    for k in range(2 * n_pulses):
        w = device.pulse(w, up if k < n_pulses else down, params, gen)
        trace.append(device.read(w, params)[0])
    return torch.stack(trace)


def plot_pulse_response(device: PulsedDevice, path: str | Path, n_pulses: int | None = None,
                        n_devices: int = 5, repeats: int = 50, seed: int = 0, title: str | None = None) -> Path:
    """Save the pulse-response plot of ``device`` as PNG at ``path`` (``title``: the name shown, e.g. a
    preset's; default the device type). A bounded device's nominal symmetry point w* is drawn dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = n_pulses or default_pulses(device)
    trace = pulse_response(device, n, n_devices, repeats, seed)
    steps = trace.diff(dim=0)
    fig, (ax_w, ax_dw) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, height_ratios=(3, 2))
    for ax, data, x in ((ax_w, trace, torch.arange(trace.shape[0])), (ax_dw, steps, torch.arange(1, trace.shape[0]))):
        lo, mid, hi = torch.quantile(data, torch.tensor([0.05, 0.5, 0.95]), dim=2)
        for d in range(n_devices):
            line, = ax.plot(x, mid[:, d], lw=1.0, label=f"device {d + 1}")
            ax.fill_between(x, lo[:, d], hi[:, d], color=line.get_color(), alpha=0.25, lw=0)
        ax.axvline(n, color="grey", ls=":", lw=1)
        ax.grid(alpha=0.3)
    if isinstance(device, BoundedStepDevice):
        ax_w.axhline(nominal_symmetry_point(device), color="black", ls="--", lw=0.8, label="symmetry point w*")
    ax_w.set_ylabel("weight")
    ax_dw.set_ylabel("weight change per pulse")
    ax_dw.set_xlabel(f"pulse number ({n} up, then {n} down)")
    fields = {k: v for k, v in device.to_dict().items() if k != "type"}
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
    name = device.type if title in (None, device.type) else f"{title} ({device.type})"
    ax_w.set_title(f"{name}: {n_devices} devices (device-to-device spread), median and 5–95 % band "
                   f"of {repeats} cycles each (cycle-to-cycle noise)\n" + textwrap.fill(shown, 110), fontsize=8)
    ax_w.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
