"""The papers' networks in floating point: the MLP, the paper's CNN and the character LSTM.

``build_model(model, in_shape, n_out)`` builds the network that ``model.kind`` names (see
:data:`MODELS`) from a model description with the fields ``hidden``, ``activation``,
``dropout`` and ``extra`` (e.g. :class:`rpusim.framework.config.ModelConfig`). The networks are
plain PyTorch; :func:`rpusim.nn.convert_to_analog` puts their layers on RPU arrays, so the
floating-point and analog runs of an experiment are the same network.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Protocol

import torch
from torch import Tensor, nn

from ..config import ConfigError

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


class ModelSpec(Protocol):
    """What a builder reads of a model description."""

    kind: str
    hidden: list[int]
    activation: str
    dropout: float
    extra: dict[str, Any]


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(f"model.activation = {name!r}: unknown (allowed: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]()


def mlp(spec: ModelSpec, in_shape: tuple, n_out: int) -> nn.Module:
    """784-256-128-10 style network (Gokmen & Vlasov 2016): Linear + activation, logits out."""
    sizes = [math.prod(in_shape)] + list(spec.hidden) + [n_out]
    layers: list[nn.Module] = [nn.Flatten()]
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation(spec.activation))
            if spec.dropout:
                layers.append(nn.Dropout(spec.dropout))
    return nn.Sequential(*layers)


def paper_cnn(spec: ModelSpec, in_shape: tuple, n_out: int) -> nn.Module:
    """Conv(k×k) → act → pool 2, twice, then fully connected hidden layers and the output layer
    (Gokmen, Onen, Haensch 2017).

    ``extra``: ``channels`` (default [16, 32]), ``kernel`` (5); ``hidden`` the fully connected
    sizes (the paper: [128]); ``activation`` (the paper: tanh).
    """
    channels = list(spec.extra.get("channels", [16, 32]))
    k = int(spec.extra.get("kernel", 5))
    c, h, w = in_shape
    layers: list[nn.Module] = []
    for out_c in channels:
        layers += [nn.Conv2d(c, out_c, k), activation(spec.activation), nn.MaxPool2d(2)]
        c, h, w = out_c, (h - k + 1) // 2, (w - k + 1) // 2
    layers.append(nn.Flatten())
    sizes = [c * h * w] + list(spec.hidden) + [n_out]
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation(spec.activation))
    return nn.Sequential(*layers)


class CharLSTM(nn.Module):
    """One-hot input → stacked LSTM layers (dropout after each) → linear output (logits).

    Gokmen, Rasch, Haensch 2018 (Front. Neurosci. 12:745): one ``nn.LSTM`` per layer, so that
    analog layer indices are 0, 1, … for the LSTM layers and the last index for the output
    layer; dropout acts in training only; the output layer is vocab × (h + 1).
    """

    def __init__(self, vocab_size: int, hidden: list[int], dropout: float = 0.0):
        super().__init__()
        self.vocab_size = vocab_size
        sizes = [vocab_size, *hidden]
        self.lstms = nn.ModuleList(nn.LSTM(sizes[i], sizes[i + 1], batch_first=True) for i in range(len(hidden)))
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden[-1], vocab_size)

    def forward(self, ids: Tensor, state: list | None = None) -> tuple[Tensor, list]:
        """Logits (B × T × vocab) for ids (B × T) and the final state of every layer."""
        x = nn.functional.one_hot(ids, self.vocab_size).to(torch.get_default_dtype())
        new_state = []
        for i, lstm in enumerate(self.lstms):
            x, s = lstm(x, None if state is None else state[i])
            new_state.append(s)
            x = self.drop(x)
        return self.decoder(x), new_state


def char_lstm(spec: ModelSpec, in_shape: tuple, n_out: int) -> nn.Module:
    """:class:`CharLSTM` over a vocabulary of ``in_shape[0]`` characters."""
    if not spec.hidden:
        raise ConfigError("model.hidden = []: the lstm model needs at least one layer size")
    return CharLSTM(int(in_shape[0]), list(spec.hidden), spec.dropout)


MODELS: dict[str, Callable[[ModelSpec, tuple, int], nn.Module]] = {"fc": mlp, "cnn": paper_cnn, "lstm": char_lstm}


def build_model(spec: ModelSpec, in_shape: tuple, n_out: int) -> nn.Module:
    """The floating-point network of ``spec.kind`` for inputs of ``in_shape`` and ``n_out`` outputs."""
    if spec.kind not in MODELS:
        raise ConfigError(f"model.kind = {spec.kind!r}: unknown (allowed: {', '.join(sorted(MODELS))})")
    return MODELS[spec.kind](spec, in_shape, n_out)
