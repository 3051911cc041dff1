"""Networks of the papers, built from a :class:`ModelConfig` (floating point or on RPU arrays).

``build_model(cfg, in_shape, n_out)`` looks the model family up in :data:`MODELS`; other
modules register more families (convolutional, recurrent) with :func:`register_model`.
A family builds its floating-point network; analog layers come from
``convert_to_analog`` with each layer's own RPU config, so the floating-point and analog
runs of an experiment are the same network.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from ..nn import convert_to_analog
from ..nn.conversion import CONVERTERS
from .config import RunConfig

MODELS: dict[str, Callable[[RunConfig, tuple, int], nn.Module]] = {}

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def register_model(name: str):
    def deco(fn):
        MODELS[name] = fn
        return fn
    return deco


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        from ..config import ConfigError
        raise ConfigError(f"model.activation = {name!r}: unknown (allowed: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]()


@register_model("fc")
def fully_connected(cfg: RunConfig, in_shape: tuple, n_out: int) -> nn.Module:
    """784-256-128-10 style network (Gokmen & Vlasov 2016): Linear + activation, logits out."""
    sizes = [int(_prod(in_shape))] + list(cfg.model.hidden) + [n_out]
    layers: list[nn.Module] = [nn.Flatten()]
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation(cfg.model.activation))
            if cfg.model.dropout:
                layers.append(nn.Dropout(cfg.model.dropout))
    return nn.Sequential(*layers)


def _prod(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def build_model(cfg: RunConfig, in_shape: tuple, n_out: int) -> nn.Module:
    """The network of ``cfg.model``; its convertible layers on arrays when ``model.analog``."""
    if cfg.model.kind not in MODELS:
        from ..config import ConfigError
        raise ConfigError(f"model.kind = {cfg.model.kind!r}: unknown (allowed: {', '.join(sorted(MODELS))})")
    model = MODELS[cfg.model.kind](cfg, in_shape, n_out)
    if cfg.model.analog:
        analogize(model, cfg)
    return model


def analogize(model: nn.Module, cfg: RunConfig) -> None:
    """Replace the convertible layers (in order of appearance) by analog ones, in place.

    Layer i gets ``cfg.rpu_for_layer(i)``; with ``model.analog_layers`` only those indices
    become analog, and an index the model does not have is refused (a ConfigError).
    """
    index = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in CONVERTERS:
                if not cfg.model.analog_layers or index in cfg.model.analog_layers:
                    setattr(parent, name, convert_to_analog(child, cfg.rpu_for_layer(index), inplace=True))
                index += 1
    missing = [i for i in cfg.model.analog_layers if not 0 <= i < index]
    if missing:
        from ..config import ConfigError
        raise ConfigError(f"model.analog_layers = {cfg.model.analog_layers}: no layer {missing} "
                          f"(this model has {index} layers that can be analog, numbered from 0)")
