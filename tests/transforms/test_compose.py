"""Transforms by name: the registry, nested specs from configs, and clear errors."""

from __future__ import annotations

import pytest
import torch

from vidray.config import load_config
from vidray.data.config import DataConfig
from vidray.errors import ConfigError, RegistryError
from vidray.transforms.compose import TRANSFORMS, Compose, build_transform

SPEC = [
    {
        "name": "ApplyTransformToKey",
        "args": {
            "key": "video",
            "transform": [
                {"name": "UniformTemporalSubsample", "args": {"num_samples": 4}},
                {"name": "RandomShortSideScaleCrop", "args": {"min_size": 32, "max_size": 40, "crop_size": 24}},
                {"name": "Normalize", "args": {"mean": [0.45, 0.45, 0.45], "std": [0.225, 0.225, 0.225]}},
            ],
        },
    },
    {"name": "RemoveKey", "args": {"key": "audio"}},
]


def test_a_nested_spec_builds_a_working_pipeline() -> None:
    transform = build_transform(SPEC)
    sample = {"video": torch.randint(0, 256, (3, 8, 36, 48), dtype=torch.uint8), "audio": torch.zeros(10)}
    out = transform(sample)
    assert out["video"].shape == (3, 4, 24, 24) and out["video"].dtype == torch.float32
    assert "audio" not in out


def test_compose_is_a_module_that_moves_with_to() -> None:
    transform = build_transform(SPEC)
    assert isinstance(transform, Compose) and len(list(transform.modules())) > 3


def test_unknown_transform_names_suggest_close_ones() -> None:
    with pytest.raises(RegistryError, match="did you mean 'ShortSideScale'"):
        build_transform({"name": "ShortSideScal", "args": {"size": 8}})


def test_bad_arguments_name_the_transform() -> None:
    with pytest.raises(ConfigError, match="'ShortSideScale': bad arguments"):
        build_transform({"name": "ShortSideScale", "args": {"sizes": 8}})
    with pytest.raises(ConfigError, match="needs 'name'"):
        build_transform({"args": {}})


def test_registered_names_cover_pytorchvideo_transforms() -> None:
    import vidray.transforms  # noqa: F401  (registers every module's transforms)

    pytorchvideo_names = {
        "ApplyTransformToKey", "AugMix", "ConvertFloatToUint8", "ConvertUint8ToFloat", "CutMix", "Div255", "MixUp",
        "MixVideo", "MoveChannelFront", "MoveChannelRear", "Normalize", "OpSampler", "Permute", "RandAugment",
        "RandomResizedCrop", "RandomShortSideScale", "RemoveKey", "ShortSideScale", "UniformCropVideo",
        "UniformTemporalSubsample", "UniformTemporalSubsampleRepeated",
    }  # fmt: skip
    assert pytorchvideo_names <= set(TRANSFORMS.list())


def test_data_config_validates_transform_specs_before_any_work() -> None:
    with pytest.raises(ConfigError, match="transform"):
        load_config({"transform": [{"name": "NoSuchTransform"}]}, DataConfig)
