"""Batch mixing augmentations: MixUp, CutMix, and a random choice of the two (PyTorchVideo's names).

They take a whole batch ``[B, C, T, H, W]`` (typically on the training device,
after the transfer) and mix each clip with its partner in the reversed batch,
``x.flip(0)``; the labels become ``[B, num_classes]`` soft targets
``lam * y + (1 - lam) * y.flip(0)`` (smoothed before mixing) for a soft-target
loss such as :class:`vidray.losses.SoftTargetCrossEntropyLoss`. ``lam`` is drawn
from ``Beta(alpha, alpha)`` with torch's global CPU generator, even for CUDA
batches, so ``torch.manual_seed`` reproduces a run on any device. The lambda the
labels were mixed with is kept as ``last_lambda`` for tests and logging.

Fixed relative to PyTorchVideo 0.1.5:

- inputs are never modified (its MixUp mixed the caller's tensors in place);
- uint8 video is mixed in float and returned as rounded uint8;
- CutMix's box is ``int(H * sqrt(1 - lam))`` by ``int(W * sqrt(1 - lam))`` (clipped at
  the frame's edges); its ``cut_h // 2`` on both sides lost a row or column for odd
  sizes and gave an empty box for a size of 1;
- MixVideo passes ``one_hot`` to CutMix, and with audio it passes ``x_audio`` by
  keyword and returns ``(video, audio, labels)`` (it passed the audio as a
  positional argument and unpacked the results in the wrong order);
- label smoothing applies to ``one_hot=True`` labels too (it was silently ignored);
- bad arguments raise :class:`~vidray.errors.ConfigError` and bad batches
  :class:`~vidray.errors.LayoutError`, instead of asserts.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.transforms.base import (
    check_probability,
    check_video,
    coin,
    describe,
    randint,
)
from vidray.transforms.compose import TRANSFORMS
from vidray.transforms.functional import convert_to_one_hot

Box = tuple[int, int, int, int]  # top, bottom, left, right: rows top:bottom, columns left:right
MixOutput = tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _check_alpha(value: float, name: str, who: str) -> float:
    if not value > 0:  # also rejects NaN
        raise ConfigError(f"{who}: {name} must be > 0 (the concentration of Beta(alpha, alpha)), got {value}")
    return float(value)


def _check_label_args(label_smoothing: float, num_classes: int, who: str) -> None:
    if not 0.0 <= label_smoothing < 1.0:
        raise ConfigError(f"{who}: label_smoothing must be in [0, 1), got {label_smoothing}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"{who}: num_classes must be an int >= 1, got {num_classes!r}")


def _check_audio(x_audio: object, batch: int, ranks: tuple[int, ...], layout: str, who: str) -> torch.Tensor:
    """The audio batch must pair clip for clip with the video, or the mixed partners would differ."""
    if (
        not isinstance(x_audio, torch.Tensor)
        or x_audio.dim() not in ranks
        or x_audio.shape[0] != batch
        or not (x_audio.dtype == torch.uint8 or x_audio.is_floating_point())
    ):
        raise LayoutError(
            f"{who}: expected x_audio {layout} (uint8 or float) with the video's batch size {batch}, "
            f"got {describe(x_audio)}"
        )
    return x_audio


def _blend(x: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam * x + (1 - lam) * x.flip(0)``, out of place; uint8 is mixed in float and rounded back."""
    if x.dtype == torch.uint8:
        mixed = lam * x.float() + (1.0 - lam) * x.flip(0).float()
        return mixed.round_().clamp_(0, 255).to(torch.uint8)
    return lam * x + (1.0 - lam) * x.flip(0)


def _paste(x: torch.Tensor, box: Box) -> torch.Tensor:
    """A copy of ``x`` with the box of every frame and channel taken from the reversed batch."""
    top, bottom, left, right = box
    out = x.clone()
    out[..., top:bottom, left:right] = x[..., top:bottom, left:right].flip(0)
    return out


class _BatchMix(nn.Module):
    """What MixUp and CutMix share: argument checks, the lambda draw, batch checks and label mixing."""

    def __init__(
        self, alpha: float = 1.0, label_smoothing: float = 0.0, num_classes: int = 400, one_hot: bool = False
    ) -> None:
        super().__init__()
        self.alpha = _check_alpha(alpha, "alpha", self.who)
        _check_label_args(label_smoothing, num_classes, self.who)
        self.label_smoothing = float(label_smoothing)
        self.num_classes = num_classes
        self.one_hot = bool(one_hot)
        # CPU concentrations: the draw uses the global CPU generator wherever the batch lives.
        self._beta = torch.distributions.Beta(torch.tensor(self.alpha), torch.tensor(self.alpha))
        self.last_lambda: float | None = None

    @property
    def who(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, label_smoothing={self.label_smoothing}, "
            f"num_classes={self.num_classes}, one_hot={self.one_hot}"
        )

    def _draw_lambda(self) -> float:
        return float(self._beta.sample())

    def _check_batch(self, x_video: torch.Tensor, labels: torch.Tensor) -> int:
        """The batch size, once the video and labels are known to fit together."""
        if check_video(x_video, self.who).dim() != 5:
            raise LayoutError(f"{self.who}: expected a batch of videos [B, C, T, H, W], got {describe(x_video)}")
        batch = x_video.shape[0]
        if batch < 2:
            raise LayoutError(f"{self.who}: mixing needs a batch of at least 2 clips, got {describe(x_video)}")
        self._check_labels(labels, batch)
        return batch

    def _check_labels(self, labels: torch.Tensor, batch: int) -> None:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else None
        if self.one_hot:
            if shape != (batch, self.num_classes):
                raise LayoutError(
                    f"{self.who}: expected one-hot labels [{batch}, {self.num_classes}] (one_hot=True), "
                    f"got {describe(labels)}"
                )
            return
        integral = isinstance(labels, torch.Tensor) and not (
            labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool
        )
        if shape != (batch,) or not integral:
            hint = "; pass one_hot=True for one-hot labels" if shape == (batch, self.num_classes) else ""
            raise LayoutError(f"{self.who}: expected integer class indices [{batch}], got {describe(labels)}{hint}")
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= self.num_classes:
            raise LayoutError(
                f"{self.who}: expected class indices in [0, {self.num_classes}), got values from {low} to {high}"
            )

    def _mix_labels(self, labels: torch.Tensor, lam: float) -> torch.Tensor:
        """``[B, num_classes]`` rows ``lam * y + (1 - lam) * y.flip(0)``, smoothed before mixing."""
        if self.one_hot:
            dense = labels if labels.is_floating_point() else labels.float()
            dense = dense * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
        else:
            dense = convert_to_one_hot(labels, self.num_classes, self.label_smoothing).float()
        return lam * dense + (1.0 - lam) * dense.flip(0)


@TRANSFORMS.register()
class MixUp(_BatchMix):
    """MixUp (https://arxiv.org/abs/1710.09412): every clip becomes ``lam * x + (1 - lam) * x.flip(0)``.

    Args:
        alpha: concentration of the ``Beta(alpha, alpha)`` that ``lam`` is drawn from.
        label_smoothing: smoothing applied to the labels before they are mixed.
        num_classes: width of the returned label rows.
        one_hot: labels are ``[B, num_classes]`` rows instead of ``[B]`` class indices.
    """

    def forward(self, x_video: torch.Tensor, labels: torch.Tensor, *, x_audio: torch.Tensor | None = None) -> MixOutput:
        """``(video, labels)``, or ``(video, audio, labels)`` when ``x_audio`` (any ``[B, ...]``) is given.

        The audio is mixed with the same ``lam`` and the same partners as the video.
        """
        batch = self._check_batch(x_video, labels)
        if x_audio is not None:
            _check_audio(x_audio, batch, tuple(range(2, 6)), "[B, ...]", self.who)
        lam = self._draw_lambda()
        self.last_lambda = lam
        mixed_labels = self._mix_labels(labels, lam)
        if x_audio is None:
            return _blend(x_video, lam), mixed_labels
        return _blend(x_video, lam), _blend(x_audio, lam), mixed_labels


@TRANSFORMS.register()
class CutMix(_BatchMix):
    """CutMix (https://arxiv.org/abs/1905.04899): a box of every clip is pasted from the reversed batch.

    One box per batch, the same on every frame and channel, sized for an area
    fraction ``1 - lam`` and clipped at the frame's edges; the labels are mixed
    with the lambda of the box actually pasted, ``1 - box area / frame area``
    (``last_lambda``; the box itself is ``last_box``).

    Args:
        alpha: concentration of the ``Beta(alpha, alpha)`` that ``lam`` is drawn from.
        label_smoothing: smoothing applied to the labels before they are mixed.
        num_classes: width of the returned label rows.
        one_hot: labels are ``[B, num_classes]`` rows instead of ``[B]`` class indices.
    """

    def __init__(
        self, alpha: float = 1.0, label_smoothing: float = 0.0, num_classes: int = 400, one_hot: bool = False
    ) -> None:
        super().__init__(alpha, label_smoothing, num_classes, one_hot)
        self.last_box: Box | None = None
        self.last_audio_box: Box | None = None

    @staticmethod
    def _draw_box(height: int, width: int, lam: float) -> Box:
        """A box of ``1 - lam`` of the frame centred on a random pixel, clipped to the frame."""
        ratio = math.sqrt(1.0 - lam)
        cut_h, cut_w = int(height * ratio), int(width * ratio)
        center_y, center_x = randint(0, height - 1), randint(0, width - 1)
        top, left = center_y - cut_h // 2, center_x - cut_w // 2
        return (
            min(max(top, 0), height),
            min(max(top + cut_h, 0), height),
            min(max(left, 0), width),
            min(max(left + cut_w, 0), width),
        )

    def forward(self, x_video: torch.Tensor, labels: torch.Tensor, *, x_audio: torch.Tensor | None = None) -> MixOutput:
        """``(video, labels)``, or ``(video, audio, labels)`` when ``x_audio`` is given.

        ``x_audio`` is a spectrogram batch ``[B, C, T, F]`` (or ``[B, C, T, H, W]``);
        it gets its own box, drawn for the same ``lam`` and pasted from the same
        partners, as its shape differs from the video's (as in PyTorchVideo).
        """
        batch = self._check_batch(x_video, labels)
        if x_audio is not None:
            _check_audio(x_audio, batch, (4, 5), "[B, C, T, F] or [B, C, T, H, W]", self.who)
        lam = self._draw_lambda()
        height, width = x_video.shape[-2:]
        box = self._draw_box(height, width, lam)
        top, bottom, left, right = box
        self.last_box = box
        self.last_lambda = 1.0 - (bottom - top) * (right - left) / (height * width)
        mixed_video = _paste(x_video, box)
        mixed_labels = self._mix_labels(labels, self.last_lambda)
        if x_audio is None:
            self.last_audio_box = None
            return mixed_video, mixed_labels
        self.last_audio_box = self._draw_box(x_audio.shape[-2], x_audio.shape[-1], lam)
        return mixed_video, _paste(x_audio, self.last_audio_box), mixed_labels


@TRANSFORMS.register()
class MixVideo(nn.Module):
    """Applies CutMix with probability ``cutmix_prob``, else MixUp, to a batch.

    Takes and returns what :class:`MixUp` and :class:`CutMix` do; ``last_lambda``
    is the lambda of the one that ran (its own ``last_lambda`` is set too).

    Args:
        cutmix_prob: probability of CutMix (0: always MixUp, 1: always CutMix).
        mixup_alpha: MixUp's Beta concentration.
        cutmix_alpha: CutMix's Beta concentration.
        label_smoothing: smoothing applied to the labels before they are mixed.
        num_classes: width of the returned label rows.
        one_hot: labels are ``[B, num_classes]`` rows instead of ``[B]`` class indices
            (PyTorchVideo forgot to pass it to CutMix).
    """

    def __init__(
        self,
        cutmix_prob: float = 0.5,
        mixup_alpha: float = 1.0,
        cutmix_alpha: float = 1.0,
        label_smoothing: float = 0.0,
        num_classes: int = 400,
        one_hot: bool = False,
    ) -> None:
        super().__init__()
        # Checked here so that errors name MixVideo's own parameters.
        self.cutmix_prob = check_probability(cutmix_prob, "cutmix_prob", "MixVideo")
        _check_alpha(mixup_alpha, "mixup_alpha", "MixVideo")
        _check_alpha(cutmix_alpha, "cutmix_alpha", "MixVideo")
        _check_label_args(label_smoothing, num_classes, "MixVideo")
        self.mixup = MixUp(mixup_alpha, label_smoothing, num_classes, one_hot)
        self.cutmix = CutMix(cutmix_alpha, label_smoothing, num_classes, one_hot)
        self.last_lambda: float | None = None

    def extra_repr(self) -> str:
        return f"cutmix_prob={self.cutmix_prob}"

    def forward(self, x_video: torch.Tensor, labels: torch.Tensor, *, x_audio: torch.Tensor | None = None) -> MixOutput:
        chosen = self.cutmix if coin(self.cutmix_prob) else self.mixup
        out = chosen(x_video, labels, x_audio=x_audio)
        self.last_lambda = chosen.last_lambda
        return out
