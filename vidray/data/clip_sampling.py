"""Clip samplers: which time windows of a video become training or test clips.

PyTorchVideo's protocol is kept: a sampler is called with the end time of the
previous clip and the video's duration and returns a :class:`ClipInfo`
(or :class:`ClipInfoList`), with ``is_last_clip`` ending the video. vidray adds
:meth:`ClipSampler.sample_all`, which lists every clip of a video at once from
a given random generator. That makes clips a pure function of
``(video, epoch, seed)``, so map-style access, any number of data-loader
workers and distributed ranks all see the same clips, with none duplicated or
dropped.

Random samplers draw from their own ``random.Random`` (seeded by ``seed``),
never from the global ``random`` module.
"""

from __future__ import annotations

import copy
import random
from abc import ABC, abstractmethod
from fractions import Fraction
from typing import Any, NamedTuple

from vidray.registry import Registry

CLIP_SAMPLERS: Registry[type["ClipSampler"]] = Registry("clip_samplers")

# A sampler that has not ended a video after this many clips is broken.
MAX_CLIPS_PER_VIDEO = 1_000_000


def as_fraction(seconds: float | Fraction) -> Fraction:
    """Exact seconds: a float becomes the simplest nearby fraction, so ``3 * 0.4 == 1.2``
    holds and a 1.2 s video yields three 0.4 s clips (PyTorchVideo drops the third)."""
    return seconds if isinstance(seconds, Fraction) else Fraction(seconds).limit_denominator(1_000_000)


class ClipInfo(NamedTuple):
    """One clip: its window in seconds, index, augmentation index, and whether it is the video's last."""

    clip_start_sec: float | Fraction
    clip_end_sec: float | Fraction
    clip_index: int
    aug_index: int
    is_last_clip: bool


class ClipInfoList(NamedTuple):
    """Several clips of one video returned as one sample (e.g. views for self-supervision)."""

    clip_start_sec: list[float | Fraction]
    clip_end_sec: list[float | Fraction]
    clip_index: list[int]
    aug_index: list[int]
    is_last_clip: list[bool]


class ClipSampler(ABC):
    """Base class: PyTorchVideo's stateful call protocol plus stateless enumeration."""

    def __init__(self, clip_duration: float | Fraction, seed: int | None = None) -> None:
        if clip_duration is None or as_fraction(clip_duration) <= 0:
            raise ValueError(f"clip_duration must be a positive number of seconds, got {clip_duration!r}")
        self._clip_duration = as_fraction(clip_duration)
        self._current_clip_index = 0
        self._current_aug_index = 0
        self._rng = random.Random(seed)

    @property
    def clip_duration(self) -> Fraction:
        return self._clip_duration

    @abstractmethod
    def __call__(
        self, last_clip_time: float | Fraction, video_duration: float | Fraction, annotation: dict[str, Any]
    ) -> ClipInfo | ClipInfoList:
        """The next clip of a video whose previous clip ended at ``last_clip_time``."""

    def reset(self) -> None:
        """Forgets per-video state before the next video."""
        self._current_clip_index = 0
        self._current_aug_index = 0

    @property
    def clips_per_video(self) -> int | None:
        """Samples per video when independent of the video's duration, else ``None``."""
        return None

    def sample_all(
        self,
        video_duration: float | Fraction,
        annotation: dict[str, Any] | None = None,
        rng: random.Random | None = None,
    ) -> list[ClipInfo | ClipInfoList]:
        """Every sample this sampler makes from one video, drawing randomness from ``rng``.

        Leaves this sampler's own state untouched.
        """
        sampler = copy.copy(self)
        sampler.reset()
        if rng is not None:
            sampler._rng = rng
        clips: list[ClipInfo | ClipInfoList] = []
        last_end: float | Fraction = 0.0
        while len(clips) < MAX_CLIPS_PER_VIDEO:
            info = sampler(last_end, video_duration, annotation or {})
            clips.append(info)
            is_last = info.is_last_clip
            if all(is_last) if isinstance(is_last, list) else is_last:
                return clips
            last_end = max(info.clip_end_sec) if isinstance(info, ClipInfoList) else info.clip_end_sec
        raise RuntimeError(f"{type(self).__name__} did not end a {float(video_duration):.2f} s video")


@CLIP_SAMPLERS.register("uniform")
class UniformClipSampler(ClipSampler):
    """Evenly splits a video into clips of ``clip_duration``, ``stride`` apart (deterministic).

    With ``backpad_last`` the last clip is moved back so it ends at the video's
    end instead of being dropped (a 39-frame video, 32-frame clips, stride 16:
    frames [0, 32) and [7, 39)).
    """

    def __init__(
        self,
        clip_duration: float | Fraction,
        stride: float | Fraction | None = None,
        backpad_last: bool = False,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(clip_duration)
        self._stride = as_fraction(stride) if stride is not None else self._clip_duration
        if not 0 < self._stride <= self._clip_duration:
            raise ValueError(f"stride must be > 0 and <= clip_duration ({float(clip_duration)}), got {stride}")
        self._eps = eps
        self._backpad_last = backpad_last

    def _clip_start_end(
        self, last_clip_time: float | Fraction, video_duration: float | Fraction, backpad_last: bool
    ) -> tuple[Fraction, Fraction]:
        delta = max(Fraction(0), self._clip_duration - self._stride)
        clip_start = max(as_fraction(last_clip_time) - delta, Fraction(0))
        clip_end = clip_start + self._clip_duration
        if backpad_last:
            overhang = max(Fraction(0), clip_end - as_fraction(video_duration))
            clip_start = max(Fraction(0), clip_start - overhang)
            clip_end = clip_start + self._clip_duration
        return clip_start, clip_end

    def __call__(
        self, last_clip_time: float | Fraction, video_duration: float | Fraction, annotation: dict[str, Any]
    ) -> ClipInfo:
        clip_start, clip_end = self._clip_start_end(last_clip_time, video_duration, self._backpad_last)
        _, next_end = self._clip_start_end(clip_end, video_duration, self._backpad_last)
        if self._backpad_last:
            is_last_clip = abs(next_end - clip_end) < self._eps
        else:
            is_last_clip = next_end > as_fraction(video_duration)
        clip_index = self._current_clip_index
        self._current_clip_index += 1
        if is_last_clip:
            self.reset()
        return ClipInfo(clip_start, clip_end, clip_index, 0, is_last_clip)


@CLIP_SAMPLERS.register("uniform_truncate_from_start")
class UniformClipSamplerTruncateFromStart(UniformClipSampler):
    """``UniformClipSampler`` over only the first ``truncation_duration`` seconds."""

    def __init__(
        self,
        clip_duration: float | Fraction,
        stride: float | Fraction | None = None,
        backpad_last: bool = False,
        eps: float = 1e-6,
        truncation_duration: float | None = None,
    ) -> None:
        super().__init__(clip_duration, stride, backpad_last, eps)
        self.truncation_duration = truncation_duration

    def __call__(
        self, last_clip_time: float | Fraction, video_duration: float | Fraction, annotation: dict[str, Any]
    ) -> ClipInfo:
        if self.truncation_duration is not None:
            video_duration = min(self.truncation_duration, video_duration)
        return super().__call__(last_clip_time, video_duration, annotation)


@CLIP_SAMPLERS.register("random")
class RandomClipSampler(ClipSampler):
    """One clip per video at a uniformly random start (training)."""

    @property
    def clips_per_video(self) -> int:
        return 1

    def __call__(
        self, last_clip_time: float | Fraction, video_duration: float | Fraction, annotation: dict[str, Any]
    ) -> ClipInfo:
        max_start = max(float(video_duration) - float(self._clip_duration), 0.0)
        start = Fraction(self._rng.uniform(0, max_start))
        return ClipInfo(start, start + self._clip_duration, 0, 0, True)


@CLIP_SAMPLERS.register("random_multi")
class RandomMultiClipSampler(RandomClipSampler):
    """``num_clips`` independent random clips of one video, returned together as one sample."""

    def __init__(self, clip_duration: float | Fraction, num_clips: int, seed: int | None = None) -> None:
        super().__init__(clip_duration, seed)
        if num_clips < 1:
            raise ValueError(f"num_clips must be >= 1, got {num_clips}")
        self._num_clips = num_clips

    def __call__(
        self, last_clip_time: float | Fraction, video_duration: float | Fraction, annotation: dict[str, Any]
    ) -> ClipInfoList:
        draw = super().__call__  # bound here: a comprehension has no zero-argument super()
        clips = [draw(last_clip_time, video_duration, annotation) for _ in range(self._num_clips)]
        return ClipInfoList(*(list(column) for column in zip(*clips)))


@CLIP_SAMPLERS.register("random_multi_truncate_from_start")
class RandomMultiClipSamplerTruncateFromStart(RandomMultiClipSampler):
    """``RandomMultiClipSampler`` over only the first ``truncation_duration`` seconds."""

    def __init__(
        self,
        clip_duration: float | Fraction,
        num_clips: int,
        truncation_duration: float | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(clip_duration, num_clips, seed)
        self.truncation_duration = truncation_duration

    def __call__(
        self, last_clip_time: float | Fraction, video_duration: float | Fraction, annotation: dict[str, Any]
    ) -> ClipInfoList:
        if self.truncation_duration is not None:
            video_duration = min(self.truncation_duration, video_duration)
        return super().__call__(last_clip_time, video_duration, annotation)


@CLIP_SAMPLERS.register("constant_clips_per_video")
class ConstantClipsPerVideoSampler(ClipSampler):
    """``clips_per_video`` evenly spaced clips, each repeated ``augs_per_clip`` times (testing).

    Clip ``k`` starts at ``k * max(duration - clip_duration, 0) / clips_per_video``
    (PyTorchVideo's spacing, with which published multi-view numbers were
    measured; the video's last ``1 / clips_per_video`` of slack is never seen).
    ``span_video=True`` divides by ``clips_per_video - 1`` instead, so the last
    clip ends at the video's end (SlowFast's offset sampling; one clip is centred).
    """

    def __init__(
        self, clip_duration: float | Fraction, clips_per_video: int, augs_per_clip: int = 1, span_video: bool = False
    ) -> None:
        super().__init__(clip_duration)
        self._span_video = span_video
        if clips_per_video < 1 or augs_per_clip < 1:
            raise ValueError(
                f"clips_per_video and augs_per_clip must be >= 1, got {clips_per_video} and {augs_per_clip}"
            )
        self._clips_per_video = clips_per_video
        self._augs_per_clip = augs_per_clip

    @property
    def clips_per_video(self) -> int:
        return self._clips_per_video * self._augs_per_clip

    def __call__(
        self, last_clip_time: float | Fraction, video_duration: float | Fraction, annotation: dict[str, Any]
    ) -> ClipInfo:
        max_start = max(as_fraction(video_duration) - self._clip_duration, Fraction(0))
        if self._span_video and self._clips_per_video == 1:
            spacing, clip_start = max_start, max_start / 2
        else:
            spacing = max_start / (self._clips_per_video - 1 if self._span_video else self._clips_per_video)
            clip_start = spacing * self._current_clip_index
        clip_index, aug_index = self._current_clip_index, self._current_aug_index
        self._current_aug_index += 1
        if self._current_aug_index >= self._augs_per_clip:
            self._current_clip_index += 1
            self._current_aug_index = 0
        is_last_clip = (
            self._current_clip_index >= self._clips_per_video or spacing * self._current_clip_index > max_start
        )
        if is_last_clip:
            self.reset()
        return ClipInfo(clip_start, clip_start + self._clip_duration, clip_index, aug_index, is_last_clip)


def make_clip_sampler(sampling_type: str, *args: Any, **kwargs: Any) -> ClipSampler:
    """Builds a registered sampler by name: ``"uniform"``, ``"random"``,
    ``"constant_clips_per_video"``, ``"random_multi"``, ... with its constructor arguments."""
    return CLIP_SAMPLERS.get(sampling_type)(*args, **kwargs)
