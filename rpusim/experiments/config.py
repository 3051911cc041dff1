"""The configuration tree of one training run: data, model, RPU config, training.

A run is fully described by a :class:`RunConfig`; it is saved as ``config.yaml`` beside
every result so that ``rpusim run EXPERIMENT --config config.yaml`` repeats it.
Overrides use dotted key paths (``--set rpu.update.bl=31``) whose values are parsed
as YAML scalars; an unknown key path or a bad value fails before any work starts.
"""
from __future__ import annotations

import copy
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator

from ..config import Config, ConfigError
from ..tile import RPUConfig


class DataConfig(Config):
    dataset: str = Field("mnist", description="data set name (see rpusim.data)")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        from ..data import IMAGE_DATASETS, TEXT_CORPORA
        known = (*IMAGE_DATASETS, *TEXT_CORPORA)
        if v not in known:
            raise ValueError(f"unknown data set (allowed: {', '.join(known)})")
        return v

    train_limit: int = Field(0, ge=0, description="use only the first N training samples after a seeded shuffle (0: all)")
    test_limit: int = Field(0, ge=0, description="evaluate on the first N test samples (0: all)")
    seq_len: int = Field(100, ge=1, le=100000, description="sequence length (language models)")


class ModelConfig(Config):
    kind: str = Field("fc", description="model family (fc, cnn, lstm, ...)")
    hidden: list[int] = Field(default_factory=lambda: [256, 128], description="hidden layer sizes")
    activation: str = Field("sigmoid", description="hidden activation: sigmoid, tanh or relu")
    analog: bool = Field(True, description="layers on RPU arrays (false: floating-point PyTorch)")
    analog_layers: list[int] = Field(default_factory=list, description="indices of layers to put on arrays (empty: all)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout probability (where the model has it)")
    extra: dict[str, Any] = Field(default_factory=dict, description="model-family specific options")


class TrainConfig(Config):
    epochs: int = Field(30, ge=1, le=100000, description="training epochs")
    batch_size: int = Field(1, ge=1, le=100000, description="mini-batch size")
    lr: float = Field(0.01, gt=0, le=1000, description="learning rate η")
    grad_clip: float = Field(0.0, ge=0, description="clip the gradient norm of digital parameters (0: off)")
    eval_batch_size: int = Field(1000, ge=1, description="batch size for evaluation")


class RunConfig(Config):
    experiment: str = Field("fc-mnist", description="experiment this run belongs to")
    variant: str = Field("baseline", description="name of this run within the experiment")
    task: str = Field("classify", description="what is trained: classify (images) or char_lm (text)")
    seed: int = Field(0, ge=0, description="seed of every random number in the run")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    rpu: RPUConfig = Field(default_factory=RPUConfig)
    layer_rpu: dict[int, dict[str, Any]] = Field(
        default_factory=dict, description="per-layer overrides of rpu, by analog layer index (0 = first)")
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _layer_configs_valid(self):
        for i in self.layer_rpu:
            self.rpu_for_layer(i)
        return self

    def rpu_for_layer(self, index: int) -> RPUConfig:
        """The RPU config of analog layer ``index``: ``rpu`` with ``layer_rpu[index]`` merged in."""
        if index not in self.layer_rpu:
            return self.rpu
        return RPUConfig.from_dict(deep_merge(self.rpu.to_dict(), self.layer_rpu[index]), f"layer_rpu.{index}")


def parse_set(items: list[str]) -> dict:
    """``["a.b=1", "c=x"]`` → nested dict ``{"a": {"b": 1}, "c": "x"}`` (values as YAML scalars)."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE")
        key, _, raw = item.partition("=")
        value = yaml.safe_load(raw) if raw.strip() else ""
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {p} is both a value and a section")
        node[parts[-1]] = value
    return out


def deep_merge(base: dict, over: dict) -> dict:
    """Recursively merge ``over`` into a copy of ``base``; a device ``type`` change replaces the device."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            if k == "device" and "type" in v and v["type"] != out[k].get("type"):
                out[k] = copy.deepcopy(v)
            else:
                out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def build_config(base: dict, *overrides: dict) -> RunConfig:
    """A validated RunConfig from a base mapping and successive override mappings.

    Everything is merged onto the defaults, so a partial section (``rpu.device.dw_min=0.01``
    without a device ``type``) refines the default rather than replacing it.
    """
    data = RunConfig().to_dict()
    for o in (base, *overrides):
        data = deep_merge(data, o)
    return RunConfig.from_dict(data)
