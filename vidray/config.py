"""Typed configuration: pydantic v2 models loaded from YAML or JSON.

Every model forbids unknown fields, and a bad file yields one
:class:`~vidray.errors.ConfigError` that lists every bad field with its path
and the reason, before any work starts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from vidray.errors import ConfigError

C = TypeVar("C", bound="Config")


class Config(BaseModel):
    """Base of every vidray config section: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


class ComponentConfig(Config):
    """A registered component chosen by name, with its constructor arguments."""

    name: str
    args: dict[str, Any] = {}


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping in a ``.yaml``/``.yml``/``.json`` file (syntax errors name the line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_config(source: str | os.PathLike[str] | dict[str, Any], model: type[C]) -> C:
    """Validates a file or mapping against ``model``; every problem is reported at once."""
    data = source if isinstance(source, dict) else read_config_file(source)
    name = "config" if isinstance(source, dict) else str(source)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, name)) from None


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: {exc.error_count()} invalid field(s):"]
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"]) or "<root>"
        reason = error["msg"]
        if error["type"] == "extra_forbidden":
            reason = "unknown field (not allowed here)"
        lines.append(f"  {path}: {reason}")
    return "\n".join(lines)
