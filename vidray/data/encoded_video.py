"""``EncodedVideo``: PyTorchVideo's entry point for compressed video files.

``EncodedVideo.from_path(path, decoder="pyav")`` returns an instance of the
decoder class registered under that name in :data:`DECODERS`. Paths may be
local or ``s3://`` URIs; ``from_bytes`` and ``from_file`` serve in-memory
sources (Ray Data blocks, HTTP bodies).

Difference from PyTorchVideo: clips are returned as ``uint8`` tensors, not
``float32`` holding 0-255 values (4x less memory; convert once, late, on the
training device with ``Div255``/``ConvertUint8ToFloat``).
"""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO

from vidray import io as vio
from vidray.data.video import Video
from vidray.registry import Registry

DECODERS: Registry[type["EncodedVideo"]] = Registry("decoders")


class EncodedVideo(Video):
    """Base class of compressed-video decoders; use the ``from_*`` constructors.

    A backend sets ``_duration``, ``_fps``, ``_height`` and ``_width`` (the
    returned frame size) when it opens a file, and implements
    ``_decode_frames`` and ``get_audio``.
    """

    _duration: float
    _fps: float
    _height: int
    _width: int

    def __init__(
        self,
        file: BinaryIO | str | os.PathLike[str],
        video_name: str | None,
        source: str | None,
        short_side_size: int | None,
        audio_sample_rate: int | None,
    ) -> None:
        """What every backend keeps of its source; backends open the file after this."""
        self.name = video_name or str(source or getattr(file, "name", "<video>"))
        self._source = source or self.name
        self._file = file
        self._short_side = short_side_size
        self._audio_rate_out = audio_sample_rate

    def close(self) -> None:
        """Closes the file object handed in (a path string has nothing to close)."""
        if hasattr(self._file, "close"):
            self._file.close()

    @property
    def duration(self) -> float:
        return self._duration

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of the returned frames, after ``short_side_size``."""
        return self._height, self._width

    @classmethod
    def from_path(
        cls,
        file_path: str | os.PathLike[str],
        decode_video: bool = True,
        decode_audio: bool = True,
        decoder: str = "pyav",
        **other_args: Any,
    ) -> "EncodedVideo":
        """Opens a local path or ``s3://`` URI with the named decoder backend."""
        file_path = str(file_path)
        video_cls = DECODERS.get(decoder)
        name = vio.basename(file_path)  # with its extension, as PyTorchVideo names videos
        return video_cls(
            file=vio.open_binary(file_path),
            video_name=name,
            decode_video=decode_video,
            decode_audio=decode_audio,
            source=file_path,
            **other_args,
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, video_name: str = "<bytes>", decoder: str = "pyav", **other_args: Any
    ) -> "EncodedVideo":
        """Decodes an encoded file held in memory."""
        return cls.from_file(io.BytesIO(data), video_name=video_name, decoder=decoder, **other_args)

    @classmethod
    def from_file(
        cls, file: BinaryIO, video_name: str = "<file>", decoder: str = "pyav", **other_args: Any
    ) -> "EncodedVideo":
        """Decodes from a seekable binary file object (the object is closed with the video)."""
        return DECODERS.get(decoder)(file=file, video_name=video_name, **other_args)
