"""``create_model`` and ``list_models``: the zoo by name, as configs and the CLI use it.

Besides the zoo's hub names, configs may name PyTorchVideo's family builders
(``create_x3d``, ``create_resnet``, ...) with any of their arguments, for
architectures the zoo does not publish (a small X3D at 112², a C2D with
purely spatial kernels). Those carry no :class:`ModelSpec`: no published
weights, no input check, Kinetics normalisation.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from vidray.models.checkpoint import load_pretrained
from vidray.models.csn import create_csn
from vidray.models.efficient_x3d import create_x3d as create_efficient_x3d
from vidray.models.r2plus1d import create_r2plus1d
from vidray.models.registry import MODELS, ModelSpec, model_spec
from vidray.models.resnet import create_resnet
from vidray.models.slowfast import create_slowfast
from vidray.models.vision_transformers import create_multiscale_vision_transformers
from vidray.models.x3d import create_x3d
from vidray.registry import Registry

MODEL_BUILDERS: Registry = Registry("model_builders")
for _builder, _classes_arg in (
    (create_x3d, "model_num_class"),
    (create_resnet, "model_num_class"),
    (create_slowfast, "model_num_class"),
    (create_csn, "model_num_class"),
    (create_r2plus1d, "model_num_class"),
    (create_multiscale_vision_transformers, "head_num_classes"),
):
    MODEL_BUILDERS.add(_builder.__name__, _builder, num_classes_arg=_classes_arg)
MODEL_BUILDERS.add("create_efficient_x3d", create_efficient_x3d, num_classes_arg="num_classes")


def create_model(
    name: str,
    num_classes: int | None = None,
    pretrained: bool | str | os.PathLike[str] | None = None,
    progress: bool = True,
    **overrides: Any,
) -> nn.Module:
    """Builds the zoo model (or family builder) ``name``; ``overrides`` go to the family's ``create_*`` builder.

    ``pretrained``: ``None``/``False`` for a random initialisation, ``True`` for
    the published checkpoint (zoo names), or a local path / ``s3://`` URI of a checkpoint.
    Unknown names raise :class:`~vidray.errors.RegistryError` listing the closest.
    """
    if name in MODEL_BUILDERS:
        builder = MODEL_BUILDERS.get(name)
        if num_classes is not None:
            overrides[MODEL_BUILDERS.metadata(name)["num_classes_arg"]] = num_classes
        model = builder(**overrides)
        return load_pretrained(model, pretrained, progress) if pretrained else model
    entry = MODELS.get(name)
    return entry(pretrained=pretrained or False, progress=progress, num_classes=num_classes, **overrides)


def find_model_builder(name: str) -> Any:
    """The callable ``create_model(name, ...)`` builds with (a hub entry or a family builder)."""
    return MODEL_BUILDERS.get(name) if name in MODEL_BUILDERS else MODELS.get(name)


def spec_of(name: str) -> ModelSpec | None:
    """The zoo metadata of ``name``; ``None`` for family builders."""
    return None if name in MODEL_BUILDERS else model_spec(name)


def list_models(pattern: str = "*") -> list[str]:
    """Sorted zoo names matching a shell-style wildcard, e.g. ``list_models("x3d*")``."""
    return MODELS.list(pattern)


__all__ = ["MODEL_BUILDERS", "ModelSpec", "create_model", "find_model_builder", "list_models", "model_spec", "spec_of"]
