"""Real media for tests: mp4 files whose frames show their own index.

Each frame carries its index as ``INDEX_BITS`` black/white blocks in the top
rows, so a test can decode a clip and check exactly which frames came back,
despite lossy compression.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vidray.data.video_writer import write_video

INDEX_BITS = 10


def indexed_frames(num_frames: int, height: int = 32, width: int = 48) -> np.ndarray:
    """uint8 [T, H, W, 3] frames; frame t shows bit b of t as block b of the top quarter."""
    if width < INDEX_BITS * 4 or height < 16:
        raise ValueError(f"frames of {height}x{width} are too small for {INDEX_BITS} index blocks")
    frames = np.full((num_frames, height, width, 3), 60, dtype=np.uint8)
    for t in range(num_frames):
        for bit in range(INDEX_BITS):
            lo, hi = bit * width // INDEX_BITS, (bit + 1) * width // INDEX_BITS
            frames[t, : height // 4, lo:hi] = 255 if (t >> bit) & 1 else 0
    return frames


def decoded_indices(video: torch.Tensor) -> list[int]:
    """Frame indices shown by a decoded uint8 clip [C, T, H, W] (proportions survive resizing)."""
    _, num_frames, height, width = video.shape
    gray = video[:, :, height // 8, :].float().mean(0)  # [T, W]
    centres = [int((bit + 0.5) * width / INDEX_BITS) for bit in range(INDEX_BITS)]
    return [sum(1 << b for b, x in enumerate(centres) if gray[t, x] > 127) for t in range(num_frames)]


def write_indexed_video(
    path: str,
    num_frames: int,
    fps: float = 10.0,
    height: int = 32,
    width: int = 48,
    audio: bool = False,
    audio_sample_rate: int = 8000,
    codec_options: dict[str, str] | None = None,
    **writer_options: Any,
) -> str:
    """Writes an index-coded video (H.264 mp4 unless ``writer_options`` say otherwise,
    optionally with a 440 Hz tone) and returns its path."""
    samples = None
    if audio:
        t = np.arange(int(num_frames / fps * audio_sample_rate)) / audio_sample_rate
        samples = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    write_video(path, indexed_frames(num_frames, height, width), fps=fps, audio=samples,
                audio_sample_rate=audio_sample_rate, codec_options=codec_options, **writer_options)
    return str(path)


def encode_image(image: torch.Tensor, fmt: str = "png", quality: int = 95) -> bytes:
    """A uint8 [C, H, W] tensor (C = 1 or 3) as PNG or JPEG bytes."""
    import io

    from PIL import Image

    array = image.permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    out = io.BytesIO()
    picture.save(out, format="PNG" if fmt == "png" else "JPEG", quality=quality)
    return out.getvalue()


def write_image(path, image: torch.Tensor) -> None:
    """Writes a uint8 [C, H, W] tensor as an image file (format from the suffix)."""
    from pathlib import Path

    path = Path(path)
    path.write_bytes(encode_image(image, "png" if path.suffix == ".png" else "jpeg"))
