"""The torchcodec decoder, registered as ``"torchcodec"`` and as ``"torchvision"``.

torchvision's video decoding (``torchvision.io.read_video``, ``VideoReader``)
moved to torchcodec, its successor from the same team; torchvision 0.29 has no
video decoding left. The name ``"torchvision"``, PyTorchVideo's
``DecoderType.TORCHVISION``, therefore selects this torchcodec backend, so
configurations written for PyTorchVideo keep working.

torchcodec is optional (``pip install torchcodec``, matching the installed
torch) and loads the system's FFmpeg shared libraries (versions 4 to 9, e.g.
``apt-get install ffmpeg``); it is imported when the first video is opened.

Semantics match the PyAV backend: the frame rate, start time and duration
come from the header as PyAV reads them; grid index ``i`` is the frame on
screen half a frame period after ``i / fps`` (frame ``i`` of a constant-rate
stream whatever the rounding of its timestamps; on a variable-rate stream,
the frame nearest to ``i / fps``, as in the PyAV backend except where two
frames round to the same index); clips are half-open windows; audio is mono
float32 cut sample-accurately from the same window. One difference: torchcodec
turns frames upright by the stream's display matrix (phone videos shot in
portrait), where PyAV and decord return them as stored.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from types import ModuleType
from typing import Any, BinaryIO, Literal

import torch

from vidray.data.audio import resample_waveform
from vidray.data.decoders._common import (
    StreamHeader,
    import_optional,
    local_path_or_bytes,
    probe_header,
)
from vidray.data.encoded_video import DECODERS, EncodedVideo
from vidray.data.video import short_side_size
from vidray.errors import DecodeError, MissingDependencyError

# How errors name this backend, whichever of its two names was asked for.
_COMPONENT = "decoder 'torchcodec' (also named 'torchvision')"

# "get_frames_played_at, /path/SingleStreamDecoder.cpp:797, <message>"
_CPP_LOCATION = re.compile(r"^\w+, \S+:\d+, ")


def _torchcodec_decoders() -> ModuleType:
    torchcodec = import_optional("torchcodec", "torchcodec", _COMPONENT)
    if torchcodec.ffmpeg_major_version is None:  # imported, but FFmpeg's libraries did not load
        raise MissingDependencyError(
            f"{_COMPONENT}: torchcodec is installed but cannot load FFmpeg's shared "
            "libraries (it needs FFmpeg 4 to 9, e.g. apt-get install ffmpeg) or does not match "
            f"the installed torch {torch.__version__}"
        )
    return torchcodec.decoders


@DECODERS.register("torchvision", package="torchcodec")
@DECODERS.register("torchcodec", package="torchcodec")
class EncodedVideoTorchCodec(EncodedVideo):
    """A compressed video decoded with torchcodec.

    Args:
        file: a seekable binary file object or a local path (a local file is
            re-opened by path; other sources are read into memory once).
        video_name: the name used in messages and samples.
        decode_video / decode_audio: which streams to decode (a missing audio
            stream yields ``audio=None``).
        short_side_size: resize frames inside the decoder so the short side
            has this many pixels (PyTorchVideo's ``ShortSideScale`` rounding).
        audio_sample_rate: resample the waveform to this rate (default: native).
        threads: FFmpeg decoding threads (0 lets FFmpeg choose).
        source: where the file came from (path or URI), for messages.
        seek_mode: torchcodec's ``"exact"`` (scans the file's packets once on
            opening, so every seek is exact) or ``"approximate"`` (trusts the
            header: faster to open, for well-formed constant-rate files).
    """

    def __init__(
        self,
        file: BinaryIO | str | os.PathLike[str],
        video_name: str | None = None,
        decode_video: bool = True,
        decode_audio: bool = True,
        short_side_size: int | None = None,
        audio_sample_rate: int | None = None,
        threads: int = 1,
        source: str | None = None,
        seek_mode: Literal["exact", "approximate"] = "exact",
    ) -> None:
        super().__init__(file, video_name, source, short_side_size, audio_sample_rate)
        self._vd = self._ad = None
        try:
            decoders = _torchcodec_decoders()
            media = local_path_or_bytes(file)
            self._header = header = probe_header(media, self._source)
            has_video = header.fps is not None
            if decode_audio and header.audio_rate is not None:
                self._ad = self._open(decoders.AudioDecoder, media)
            if not has_video and (decode_video or self._ad is None):
                raise DecodeError(f"{self._source}: has no video stream")
            if has_video:
                self._open_video(decoders, media, header, threads, seek_mode)
            else:
                self._origin, self._fps = header.audio_start, 0.0
                self._duration = header.audio_duration or float(self._ad.metadata.duration_seconds or 0.0)
        except BaseException:
            self.close()
            raise
        self.decodes_video = decode_video and has_video

    # ------------------------------------------------------------------ opening
    def _open(self, decoder_cls: Any, media: str | bytes, **options: Any) -> Any:
        try:
            return decoder_cls(media, **options)
        except (RuntimeError, ValueError) as exc:
            raise DecodeError(f"{self._source}: torchcodec cannot open it ({_first_line(exc)})") from None

    def _open_video(
        self, decoders: ModuleType, media: str | bytes, header: StreamHeader, threads: int, seek_mode: str
    ) -> None:
        if not header.fps:
            raise DecodeError(f"{self._source}: video stream has no frame rate")
        options = {"dimension_order": "NCHW", "num_ffmpeg_threads": threads}
        resizing = self._short_side is not None
        # A decoder that resizes must know the size when it is built: read it from a
        # header-only ("approximate") decoder first. torchcodec turns frames upright
        # (display matrix), so its sizes, not the stored ones, are the ones to scale.
        probe_mode = "approximate" if resizing else seek_mode
        self._vd = self._open(decoders.VideoDecoder, media, seek_mode=probe_mode, **options)
        meta = self._vd.metadata
        if not meta.height or not meta.width:
            raise DecodeError(f"{self._source}: video stream has no frame size")
        self._height, self._width = short_side_size(meta.height, meta.width, self._short_side)
        if resizing:
            transforms = import_optional("torchcodec.transforms", "torchcodec", _COMPONENT)
            resize = [transforms.Resize(size=(self._height, self._width))]
            self._vd = self._open(decoders.VideoDecoder, media, seek_mode=seek_mode, transforms=resize, **options)
            meta = self._vd.metadata
        self._origin, self._fps = header.video_start, header.fps
        self._duration = header.video_duration or float(meta.duration_seconds or 0.0)
        if self._duration <= 0:
            raise DecodeError(f"{self._source}: video stream is empty (duration 0)")
        self._end = float(meta.end_stream_seconds or self._origin + self._duration)

    # ------------------------------------------------------------------ clips
    def _decode_frames(self, indices: list[int]) -> torch.Tensor:
        unique = sorted(set(indices))
        # Half a frame period after the grid point, never past the last frame's start.
        latest = max(self._origin, self._end - 0.5 / self._fps)
        times = [min(self._origin + (i + 0.5) / self._fps, latest) for i in unique]
        try:
            batch = self._vd.get_frames_played_at(times).data  # [N, C, H, W]
        except RuntimeError as exc:
            raise DecodeError(f"{self._source}: cannot decode frames {unique[:5]} ({_first_line(exc)})") from None
        position = {index: n for n, index in enumerate(unique)}
        order = torch.tensor([position[i] for i in indices])
        return batch.index_select(0, order).permute(1, 0, 2, 3).contiguous()

    # ------------------------------------------------------------------ audio
    def get_audio(self, start_sec: float | Fraction, end_sec: float | Fraction) -> torch.Tensor | None:
        """Mono float32 samples in ``[start, end)``, sample-accurate and aligned with the video."""
        if self._ad is None:
            return None
        rate = self._header.audio_rate
        start, end = float(start_sec), min(float(end_sec), self._duration)
        first = int(round((self._origin + start) * rate))
        last = int(round((self._origin + end) * rate))
        audio_begin = self._header.audio_start
        audio_end = audio_begin + (self._header.audio_duration or float("inf"))
        window_start, window_end = max(first / rate, audio_begin), min(last / rate, audio_end)
        waveform = torch.zeros(0)
        samples = self._samples(window_start, window_end) if window_end > window_start else None
        if samples is not None:
            # Cut by the returned start time, so the length is exact whatever torchcodec rounded.
            offset = int(round(samples.pts_seconds * rate))
            mono = samples.data.float().mean(dim=0)
            lo, hi = max(first - offset, 0), max(min(last - offset, mono.shape[0]), 0)
            waveform = mono[lo:hi].contiguous()
        if self._audio_rate_out and self._audio_rate_out != rate:
            waveform = resample_waveform(waveform, rate, self._audio_rate_out)
        return waveform

    def _samples(self, start: float, stop: float) -> Any:
        """torchcodec's ``AudioSamples`` played in ``[start, stop)`` seconds; ``None`` past the last packet."""
        try:
            return self._ad.get_samples_played_in_range(start, stop)
        except RuntimeError as exc:
            if "No audio frames were decoded" in str(exc):
                return None
            raise DecodeError(f"{self._source}: corrupt audio data ({_first_line(exc)})") from None

    @property
    def audio_sample_rate(self) -> int | None:
        """Rate of the returned waveform (``None`` without an audio stream)."""
        if self._ad is None:
            return None
        return self._audio_rate_out or self._header.audio_rate

    def close(self) -> None:
        self._vd = None
        self._ad = None
        super().close()


def _first_line(exc: BaseException) -> str:
    """torchcodec's messages start with the C++ function and source line; keep the readable part."""
    lines = str(exc).strip().splitlines() or [type(exc).__name__]
    return _CPP_LOCATION.sub("", lines[0])
