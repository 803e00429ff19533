"""Reading image files (frame folders, optical-flow fields) into uint8 tensors.

Pillow decodes (its wheels bundle libjpeg-turbo); JPEGs that are to be
shrunk are downscaled in the DCT domain while decoding, which is much cheaper
than decoding at full size and resizing.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from vidray import io as vio
from vidray.data.video import short_side_size
from vidray.errors import DecodeError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def load_image(path: str, mode: Literal["RGB", "L"] = "RGB", short_side: int | None = None) -> torch.Tensor:
    """One image (local or ``s3://``) as uint8 ``[C, H, W]`` (C = 3 for RGB, 1 for L)."""
    try:
        with Image.open(io.BytesIO(vio.read_bytes(path))) as image:
            if short_side is not None:
                height, width = short_side_size(image.height, image.width, short_side)
                image.draft(mode, (width, height))  # DCT-domain scaling, JPEG only
                converted = image.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
            else:
                converted = image.convert(mode)
            array = np.array(converted)
    except (UnidentifiedImageError, OSError) as exc:
        raise DecodeError(f"{path}: cannot decode image ({exc})") from None
    return torch.from_numpy(array).reshape(array.shape[0], array.shape[1], -1).permute(2, 0, 1)


def load_images(
    paths: Sequence[str], mode: Literal["RGB", "L"] = "RGB", short_side: int | None = None, threads: int = 1
) -> list[torch.Tensor]:
    """Several images, read by a thread pool when ``threads > 1`` (I/O and decoding release the GIL)."""
    if threads > 1 and len(paths) > 1:
        with ThreadPoolExecutor(max_workers=min(threads, len(paths))) as pool:
            return list(pool.map(lambda p: load_image(p, mode, short_side), paths))
    return [load_image(p, mode, short_side) for p in paths]


def stack_frames(name: str, images: Sequence[torch.Tensor]) -> torch.Tensor:
    """``[C, T, H, W]`` from same-sized ``[C, H, W]`` frames; different sizes are a decode error."""
    sizes = {tuple(img.shape) for img in images}
    if len(sizes) > 1:
        raise DecodeError(f"{name}: frames differ in size: {sorted(sizes)}")
    return torch.stack(list(images), dim=1)
