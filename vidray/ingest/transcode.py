"""One video into a training form: short side N, constant frame rate, short GOP, audio kept.

Long-GOP sources (YouTube downloads: a keyframe every 5-10 s) make every
random clip decode seconds of video it throws away; a short keyframe interval
at the training resolution lets the decoder seek next to any clip. The
transcode keeps the timeline: time ``t`` of the new file shows what time ``t``
of the source showed (time 0 being the source's first frame, as vidray's
decoders count), so ``segment`` annotations stay valid.

* video: decoded, mapped onto a constant frame-rate grid by timestamps (each
  source frame takes the grid slot nearest its time, as FFmpeg's ``fps``
  filter does: gaps repeat the previous frame, crowded slots keep the latest),
  scaled so the short side is ``short_side`` (even sizes, aspect kept) and
  encoded as H.264 yuv420p with a keyframe every ``keyframe_interval`` frames
  exactly (no extra scene-cut keyframes);
* audio: re-encoded as AAC at the source's sample rate (mono stays mono, more
  channels become stereo), aligned to the video's time 0;
* container: mp4 with the index first (``faststart``), so a reader of a
  remote copy gets the index with its first range request.

The file appears complete or not at all: a local destination is written under
a temporary name (:func:`partial_path`) and renamed, an S3 one is uploaded in
one request after the encode.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np
from av.audio.resampler import AudioResampler
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

from vidray import io as vio
from vidray.data.decoders.pyav import EncodedVideoPyAV
from vidray.data.video import short_side_size
from vidray.errors import DecodeError, MediaNotFoundError

logger = logging.getLogger(__name__)

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
X264_TUNES = ("film", "animation", "grain", "stillimage", "fastdecode", "zerolatency")
PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True)
class TranscodeSpec:
    """The training form: everything that decides the bytes of a prepared file."""

    short_side: int = 320
    fps: float = 30.0
    keyframe_interval: int = 16  # frames
    crf: int = 23
    preset: str = "veryfast"
    tune: str | None = None
    audio: bool = True

    def __post_init__(self) -> None:
        if self.short_side <= 0 or self.short_side % 2:
            raise ValueError(f"short_side must be positive and even (yuv420p), got {self.short_side}")
        if self.fps <= 0 or self.keyframe_interval < 1:
            raise ValueError(f"fps must be > 0 and keyframe_interval >= 1, got {self.fps}, {self.keyframe_interval}")
        if self.preset not in X264_PRESETS or (self.tune is not None and self.tune not in X264_TUNES):
            raise ValueError(f"unknown x264 preset {self.preset!r} or tune {self.tune!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TranscodeResult:
    """What was written, as vidray's decoder reads it back."""

    duration: float  # seconds
    frames: int
    height: int
    width: int
    audio_sample_rate: int | None


def partial_path(destination: str) -> str:
    """The temporary name a local destination is written under before it is renamed.

    The name is fixed, so a run killed mid-write leaves one file that the next
    attempt overwrites; it never counts as finished (only the final name does).
    """
    return os.path.join(os.path.dirname(destination), f".{os.path.basename(destination)}{PARTIAL_SUFFIX}")


def output_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the short side ``short_side`` and the long side rounded down to even."""
    height, width = short_side_size(height, width, short_side)
    return height - height % 2, width - width % 2


def transcode_video(source: str, destination: str, spec: TranscodeSpec, threads: int = 1) -> TranscodeResult:
    """Transcodes ``source`` (local or ``s3://``) to the mp4 ``destination`` (local or ``s3://``).

    ``threads`` is FFmpeg's thread count for decoding and encoding (a Ray task
    holding one CPU uses one). A source that cannot be read raises
    :class:`~vidray.errors.DecodeError`; nothing is left at ``destination`` then.
    """
    if vio.is_s3(destination):
        with tempfile.TemporaryDirectory(prefix="vidray-transcode-") as scratch:
            local = os.path.join(scratch, "video.mp4")
            result = _transcode_to_file(source, local, spec, threads)
            with open(local, "rb") as file:
                vio.write_bytes(destination, file.read())
        logger.debug("%s -> %s: %d frames %dx%d", source, destination, result.frames, result.width, result.height)
        return result
    os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
    partial = partial_path(destination)
    try:
        result = _transcode_to_file(source, partial, spec, threads)
        os.replace(partial, destination)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    logger.debug("%s -> %s: %d frames %dx%d", source, destination, result.frames, result.width, result.height)
    return result


def probe_duration(path: str) -> float:
    """Seconds of a video as vidray's decoder reads them (the ``duration`` a manifest may carry)."""
    video = EncodedVideoPyAV(vio.open_binary(path), vio.basename(path), decode_audio=False, source=path)
    with video:
        return float(video.duration)


def _transcode_to_file(source: str, path: str, spec: TranscodeSpec, threads: int) -> TranscodeResult:
    try:
        container = av.open(source if not vio.is_s3(source) else vio.open_binary(source), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise MediaNotFoundError(f"{source}: no such file") from None
        raise DecodeError(f"{source}: cannot open as a media file ({exc})") from None
    with container:
        if not container.streams.video:
            raise DecodeError(f"{source}: has no video stream")
        try:
            frames = _transcode_streams(container, path, spec, threads, source)
        except (av.error.FFmpegError, ValueError) as exc:  # PyAV raises ValueError for unusable stream parameters
            raise DecodeError(f"{source}: cannot transcode ({exc})") from None
    if frames == 0:
        raise DecodeError(f"{source}: video stream holds no decodable frame")
    with EncodedVideoPyAV(path, vio.basename(path), decode_audio=True, source=path) as written:
        height, width = written.get_frames([0])["video"].shape[-2:]
        return TranscodeResult(float(written.duration), frames, int(height), int(width), written.audio_sample_rate)


def _transcode_streams(container: Any, path: str, spec: TranscodeSpec, threads: int, source: str) -> int:
    """Decodes, converts and encodes every frame; returns the number of video frames written."""
    in_video = container.streams.video[0]
    in_audio = container.streams.audio[0] if spec.audio and container.streams.audio else None
    for stream in (in_video, in_audio):
        if stream is not None:
            stream.codec_context.thread_count = threads
            if threads != 1:
                stream.codec_context.thread_type = "AUTO"
    height, width = output_size(in_video.codec_context.height, in_video.codec_context.width, spec.short_side)
    if height <= 0 or width <= 0:
        raise DecodeError(f"{source}: video stream has no frame size")
    with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart"}) as output:
        video_out = _add_video_stream(output, spec, height, width, threads)
        audio_out = None
        if in_audio is not None:
            rate = in_audio.codec_context.sample_rate
            audio_out = _AudioWriter(output, rate, in_audio.codec_context.channels)
        grid = _FrameRateConverter(spec.fps, _VideoWriter(output, video_out, height, width))
        origin: float | None = None  # seconds of the source's first frame: time 0 of both files
        waiting_audio: list[av.AudioFrame] = []  # audio decoded before the first video frame
        streams = [in_video] + ([in_audio] if in_audio is not None else [])
        last_end = 0.0
        for packet in container.demux(*streams):
            for frame in packet.decode():
                if frame.pts is None:
                    continue
                if packet.stream is in_video:
                    if origin is None:
                        origin = float(frame.time)
                        for pending in waiting_audio:
                            audio_out.write(pending, origin)
                        waiting_audio.clear()
                    time = float(frame.time) - origin
                    grid.push(frame, time)
                    last_end = max(last_end, time + _frame_seconds(frame, in_video))
                elif origin is None:
                    waiting_audio.append(frame)
                else:
                    audio_out.write(frame, origin)
        written = grid.finish(last_end)
        if audio_out is not None:
            audio_out.finish()
    return written


def _add_video_stream(output: Any, spec: TranscodeSpec, height: int, width: int, threads: int) -> Any:
    rate = Fraction(spec.fps).limit_denominator(1001)
    stream = output.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.time_base = 1 / rate
    stream.codec_context.gop_size = spec.keyframe_interval
    stream.codec_context.thread_count = threads
    # sc_threshold 0: no scene-cut keyframes, so keyframes fall exactly every keyframe_interval frames.
    options = {"crf": str(spec.crf), "preset": spec.preset, "sc_threshold": "0"}
    if spec.tune:
        options["tune"] = spec.tune
    stream.options = options
    return stream


def _frame_seconds(frame: av.VideoFrame, stream: Any) -> float:
    """How long a source frame is shown (its own duration, else one frame at the stream's rate)."""
    if frame.duration and frame.time_base:
        return float(frame.duration * frame.time_base)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return 1.0 / float(rate) if rate else 0.0


class _VideoWriter:
    """Scales a source frame once and encodes it at one or more grid slots."""

    def __init__(self, output: Any, stream: Any, height: int, width: int) -> None:
        self._output, self._stream, self._height, self._width = output, stream, height, width
        self._reformatter = VideoReformatter()  # one swscale context for the whole video

    def __call__(self, frame: av.VideoFrame, slots: range) -> None:
        scaled = self._reformatter.reformat(
            frame, width=self._width, height=self._height, format="yuv420p", interpolation="BICUBIC", threads=1
        )
        scaled.time_base = self._stream.codec_context.time_base  # pts count grid slots
        scaled.pict_type = PictureType.NONE  # a source keyframe must not force one here (x264 honours it)
        for slot in slots:
            scaled.pts = slot
            for packet in self._stream.encode(scaled):
                self._output.mux(packet)

    def flush(self) -> None:
        for packet in self._stream.encode():
            self._output.mux(packet)


class _FrameRateConverter:
    """Maps frames with arbitrary times onto the grid ``slot / fps`` (FFmpeg ``fps`` filter, ``round=near``)."""

    def __init__(self, fps: float, writer: _VideoWriter) -> None:
        self._fps, self._writer = fps, writer
        self._pending: av.VideoFrame | None = None
        self._pending_slot = 0
        self._written = 0

    def push(self, frame: av.VideoFrame, time: float) -> None:
        slot = round(time * self._fps)
        if self._pending is not None and slot > self._pending_slot:
            self._emit(slot)
        if slot >= self._written:  # a frame for an already written slot (out of order) is dropped
            self._pending, self._pending_slot = frame, slot

    def finish(self, end_time: float) -> int:
        """Fills the grid up to ``end_time`` with the last frame; returns the number of frames written."""
        if self._pending is not None:
            self._emit(max(round(end_time * self._fps), self._pending_slot + 1))
        self._writer.flush()
        return self._written

    def _emit(self, until_slot: int) -> None:
        self._writer(self._pending, range(self._written, until_slot))
        self._written = until_slot
        self._pending = None


class _AudioWriter:
    """Re-encodes audio as AAC, placed by timestamps relative to the video's time 0.

    Mono stays mono, anything else becomes stereo (AAC encoders take few
    layouts; training reads mono). Samples before time 0 are dropped, gaps are
    filled with silence, overlaps are cut; jitter below a millisecond is
    ignored (timestamps are rounded).
    """

    def __init__(self, output: Any, rate: int, channels: int) -> None:
        self._output, self._rate = output, rate
        self._layout = "mono" if channels == 1 else "stereo"
        self._stream = output.add_stream("aac", rate=rate, layout=self._layout)
        self._convert = AudioResampler(format="fltp", layout=self._layout, rate=rate)  # any sample format in
        self._next = 0  # output sample index of the next sample written
        self._tolerance = max(1, rate // 1000)

    def write(self, frame: av.AudioFrame, origin: float) -> None:
        start = round((float(frame.time) - origin) * self._rate)
        converted = [f.to_ndarray() for f in self._convert.resample(frame)]
        if not converted:
            return
        samples = np.concatenate(converted, axis=1) if len(converted) > 1 else converted[0]
        if start > self._next + self._tolerance:  # a gap: silence up to this frame
            self._encode(np.zeros((samples.shape[0], start - self._next), np.float32))
        elif start < self._next - self._tolerance:  # overlap (or before time 0): cut what is written already
            samples = samples[:, self._next - start :]
        if samples.shape[1]:
            self._encode(samples)

    def finish(self) -> None:
        self._mux(self._stream.encode(None))

    def _encode(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format="fltp", layout=self._layout)
        frame.sample_rate, frame.pts, frame.time_base = self._rate, self._next, Fraction(1, self._rate)
        self._next += samples.shape[1]
        self._mux(self._stream.encode(frame))

    def _mux(self, packets: list[av.Packet]) -> None:
        for packet in packets:
            self._output.mux(packet)
