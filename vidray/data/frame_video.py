"""``FrameVideo``: a video stored as a folder of decoded frames (jpg/png).

Frame datasets (Something-Something v2 frames, Charades RGB, AVA keyframe
folders) use it through the same clip API as :class:`EncodedVideo`.
"""

from __future__ import annotations

import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from vidray import io as vio
from vidray.data.video import FrameFilter, Video, short_side_size
from vidray.errors import DecodeError, MediaNotFoundError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


def natural_key(name: str) -> list[Any]:
    """Sort key that orders ``img_2`` before ``img_10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


class FrameVideo(Video):
    """A sequence of image files shown at ``fps``.

    Args:
        video_frame_paths: one path (or ``s3://`` URI) per frame, in display order.
        fps: the frame rate the frames were extracted at.
        multithreaded_io: read and decode a clip's images with a thread pool.
        short_side_size: resize frames so the short side has this many pixels.
    """

    def __init__(
        self,
        video_frame_paths: Sequence[str],
        fps: float = 30.0,
        multithreaded_io: bool = False,
        short_side_size: int | None = None,
        video_name: str | None = None,
    ) -> None:
        if not video_frame_paths:
            raise MediaNotFoundError(f"{video_name or 'frame video'}: no frame files")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self._paths = list(video_frame_paths)
        self._fps = float(fps)
        self._multithreaded_io = multithreaded_io
        self._short_side = short_side_size
        self.name = video_name or os.path.basename(os.path.dirname(str(self._paths[0])))

    @classmethod
    def from_directory(
        cls,
        path: str,
        fps: float = 30.0,
        multithreaded_io: bool = False,
        path_order_cache: dict[str, list[str]] | None = None,
        short_side_size: int | None = None,
    ) -> "FrameVideo":
        """All images in a folder (local or ``s3://``), ordered by the numbers in their names."""
        path = str(path)
        if path_order_cache is not None and path in path_order_cache:
            paths = path_order_cache[path]
        else:
            names = [n for n in vio.list_dir(path) if n.lower().endswith(IMAGE_EXTENSIONS)]
            if not names:
                raise MediaNotFoundError(f"{path}: folder holds no {'/'.join(IMAGE_EXTENSIONS)} frames")
            paths = [vio.join(path, n) for n in sorted(names, key=natural_key)]
            if path_order_cache is not None:
                path_order_cache[path] = paths
        return cls(paths, fps, multithreaded_io, short_side_size, video_name=vio.basename(path))

    @classmethod
    def from_frame_paths(
        cls, video_frame_paths: Sequence[str], fps: float = 30.0, multithreaded_io: bool = False, **kwargs: Any
    ) -> "FrameVideo":
        return cls(video_frame_paths, fps, multithreaded_io, **kwargs)

    @property
    def duration(self) -> float:
        return len(self._paths) / self._fps

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def num_frames(self) -> int:
        return len(self._paths)

    def get_clip(
        self,
        start_sec: float | Fraction,
        end_sec: float | Fraction,
        frame_filter: FrameFilter | None = None,
    ) -> dict[str, Any]:
        """``{"video": uint8 [C, T, H, W], "frame_indices": [...], "audio": None}``."""
        indices = self.clip_frame_indices(start_sec, end_sec)
        if frame_filter is not None:
            indices = frame_filter(indices)
        clip = self.get_frames(indices)
        clip["audio"] = None
        return clip

    def get_frames(self, frame_indices: Sequence[int]) -> dict[str, Any]:
        indices = self.check_frame_indices(frame_indices)
        paths = [self._paths[i] for i in indices]
        if self._multithreaded_io and len(paths) > 1:
            with ThreadPoolExecutor(max_workers=min(8, len(paths))) as pool:
                images = list(pool.map(self._load_image, paths))
        else:
            images = [self._load_image(p) for p in paths]
        sizes = {tuple(img.shape) for img in images}
        if len(sizes) > 1:
            raise DecodeError(f"{self.name}: frames differ in size: {sorted(sizes)}")
        return {"video": torch.stack(images, dim=1), "frame_indices": indices}

    def _load_image(self, path: str) -> torch.Tensor:
        """One frame as uint8 [C, H, W]; JPEGs are downscaled while decoding when resizing."""
        try:
            with Image.open(io.BytesIO(vio.read_bytes(path))) as image:
                if self._short_side is not None:
                    height, width = short_side_size(image.height, image.width, self._short_side)
                    image.draft("RGB", (width, height))  # DCT-domain scaling, JPEG only
                    rgb = image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
                else:
                    rgb = image.convert("RGB")
                array = np.asarray(rgb)
        except (UnidentifiedImageError, OSError) as exc:
            raise DecodeError(f"{path}: cannot decode image ({exc})") from None
        return torch.from_numpy(array.copy()).permute(2, 0, 1)
