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
    "bf": "3"}``; the defaults are x264's own: long GOP, B-frames, except that
    x264's macroblock-tree rate control is off: with it, the same frames gave
    different pictures from one encode to the next (x264 in FFmpeg 8.1), and a
    dataset written twice must be the same dataset);
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
        vstream.options = _deterministic(codec, dict(codec_options or {}))
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=audio_sample_rate, layout="mono")
        for image in frames:
            for packet in vstream.encode(av.VideoFrame.from_ndarray(rgb_to_yuv420p(image), format="yuv420p")):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            _encode_audio(container, astream, audio, audio_sample_rate)
    vio.write_bytes(path, buffer.getvalue())


def _deterministic(codec: str, options: dict[str, str]) -> dict[str, str]:
    if codec != "libx264" or "mbtree" in options.get("x264-params", ""):
        return options
    params = options.get("x264-params")
    return {**options, "x264-params": f"{params}:mbtree=0" if params else "mbtree=0"}


# BT.601 limited range ("tv"), what decoders assume for a stream that names no colour space.
_RGB_TO_YUV = np.array([[0.256788, 0.504129, 0.097906], [-0.148223, -0.290993, 0.439216], [0.439216, -0.367788, -0.071427]])


def rgb_to_yuv420p(image: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W, 3]`` RGB -> the ``[H * 3 / 2, W]`` planes of yuv420p (Y, then U and V at half size).

    Done here rather than by FFmpeg's swscale, whose RGB-to-YUV output (FFmpeg 8.1)
    differs in a few pixels from one call to the next: the same frames must give
    the same file, or a dataset written twice is not the same dataset.
    """
    height, width, _ = image.shape
    yuv = image.astype(np.float32) @ _RGB_TO_YUV.T.astype(np.float32)
    luma = yuv[..., 0] + 16.0
    chroma = yuv[..., 1:].reshape(height // 2, 2, width // 2, 2, 2).mean(axis=(1, 3)) + 128.0  # 2x2 average
    planes = [luma, chroma[..., 0], chroma[..., 1]]
    flat = np.concatenate([np.clip(np.rint(plane), 0, 255).astype(np.uint8).ravel() for plane in planes])
    return flat.reshape(height * 3 // 2, width)  # PyAV's yuv420p layout: the planes one after another


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
