"""What every video transform shares: the layout check, per-clip randomness and boxes.

Videos are ``[C, T, H, W]`` clips or ``[B, C, T, H, W]`` batches, uint8 or
float, on any device. A random transform draws its parameters once per clip
(every frame, and the clip's boxes, get the same crop, flip or colour change),
from torch's global generator on the CPU, so ``torch.manual_seed`` makes a
pipeline reproducible and CPU and CUDA tensors get identical parameters. On a
batch each clip draws its own parameters, as it would in a data worker.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

import torch
from torch import nn
from torchvision import tv_tensors

from vidray.errors import ConfigError, LayoutError

VIDEO_LAYOUT = "a video [C, T, H, W] or a batch [B, C, T, H, W]"


def describe(x: object) -> str:
    """``tensor [16, 3, 224, 224] float32`` for error messages."""
    if isinstance(x, torch.Tensor):
        return f"tensor {list(x.shape)} {str(x.dtype).replace('torch.', '')}"
    return type(x).__name__


def check_video(x: object, who: str, channels: Sequence[int] | None = None) -> torch.Tensor:
    """Returns ``x`` if it is a non-empty uint8/float video in the canonical layout, else raises."""
    if not isinstance(x, torch.Tensor) or x.dim() not in (4, 5):
        raise LayoutError(f"{who}: expected {VIDEO_LAYOUT}, got {describe(x)}")
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise LayoutError(f"{who}: expected a uint8 or floating-point video, got {describe(x)}")
    if 0 in x.shape:
        raise LayoutError(f"{who}: got an empty clip, {describe(x)} (expected {VIDEO_LAYOUT})")
    if channels is not None and x.shape[-4] not in channels:
        raise LayoutError(
            f"{who}: expected {'/'.join(map(str, channels))} channels at dim -4 of {VIDEO_LAYOUT}, "
            f"got {describe(x)}; a [T, C, H, W] tensor needs .permute(1, 0, 2, 3)"
        )
    return x


def stack_clips(clips: list[torch.Tensor], who: str) -> torch.Tensor:
    """Stacks per-clip results back into a batch; clips of different sizes are an error."""
    shapes = {tuple(c.shape) for c in clips}
    if len(shapes) > 1:
        raise LayoutError(
            f"{who}: clips of one batch came out in different sizes {sorted(shapes)}; "
            "apply it per sample, or follow it with a fixed-size crop"
        )
    return torch.stack(clips)


# Parameter draws: all randomness goes through torch's global CPU generator.
def uniform(low: float, high: float) -> float:
    """A float drawn uniformly from ``[low, high)``."""
    return low + (high - low) * torch.rand(()).item()


def randint(low: int, high: int) -> int:
    """An int drawn uniformly from ``[low, high]`` (both ends included)."""
    return int(torch.randint(low, high + 1, ()).item())


def coin(p: float) -> bool:
    """True with probability ``p``."""
    return p > 0 and torch.rand(()).item() < p


# Constructor checks: bad parameters fail when the transform is built, not mid-epoch.
def check_probability(value: float, name: str, who: str) -> float:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{who}: {name} must be in [0, 1], got {value}")
    return float(value)


def check_size(size: int | Sequence[int], name: str, who: str) -> tuple[int, int]:
    """``(h, w)`` from an int or a pair; sizes must be positive."""
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or any(not isinstance(s, int) or s <= 0 for s in pair):
        raise ConfigError(f"{who}: {name} must be a positive int or a (height, width) pair, got {size!r}")
    return pair  # type: ignore[return-value]


def as_boxes(boxes: torch.Tensor, canvas_size: tuple[int, int], who: str) -> tv_tensors.BoundingBoxes:
    """Pixel ``x1, y1, x2, y2`` boxes ``[N, 4]`` on a ``(height, width)`` canvas, as torchvision's type."""
    if isinstance(boxes, tv_tensors.BoundingBoxes):
        if tuple(boxes.canvas_size) != tuple(canvas_size):
            raise LayoutError(f"{who}: boxes are on a {boxes.canvas_size} canvas but the video is {canvas_size}")
        return boxes
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise LayoutError(f"{who}: expected boxes [N, 4] (x1, y1, x2, y2 in pixels), got {describe(boxes)}")
    return tv_tensors.BoundingBoxes(boxes.float(), format="XYXY", canvas_size=canvas_size)


class VideoTransform(nn.Module, ABC):
    """Base of vidray's video transforms: check, draw once per clip, apply.

    Subclasses implement :meth:`transform_video` and, when random,
    :meth:`make_params` (called once per clip). Transforms that move pixels
    (``geometric = True``) implement :meth:`transform_boxes` so that calling
    ``transform(video, boxes)`` moves the clip's boxes with it.
    """

    random: bool = False  # draws parameters, so a batch is processed clip by clip
    geometric: bool = False  # moves pixels, so boxes must move too
    channels: Sequence[int] | None = None  # channel counts the transform accepts (None: any)

    @property
    def who(self) -> str:
        return type(self).__name__

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        """Parameters for one clip ``[C, T, H, W]`` (or a whole batch when not random)."""
        return {}

    @abstractmethod
    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Applies ``params`` (from :meth:`make_params`) to a clip or, when not random, a batch."""

    def transform_boxes(self, boxes: tv_tensors.BoundingBoxes, params: dict[str, Any]) -> tv_tensors.BoundingBoxes:
        if self.geometric:
            raise LayoutError(f"{self.who} moves pixels but cannot move boxes; it is not usable for detection")
        return boxes

    def forward(self, video: torch.Tensor, boxes: torch.Tensor | None = None) -> Any:
        check_video(video, self.who, self.channels)
        if boxes is not None:
            if video.dim() != 4:
                raise LayoutError(f"{self.who}: boxes go with one clip [C, T, H, W], got {describe(video)}")
            params = self.make_params(video)
            moved = self.transform_boxes(as_boxes(boxes, tuple(video.shape[-2:]), self.who), params)
            return self.transform_video(video, params), moved
        if video.dim() == 5 and self.random:
            return stack_clips([self.transform_video(clip, self.make_params(clip)) for clip in video], self.who)
        return self.transform_video(video, self.make_params(video))
