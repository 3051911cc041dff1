"""AnalogSequential: ``nn.Sequential`` that also gathers the analog arrays' diagnostics."""
from __future__ import annotations

from torch import nn

from ..tile import AnalogArray


def analog_arrays(model: nn.Module) -> dict[str, AnalogArray]:
    """Every analog array of a model, by module name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, AnalogArray)}


def layer_stats(model: nn.Module, reset: bool = False) -> dict[str, dict[str, float]]:
    """Per-array fractions since the last reset: saturated outputs (forward/backward, before
    and after bound management) and clipped pulse probabilities."""
    out = {}
    for name, arr in analog_arrays(model).items():
        s = arr.stats()
        out[name.removesuffix(".array") or "array"] = {
            "fwd_saturated": s["fwd_saturated"] / max(s["fwd_mvms"], 1),
            "fwd_saturated_after_bm": s["fwd_saturated_final"] / max(s["fwd_mvms"], 1),
            "bwd_saturated": s["bwd_saturated"] / max(s["bwd_mvms"], 1),
            "clipped_pulse_probs": s["pulse_probs_clipped"] / max(s["pulse_probs"], 1),
        }
        if reset:
            arr.reset_stats()
    return out


class AnalogSequential(nn.Sequential):
    """A sequence of (analog and digital) layers, with ``layer_stats()`` for diagnostics."""

    def layer_stats(self, reset: bool = False) -> dict[str, dict[str, float]]:
        return layer_stats(self, reset)
