"""The clip interface every video source implements (PyTorchVideo's ``Video``)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Sequence

import torch

from vidray.errors import ClipOutOfRangeError, DecodeError

FrameFilter = Callable[[list[int]], list[int]]

# Clip boundaries are compared with a tolerance so that a boundary computed in
# floating point (e.g. 8 * 8 / 30) still selects the frame it names.
TIME_EPS = 1e-6


@dataclass(frozen=True)
class ClipWindow:
    """One clip's window in seconds and the grid indices of the frames it keeps."""

    start_sec: float | Fraction
    end_sec: float | Fraction
    frame_indices: tuple[int, ...]


class Video(ABC):
    """A video of known frame rate whose clips are addressed in seconds or frame indices.

    Times are relative to the first video frame (time 0). Frames live on the
    nominal frame-rate grid: frame ``i`` is the frame shown at ``i / fps``, so a
    clip ``[start_sec, end_sec)`` holds frames ``ceil(start * fps) ...`` up to,
    not including, ``ceil(end * fps)``, exactly the frames whose timestamps fall
    in the half-open window for constant-frame-rate sources.

    A source implements :meth:`_decode_frames` (and :meth:`get_audio` if it has
    sound); clip assembly, index checks and multi-clip batching live here.
    """

    name: str
    #: The sample key of this source's frames ("video"; "flow" for optical flow).
    stream_key = "video"
    #: False for an encoded video opened with ``decode_video=False``.
    decodes_video = True

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
    def _decode_frames(self, frame_indices: list[int]) -> torch.Tensor:
        """uint8 ``[C, T, H, W]`` for these valid grid indices, in the given order."""

    def get_audio(self, start_sec: float | Fraction, end_sec: float | Fraction) -> torch.Tensor | None:
        """Mono float32 waveform of ``[start_sec, end_sec)``, or ``None`` without sound."""
        return None

    def get_frames(self, frame_indices: Sequence[int]) -> dict[str, Any]:
        """Decodes just these frames (any order, repeats allowed): ``{"video": uint8 [C, T, H, W], "frame_indices"}``."""
        if not self.decodes_video:
            raise DecodeError(f"{self.name}: opened with decode_video=False")
        indices = self.check_frame_indices(frame_indices)
        return {self.stream_key: self._decode_frames(indices), "frame_indices": indices}

    def get_clip(
        self,
        start_sec: float | Fraction,
        end_sec: float | Fraction,
        frame_filter: FrameFilter | None = None,
    ) -> dict[str, Any]:
        """The frames in ``[start_sec, end_sec)`` (optionally only those ``frame_filter`` keeps)
        and the audio of the window: ``{"video", "audio", "frame_indices"}``."""
        return self.get_clips([(start_sec, end_sec)], frame_filter)[0]

    def get_clips(
        self,
        windows: Sequence[tuple[float | Fraction, float | Fraction]],
        frame_filter: FrameFilter | None = None,
    ) -> list[dict[str, Any]]:
        """Several clips, their frames decoded together (one pass where the source allows)."""
        planned = [self.plan_window(start, end, frame_filter) for start, end in windows]
        return self.read_windows(planned)

    def plan_window(
        self, start_sec: float | Fraction, end_sec: float | Fraction, frame_filter: FrameFilter | None = None
    ) -> ClipWindow:
        """The frames a clip will hold, before anything is decoded."""
        if not self.decodes_video:
            self._check_window(start_sec, end_sec)
            return ClipWindow(start_sec, end_sec, ())
        indices = self.clip_frame_indices(start_sec, end_sec)
        if frame_filter is not None:
            indices = frame_filter(indices)
            if not indices:
                raise ClipOutOfRangeError(f"{self.name}: the frame filter kept no frame of [{float(start_sec):.3f}, {float(end_sec):.3f}) s")
        return ClipWindow(start_sec, end_sec, tuple(self.check_frame_indices(indices)))

    def read_windows(self, windows: Sequence[ClipWindow]) -> list[dict[str, Any]]:
        """Decodes planned windows: the union of their frames in one call, then split per clip."""
        clips = [{"audio": self.get_audio(w.start_sec, w.end_sec), "frame_indices": list(w.frame_indices)} for w in windows]
        if self.decodes_video:
            union = sorted({i for w in windows for i in w.frame_indices})
            frames = self._decode_frames(union)
            position = {index: p for p, index in enumerate(union)}
            for clip, window in zip(clips, windows):
                if list(window.frame_indices) == union:  # the usual single clip: no copy
                    clip[self.stream_key] = frames
                    continue
                rows = torch.tensor([position[i] for i in window.frame_indices])
                clip[self.stream_key] = frames.index_select(1, rows)
        else:
            for clip in clips:
                clip[self.stream_key] = None
        return clips

    def close(self) -> None:
        """Releases file handles; the default source holds none."""

    def __enter__(self) -> "Video":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clip_frame_indices(self, start_sec: float | Fraction, end_sec: float | Fraction) -> list[int]:
        """Grid indices of the frames in ``[start_sec, end_sec)``, clipped to the video's end."""
        start, end = self._check_window(start_sec, end_sec)
        first = max(0, math.ceil(start * self.fps - TIME_EPS))
        last = min(math.ceil(end * self.fps - TIME_EPS), self.num_frames)
        if last <= first:
            raise ClipOutOfRangeError(
                f"{self.name}: clip [{start:.3f}, {end:.3f}) s holds no frame at {self.fps:.3f} fps"
            )
        return list(range(first, last))

    def _check_window(self, start_sec: float | Fraction, end_sec: float | Fraction) -> tuple[float, float]:
        start, end = float(start_sec), float(end_sec)
        if start < -TIME_EPS or end <= start or start >= self.duration - TIME_EPS:
            raise ClipOutOfRangeError(
                f"{self.name}: clip [{start:.3f}, {end:.3f}) s is outside the video "
                f"(duration {self.duration:.3f} s); expected 0 <= start < end and start < duration"
            )
        return start, end

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
