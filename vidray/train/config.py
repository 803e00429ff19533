"""The experiment config: one file names every component of a training job.

Every field has a default, so ``ExperimentConfig()`` is the embedded default
job (the synthetic dataset, a small X3D, 2 workers, a few minutes on 2 CPU
cores). Validation checks names against the registries and arguments against
the components' signatures, and reports every bad field at once, before any
cluster work.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from vidray.config import ComponentConfig, Config
from vidray.data.config import DataConfig, SyntheticConfig
from vidray.data.synthetic import default_root
from vidray.deploy.config import DeployConfig
from vidray.errors import ConfigError, RegistryError
from vidray.models.factory import find_model_builder
from vidray.tracking import TrackingConfig
from vidray.train.optim import check_optimizer_args
from vidray.train.schedulers import check_scheduler_args
from vidray.train.tasks import TASKS

_CLIP_TRANSFORM = [  # 8 frames at 32 x 32: the synthetic motion classes need time, not pixels
    ComponentConfig(
        name="ApplyTransformToKey",
        args={
            "key": "video",
            "transform": [
                {"name": "ShortSideScale", "args": {"size": 32}},
                {"name": "CenterCrop", "args": {"size": 32}},
            ],
        },
    )
]
# A bar moving right or left on a random texture (vidray.data.synthetic): small enough to learn in
# minutes on 2 CPU cores, and only a model that sees time can (a single frame carries no class).
# 1024 training videos, each seen 3 times: with a few hundred, the model memorises each video (its
# bar's colour and angle) instead of learning the motion.
_SYNTHETIC = SyntheticConfig(
    root=default_root() + "-2class", num_classes=2, train_per_class=512, val_per_class=32, height=48, width=48
)


def _default_data(split: Literal["train", "val"]) -> DataConfig:
    sampler = ("random", {"clip_duration": 1.6}) if split == "train" else ("constant_clips_per_video", {"clip_duration": 1.6, "clips_per_video": 2})
    return DataConfig(
        split=split,
        clip_sampler=ComponentConfig(name=sampler[0], args=sampler[1]),
        decode_audio=False,
        frames_per_clip=8,
        transform=_CLIP_TRANSFORM,
        synthetic=_SYNTHETIC,
    )


class DataSplits(Config):
    """Training and evaluation data (any data-layer dataset, e.g. ``manifest``); ``val`` is optional."""

    train: DataConfig = Field(default_factory=lambda: _default_data("train"))
    val: DataConfig | None = Field(default_factory=lambda: _default_data("val"))


class IngestConfig(Config):
    """How Ray Data decodes: concurrent decode tasks, clips per task, memory bound."""

    decode_workers: int | None = Field(2, ge=1)  # decode tasks at a time, split among the trainers (>= 1 each); None: as free CPUs allow
    decode_cpus: float = Field(1.0, gt=0)
    decode_resources: dict[str, float] = {}  # e.g. {"decode": 1}: only on nodes offering it (cluster/aws)
    clips_per_task: int | None = Field(None, ge=1)  # None: sized so a task decodes for ~2 s
    object_store_memory_mb: int | None = Field(1024, ge=64)  # bounds the pipeline's object-store use
    prefetch_batches: int = Field(2, ge=0)


class ScalingSection(Config):
    """Ray Train workers: how many, on what."""

    num_workers: int = Field(2, ge=1)
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0)
    resources_per_worker: dict[str, float] = {}


class CheckpointSection(Config):
    """Where checkpoints go and how often; ``storage_path`` is a local folder or ``s3://`` URI."""

    storage_path: str = "vidray-runs"  # relative paths are made absolute under the working directory
    every_n_epochs: int = Field(1, ge=1)
    num_to_keep: int | None = Field(2, ge=1)
    max_failures: int = Field(2, ge=-1)  # worker/node failures survived by resuming from the last checkpoint


class ExperimentConfig(Config):
    """A training job. The defaults train a small X3D on the synthetic motion dataset (minutes on 2 CPU cores)."""

    name: str = Field("x3d-synthetic", pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    data: DataSplits = Field(default_factory=DataSplits)
    model: ComponentConfig = ComponentConfig(  # X3D-XS's blocks at width and depth 1.0: 0.7 M parameters
        name="create_x3d",
        args={"input_clip_length": 8, "input_crop_size": 32, "width_factor": 1.0, "depth_factor": 1.0, "dropout_rate": 0.5},
    )
    task: ComponentConfig = ComponentConfig(name="classification")
    optimizer: ComponentConfig = ComponentConfig(name="adamw", args={"lr": 3e-3, "weight_decay": 0.05})
    scheduler: ComponentConfig = ComponentConfig(name="constant", args={"warmup_epochs": 0.25})
    epochs: int = Field(5, ge=1)
    batch_size: int = Field(8, ge=1)  # per worker; the global batch is batch_size x num_workers x grad_accum_steps
    eval_batch_size: int | None = Field(None, ge=1)
    grad_accum_steps: int = Field(1, ge=1)
    eval_every_n_epochs: int = Field(1, ge=1)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on GPU, fp32 on CPU
    compile: bool = False  # torch.compile the model (inductor) in every worker
    scaling: ScalingSection = Field(default_factory=ScalingSection)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    deploy: DeployConfig | None = None  # export the final model to an ExecuTorch program (vidray export)

    @field_validator("model")
    @classmethod
    def _known_model(cls, model: ComponentConfig) -> ComponentConfig:
        try:
            builder = find_model_builder(model.name)
        except RegistryError as exc:
            raise ValueError(str(exc)) from None
        try:
            inspect.signature(builder).bind(**model.args)
        except TypeError as exc:
            raise ValueError(f"arguments {model.args} do not fit model {model.name!r}: {exc}") from None
        return model

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: ComponentConfig) -> ComponentConfig:
        try:
            TASKS.get(task.name).check_args(task.args)
        except (ConfigError, RegistryError) as exc:
            raise ValueError(str(exc)) from None
        return task

    @field_validator("optimizer")
    @classmethod
    def _valid_optimizer(cls, optimizer: ComponentConfig) -> ComponentConfig:
        try:
            check_optimizer_args(optimizer)
        except (ConfigError, RegistryError) as exc:
            raise ValueError(str(exc)) from None
        return optimizer

    @model_validator(mode="after")
    def _task_fits_experiment(self) -> "ExperimentConfig":
        try:
            task = TASKS.get(self.task.name)
        except RegistryError:
            return self  # reported by the task field's own check
        try:
            task.check_experiment(self.task.args, self)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    @model_validator(mode="after")
    def _valid_schedule(self) -> "ExperimentConfig":
        try:
            check_scheduler_args(self.scheduler, self.epochs)
        except (ConfigError, RegistryError) as exc:
            raise ValueError(f"scheduler: {exc}") from None
        return self


def model_args(config: ExperimentConfig) -> dict[str, Any]:
    """The model's builder arguments; ``num_classes`` is passed on its own (it must match the data)."""
    return {key: value for key, value in config.model.args.items() if key != "num_classes"}

