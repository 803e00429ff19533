"""``FrameVideo``: a video stored as a folder of decoded frames (jpg/png).

Frame datasets (Something-Something v2 frames, Charades RGB, AVA keyframe
folders) use it through the same clip API as :class:`EncodedVideo`.
"""

from __future__ import annotations

import os
import re
from typing import Any, Sequence

import torch

from vidray import io as vio
from vidray.data.image import IMAGE_EXTENSIONS, load_images, stack_frames
from vidray.data.video import Video
from vidray.errors import MediaNotFoundError


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

    def _decode_frames(self, frame_indices: list[int]) -> torch.Tensor:
        paths = [self._paths[i] for i in frame_indices]
        threads = 8 if self._multithreaded_io else 1
        return stack_frames(self.name, load_images(paths, "RGB", self._short_side, threads))
