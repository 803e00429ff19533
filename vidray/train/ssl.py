"""Self-supervised pretraining as tasks of the one engine: ``simclr``, ``moco``, ``byol``.

Each task turns the configured model into a feature encoder (its classifier
becomes the identity), wraps it in the method's module (:mod:`vidray.ssl`),
and trains on samples of ``rho >= 2`` views of a video: clips at different
times (the ``random_multi`` clip sampler), each with its own augmentation
(``ApplyTransformToKeyOnList``), decoded by Ray Data as ``[V, C, T, H, W]``.
Momentum targets move once per optimizer step (:meth:`Task.optimizer_stepped`),
by default on BYOL's cosine schedule. The model saved at the end is the
encoder: a linear probe or fine-tuning starts from it (``classification``'s
``encoder_checkpoint``).
"""

from __future__ import annotations

import abc
import inspect
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence

import torch
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.layers.batch_norm import NaiveSyncBatchNorm1d
from vidray.layers.mlp import make_multilayer_perceptron
from vidray.ssl import BYOL, MoCo, SimCLR, cosine_momentum, feature_encoder
from vidray.train.tasks import TASKS, StepOutput, Task, TaskContext

if TYPE_CHECKING:
    from vidray.data.config import DataConfig
    from vidray.train.config import ExperimentConfig

MULTI_CLIP_SAMPLERS = ("random_multi", "random_multi_truncate_from_start")


def views_per_sample(data: "DataConfig") -> int:
    """Clips per sample the data config produces: the multi-clip sampler's ``num_clips`` times any
    ``RepeatandConverttoList`` repeat."""
    sampler = data.clip_sampler
    views = int(sampler.args.get("num_clips", 1)) if sampler.name in MULTI_CLIP_SAMPLERS else 1
    for step in data.transform or []:
        if step.name == "RepeatandConverttoList":
            views *= int(step.args.get("repeat_num", 1))
    return views


def projection(dims: Sequence[int]) -> nn.Module:
    """A projection MLP ``dims[0] -> ... -> dims[-1]`` with synchronised batch norm between layers."""
    mlp, _ = make_multilayer_perceptron(list(dims), norm=NaiveSyncBatchNorm1d, final_activation=None)
    return mlp


class SelfSupervisedTask(Task):
    """What the three methods share: views in, encoder out, momentum schedule.

    Args:
        mlp_dims: hidden and output widths of the projection MLP (its input is the encoder's width).
        momentum: base momentum of the target network (MoCo, BYOL).
        momentum_schedule: ``cosine`` (BYOL's: from ``momentum`` to 1 over training) or ``constant``.
        mean, std: see :class:`~vidray.train.tasks.Task`.
    """

    name = ""
    uses_momentum = False

    def __init__(
        self,
        mlp_dims: Sequence[int] = (2048, 128),
        momentum: float = 0.99,
        momentum_schedule: Literal["cosine", "constant"] = "cosine",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(mean, std)
        if len(mlp_dims) < 1 or any(int(d) < 1 for d in mlp_dims):
            raise ConfigError(f"task {self.name}: mlp_dims must be positive widths, got {list(mlp_dims)}")
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"task {self.name}: momentum must be in [0, 1), got {momentum}")
        if momentum_schedule not in ("cosine", "constant"):
            raise ConfigError(f"task {self.name}: momentum_schedule must be 'cosine' or 'constant', got {momentum_schedule!r}")
        self.mlp_dims, self.momentum, self.momentum_schedule = [int(d) for d in mlp_dims], momentum, momentum_schedule

    @classmethod
    def check_experiment(cls, args: Mapping[str, Any], config: "ExperimentConfig") -> None:
        views = views_per_sample(config.data.train)
        if views < 2:
            raise ConfigError(
                f"data.train: task {cls.name} compares >= 2 views of each video, but each sample has {views}; "
                "use clip_sampler {name: random_multi, args: {clip_duration: ..., num_clips: 2}} and an "
                "ApplyTransformToKeyOnList transform"
            )

    def setup(self, model: nn.Module, context: TaskContext) -> nn.Module:
        super().setup(model, context)
        encoder, dim = feature_encoder(model)
        return self.build_method(encoder, dim)

    @abc.abstractmethod
    def build_method(self, encoder: nn.Module, dim: int) -> nn.Module:
        """The method's module around ``encoder`` (features of width ``dim``)."""

    def example_input(self, clip_shape: Sequence[int]) -> torch.Tensor | list[torch.Tensor]:
        return super().example_input(clip_shape[1:] if len(clip_shape) == 5 else clip_shape)  # one view

    def training_step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        video = batch["video"]
        if video.dim() != 6:
            raise LayoutError(
                f"task {self.name}: expected views [B, V, C, T, H, W], got a batch of shape {list(video.shape)}; "
                "sample several clips per video (clip sampler random_multi)"
            )
        views = [self.to_input(video[:, v]) for v in range(video.shape[1])]
        return StepOutput(module(*views), clips=video.shape[0] * video.shape[1])

    def optimizer_stepped(self, module: nn.Module, step: int, total_steps: int) -> dict[str, float]:
        if not self.uses_momentum:
            return {}
        momentum = self.momentum
        if self.momentum_schedule == "cosine":
            momentum = cosine_momentum(self.momentum, step / max(total_steps, 1))
        module.update_mmt(momentum)
        module.momentum_update()
        return {"momentum": momentum}

    def deployable(self, module: nn.Module) -> nn.Module:
        return module.encoder()


@TASKS.register("simclr")
class SimCLRTask(SelfSupervisedTask):
    """SimCLR: NT-Xent over every view, negatives from all workers (gradients through the gather).

    Args:
        temperature: of NT-Xent.
        mlp_dims, mean, std: see :class:`SelfSupervisedTask`.
    """

    name = "simclr"

    def __init__(
        self,
        temperature: float = 0.1,
        mlp_dims: Sequence[int] = (2048, 128),
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(mlp_dims, mean=mean, std=std)
        if temperature <= 0:
            raise ConfigError(f"task simclr: temperature must be > 0, got {temperature}")
        self.temperature = temperature

    @classmethod
    def check_experiment(cls, args: Mapping[str, Any], config: "ExperimentConfig") -> None:
        super().check_experiment(args, config)
        if config.batch_size * config.scaling.num_workers < 2:
            raise ConfigError(
                "batch_size: simclr needs other videos in the global batch as negatives, but batch_size "
                f"{config.batch_size} x {config.scaling.num_workers} worker(s) = 1; raise batch_size"
            )

    def build_method(self, encoder: nn.Module, dim: int) -> nn.Module:
        return SimCLR(mlp=projection([dim, *self.mlp_dims]), backbone=encoder, temperature=self.temperature)


@TASKS.register("moco")
class MoCoTask(SelfSupervisedTask):
    """MoCo v2 (``predictor_dims: null``) or v3-style (a predictor MLP): momentum keys and a global queue.

    Args:
        queue_size: negatives kept; a multiple of the global batch (batch_size x num_workers).
        temperature: of InfoNCE.
        predictor_dims: hidden and output widths of a predictor on the queries (v3); ``None``: none.
        shuffle_bn: shuffle the key batch across workers (see :mod:`vidray.ssl.moco`).
        mlp_dims, momentum, momentum_schedule, mean, std: see :class:`SelfSupervisedTask`.
    """

    name = "moco"
    uses_momentum = True

    def __init__(
        self,
        queue_size: int = 65536,
        temperature: float = 0.2,
        predictor_dims: Sequence[int] | None = None,
        shuffle_bn: bool = True,
        mlp_dims: Sequence[int] = (2048, 128),
        momentum: float = 0.999,
        momentum_schedule: Literal["cosine", "constant"] = "constant",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(mlp_dims, momentum, momentum_schedule, mean, std)
        if queue_size < 1 or temperature <= 0:
            raise ConfigError(f"task moco: queue_size must be >= 1 and temperature > 0, got {queue_size}, {temperature}")
        if predictor_dims is not None and predictor_dims[-1] != self.mlp_dims[-1]:
            raise ConfigError(
                f"task moco: predictor_dims must end at the projection's width {self.mlp_dims[-1]}, got {list(predictor_dims)}"
            )
        self.queue_size, self.temperature, self.shuffle_bn = queue_size, temperature, shuffle_bn
        self.predictor_dims = list(predictor_dims) if predictor_dims is not None else None

    @classmethod
    def check_experiment(cls, args: Mapping[str, Any], config: "ExperimentConfig") -> None:
        super().check_experiment(args, config)
        queue_size = int(args.get("queue_size", inspect.signature(cls).parameters["queue_size"].default))
        global_batch = config.batch_size * config.scaling.num_workers
        if queue_size % global_batch:
            raise ConfigError(
                f"task.args.queue_size: {queue_size} is not a multiple of the global batch {global_batch} "
                f"(batch_size {config.batch_size} x {config.scaling.num_workers} workers): each step enqueues "
                "one global batch of keys"
            )

    def build_method(self, encoder: nn.Module, dim: int) -> nn.Module:
        width = self.mlp_dims[-1]
        predictor = projection([width, *self.predictor_dims]) if self.predictor_dims else None
        return MoCo(encoder, projection([dim, *self.mlp_dims]), dim=width, queue_size=self.queue_size,
                    temperature=self.temperature, mmt=self.momentum, predictor=predictor, shuffle_bn=self.shuffle_bn)


@TASKS.register("byol")
class BYOLTask(SelfSupervisedTask):
    """BYOL: the online network predicts the momentum target's projection of another view.

    Args:
        predictor_inner: hidden width of the predictor (its output is the projection's width).
        mlp_dims, momentum, momentum_schedule, mean, std: see :class:`SelfSupervisedTask`.
    """

    name = "byol"
    uses_momentum = True

    def __init__(
        self,
        predictor_inner: int = 4096,
        mlp_dims: Sequence[int] = (4096, 256),
        momentum: float = 0.99,
        momentum_schedule: Literal["cosine", "constant"] = "cosine",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(mlp_dims, momentum, momentum_schedule, mean, std)
        if predictor_inner < 1:
            raise ConfigError(f"task byol: predictor_inner must be >= 1, got {predictor_inner}")
        self.predictor_inner = predictor_inner

    def build_method(self, encoder: nn.Module, dim: int) -> nn.Module:
        return BYOL(encoder, projector=projection([dim, *self.mlp_dims]), feature_dim=self.mlp_dims[-1],
                    predictor_inner=self.predictor_inner, mmt=self.momentum)
