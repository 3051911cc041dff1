"""Conversion of a floating-point model into one on analog arrays.

``convert_to_analog(model, rpu_config)`` replaces every layer type that has an analog
counterpart (listed in :data:`CONVERTERS`) by it, carrying over the trained weights;
everything else (activations, pooling, digital layers) is kept as it is.
"""
from __future__ import annotations

import copy
from typing import Callable

from torch import nn

from ..tile import RPUConfig
from .conv import AnalogConv1d, AnalogConv2d
from .linear import AnalogLinear
from .lstm import AnalogLSTM

CONVERTERS: dict[type[nn.Module], Callable[[nn.Module, RPUConfig | None], nn.Module]] = {
    nn.Linear: AnalogLinear.from_digital,
    nn.Conv1d: AnalogConv1d.from_digital,
    nn.Conv2d: AnalogConv2d.from_digital,
    nn.LSTM: AnalogLSTM.from_digital,
}


def register_converter(digital: type[nn.Module], convert: Callable) -> None:
    """Teach :func:`convert_to_analog` a layer type of your own (the built-in ones are listed in
    :data:`CONVERTERS`)."""
    CONVERTERS[digital] = convert


def convert_to_analog(model: nn.Module, rpu_config: RPUConfig | None = None, inplace: bool = False) -> nn.Module:
    """Return ``model`` with each convertible layer replaced by its analog counterpart."""
    if not inplace:
        model = copy.deepcopy(model)
    if type(model) in CONVERTERS:
        return CONVERTERS[type(model)](model, rpu_config)
    for name, child in model.named_children():
        setattr(model, name, convert_to_analog(child, rpu_config, inplace=True))
    return model
