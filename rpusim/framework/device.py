"""Where a run computes: ``train.device`` (auto, cpu or cuda) as a torch device on this machine."""
from __future__ import annotations

import torch

from ..config import ConfigError


def resolve_device(name: str):
    """The torch device ``train.device = name`` means on this machine: 'auto' is CUDA when torch sees
    a CUDA device, else the CPU. 'cuda' without one is refused (:class:`ConfigError`, one line)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "torch sees no CUDA device"
        raise ConfigError(f"train.device = 'cuda': CUDA is not available on this machine ({why}); "
                          "allowed here: auto or cpu")
    return torch.device(name)
