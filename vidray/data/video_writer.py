"""Writing H.264/AAC mp4 files with PyAV (synthetic data, tests, dataset preparation)."""

from __future__ import annotations

import io
import os
from fractions import Fraction

import av
import numpy as np

from vidray import io as vio


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    fps: float = 30.0,
    audio: np.ndarray | None = None,
    audio_sample_rate: int = 16000,
    codec_options: dict[str, str] | None = None,
    codec: str = "libx264",
    container_format: str = "mp4",
    container_options: dict[str, str] | None = None,
) -> None:
    """Encodes ``frames`` (uint8 ``[T, H, W, 3]`` RGB) and optional mono ``audio`` (float32 ``[S]``).

    ``codec_options`` go to the video encoder (for libx264 e.g. ``{"g": "250",
    "bf": "3"}``; the defaults are x264's own: long GOP, B-frames);
    ``container_options`` to the muxer (e.g. ``{"use_editlist": "0"}`` for mp4). Height and width must be even
    (yuv420p). The file is encoded in memory and written in one step (local
    files through a temporary name), so a crash never leaves half a file.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"H.264 yuv420p needs even height and width, got {height}x{width}")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format, options=container_options or {}) as container:
        rate = Fraction(fps).limit_denominator(1001)
        vstream = container.add_stream(codec, rate=rate)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.options = dict(codec_options or {})
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=audio_sample_rate, layout="mono")
        for image in frames:
            for packet in vstream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            _encode_audio(container, astream, audio, audio_sample_rate)
    vio.write_bytes(path, buffer.getvalue())


def _encode_audio(container: av.container.OutputContainer, stream: av.AudioStream, audio: np.ndarray, rate: int) -> None:
    samples = np.asarray(audio, dtype=np.float32).reshape(1, -1)
    chunk = 1024
    for offset in range(0, samples.shape[1], chunk):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, offset:offset + chunk]), format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = offset
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
