"""The configuration tree of one training run: data, model, RPU config, training.

A run is fully described by a :class:`RunConfig`; it is saved as ``config.yaml`` beside
every result so that ``rpusim run EXPERIMENT --config config.yaml`` repeats it.
Overrides use dotted key paths (``--set rpu.update.bl=31``) whose values are parsed
as YAML; an unknown key path, a bad value or a value that is not YAML fails before any
work starts, with a message naming the ``--set`` item or the file.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..config import Config, ConfigError, config_from_file, parse_yaml_value, read_yaml_mapping
from ..tile import RPUConfig


def _known(name: str, registry: dict, what: str) -> str:
    """``name`` if ``registry`` has it, else a ValueError listing the names it has."""
    if name not in registry:
        raise ValueError(f"unknown {what} (allowed: {', '.join(sorted(registry))})")
    return name


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

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        from ..nn.models import MODELS
        return _known(v, MODELS, "model family")

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, v: str) -> str:
        from ..nn.models import ACTIVATIONS
        return _known(v, ACTIVATIONS, "activation")


class TrainConfig(Config):
    epochs: int = Field(30, ge=1, le=100000, description="training epochs")
    batch_size: int = Field(1, ge=1, le=100000, description="mini-batch size")
    lr: float = Field(0.01, gt=0, le=1000, description="learning rate η")
    grad_clip: float = Field(0.0, ge=0, description="clip the gradient norm of digital parameters (0: off)")
    eval_batch_size: int = Field(1000, ge=1, description="batch size for evaluation")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where the run computes: auto (CUDA when present, else the CPU), cpu or cuda")


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

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str) -> str:
        from .tasks import TASKS
        return _known(v, TASKS, "task")

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


META_KEYS = ("rpusim_version", "fingerprint")  # what a run's config.yaml holds beside the RunConfig


def load_run_config(path: str | Path) -> RunConfig:
    """The RunConfig in a YAML file (a run's ``config.yaml`` or one written by hand).

    A partial file refines the defaults; the :data:`META_KEYS` entries of a saved config
    (version, fingerprint) are ignored. Every problem (no such file, not YAML, not a mapping, an
    invalid value) is a ConfigError whose message starts with the file's path.
    """
    data = read_yaml_mapping(path)
    for key in META_KEYS:
        data.pop(key, None)
    return config_from_file(RunConfig, path, data)


def parse_set(items: list[str]) -> dict:
    """``["a.b=1", "c=x"]`` → nested dict ``{"a": {"b": 1}, "c": "x"}`` (values parsed as YAML)."""
    out: dict = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq:
            raise ConfigError(f"--set {item!r}: expected KEY.PATH=VALUE")
        parts = [p.strip() for p in key.split(".")]
        if not all(parts):
            raise ConfigError(f"--set {item!r}: empty key (expected KEY.PATH=VALUE, e.g. train.lr=0.1)")
        value = parse_yaml_value(raw, f"--set {item!r}: value {raw!r}") if raw.strip() else ""
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {p} is both a value and a section")
        node[parts[-1]] = value
    return out


def deep_merge(base: dict, over: dict) -> dict:
    """Recursively merge ``over`` into a copy of ``base``; a mapping that names another ``type`` (a
    device, a training algorithm), or a device that names another ``preset``, replaces the old one
    instead of refining it."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            if any(key in v and v[key] != out[k].get(key) for key in ("type", "preset")):
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
