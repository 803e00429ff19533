"""Helpers shared by the decoder backends whose libraries are optional.

An optional backend is registered whatever is installed, so ``decoder="decord"``
is always a known name; its library is imported when a video is opened, and a
missing one is reported with the package to install instead of a bare
``ModuleNotFoundError`` from deep inside a data-loader worker.

The backends also share how they hand a file to their library and where they
read the header's timing facts (PyAV, a vidray dependency), so all of them put
a video's frames on the same grid.
"""

from __future__ import annotations

import importlib
import io
import os
from dataclasses import dataclass
from types import ModuleType
from typing import Any, BinaryIO

import av

from vidray.errors import DecodeError, MissingDependencyError


def import_optional(module: str, package: str, component: str) -> ModuleType:
    """Imports ``module``; failure names ``component`` and the pip package that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{component} needs the {package!r} package: pip install {package} "
            f"(or pip install 'vidray[decoders]'); importing {module!r} failed: {exc}"
        ) from exc


def local_path_or_bytes(file: BinaryIO | str | os.PathLike[str]) -> str | bytes:
    """What to hand a library that opens its own FFmpeg input, possibly more than once.

    A local file is passed by path: FFmpeg reads it natively, and the video and
    audio readers each keep their own position. Any other source (S3 objects,
    ``from_bytes``) is already in memory or must be read once, and is passed as
    bytes, since two readers cannot share one file object's position.
    """
    if isinstance(file, (str, os.PathLike)):
        return os.fspath(file)
    name = getattr(file, "name", None)
    if isinstance(file, (io.BufferedReader, io.FileIO)) and isinstance(name, str) and os.path.isfile(name):
        return name
    if isinstance(file, io.BytesIO):
        return file.getvalue()
    return file.read()


@dataclass(frozen=True)
class StreamHeader:
    """Timing facts of a file's first video and audio streams, as its header states them.

    The optional backends take the frame rate, start time and duration from
    here, read with PyAV exactly as the PyAV backend reads them, so that every
    backend puts the same frames on the same nominal grid (torchcodec's
    ``average_fps_from_header`` is FFmpeg's ``r_frame_rate``, a timestamp base
    rate, not the average rate; decord states no start time).
    """

    fps: float | None = None  # None: no video stream
    video_start: float = 0.0  # seconds; the origin of clip times
    video_duration: float | None = None  # None: the header does not say
    height: int = 0
    width: int = 0
    audio_rate: int | None = None  # None: no audio stream
    audio_start: float = 0.0
    audio_duration: float | None = None


def probe_header(media: str | bytes, source: str) -> StreamHeader:
    """The header facts of a path or an in-memory file, read with PyAV (no clip is decoded)."""
    try:
        with av.open(media if isinstance(media, str) else io.BytesIO(media), metadata_errors="ignore") as container:
            facts: dict[str, Any] = {}
            container_seconds = container.duration / av.time_base if container.duration else None
            if container.streams.video:
                vs = container.streams.video[0]
                rate = vs.average_rate or vs.guessed_rate or vs.base_rate
                fps = float(rate) if rate else 0.0
                duration = _stated_seconds(vs) or container_seconds or (vs.frames / fps if vs.frames and fps else None)
                facts.update(
                    fps=fps,
                    video_start=_start_seconds(vs),
                    video_duration=duration,
                    height=vs.codec_context.height,
                    width=vs.codec_context.width,
                )
            if container.streams.audio:
                aus = container.streams.audio[0]
                facts.update(
                    audio_rate=aus.codec_context.sample_rate or aus.rate,
                    audio_start=_start_seconds(aus),
                    audio_duration=_stated_seconds(aus) or container_seconds,
                )
            return StreamHeader(**facts)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise DecodeError(f"{source}: cannot open as a media file ({exc})") from None


def _start_seconds(stream: av.stream.Stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time else 0.0


def _stated_seconds(stream: av.stream.Stream) -> float | None:
    return float(stream.duration * stream.time_base) if stream.duration else None
