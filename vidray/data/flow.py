"""Optical flow as a second stream: pre-computed x/y flow images on the RGB frame grid.

Flow extractors (denseflow/TSN, the I3D preprocessing, TV-L1 scripts) store
the flow between consecutive frames as two grayscale images, one per
component, quantised to uint8 over ``[-bound, bound]`` pixels
(``q = round(255 * (v + bound) / (2 * bound))``, bound 20 by default). Flow
field ``i`` is the motion from RGB frame ``i`` to frame ``i + 1``, so a video
of ``N`` frames has ``N - 1`` fields (some tools repeat the last one and store
``N``)::

    RGB frame     0     1     2    ...   N-2   N-1
    flow field       0     1    ...   N-2         (field i: frame i -> i + 1)

:class:`FlowVideo` is addressed on the RGB grid: a clip holds the same frame
indices as the RGB clip of the same window, and field ``min(i, fields - 1)``
stands for frame ``i``, so the last frame (which has no forward motion)
repeats the last field.

Supported folder layouts, detected automatically::

    video/flow_x_00001.jpg, video/flow_y_00001.jpg   denseflow / TSN / mmaction (img_* may sit beside)
    video/x_00001.jpg,      video/y_00001.jpg        I3D style
    video/x/00001.jpg,      video/y/00001.jpg        one sub-folder per component (u/ and v/ too)

Flow stays uint8 ``[2, T, H, W]`` (channel 0 = x, 1 = y) until the model
boundary; :func:`dequantize_flow` turns it into pixel displacements there.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import torch

from vidray import io as vio
from vidray.data.frame_video import natural_key
from vidray.data.image import IMAGE_EXTENSIONS, load_images, stack_frames
from vidray.data.video import ClipWindow, Video
from vidray.errors import DecodeError, MediaNotFoundError

FLOW_PATH_KEY = "flow_path"  # info key of a LabeledVideoDataset video: its flow folder
DEFAULT_FLOW_BOUND = 20.0  # denseflow's and TSN's default quantisation bound, in pixels

# Component folders of the sub-folder layout, (x, y) pairs.
COMPONENT_DIRS = (("x", "y"), ("u", "v"))
# flow_x_00001.jpg, x_00001.jpg, u00001.png, ...: an optional "flow" prefix, the component, the number.
FLOW_FILE = re.compile(r"^(?:flow[_-]?)?(?P<axis>[xyuv])[_-]?(?P<number>\d+)\.(?:jpe?g|png)$", re.IGNORECASE)
LAYOUTS = "flow_x_00001.jpg/flow_y_00001.jpg, x_00001.jpg/y_00001.jpg, or x/ and y/ (u/ and v/) sub-folders"


def dequantize_flow(flow: torch.Tensor, bound: float = DEFAULT_FLOW_BOUND) -> torch.Tensor:
    """Pixel displacements (float32) from uint8 flow: ``q / 255 * 2 * bound - bound``.

    Values are in pixels of the resolution the flow was extracted at; a
    resized flow clip needs its values scaled by the same factor.
    """
    if flow.dtype != torch.uint8:
        raise TypeError(f"expected uint8 flow, got dtype {flow.dtype}")
    return flow.to(torch.float32) * (2 * bound / 255) - bound


def quantize_flow(flow: torch.Tensor, bound: float = DEFAULT_FLOW_BOUND) -> torch.Tensor:
    """uint8 flow images from displacements, as denseflow writes them (clipped to ``[-bound, bound]``)."""
    scaled = (flow.to(torch.float32).clamp(-bound, bound) + bound) * (255 / (2 * bound))
    return scaled.round().to(torch.uint8)


class FlowVideo(Video):
    """Pre-computed optical flow of a video, addressed on the video's own frame grid.

    Args:
        x_paths / y_paths: one image per flow field and component, in order.
        fps: the frame rate of the RGB video the flow was computed from.
        num_video_frames: frames of that RGB video; ``None`` assumes the usual
            one field per consecutive frame pair (fields + 1). Must be the
            number of fields or one more; anything else means the flow was
            extracted from a different video or at a different rate.
        short_side_size: resize fields so the short side has this many pixels.
        multithreaded_io: read and decode a clip's images with a thread pool.
    """

    def __init__(
        self,
        x_paths: Sequence[str],
        y_paths: Sequence[str],
        fps: float = 30.0,
        num_video_frames: int | None = None,
        short_side_size: int | None = None,
        multithreaded_io: bool = False,
        video_name: str | None = None,
    ) -> None:
        self.name = video_name or (vio.dirname(str(x_paths[0])) if x_paths else "flow video")
        if not x_paths or not y_paths:
            raise MediaNotFoundError(f"{self.name}: no flow frames (x: {len(x_paths)}, y: {len(y_paths)})")
        if len(x_paths) != len(y_paths):
            raise DecodeError(
                f"{self.name}: {len(x_paths)} x flow frames but {len(y_paths)} y flow frames; expected equal counts"
            )
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        fields = len(x_paths)
        if num_video_frames is None:
            num_video_frames = fields + 1
        if num_video_frames not in (fields, fields + 1):
            raise DecodeError(
                f"{self.name}: {fields} flow fields do not match a video of {num_video_frames} frames; "
                f"expected {num_video_frames - 1} (one per consecutive frame pair) or {num_video_frames}"
            )
        self._x_paths = list(x_paths)
        self._y_paths = list(y_paths)
        self._fps = float(fps)
        self._num_video_frames = int(num_video_frames)
        self._short_side = short_side_size
        self._multithreaded_io = multithreaded_io

    @classmethod
    def from_directory(
        cls,
        path: str,
        fps: float = 30.0,
        num_video_frames: int | None = None,
        short_side_size: int | None = None,
        multithreaded_io: bool = False,
    ) -> "FlowVideo":
        """The flow frames in a folder (local or ``s3://``), layout detected (see the module docstring)."""
        x_paths, y_paths = find_flow_frames(str(path))
        return cls(
            x_paths, y_paths, fps, num_video_frames, short_side_size, multithreaded_io, video_name=str(path)
        )

    @classmethod
    def from_directories(
        cls, x_dir: str, y_dir: str, fps: float = 30.0, num_video_frames: int | None = None, **kwargs: Any
    ) -> "FlowVideo":
        """Flow whose components live in separate folders, e.g. ``tvl1_flow/u/<video>`` and ``.../v/<video>``."""
        x_paths, y_paths = _paired_frames(f"{x_dir} + {y_dir}", _image_paths(str(x_dir)), _image_paths(str(y_dir)))
        return cls(x_paths, y_paths, fps, num_video_frames, video_name=str(x_dir), **kwargs)

    @property
    def duration(self) -> float:
        """Length of the RGB video the flow belongs to."""
        return self._num_video_frames / self._fps

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def num_frames(self) -> int:
        """Frames of the RGB grid the flow is addressed on."""
        return self._num_video_frames

    @property
    def num_flow_fields(self) -> int:
        """Stored flow fields (usually ``num_frames - 1``)."""
        return len(self._x_paths)

    stream_key = "flow"

    def get_frames(self, frame_indices: Sequence[int]) -> dict[str, Any]:
        """``{"flow": uint8 [2, T, H, W], "frame_indices": RGB indices, "flow_indices": fields read}``.

        Field ``min(i, num_flow_fields - 1)`` stands for RGB frame ``i``.
        """
        clip = super().get_frames(frame_indices)
        clip["flow_indices"] = [self._field(i) for i in clip["frame_indices"]]
        return clip

    def read_windows(self, windows: Sequence[ClipWindow]) -> list[dict[str, Any]]:
        clips = super().read_windows(windows)
        for clip in clips:
            clip["flow_indices"] = [self._field(i) for i in clip["frame_indices"]]
        return clips

    def _field(self, frame_index: int) -> int:
        return min(frame_index, self.num_flow_fields - 1)

    def _decode_frames(self, frame_indices: list[int]) -> torch.Tensor:
        fields = [self._field(i) for i in frame_indices]
        wanted = sorted(set(fields))
        paths = [p for f in wanted for p in (self._x_paths[f], self._y_paths[f])]
        threads = 8 if self._multithreaded_io else 1
        images = load_images(paths, "L", self._short_side, threads)
        stack_frames(self.name, images)  # checks that all fields have one size
        by_field = {f: torch.cat(images[2 * k : 2 * k + 2]) for k, f in enumerate(wanted)}  # [2, H, W]
        return torch.stack([by_field[f] for f in fields], dim=1)


def find_flow_frames(path: str) -> tuple[list[str], list[str]]:
    """(x paths, y paths) of the flow frames in a folder, in natural order, paired by number."""
    names = vio.list_dir(path)
    for x_dir, y_dir in COMPONENT_DIRS:
        if x_dir in names and y_dir in names and vio.is_dir(vio.join(path, x_dir)):
            x_paths = _image_paths(vio.join(path, x_dir))
            y_paths = _image_paths(vio.join(path, y_dir))
            return _paired_frames(path, x_paths, y_paths)
    by_axis: dict[str, list[str]] = {"x": [], "y": [], "u": [], "v": []}
    for name in names:
        match = FLOW_FILE.match(name)
        if match:
            by_axis[match["axis"].lower()].append(name)
    if (by_axis["x"] or by_axis["y"]) and (by_axis["u"] or by_axis["v"]):
        raise DecodeError(f"{path}: holds both x/y and u/v flow frames; expected one pair of components")
    x_names, y_names = (by_axis["x"], by_axis["y"]) if by_axis["x"] or by_axis["y"] else (by_axis["u"], by_axis["v"])
    if not x_names and not y_names:
        raise MediaNotFoundError(f"{path}: folder holds no optical-flow frames; expected {LAYOUTS}")
    x_paths = [vio.join(path, n) for n in sorted(x_names, key=natural_key)]
    y_paths = [vio.join(path, n) for n in sorted(y_names, key=natural_key)]
    return _paired_frames(path, x_paths, y_paths)


def _image_paths(folder: str) -> list[str]:
    names = [n for n in vio.list_dir(folder) if n.lower().endswith(IMAGE_EXTENSIONS)]
    return [vio.join(folder, n) for n in sorted(names, key=natural_key)]


def _paired_frames(where: str, x_paths: list[str], y_paths: list[str]) -> tuple[list[str], list[str]]:
    """Checks that the x and y frames correspond one to one (same counts, same frame numbers)."""
    if not x_paths and not y_paths:
        raise MediaNotFoundError(f"{where}: no optical-flow frames; expected {LAYOUTS}")
    if len(x_paths) != len(y_paths):
        raise DecodeError(
            f"{where}: {len(x_paths)} x flow frames but {len(y_paths)} y flow frames; expected equal counts"
        )
    for x_path, y_path in zip(x_paths, y_paths):
        if _frame_number(x_path) != _frame_number(y_path):
            raise DecodeError(
                f"{where}: x and y flow frames do not pair up: {vio.basename(x_path)} vs {vio.basename(y_path)}"
            )
    return x_paths, y_paths


def _frame_number(path: str) -> int | None:
    numbers = re.findall(r"\d+", vio.basename(path))
    return int(numbers[-1]) if numbers else None


class FlowStream:
    """Adds ``"flow"`` (uint8 ``[2, T, H, W]``) to the samples of videos whose info has ``"flow_path"``.

    A clip stream of :class:`~vidray.data.labeled_video_dataset.LabeledVideoDataset`:
    the flow clip holds the fields of exactly the RGB frames of the sample's
    ``"video"`` (same window, same ``frames_per_clip`` selection).

    Args:
        short_side_size: resize fields like the RGB frames (``decoder_args["short_side_size"]``).
        multithreaded_io: read a clip's flow images with a thread pool.
    """

    info_keys = frozenset({FLOW_PATH_KEY})

    def __init__(self, short_side_size: int | None = None, multithreaded_io: bool = False) -> None:
        self._short_side = short_side_size
        self._multithreaded_io = multithreaded_io
        self._open: tuple[tuple[str, float, int], FlowVideo] | None = None

    def load_clips(self, info: dict[str, Any], video: Video, windows: Sequence[ClipWindow]) -> list[dict[str, Any]]:
        """``{"flow": ...}`` per window, for the window's RGB frames; ``{}`` when ``info`` names no flow."""
        if FLOW_PATH_KEY not in info:
            return [{} for _ in windows]
        flow = self._flow_video(str(info[FLOW_PATH_KEY]), video)
        return [{"flow": flow.get_frames(window.frame_indices)["flow"]} for window in windows]

    def _flow_video(self, path: str, video: Video) -> FlowVideo:
        """The flow of ``video``, reusing the last one (consecutive clips usually share it)."""
        key = (path, video.fps, video.num_frames)
        if self._open is None or self._open[0] != key:
            flow = FlowVideo.from_directory(
                path, video.fps, video.num_frames, self._short_side, self._multithreaded_io
            )
            self._open = (key, flow)
        return self._open[1]
