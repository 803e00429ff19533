"""Training tasks: what the one engine does with a model and a batch.

The engine (:mod:`vidray.train.engine`) owns everything generic: workers,
DDP, the data shards, precision, accumulation, the optimizer and schedule,
checkpoints, failure recovery and logging. A task owns what differs between
kinds of training: the module that is trained around the model, the loss of
a batch, and how evaluation is scored. Tasks are registered by name and
chosen by the config (``task: {name: classification, args: {...}}``); the
self-supervised methods plug in the same way.
"""

from __future__ import annotations

import abc
import inspect
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from vidray.config import ComponentConfig
from vidray.errors import ConfigError, LayoutError, RegistryError
from vidray.losses import LOSSES
from vidray.models.head import ResNetBasicHead, ResNetRoIHead, VisionTransformerBasicHead
from vidray.models.registry import KINETICS_MEAN, KINETICS_STD, ModelSpec
from vidray.registry import Registry
from vidray.ssl.encoder import LinearProbe, load_encoder_state
from vidray.train.checkpoints import read_state
from vidray.train.inputs import ClipToModelInput
from vidray.train.metrics import VideoScoreTable, confusion_matrix_png
from vidray.transforms.functional import convert_to_one_hot
from vidray.transforms.mix import MixVideo

TASKS: Registry = Registry("tasks")
HEADS = (ResNetBasicHead, ResNetRoIHead, VisionTransformerBasicHead)


@dataclass
class TaskContext:
    """What a task learns about the job when a worker starts."""

    num_classes: int
    class_names: list[str] | None
    model_spec: ModelSpec | None
    device: torch.device
    rank: int = 0
    world_size: int = 1


@dataclass
class StepOutput:
    """A training step's loss (to backpropagate) and the scalars to log with it."""

    loss: torch.Tensor
    clips: int
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class EvaluationOutput:
    """An evaluation's scalar metrics and artifacts (file name -> bytes), for rank 0 to log."""

    metrics: dict[str, float]
    artifacts: dict[str, bytes] = field(default_factory=dict)


class Task(abc.ABC):
    """Base of the registered tasks; subclasses take their config ``args`` as keyword arguments.

    Args:
        mean, std: per-channel normalisation in [0, 1] units at the model
            boundary (default: the zoo model's, else Kinetics').
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        self.mean, self.std = mean, std

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> None:
        """Raises :class:`ConfigError` if ``args`` do not fit the task (config validation)."""
        try:
            inspect.signature(cls).bind(**args)
        except TypeError as exc:
            raise ConfigError(f"task {cls.__name__}: arguments {dict(args)} do not fit: {exc}") from None
        cls(**args)  # the constructor's own checks

    @classmethod
    def check_experiment(cls, args: Mapping[str, Any], config: Any) -> None:
        """Raises :class:`ConfigError` (naming the field) if the rest of the experiment does not suit
        the task, e.g. data with too few views for a contrastive method; by default anything goes."""

    def setup(self, model: nn.Module, context: TaskContext) -> nn.Module:
        """The module to train (wrapped in DDP by the engine); by default the model itself."""
        self.context = context
        spec = context.model_spec
        mean = self.mean or (spec.mean if spec else KINETICS_MEAN)
        std = self.std or (spec.std if spec else KINETICS_STD)
        self.to_input = ClipToModelInput(mean, std, context.device, spec.input if spec else None)
        return model

    def example_input(self, clip_shape: Sequence[int]) -> torch.Tensor | list[torch.Tensor]:
        """A model input for one random uint8 clip of ``clip_shape`` ``[C, T, H, W]`` (logged with the model)."""
        clip = torch.randint(0, 256, (1, *clip_shape), dtype=torch.uint8, device=self.context.device)
        return self.to_input(clip)

    @abc.abstractmethod
    def training_step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        """The loss of one batch (on the device), and the scalars to log with it."""

    def optimizer_stepped(self, module: nn.Module, step: int, total_steps: int) -> dict[str, float]:
        """Called after optimizer step ``step`` of ``total_steps`` with the unwrapped module (momentum
        targets move here); returns scalars to log with the step."""
        return {}

    def evaluator(self, num_videos: int, expected_views: Sequence[int]) -> "Evaluator | None":
        """A fresh evaluation of the validation data; ``None``: the task does not evaluate."""
        return None

    def deployable(self, module: nn.Module) -> nn.Module:
        """What is saved as the final model (the classifier; an SSL task returns its encoder)."""
        return module


class Evaluator(abc.ABC):
    """Accumulates one evaluation on one worker; :meth:`finish` combines all workers."""

    @abc.abstractmethod
    def add(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> None:
        """Scores one batch of validation clips."""

    @abc.abstractmethod
    def finish(self) -> EvaluationOutput:
        """The metrics over every worker's batches (a collective: every worker calls it)."""


@TASKS.register("classification")
class ClassificationTask(Task):
    """Supervised classification, single-label (Kinetics, UCF101, SSv2) or multi-label (Charades).

    Args:
        multi_label: labels are multi-hot ``[B, K]`` vectors (loss: BCE; evaluation: mAP).
        label_smoothing: for single-label cross entropy (and MixUp/CutMix targets).
        mixup_alpha, cutmix_alpha: > 0 enables MixUp / CutMix on the device batch
            (both: one of them per batch, CutMix with ``switch_prob``).
        mix_prob: probability that a batch is mixed at all.
        switch_prob: probability of CutMix when both are enabled.
        loss: a :data:`~vidray.losses.LOSSES` entry replacing the default loss.
        encoder_checkpoint: a checkpoint (or run folder) of a self-supervised run whose
            encoder initialises the model (fine-tuning, or a linear probe with ``freeze_encoder``);
            the run is tagged with the pretraining run.
        freeze_encoder: train only the classifier (linear probe); batch norms keep their statistics.
        feature_norm: with ``freeze_encoder``, standardise the frozen features before the classifier
            (a batch norm without scale and shift, folded into the saved classifier), as MoCo v3's and
            MAE's probes do: the probe's learning rate then does not depend on the encoder's feature
            scale. ``false``: the classifier sees raw features (PySlowFast's protocol).
        mean, std: see :class:`Task`.
    """

    def __init__(
        self,
        multi_label: bool = False,
        label_smoothing: float = 0.0,
        mixup_alpha: float = 0.0,
        cutmix_alpha: float = 0.0,
        mix_prob: float = 1.0,
        switch_prob: float = 0.5,
        loss: dict[str, Any] | None = None,
        encoder_checkpoint: str | None = None,
        freeze_encoder: bool = False,
        feature_norm: bool = True,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        super().__init__(mean, std)
        self.encoder_checkpoint, self.freeze_encoder, self.feature_norm = encoder_checkpoint, freeze_encoder, feature_norm
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"task classification: label_smoothing must be in [0, 1), got {label_smoothing}")
        if mixup_alpha < 0 or cutmix_alpha < 0:
            raise ConfigError("task classification: mixup_alpha and cutmix_alpha must be >= 0")
        if multi_label and (mixup_alpha or cutmix_alpha):
            raise ConfigError("task classification: MixUp/CutMix apply to single-label classification only")
        self.multi_label, self.label_smoothing = multi_label, label_smoothing
        self.mix = (mixup_alpha, cutmix_alpha, mix_prob, switch_prob) if (mixup_alpha or cutmix_alpha) else None
        self.loss_config = ComponentConfig.model_validate(loss) if loss is not None else None
        if self.loss_config is not None:
            try:
                LOSSES.get(self.loss_config.name)
            except RegistryError as exc:
                raise ConfigError(f"task classification: loss: {exc}") from None

    def setup(self, model: nn.Module, context: TaskContext) -> nn.Module:
        super().setup(model, context)
        strip_output_activation(model)
        if self.encoder_checkpoint:
            state = read_state(self.encoder_checkpoint)
            load_encoder_state(model, state["deployable_state"], source=state["folder"])
        self.loss_fn = self._build_loss().to(context.device)
        self.mixer = None
        if self.mix is not None:
            mixup_alpha, cutmix_alpha, mix_prob, switch_prob = self.mix
            self.mixer = MixVideo(
                cutmix_prob=switch_prob if mixup_alpha and cutmix_alpha else (1.0 if cutmix_alpha else 0.0),
                mixup_alpha=mixup_alpha or 1.0,
                cutmix_alpha=cutmix_alpha or 1.0,
                label_smoothing=self.label_smoothing,
                num_classes=context.num_classes,
            )
            self.mix_prob = mix_prob
        return LinearProbe(model, self.feature_norm) if self.freeze_encoder else model

    def _build_loss(self) -> nn.Module:
        if self.loss_config is not None:
            return LOSSES.build(self.loss_config.name, **self.loss_config.args)
        if self.multi_label:
            return LOSSES.build("BCEWithLogitsLoss")
        if self.mix is not None:
            return LOSSES.build("SoftTargetCrossEntropyLoss")
        return LOSSES.build("CrossEntropyLoss", label_smoothing=self.label_smoothing)

    def training_step(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> StepOutput:
        video, labels = batch["video"], self._labels(batch["label"])
        clips = len(video)
        if self.mixer is not None:  # soft targets for every batch, mixed or not
            if torch.rand(()) < self.mix_prob:
                video, labels = self.mixer(video, labels)
            else:
                labels = convert_to_one_hot(labels, self.context.num_classes, self.label_smoothing).float()
        logits = module(self.to_input(video))
        loss = self.loss_fn(logits, labels)
        metrics = {}
        if not self.multi_label and labels.dim() == 1:
            metrics["train_top1"] = (logits.argmax(1) == labels).float().mean().item()
        return StepOutput(loss, clips, metrics)

    def _labels(self, labels: torch.Tensor) -> torch.Tensor:
        expected = 2 if self.multi_label else 1
        if labels.dim() != expected:
            kind = "multi-hot [B, num_classes]" if self.multi_label else "class indices [B]"
            raise LayoutError(
                f"task classification (multi_label={self.multi_label}): expected labels as {kind}, "
                f"got shape {list(labels.shape)}; set task.args.multi_label to match the dataset"
            )
        return labels.float() if self.multi_label else labels.long()

    def evaluator(self, num_videos: int, expected_views: Sequence[int]) -> "ClassificationEvaluator":
        return ClassificationEvaluator(self, num_videos, expected_views)

    def deployable(self, module: nn.Module) -> nn.Module:
        return module.classifier() if isinstance(module, LinearProbe) else module


def strip_output_activation(model: nn.Module) -> None:
    """Makes heads return logits: some PyTorchVideo builders end in a softmax or sigmoid
    (X3D, R(2+1)D, the AVA detectors), which the losses apply themselves. Activations
    hold no weights, so checkpoints are unaffected."""
    for module in model.modules():
        if isinstance(module, HEADS) and isinstance(module.activation, (nn.Softmax, nn.Sigmoid)):
            module.activation = None


class ClassificationEvaluator(Evaluator):
    """Multi-view video-level scoring: every view of every video once, across all workers."""

    def __init__(self, task: ClassificationTask, num_videos: int, expected_views: Sequence[int]) -> None:
        self.task = task
        self.views = VideoScoreTable(num_videos, task.context.num_classes, list(expected_views), task.multi_label)

    @torch.no_grad()
    def add(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> None:
        logits = module(self.task.to_input(batch["video"]))
        self.views.add(batch["video_index"].cpu(), logits.float().cpu(), self.task._labels(batch["label"]).cpu())

    def finish(self) -> EvaluationOutput:
        self.views.all_reduce()
        result = self.views.result(self.task.context.class_names)
        artifacts = {}
        if result.confusion_matrix is not None:
            artifacts["confusion_matrix.png"] = confusion_matrix_png(result.confusion_matrix, result.class_names)
        return EvaluationOutput(result.metrics(), artifacts)
