"""Typed, validated configuration base shared by every part of rpusim.

Every config in the package (devices, periphery, update, experiments) derives from
:class:`Config`, a pydantic model that

* rejects unknown keys (a typo is an error, never silently ignored),
* validates every value on construction and on assignment (every number must be finite:
  NaN and ±inf are refused with "must be a finite number"; no field gives inf a meaning), and
* raises :class:`ConfigError` whose message names the key path, the value given and
  the allowed range, e.g. ``device.dw_min = -0.001: must be > 0``.

Configs round-trip through YAML with :func:`to_yaml` / :func:`from_yaml`. Reading YAML
(:func:`read_yaml_mapping`, :func:`parse_yaml_value`) turns every problem of the text itself
(missing file, a folder, binary content, empty file, YAML syntax with line and column, a top
level that is not a mapping) into a :class:`ConfigError` naming the file or the option.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import annotated_types as at
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

T = TypeVar("T", bound="Config")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names key path, value and allowed range."""


def _constraint_text(cls: type[BaseModel] | None, loc: tuple) -> str:
    """Describe the numeric constraints of the field at ``loc`` (e.g. 'allowed: > 0, <= 16')."""
    field = None
    for part in loc:
        if cls is None or not isinstance(part, str) or part not in getattr(cls, "model_fields", {}):
            return ""
        field = cls.model_fields[part]
        ann = field.annotation
        cls = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    if field is None:
        return ""
    parts = []
    for m in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if isinstance(m, getattr(at, attr.capitalize())):
                parts.append(f"{sym} {getattr(m, attr)}")
    return f" (allowed: {', '.join(parts)})" if parts else ""


def _allowed_keys(cls: type[BaseModel] | None, loc: tuple) -> str:
    """The field names of the model reached by walking ``loc`` from ``cls`` (for unknown-key errors)."""
    for part in loc:
        field = getattr(cls, "model_fields", {}).get(part) if isinstance(part, str) else None
        ann = field.annotation if field else None
        cls = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return ", ".join(getattr(cls, "model_fields", {})) or "see the documentation of this section"


_HEADER = "invalid configuration:\n  "

# pydantic's wording of an error type, where ours is clearer
_MESSAGES = {"finite_number": "must be a finite number"}


def _reroot(err: ConfigError, path: str) -> list[str]:
    """The lines of a nested ConfigError with key paths made absolute (``path`` prepended)."""
    text = str(err)
    lines = text[len(_HEADER):].split("\n  ") if text.startswith(_HEADER) else [text]
    if not path:
        return lines
    last = path.rsplit(".", 1)[-1]
    out = []
    for line in lines:
        if line.startswith(last) and line[len(last):len(last) + 1] in (".", ":", " "):
            line = line[len(last):]  # the nested message already starts with our field name
        out.append(path + (line if line[:1] in (".", ":", " ") else "." + line))
    return out


def format_validation_error(err: ValidationError, model: type[BaseModel] | None = None,
                            prefix: str = "") -> ConfigError:
    """Turn a pydantic error into one readable ConfigError naming each bad key path."""
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = ".".join(str(p) for p in ((prefix,) if prefix else ()) + loc) or "<root>"
        nested = (e.get("ctx") or {}).get("error")
        if isinstance(nested, ConfigError):  # a nested Config raised already: re-root its lines
            lines += _reroot(nested, "" if path == "<root>" else path)
            continue
        msg = _MESSAGES.get(e["type"], e["msg"].removeprefix("Value error, "))
        if e["type"] == "extra_forbidden":
            msg = f"unknown key (allowed: {_allowed_keys(model, loc[:-1])})"
        value = e.get("input")
        shown = "" if e["type"] in ("missing", "extra_forbidden") or isinstance(value, dict) else f" = {value!r}"
        lines.append(f"{path}{shown}: {msg}{_constraint_text(model, loc)}")
    return ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


class Config(BaseModel):
    """Base of every rpusim config: strict keys, validated values, readable errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True,
                              allow_inf_nan=False)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as err:
            raise format_validation_error(err, type(self)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as err:
            raise format_validation_error(err, type(self)) from None

    @classmethod
    def from_dict(cls: type[T], data: dict, prefix: str = "") -> T:
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise format_validation_error(err, cls, prefix) from None
        except ConfigError as err:  # raised by a nested Config's own __init__
            raise ConfigError(str(err).replace("\n  ", f"\n  {prefix}." if prefix else "\n  ")) from None

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", serialize_as_any=True)

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls: type[T], path: str | Path) -> T:
        """The config in a YAML file; every problem is a ConfigError naming the file."""
        return config_from_file(cls, path, read_yaml_mapping(path))


def config_from_file(cls: type[T], path: str | Path, data: dict) -> T:
    """``cls.from_dict(data)`` with an error message that starts with the file it came from."""
    try:
        return cls.from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def _at(mark) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"  # PyYAML counts from 0


def _yaml_problem(err: yaml.YAMLError) -> str:
    """'not valid YAML (line L, column C: what is wrong, while parsing ... at line L', column C')'."""
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    mark, context = getattr(err, "problem_mark", None), getattr(err, "context_mark", None)
    text = f"{_at(mark)}: {problem}" if mark is not None else problem
    if context is not None and getattr(err, "context", None) and _at(context) != _at(mark):
        text += f", {err.context} started at {_at(context)}"
    return f"not valid YAML ({text})"


def parse_yaml_value(text: str, where: str) -> Any:
    """The YAML value in ``text``; a syntax error is a ConfigError starting with ``where``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: {_yaml_problem(err)}") from None


_KINDS = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}


def read_yaml_mapping(path: str | Path) -> dict:
    """The mapping at the top level of a YAML file; anything else is a ConfigError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a YAML file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (not UTF-8); expected a YAML mapping") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror or err})") from None
    data = parse_yaml_value(text, str(path))
    if data is None:
        raise ConfigError(f"{path}: the file is empty (or only comments); expected a YAML mapping of config keys")
    if not isinstance(data, dict):
        kind = _KINDS.get(type(data), type(data).__name__)
        raise ConfigError(f"{path}: expected a YAML mapping of config keys at the top level, got a {kind}")
    return data
