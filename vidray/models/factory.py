"""``create_model`` and ``list_models``: the zoo by name, as configs and the CLI use it."""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from vidray.models.registry import MODELS, ModelSpec, model_spec


def create_model(
    name: str,
    num_classes: int | None = None,
    pretrained: bool | str | os.PathLike[str] | None = None,
    progress: bool = True,
    **overrides: Any,
) -> nn.Module:
    """Builds the zoo model ``name``; ``overrides`` go to the family's ``create_*`` builder.

    ``pretrained``: ``None``/``False`` for a random initialisation, ``True`` for
    the published checkpoint, or a local path / ``s3://`` URI of a checkpoint.
    Unknown names raise :class:`~vidray.errors.RegistryError` listing the closest.
    """
    entry = MODELS.get(name)
    return entry(pretrained=pretrained or False, progress=progress, num_classes=num_classes, **overrides)


def list_models(pattern: str = "*") -> list[str]:
    """Sorted zoo names matching a shell-style wildcard, e.g. ``list_models("x3d*")``."""
    return MODELS.list(pattern)


__all__ = ["ModelSpec", "create_model", "list_models", "model_spec"]
