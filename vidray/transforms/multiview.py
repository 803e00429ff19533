"""Multi-view testing: ``num_clips x num_crops`` views per video, scores aggregated per video.

The standard evaluation of video classifiers (10 clips x 3 crops on Kinetics,
1 x 3 on Something-Something) has two halves that must agree:

* :func:`multiview_test` builds the clip sampler and the sample transform:
  the sampler emits every clip ``num_crops`` times with ``aug_index``
  ``0..num_crops-1``, and the transform crops by that index;
* :func:`aggregate_views` / :class:`ViewAggregator` turn the views' scores,
  keyed by each sample's ``video_index``, into one prediction per video::

      test = multiview_test(clip_duration=2.0, num_clips=10, num_crops=3)
      dataset = Kinetics(csv, test.clip_sampler, transform=test.transform, frames_per_clip=8)
      aggregator = ViewAggregator()
      for batch in loader:
          aggregator.update(model(batch["video"]), batch["video_index"])
      video_ids, probs = aggregator.compute(expected_views=test.views_per_video)
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Sequence

import torch
from torch import nn

from vidray.data.clip_sampling import ConstantClipsPerVideoSampler, as_fraction
from vidray.errors import ConfigError, DataError, LayoutError
from vidray.transforms.base import describe
from vidray.transforms.compose import Compose
from vidray.transforms.transforms import (
    ApplyTransformToKey,
    CenterCrop,
    Normalize,
    ShortSideScale,
    UniformCropVideo,
    UniformTemporalSubsample,
)

# method -> (what each view contributes, how views of a video are combined)
AGGREGATION_METHODS: dict[str, tuple[str, str]] = {
    "mean_softmax": ("softmax", "sum"),  # average class probabilities (PyTorchVideo / SlowFast "sum")
    "mean_logits": ("logits", "sum"),  # average logits, then e.g. softmax once
    "max_softmax": ("softmax", "amax"),  # per-class maximum probability (SlowFast's "max" ensemble)
}


@dataclass(frozen=True)
class MultiViewTest:
    """A clip sampler and a sample transform that make ``num_clips x num_crops`` views of every video."""

    clip_sampler: ConstantClipsPerVideoSampler
    transform: Callable[[dict[str, Any]], dict[str, Any]]
    num_clips: int
    num_crops: int

    @property
    def views_per_video(self) -> int:
        return self.num_clips * self.num_crops


def multiview_test(
    clip_duration: float | Fraction,
    num_clips: int = 10,
    num_crops: int = 3,
    num_samples: int = 8,
    crop_size: int = 224,
    min_size: int = 256,
    video_mean: Sequence[float] = (0.45, 0.45, 0.45),
    video_std: Sequence[float] = (0.225, 0.225, 0.225),
    video_key: str = "video",
    span_video: bool = True,
) -> MultiViewTest:
    """The sampler/transform pair of the ``num_clips x num_crops`` test protocol.

    Clips are evenly spaced from the video's start to its end (clip ``k``
    starts at ``k * (duration - clip_duration) / (num_clips - 1)``, SlowFast's
    offset sampling); ``span_video=False`` uses PyTorchVideo's spacing
    (``/ num_clips``, the last stretch of the video unseen), which published
    multi-view numbers used. Each sample's video goes through
    ``UniformTemporalSubsample(num_samples)``, ``ShortSideScale(min_size)``,
    a ``crop_size`` crop chosen by ``aug_index`` (3 crops: left/centre/right,
    top/centre/bottom for portrait video; 1 crop: the centre) and
    ``Normalize(video_mean, video_std)``. Give the dataset
    ``frames_per_clip=num_samples`` to decode only the frames that are kept.
    """
    problems = []
    if as_fraction(clip_duration) <= 0:
        problems.append(f"clip_duration must be positive seconds, got {clip_duration}")
    if not isinstance(num_clips, int) or num_clips < 1:
        problems.append(f"num_clips must be an int >= 1, got {num_clips!r}")
    if num_crops not in (1, 3):
        problems.append(f"num_crops must be 1 (centre) or 3 (left/centre/right), got {num_crops!r}")
    if not isinstance(num_samples, int) or num_samples < 1:
        problems.append(f"num_samples must be an int >= 1, got {num_samples!r}")
    if not isinstance(crop_size, int) or not isinstance(min_size, int) or not 0 < crop_size <= min_size:
        problems.append(f"need positive ints crop_size <= min_size, got crop_size={crop_size!r}, min_size={min_size!r}")
    if problems:
        raise ConfigError("multiview_test: " + "; ".join(problems))
    if num_crops == 3:
        crop: nn.Module = UniformCropVideo(crop_size, video_key=video_key)
    else:
        crop = ApplyTransformToKey(video_key, CenterCrop(crop_size))
    transform = Compose(
        [
            ApplyTransformToKey(video_key, Compose([UniformTemporalSubsample(num_samples), ShortSideScale(min_size)])),
            crop,
            ApplyTransformToKey(video_key, Normalize(video_mean, video_std)),
        ]
    )
    sampler = ConstantClipsPerVideoSampler(
        clip_duration, clips_per_video=num_clips, augs_per_clip=num_crops, span_video=span_video
    )
    return MultiViewTest(clip_sampler=sampler, transform=transform, num_clips=num_clips, num_crops=num_crops)


class ViewAggregator:
    """Aggregates view scores into video scores batch by batch (a test epoch arrives in batches).

    :meth:`compute` equals :func:`aggregate_views` on all the views at once,
    whatever the batches and their order (sums are kept in float64, so
    batching changes results by float64 rounding only). Aggregators of several
    processes (e.g. DDP ranks, gathered with ``all_gather_object``) combine
    with :meth:`merge`.
    """

    def __init__(self, method: str = "mean_softmax") -> None:
        if method not in AGGREGATION_METHODS:
            raise ConfigError(f"ViewAggregator: method must be one of {sorted(AGGREGATION_METHODS)}, got {method!r}")
        self.method = method
        self._contribution, self._reduce = AGGREGATION_METHODS[method]
        self.reset()

    def reset(self) -> None:
        """Forgets all views (before the next test epoch)."""
        self._ids: torch.Tensor | None = None  # [V] sorted video ids
        self._acc: torch.Tensor | None = None  # [V, K] float64 sums or maxima
        self._counts: torch.Tensor | None = None  # [V] views per video
        self._pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # not yet folded in
        self._pending_rows = 0
        self._num_classes: int | None = None
        self._device: torch.device | None = None
        self._dtype = torch.float32

    def update(self, scores: torch.Tensor, video_index: torch.Tensor | Sequence[int]) -> None:
        """Adds the logits ``[N, K]`` of ``N`` views, with each view's ``video_index`` ``[N]``."""
        if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or not scores.is_floating_point():
            raise LayoutError(f"ViewAggregator: expected float scores [N, K] (logits), got {describe(scores)}")
        index = torch.as_tensor(video_index)
        if index.dim() != 1 or index.shape[0] != scores.shape[0] or index.is_floating_point():
            raise LayoutError(
                f"ViewAggregator: expected an integer video_index [{scores.shape[0]}] for scores {describe(scores)}, "
                f"got {describe(index)}"
            )
        self._start(scores.shape[1], scores.device, torch.promote_types(scores.dtype, torch.float32))
        values = scores.to(self._device, self._dtype)
        if self._contribution == "softmax":
            values = values.softmax(dim=1)
        values = values.to(torch.float64)
        index = index.to(self._device, torch.long)
        self._add(index, values, torch.ones_like(index))

    def merge(self, other: ViewAggregator) -> None:
        """Adds the views another aggregator (same method) has seen."""
        if other.method != self.method:
            raise ConfigError(f"ViewAggregator: cannot merge {other.method!r} views into {self.method!r} views")
        other._fold()
        if other._acc is None:
            return
        self._start(other._acc.shape[1], other._acc.device, other._dtype)
        self._add(other._ids.to(self._device), other._acc.to(self._device), other._counts.to(self._device))

    def _start(self, num_classes: int, device: torch.device, dtype: torch.dtype) -> None:
        """Fixes classes, device and result dtype at the first views; later views must have as many classes."""
        if self._num_classes is None:
            self._num_classes, self._device, self._dtype = num_classes, device, dtype
        elif num_classes != self._num_classes:
            raise LayoutError(
                f"ViewAggregator: scores have {num_classes} classes, earlier ones had {self._num_classes}"
            )

    def _add(self, ids: torch.Tensor, values: torch.Tensor, counts: torch.Tensor) -> None:
        self._pending.append((ids, values, counts))
        self._pending_rows += len(ids)
        # Folding only once the pending rows outnumber the folded videos keeps the total cost linear in the views.
        if self._pending_rows >= max(len(self._ids) if self._ids is not None else 0, 4096):
            self._fold()

    def _fold(self) -> None:
        """Reduces the pending views and the running state into one row per video."""
        if not self._pending:
            return
        parts = self._pending if self._ids is None else [(self._ids, self._acc, self._counts), *self._pending]
        ids, rows, counts = (torch.cat(column) for column in zip(*parts))
        self._ids, inverse = torch.unique(ids, sorted=True, return_inverse=True)
        self._acc = rows.new_zeros(len(self._ids), rows.shape[1])
        if self._reduce == "sum":
            self._acc.index_add_(0, inverse, rows)
        else:
            self._acc.scatter_reduce_(0, inverse[:, None].expand_as(rows), rows, "amax", include_self=False)
        self._counts = counts.new_zeros(len(self._ids)).index_add_(0, inverse, counts)
        self._pending, self._pending_rows = [], 0

    @property
    def video_ids(self) -> torch.Tensor:
        """Sorted ids of the videos seen so far ``[V]``."""
        self._fold()
        return self._ids if self._ids is not None else torch.empty(0, dtype=torch.long)

    @property
    def num_views(self) -> torch.Tensor:
        """Views each video got ``[V]``, aligned with :attr:`video_ids`."""
        self._fold()
        return self._counts if self._counts is not None else torch.empty(0, dtype=torch.long)

    def compute(
        self, expected_views: int | None = None, num_videos: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(video_ids [V], video_scores [V, K])``: sorted ids and their aggregated scores.

        ``expected_views`` (e.g. ``MultiViewTest.views_per_video``) makes a
        video with fewer or more views an error (a skipped clip, or a
        ``DistributedSampler`` that padded the epoch with repeats);
        ``num_videos`` makes a video of ``0..num_videos-1`` with no views one.
        """
        self._fold()
        if self._acc is None:
            raise DataError("ViewAggregator: no views were added (call update() with each batch's scores)")
        self._check_complete(expected_views, num_videos)
        scores = self._acc / self._counts[:, None] if self._reduce == "sum" else self._acc
        return self._ids, scores.to(self._dtype)

    def _check_complete(self, expected_views: int | None, num_videos: int | None) -> None:
        problems = []
        if num_videos is not None:
            seen = torch.zeros(num_videos, dtype=torch.bool)
            ids = self._ids.cpu()
            seen[ids[(ids >= 0) & (ids < num_videos)]] = True
            missing = torch.nonzero(~seen).flatten().tolist()
            if missing:
                problems.append(f"{len(missing)} of {num_videos} videos have no views: {_preview(missing)}")
        if expected_views is not None:
            wrong = (self._counts != expected_views).cpu()
            if wrong.any():
                ids, counts = self._ids.cpu()[wrong].tolist(), self._counts.cpu()[wrong].tolist()
                pairs = [f"{v} ({c})" for v, c in zip(ids, counts)]
                problems.append(
                    f"{len(pairs)} videos do not have {expected_views} views, video (views): {_preview(pairs)}"
                )
        if problems:
            raise DataError("ViewAggregator: " + "; ".join(problems))


def _preview(items: list[Any], limit: int = 20) -> str:
    shown = ", ".join(map(str, items[:limit]))
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def aggregate_views(
    scores: torch.Tensor,
    video_index: torch.Tensor | Sequence[int],
    method: str = "mean_softmax",
    expected_views: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One prediction per video from the logits ``[N, K]`` of its views.

    Returns the sorted unique ``video_ids [V]`` and their scores ``[V, K]``:
    ``"mean_softmax"`` averages the views' class probabilities (the reported
    10x3 protocol), ``"mean_logits"`` their logits, ``"max_softmax"`` takes
    each class's highest probability. ``expected_views`` makes a video with
    another number of views a :class:`~vidray.errors.DataError`.
    """
    aggregator = ViewAggregator(method)
    aggregator.update(scores, video_index)
    return aggregator.compute(expected_views=expected_views)
