"""The data section of an experiment config, and building a dataset from it."""

from __future__ import annotations

import inspect
import os
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from vidray import io as vio
from vidray.config import ComponentConfig, Config
from vidray.data import (
    CLIP_SAMPLERS,
    DATASETS,
    DECODERS,
    LabeledVideoDataset,
    make_clip_sampler,
)
from vidray.data.synthetic import SyntheticSpec, default_root, write_synthetic_dataset
from vidray.errors import ConfigError, RegistryError
from vidray.transforms.compose import build_transform


class SyntheticConfig(Config):
    """Writes the synthetic motion dataset first (see :mod:`vidray.data.synthetic`)."""

    root: str = Field(default_factory=default_root)
    num_classes: int = Field(4, ge=2, le=8)
    train_per_class: int = Field(24, ge=1)
    val_per_class: int = Field(8, ge=1)
    height: int = Field(112, ge=16, multiple_of=2)  # H.264 (yuv420p) needs even sizes
    width: int = Field(112, ge=16, multiple_of=2)
    fps: float = Field(15.0, gt=0)
    duration: float = Field(2.0, gt=0)
    seed: int = 0
    background: Literal["texture", "plain"] = "texture"  # plain: no per-video texture (for SSL)
    bar_angle: float | None = None  # degrees; None: random per video
    bar_color: tuple[int, int, int] | None = None  # RGB; None: random per video
    bar_length: float = Field(0.45, gt=0, le=2)  # of the shorter side; 1 with bar_angle 90: a full-height stripe

    def spec(self) -> SyntheticSpec:
        return SyntheticSpec(**self.model_dump(exclude={"root"}))


def _registered(registry: Any, name: str) -> str:
    try:
        registry.get(name)
    except RegistryError as exc:  # pydantic reports ValueErrors as field errors
        raise ValueError(str(exc)) from None
    return name


class DataConfig(Config):
    """Which dataset, how clips are sampled and decoded, and how they are batched."""

    dataset: str = "kinetics"
    data_path: str | None = None
    video_path_prefix: str = ""
    dataset_args: dict[str, Any] = {}
    split: Literal["train", "val"] = "train"  # which split of the synthetic dataset
    clip_sampler: ComponentConfig = ComponentConfig(name="random", args={"clip_duration": 1.6})
    decoder: str = "pyav"
    decoder_args: dict[str, Any] = {}
    decode_audio: bool = True
    frames_per_clip: int | None = Field(8, ge=1)
    transform: list[ComponentConfig] | None = None  # applied to each sample dict (vidray.transforms names)
    batch_size: int = Field(8, ge=1)
    num_workers: int = Field(2, ge=0)
    synthetic: SyntheticConfig | None = SyntheticConfig()

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        return _registered(DATASETS, name)

    @field_validator("decoder")
    @classmethod
    def _known_decoder(cls, name: str) -> str:
        return _registered(DECODERS, name)

    @field_validator("clip_sampler")
    @classmethod
    def _known_sampler(cls, sampler: ComponentConfig) -> ComponentConfig:
        _registered(CLIP_SAMPLERS, sampler.name)
        try:  # bad argument names or counts fail here, before any work
            inspect.signature(CLIP_SAMPLERS.get(sampler.name)).bind(**sampler.args)
        except TypeError as exc:
            raise ValueError(f"arguments {sampler.args} do not fit clip sampler {sampler.name!r}: {exc}") from None
        return sampler

    @field_validator("transform")
    @classmethod
    def _buildable_transform(cls, transform: list[ComponentConfig] | None) -> list[ComponentConfig] | None:
        if transform is not None:
            try:  # unknown names and bad arguments fail here, before any decoding
                build_transform(transform)
            except (RegistryError, ConfigError) as exc:
                raise ValueError(str(exc)) from None
        return transform

    @model_validator(mode="after")
    def _has_data(self) -> "DataConfig":
        if self.data_path is None and self.synthetic is None:
            raise ValueError("set data_path, or synthetic to write the synthetic dataset")
        return self


def build_dataset(config: DataConfig, seed: int | None = None, video_sampler: Any = None) -> LabeledVideoDataset:
    """The dataset a data config names (writing the synthetic data first if asked).

    ``video_sampler`` overrides the dataset's default video order (e.g.
    ``SequentialSampler`` for evaluation).
    """
    data_path, prefix = _absolute(config.data_path), _absolute(config.video_path_prefix)
    if config.synthetic is not None and data_path is None:
        synthetic = write_synthetic_dataset(_absolute(config.synthetic.root), config.synthetic.spec())
        data_path, prefix = synthetic.csv[config.split], synthetic.video_dir[config.split]
    return DATASETS.build(
        config.dataset,
        data_path=data_path,
        video_path_prefix=prefix,
        clip_sampler=make_clip_sampler(config.clip_sampler.name, **config.clip_sampler.args),
        decoder=config.decoder,
        decode_audio=config.decode_audio,
        frames_per_clip=config.frames_per_clip,
        decoder_args=config.decoder_args,
        seed=seed,
        transform=None if config.transform is None else build_transform(config.transform),
        **({} if video_sampler is None else {"video_sampler": video_sampler}),
        **config.dataset_args,
    )


def _absolute(path: str | None) -> str | None:
    """Local paths made absolute: the dataset may be read by processes with another working directory (Ray)."""
    if not path or vio.is_s3(path):
        return path
    return os.path.abspath(path)
