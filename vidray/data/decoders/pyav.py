"""The default decoder: PyAV (FFmpeg), seek-aware and sparse.

Why it is fast:

* decoding starts at the keyframe before the first needed frame and stops
  after the last needed one, never at the file's start or end;
* frames that are not kept and that no other frame references (most
  B-frames of x264's defaults), before the clip and between the frames a
  sparse clip keeps, are not decoded at all (``skip_frame = NONREF``);
* only the frames a clip keeps are converted from YUV to RGB, by one reused
  swscale context per thread, and the conversion resizes in the same pass
  (``short_side_size``), so a 1080p source never costs 1080p RGB memory;
* several clips of one video (``get_clips``) share one pass when they lie
  closer together than a keyframe interval.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict
from fractions import Fraction
from typing import Any, BinaryIO, Callable, Iterator

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from vidray.data.audio import resample_waveform
from vidray.data.encoded_video import DECODERS, EncodedVideo
from vidray.data.video import short_side_size
from vidray.errors import ClipOutOfRangeError, DecodeError

logger = logging.getLogger(__name__)

# Without a better estimate, clips further apart than this many seconds are
# reached by seeking rather than by decoding through the gap.
DEFAULT_SEEK_GAP_SEC = 2.0
# Each pass over the file emits at least one frame; the rest are retries after a failed seek.
MAX_EXTRA_PASSES = 4
# Audio is decoded from this many samples before a clip (two 1024-sample AAC frames).
AUDIO_SEEK_MARGIN_SAMPLES = 2048


@DECODERS.register("pyav")
class EncodedVideoPyAV(EncodedVideo):
    """A compressed video decoded with PyAV.

    Args:
        file: a seekable binary file object or a local path.
        video_name: the name used in messages and samples.
        decode_video / decode_audio: which streams to decode (a missing audio
            stream yields ``audio=None``; a missing video stream is an error
            when ``decode_video``).
        short_side_size: resize frames during colour conversion so the short
            side has this many pixels (PyTorchVideo's ``ShortSideScale`` rounding).
        audio_sample_rate: resample the waveform to this rate (default: native).
        threads: FFmpeg decoding threads (1 suits data-loader workers, which
            already run in parallel; 0 lets FFmpeg choose).
        source: where the file came from (path or URI), for messages.
    """

    def __init__(
        self,
        file: BinaryIO | str,
        video_name: str | None = None,
        decode_video: bool = True,
        decode_audio: bool = True,
        perform_seek: bool = True,
        short_side_size: int | None = None,
        audio_sample_rate: int | None = None,
        threads: int = 1,
        source: str | None = None,
    ) -> None:
        super().__init__(file, video_name, source, short_side_size, audio_sample_rate)
        self._perform_seek = perform_seek
        self._container = None
        try:
            self._open(file, decode_video, decode_audio, threads)
        except BaseException:
            self.close()  # never leak the file of a video that failed to open
            raise
        self._keyframe_gap: float | None = None

    # ------------------------------------------------------------------ metadata
    def _open(self, file: BinaryIO | str, decode_video: bool, decode_audio: bool, threads: int) -> None:
        try:
            self._container = av.open(file, mode="r", metadata_errors="ignore")
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            raise DecodeError(f"{self._source}: cannot open as a media file ({exc})") from None
        streams = self._container.streams
        self._vs = streams.video[0] if streams.video else None
        self._as = streams.audio[0] if (decode_audio and streams.audio) else None
        if self._vs is None and (decode_video or self._as is None):
            raise DecodeError(f"{self._source}: has no video stream")
        self.decodes_video = decode_video and self._vs is not None
        if self._vs is not None:
            self._init_video_timing(threads)
        else:
            self._origin = float(self._as.start_time * self._as.time_base) if self._as.start_time else 0.0
            self._fps = 0.0
            self._duration = self._stream_seconds(self._as)

    def _init_video_timing(self, threads: int) -> None:
        vs = self._vs
        self._tb = vs.time_base
        self._tb_seconds = float(vs.time_base)  # float: this runs per packet and per frame
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        if not rate:
            raise DecodeError(f"{self._source}: video stream has no frame rate")
        self._fps = float(rate)
        cc = vs.codec_context
        if threads != 1:
            cc.thread_type = "AUTO"
        cc.thread_count = threads
        self._origin_pts = self._first_frame_pts()
        self._origin = float(self._origin_pts * self._tb)
        self._duration = self._stream_seconds(vs)
        if self._duration <= 0:
            raise DecodeError(f"{self._source}: video stream is empty (duration 0)")
        self._height, self._width = short_side_size(cc.height, cc.width, self._short_side)
        if self._height <= 0 or self._width <= 0:
            raise DecodeError(f"{self._source}: video stream has no frame size")

    def _first_frame_pts(self) -> int:
        """The pts of the first frame shown: time 0 of the frame grid.

        The stream's declared start can differ from it (AVI with packed
        B-frames shows its first frame at pts 1), so one frame is decoded to
        find out.
        """
        try:
            for frame in self._container.decode(self._vs):
                if frame.pts is None:
                    raise DecodeError(f"{self._source}: video frames carry no timestamps (a raw elementary stream?)")
                return frame.pts
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{self._source}: cannot decode the first video frame ({exc})") from None
        raise DecodeError(f"{self._source}: video stream holds no decodable frame")

    def _stream_seconds(self, stream: Any) -> float:
        if stream.duration:
            return float(stream.duration * stream.time_base)
        if self._container.duration:
            return self._container.duration / av.time_base
        if stream.type == "video" and stream.frames:
            return stream.frames / self._fps
        return self._scan_duration(stream)

    def _scan_duration(self, stream: Any) -> float:
        """Duration of a stream without header metadata: demux (no decode) to the last packet."""
        end = 0.0
        try:
            for packet in self._container.demux(stream):
                if packet.pts is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * stream.time_base))
            self._container.seek(0)
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{self._source}: cannot read stream ({exc})") from None
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        return end - start

    # ------------------------------------------------------------------ video decoding
    def _frame_index(self, pts: int) -> int:
        return round((pts - self._origin_pts) * self._tb_seconds * self._fps)

    def _index_pts(self, index: int) -> int:
        return self._origin_pts + int(math.floor(index / self._fps / self._tb))

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        reformatter = _reformatter()
        rgb = reformatter.reformat(frame, format="rgb24", width=self._width, height=self._height, threads=1)
        return rgb.to_ndarray()

    def _decode_frames(self, frame_indices: list[int]) -> torch.Tensor:
        """Converts each kept frame straight into its slot(s) of a ``[C, T, H, W]`` array:
        no per-frame list, no stack, no transposing copy of the whole clip."""
        slots: dict[int, list[int]] = defaultdict(list)
        for position, index in enumerate(frame_indices):
            slots[index].append(position)
        out = np.empty((3, len(frame_indices), self._height, self._width), dtype=np.uint8)

        def emit(index: int, frame: av.VideoFrame) -> None:
            planes = self._to_rgb(frame).transpose(2, 0, 1)
            for position in slots[index]:
                out[:, position] = planes

        self._decode_sorted(sorted(slots), emit)
        return torch.from_numpy(out)

    def _decode_sorted(self, wanted: list[int], emit: Callable[[int, av.VideoFrame], None]) -> None:
        """Calls ``emit(index, frame)`` for each of the sorted grid indices ``wanted``.

        A grid index with no frame of its own (variable frame rate, dropped
        frames) takes the frame shown at that time: the latest earlier frame.
        """
        pos, from_start = 0, not self._perform_seek
        for _ in range(len(wanted) + MAX_EXTRA_PASSES):
            if pos == len(wanted):
                return
            new_pos = self._decode_pass(wanted, pos, emit, from_start)
            if new_pos is None:  # the seek landed after the target (some demuxers do)
                if from_start:
                    raise DecodeError(f"{self._source}: frame {wanted[pos]} cannot be reached by decoding")
                logger.debug("%s: seek to frame %d overshot; decoding from the start", self._source, wanted[pos])
                from_start = True
                continue
            pos, from_start = new_pos, not self._perform_seek
        raise DecodeError(f"{self._source}: decoding made no progress towards frame {wanted[pos]}")

    def _decode_pass(
        self, wanted: list[int], pos: int, emit: Callable[[int, av.VideoFrame], None], from_start: bool
    ) -> int | None:
        """Seeks before ``wanted[pos]`` and decodes until done or until a new seek pays off.

        Returns the position in ``wanted`` reached, or ``None`` when the seek
        overshot the target (some demuxers seek by decode time, or land on the
        next keyframe).
        """
        try:
            if from_start:  # the very beginning of the file, whatever its timestamps
                self._container.seek(0, backward=True, any_frame=False)
            else:
                target_pts = max(self._index_pts(wanted[pos]), self._origin_pts)
                self._container.seek(target_pts, stream=self._vs, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{self._source}: cannot seek to frame {wanted[pos]} ({exc})") from None
        previous: av.VideoFrame | None = None
        previous_index = -1
        last_key_index: int | None = None
        stream = self._demux_video(frozenset(wanted))
        try:
            for packet, frame in stream:
                if packet is not None:
                    if packet.is_keyframe and packet.pts is not None:
                        key_index = self._frame_index(packet.pts)
                        if last_key_index is not None and key_index > last_key_index:
                            self._keyframe_gap = (key_index - last_key_index) / self._fps
                        last_key_index = key_index
                        worth = not from_start and self._worth_seeking(previous_index, wanted[pos])
                        if previous is not None and worth:
                            return pos
                    continue
                index = self._frame_index(frame.pts)
                if previous is None and index > wanted[pos] and not from_start:
                    return None
                while pos < len(wanted) and wanted[pos] < index and previous is not None:
                    emit(wanted[pos], previous)
                    pos += 1
                while pos < len(wanted) and wanted[pos] <= index:
                    emit(wanted[pos], frame)
                    pos += 1
                previous, previous_index = frame, index
                if pos == len(wanted):
                    return pos
        finally:
            stream.close()
        # End of stream: grid indices up to the nominal frame count show the last frame.
        if previous is None:  # the seek went past every frame still to come
            if not from_start:
                return None
            raise DecodeError(f"{self._source}: no decodable video frame at or after frame {wanted[pos]}")
        while pos < len(wanted):
            if wanted[pos] >= self.num_frames:
                raise ClipOutOfRangeError(
                    f"{self._source}: frame {wanted[pos]} is past the video's end ({self.num_frames} frames)"
                )
            emit(wanted[pos], previous)
            pos += 1
        return pos

    def _demux_video(self, wanted: frozenset[int]) -> Iterator[tuple[Any, Any]]:
        """Yields ``(packet, None)`` per packet then ``(None, frame)`` per decoded frame.

        Packets of frames that are not wanted are decoded with
        ``skip_frame=NONREF``: if no other frame refers to them (most B-frames
        of x264's defaults), they are dropped without being decoded, before a
        clip and between the frames a sparse clip keeps. (On variable-frame-rate
        sources a grid index without a frame of its own then shows the latest
        earlier *decoded* frame.)
        """
        cc = self._vs.codec_context
        try:
            for packet in self._container.demux(self._vs):
                yield packet, None
                needed = packet.pts is None or self._frame_index(packet.pts) in wanted
                cc.skip_frame = "DEFAULT" if needed else "NONREF"
                for frame in packet.decode():
                    yield None, frame
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{self._source}: corrupt video data ({exc})") from None
        finally:
            cc.skip_frame = "DEFAULT"

    def _worth_seeking(self, current_index: int, target_index: int) -> bool:
        if not self._perform_seek:
            return False
        gap = (target_index - current_index) / self._fps
        return gap > (self._keyframe_gap or DEFAULT_SEEK_GAP_SEC)

    # ------------------------------------------------------------------ audio
    def get_audio(self, start_sec: float | Fraction, end_sec: float | Fraction) -> torch.Tensor | None:
        """Mono float32 samples in ``[start, end)``, sample-accurate and aligned with the video."""
        if self._as is None:
            return None
        start, end = float(start_sec), min(float(end_sec), self._duration)
        stream = self._as
        rate = stream.codec_context.sample_rate or stream.rate
        first = int(round((self._origin + start) * rate))
        length = int(round((end - start) * rate))  # from the duration, so equal clips get equal lengths
        last = first + length
        chunks: list[np.ndarray] = []
        # Seek a few codec frames early (AAC decodes a frame from its predecessor's
        # overlap), and before time 0 if need be: the first packets carry negative times.
        margin = max(AUDIO_SEEK_MARGIN_SAMPLES / rate, 0.1)
        seek_pts = int((self._origin + start - margin) / stream.time_base)
        try:
            self._container.seek(seek_pts, stream=stream, backward=True, any_frame=False)
            for packet in self._container.demux(stream):
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    frame_first = int(round(float(frame.pts * frame.time_base) * rate))
                    if frame_first >= last:
                        break
                    samples = _mono_float(frame)
                    lo, hi = max(first - frame_first, 0), min(last - frame_first, samples.shape[0])
                    if hi > lo:
                        chunks.append(samples[lo:hi])
                else:
                    continue
                break
        except av.error.FFmpegError as exc:
            raise DecodeError(f"{self._source}: corrupt audio data ({exc})") from None
        waveform = torch.from_numpy(np.concatenate(chunks)) if chunks else torch.zeros(0)
        if waveform.shape[0] < length:  # the track ends early: pad with silence to the clip's length
            waveform = torch.nn.functional.pad(waveform, (0, length - waveform.shape[0]))
        if self._audio_rate_out and self._audio_rate_out != rate:
            waveform = resample_waveform(waveform, rate, self._audio_rate_out)
        return waveform

    @property
    def audio_sample_rate(self) -> int | None:
        """Rate of the returned waveform (``None`` without an audio stream)."""
        if self._as is None:
            return None
        return self._audio_rate_out or self._as.codec_context.sample_rate or self._as.rate

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None
        super().close()


_thread_state = threading.local()


def _reformatter() -> VideoReformatter:
    """This thread's colour converter. ``frame.to_ndarray(format=...)`` builds a new
    swscale context per frame (~2 ms at 340x256, 15x the conversion itself);
    one reused converter keeps its context while the frame size stays the same.

    It converts with one thread: data-loader workers already run in parallel,
    and swscale's slice threads do not survive ``fork``, so a forked worker
    that inherited a threaded context would hang using or freeing it.
    """
    if not hasattr(_thread_state, "reformatter"):
        _thread_state.reformatter = VideoReformatter()
    return _thread_state.reformatter


def _mono_float(frame: av.AudioFrame) -> np.ndarray:
    """An audio frame as float32 mono in [-1, 1] (channels averaged, as PyTorchVideo does)."""
    array = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not frame.format.is_planar:
        array = array.reshape(-1, channels).T
    if array.dtype.kind in "iu":
        bits = array.dtype.itemsize * 8
        array = array.astype(np.float32) / float(2 ** (bits - 1))
    return array.astype(np.float32, copy=False).mean(axis=0)
