"""The clip interface every video source implements (PyTorchVideo's ``Video``)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from fractions import Fraction
from typing import Any, Callable, Sequence

import torch

from vidray.errors import ClipOutOfRangeError

FrameFilter = Callable[[list[int]], list[int]]

# Clip boundaries are compared with a tolerance so that a boundary computed in
# floating point (e.g. 8 * 8 / 30) still selects the frame it names.
TIME_EPS = 1e-6


class Video(ABC):
    """A video of known frame rate whose clips are addressed in seconds or frame indices.

    Times are relative to the first video frame (time 0). Frames live on the
    nominal frame-rate grid: frame ``i`` is the frame shown at ``i / fps``, so a
    clip ``[start_sec, end_sec)`` holds frames ``ceil(start * fps) ...`` up to,
    not including, ``ceil(end * fps)``, exactly the frames whose timestamps fall
    in the half-open window for constant-frame-rate sources.
    """

    name: str

    @property
    @abstractmethod
    def duration(self) -> float:
        """Length in seconds."""

    @property
    @abstractmethod
    def fps(self) -> float:
        """Nominal frame rate."""

    @property
    def num_frames(self) -> int:
        return max(1, round(self.duration * self.fps))

    @abstractmethod
    def get_frames(self, frame_indices: Sequence[int]) -> dict[str, Any]:
        """Decodes just these frames: ``{"video": uint8 [C, T, H, W], "frame_indices": [...]}``."""

    @abstractmethod
    def get_clip(
        self,
        start_sec: float | Fraction,
        end_sec: float | Fraction,
        frame_filter: FrameFilter | None = None,
    ) -> dict[str, Any]:
        """The frames in ``[start_sec, end_sec)`` (optionally only those ``frame_filter`` keeps)."""

    def close(self) -> None:
        """Releases file handles; the default source holds none."""

    def __enter__(self) -> "Video":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clip_frame_indices(self, start_sec: float | Fraction, end_sec: float | Fraction) -> list[int]:
        """Grid indices of the frames in ``[start_sec, end_sec)``, clipped to the video's end."""
        start, end = float(start_sec), float(end_sec)
        if start < -TIME_EPS or end <= start or start >= self.duration - TIME_EPS:
            raise ClipOutOfRangeError(
                f"{self.name}: clip [{start:.3f}, {end:.3f}) s is outside the video "
                f"(duration {self.duration:.3f} s); expected 0 <= start < end and start < duration"
            )
        first = max(0, math.ceil(start * self.fps - TIME_EPS))
        last = min(math.ceil(end * self.fps - TIME_EPS), self.num_frames)
        if last <= first:
            raise ClipOutOfRangeError(
                f"{self.name}: clip [{start:.3f}, {end:.3f}) s holds no frame at {self.fps:.3f} fps"
            )
        return list(range(first, last))

    def check_frame_indices(self, frame_indices: Sequence[int]) -> list[int]:
        indices = [int(i) for i in frame_indices]
        if not indices:
            raise ClipOutOfRangeError(f"{self.name}: no frame indices requested")
        bad = [i for i in indices if i < 0 or i >= self.num_frames]
        if bad:
            raise ClipOutOfRangeError(
                f"{self.name}: frame indices {bad[:5]} outside the video's "
                f"{self.num_frames} frames (valid: 0..{self.num_frames - 1})"
            )
        return indices


def uniform_subsample_indices(num_frames: int, num_samples: int) -> list[int]:
    """The positions ``UniformTemporalSubsample`` keeps: ``linspace(0, n - 1, k)`` truncated."""
    if num_frames <= 0 or num_samples <= 0:
        raise ValueError(f"need positive sizes, got num_frames={num_frames}, num_samples={num_samples}")
    positions = torch.linspace(0, num_frames - 1, num_samples).clamp(0, num_frames - 1).long()
    return positions.tolist()


def uniform_frame_filter(num_samples: int) -> FrameFilter:
    """A ``frame_filter`` that keeps ``num_samples`` frames spread evenly over the clip."""

    def keep(indices: list[int]) -> list[int]:
        return [indices[p] for p in uniform_subsample_indices(len(indices), num_samples)]

    return keep


def short_side_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """(height, width) scaled so the short side is ``short_side`` (PyTorchVideo's rounding)."""
    if short_side is None:
        return height, width
    if short_side <= 0:
        raise ValueError(f"short_side must be positive, got {short_side}")
    if width < height:
        return int(math.floor(height / width * short_side)), short_side
    return short_side, int(math.floor(width / height * short_side))
