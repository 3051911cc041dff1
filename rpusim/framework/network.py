"""The network of a run: the floating-point model of ``cfg.model``, its layers put on arrays.

The model families live in :mod:`rpusim.nn.models`; here each convertible layer gets its own
RPU config (``cfg.rpu_for_layer(i)``), so a run's floating-point and analog variants are the
same network.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from ..config import ConfigError
from ..nn import convert_to_analog
from ..nn.conversion import CONVERTERS
from ..nn.models import build_model

if TYPE_CHECKING:
    from .config import RunConfig


def build_network(cfg: RunConfig, in_shape: tuple, n_out: int) -> nn.Module:
    """The network of ``cfg.model``; its convertible layers on arrays when ``model.analog``."""
    model = build_model(cfg.model, in_shape, n_out)
    if cfg.model.analog:
        analogize(model, cfg)
    return model


def analogize(model: nn.Module, cfg: RunConfig) -> None:
    """Replace the convertible layers (in order of appearance) by analog ones, in place.

    Layer i gets ``cfg.rpu_for_layer(i)``; with ``model.analog_layers`` only those indices
    become analog. An index the model does not have, in ``model.analog_layers`` or in
    ``layer_rpu``, is refused (a ConfigError): it would otherwise be ignored without a word.
    """
    index = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) in CONVERTERS:
                if not cfg.model.analog_layers or index in cfg.model.analog_layers:
                    setattr(parent, name, convert_to_analog(child, cfg.rpu_for_layer(index), inplace=True))
                index += 1
    for key, indices in (("model.analog_layers", list(cfg.model.analog_layers)), ("layer_rpu", sorted(cfg.layer_rpu))):
        missing = [i for i in indices if not 0 <= i < index]
        if missing:
            raise ConfigError(f"{key} = {indices}: no layer {missing} "
                              f"(this model has {index} layers that can be analog, numbered from 0)")
