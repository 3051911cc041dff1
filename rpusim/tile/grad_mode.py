"""``@without_grad``: ``torch.no_grad()`` for the tile's hot methods, free when gradients are off."""
from __future__ import annotations

import functools

import torch


def without_grad(fn):
    """Run ``fn`` with gradients off, like ``@torch.no_grad()``, but enter the context only when
    they are on: inside autograd's forward and backward and in the optimizer's step they already
    are off, and the decorator's context costs a few microseconds on every call there."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not torch.is_grad_enabled():
            return fn(*args, **kwargs)
        with torch.no_grad():
            return fn(*args, **kwargs)
    return wrapper
