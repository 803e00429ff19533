"""Detection samples: move a clip's boxes with its pixels and drop the boxes that leave.

AVA samples (see :mod:`vidray.data.datasets.ava`) carry ``"boxes"`` ``[N, 4]``
normalised to [0, 1] plus per-box entries (``"labels"``, ``"multi_hot_labels"``,
``"extra_info"``). :class:`ApplyTransformToVideoAndBoxes` runs vidray's video
transforms on the clip and its boxes with the same drawn parameters
(torchvision.transforms.v2 does the box geometry), then drops boxes that end up
outside the frame together with their per-box entries.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import torch
from torch import nn
from torchvision.transforms.v2 import functional as TF

from vidray.errors import ConfigError, LayoutError
from vidray.transforms.base import VideoTransform, as_boxes, check_video, describe
from vidray.transforms.compose import TRANSFORMS, Compose

AVA_BOX_KEYS = ("labels", "multi_hot_labels", "extra_info")


def _steps(transform: Any) -> list[VideoTransform]:
    items: Iterable[Any] = transform if isinstance(transform, (list, tuple, Compose)) else [transform]
    steps: list[VideoTransform] = []
    for item in items:
        if isinstance(item, (list, tuple, Compose)):
            steps += _steps(item)
        elif isinstance(item, VideoTransform):
            steps.append(item)
        else:
            raise ConfigError(
                f"ApplyTransformToVideoAndBoxes: {type(item).__name__} is not a vidray video transform, so it "
                "cannot move boxes; apply it to the video alone (ApplyTransformToKey) before or after"
            )
    return steps


@TRANSFORMS.register()
class ApplyTransformToVideoAndBoxes(nn.Module):
    """Applies video transforms to ``sample[video_key]`` and ``sample[boxes_key]`` alike.

    Boxes are ``x1, y1, x2, y2``, normalised to [0, 1] when ``normalized``
    (AVA) or in pixels. After the transforms, boxes are clamped to the frame;
    those narrower or shorter than ``min_size`` pixels (i.e. outside it) are
    dropped, and so are their rows in ``aligned_keys``.
    """

    def __init__(
        self,
        transform: Any,
        video_key: str = "video",
        boxes_key: str = "boxes",
        aligned_keys: Sequence[str] = AVA_BOX_KEYS,
        normalized: bool = True,
        min_size: float = 1.0,
    ) -> None:
        super().__init__()
        self.steps = nn.ModuleList(_steps(transform))
        self._video_key, self._boxes_key = video_key, boxes_key
        self._aligned_keys = tuple(aligned_keys)
        self._normalized = normalized
        self._min_size = float(min_size)

    def forward(self, sample: dict[str, Any]) -> dict[str, Any]:
        for key in (self._video_key, self._boxes_key):
            if key not in sample:
                raise LayoutError(f"ApplyTransformToVideoAndBoxes: the sample has no {key!r} (keys: {sorted(sample)})")
        video = check_video(sample[self._video_key], "ApplyTransformToVideoAndBoxes")
        if video.dim() != 4:
            raise LayoutError(f"ApplyTransformToVideoAndBoxes: expected one clip [C, T, H, W], got {describe(video)}")
        raw = sample[self._boxes_key]
        boxes = as_boxes(self._to_pixels(raw, video), tuple(video.shape[-2:]), "ApplyTransformToVideoAndBoxes")
        for step in self.steps:
            video, boxes = step(video, boxes)
        boxes = TF.clamp_bounding_boxes(boxes)
        _, keep = TF.sanitize_bounding_boxes(boxes, min_size=self._min_size, min_area=self._min_size**2)
        pixels = boxes.as_subclass(torch.Tensor)[keep]
        sample[self._video_key] = video
        sample[self._boxes_key] = self._from_pixels(pixels, video).to(raw.dtype if raw.is_floating_point() else torch.float32)
        for key in self._aligned_keys:
            if key in sample:
                sample[key] = _select(sample[key], keep, key)
        return sample

    def _scale(self, video: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        h, w = video.shape[-2:]
        return torch.tensor([w, h, w, h], dtype=torch.float32, device=like.device)

    def _to_pixels(self, boxes: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[-1] != 4:
            raise LayoutError(
                f"ApplyTransformToVideoAndBoxes: expected boxes [N, 4] (x1, y1, x2, y2), got {describe(boxes)}"
            )
        return boxes.float() * self._scale(video, boxes) if self._normalized else boxes.float()

    def _from_pixels(self, boxes: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        return boxes / self._scale(video, boxes) if self._normalized else boxes


def _select(values: Any, keep: torch.Tensor, key: str) -> Any:
    if isinstance(values, torch.Tensor):
        if values.shape[0] != keep.shape[0]:
            raise LayoutError(f"ApplyTransformToVideoAndBoxes: {key!r} has {values.shape[0]} rows for {keep.shape[0]} boxes")
        return values[keep.to(values.device)]
    if len(values) != keep.shape[0]:
        raise LayoutError(f"ApplyTransformToVideoAndBoxes: {key!r} has {len(values)} entries for {keep.shape[0]} boxes")
    return [v for v, k in zip(values, keep.tolist()) if k]
