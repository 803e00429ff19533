"""The decord decoder, registered as ``"decord"`` (PyTorchVideo's ``DecoderType.DECORD``).

decord is optional (``pip install decord``; its wheels bundle their own FFmpeg,
for x86-64 Linux and Windows) and is imported when the first video is opened.

decord indexes a file's frames by presentation time when it opens it, then
decodes a batch of frame indices with one seek per keyframe interval. Its
audio reader decodes the whole audio stream at once, so the waveform is read
on the first clip that needs audio and kept for the video's lifetime.

Semantics match the PyAV backend: the frame rate, start time and duration come
from the header as PyAV reads them (decord states no start time); grid index
``i`` maps to the first frame whose timestamp rounds to ``i``, else the latest
earlier frame (the PyAV backend's rule, so the two agree on variable frame
rates too); clips are half-open windows; audio is mono float32 cut
sample-accurately from the same window.
"""

from __future__ import annotations

import io
import os
from fractions import Fraction
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np
import torch

from vidray.data.audio import resample_waveform
from vidray.data.decoders._common import (
    import_optional,
    local_path_or_bytes,
    probe_header,
)
from vidray.data.encoded_video import DECODERS, EncodedVideo
from vidray.data.video import short_side_size
from vidray.errors import DecodeError


def _decord() -> ModuleType:
    return import_optional("decord", "decord", "decoder 'decord'")


@DECODERS.register("decord", package="decord")
class EncodedVideoDecord(EncodedVideo):
    """A compressed video decoded with decord.

    Args:
        file: a seekable binary file object or a local path (a local file is
            re-opened by path; other sources are read into memory once).
        video_name: the name used in messages and samples.
        decode_video / decode_audio: which streams to decode (a missing audio
            stream yields ``audio=None``; a missing video stream is an error
            when ``decode_video``).
        short_side_size: resize frames inside the decoder so the short side
            has this many pixels (PyTorchVideo's ``ShortSideScale`` rounding).
        audio_sample_rate: resample the waveform to this rate (default: native).
        threads: decoding threads (0 lets decord choose).
        source: where the file came from (path or URI), for messages.
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
    ) -> None:
        super().__init__(file, video_name, source, short_side_size, audio_sample_rate)
        self._vr: Any = None
        self._waveform: np.ndarray | None = None  # [C, S], sample 0 at time 0; read on first use
        try:
            self._decord = _decord()
            self._media = local_path_or_bytes(file)
            self._header = probe_header(self._media, self._source)
            has_video = self._header.fps is not None
            self._decode_audio = decode_audio and self._header.audio_rate is not None
            if not has_video and (decode_video or not self._decode_audio):
                raise DecodeError(f"{self._source}: has no video stream")
            if has_video:
                self._open_video(threads)
            else:
                self._origin, self._fps = self._header.audio_start, 0.0
                samples = self._read_audio().shape[1]
                self._duration = self._header.audio_duration or samples / self._header.audio_rate - self._origin
        except BaseException:
            self.close()
            raise
        self.decodes_video = decode_video and has_video

    def _reader_input(self) -> str | io.BytesIO:
        return self._media if isinstance(self._media, str) else io.BytesIO(self._media)

    def _open_video(self, threads: int) -> None:
        header = self._header
        if not header.fps:
            raise DecodeError(f"{self._source}: video stream has no frame rate")
        self._height, self._width = short_side_size(header.height, header.width, self._short_side)
        if self._height <= 0 or self._width <= 0:
            raise DecodeError(f"{self._source}: video stream has no frame size")
        resize = self._short_side is not None
        try:
            self._vr = self._decord.VideoReader(
                self._reader_input(),
                ctx=self._decord.cpu(0),
                width=self._width if resize else -1,
                height=self._height if resize else -1,
                num_threads=threads,
            )
            # [N, 2] (start, end) seconds from the stream's start, in presentation order.
            times = self._vr.get_frame_timestamp(np.arange(len(self._vr)))
        except (self._decord.DECORDError, RuntimeError, AssertionError) as exc:
            raise DecodeError(f"{self._source}: decord cannot read the video stream ({exc})") from None
        self._origin, self._fps = header.video_start, header.fps
        self._duration = header.video_duration or float(times[-1, 1])
        if self._duration <= 0:
            raise DecodeError(f"{self._source}: video stream is empty (duration 0)")
        # The grid index each frame's timestamp rounds to, as the PyAV backend rounds it.
        self._frame_grid = np.round(times[:, 0].astype(np.float64) * self._fps).astype(np.int64)

    # ------------------------------------------------------------------ clips
    def _reader_indices(self, grid_indices: np.ndarray) -> np.ndarray:
        """decord's frame index for each grid index.

        The first frame whose timestamp rounds to the grid index; with none
        (variable frame rate, dropped frames), the frame shown at that time:
        the latest earlier one.
        """
        grid = self._frame_grid
        pos = np.searchsorted(grid, grid_indices, side="left")
        exact = (pos < len(grid)) & (grid[np.minimum(pos, len(grid) - 1)] == grid_indices)
        return np.where(exact, pos, np.maximum(pos - 1, 0))

    def _decode_frames(self, indices: list[int]) -> torch.Tensor:
        reader_indices = self._reader_indices(np.asarray(indices, dtype=np.int64))
        unique, inverse = np.unique(reader_indices, return_inverse=True)
        try:
            frames = self._vr.get_batch(unique.tolist()).asnumpy()  # [N, H, W, 3]
        except (self._decord.DECORDError, RuntimeError) as exc:
            raise DecodeError(f"{self._source}: cannot decode frames {indices[:5]} ({exc})") from None
        video = torch.from_numpy(frames).index_select(0, torch.from_numpy(inverse.reshape(-1)))
        return video.permute(3, 0, 1, 2).contiguous()

    # ------------------------------------------------------------------ audio
    def _read_audio(self) -> np.ndarray:
        """The whole waveform ``[C, S]``, sample 0 at time 0 (decord pads a late start with zeros)."""
        if self._waveform is None:
            try:
                reader = self._decord.AudioReader(
                    self._reader_input(), ctx=self._decord.cpu(0), sample_rate=self._header.audio_rate, mono=False
                )
                reader.add_padding()
            except (self._decord.DECORDError, RuntimeError) as exc:
                raise DecodeError(f"{self._source}: decord cannot read the audio stream ({exc})") from None
            # decord's public accessors copy through an index array as long as the
            # waveform; its ``_array`` is the decoded (and padded) waveform itself.
            self._waveform = reader._array
        return self._waveform

    def get_audio(self, start_sec: float | Fraction, end_sec: float | Fraction) -> torch.Tensor | None:
        """Mono float32 samples in ``[start, end)``, sample-accurate and aligned with the video."""
        if not self._decode_audio:
            return None
        waveform = self._read_audio()
        rate = self._header.audio_rate
        start, end = float(start_sec), min(float(end_sec), self._duration)
        first = max(int(round((self._origin + start) * rate)), 0)
        last = max(int(round((self._origin + end) * rate)), first)
        mono = torch.from_numpy(np.ascontiguousarray(waveform[:, first:last].mean(axis=0, dtype=np.float32)))
        if self._audio_rate_out and self._audio_rate_out != rate:
            mono = resample_waveform(mono, rate, self._audio_rate_out)
        return mono

    @property
    def audio_sample_rate(self) -> int | None:
        """Rate of the returned waveform (``None`` without an audio stream)."""
        if not self._decode_audio:
            return None
        return self._audio_rate_out or self._header.audio_rate

    def close(self) -> None:
        self._vr = None
        self._waveform = None
        super().close()
