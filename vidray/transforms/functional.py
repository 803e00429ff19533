"""Stateless video operations, under PyTorchVideo's names and arguments.

Videos are ``[..., C, T, H, W]``; spatial operations touch only the last two
dimensions, so they take a clip or a batch. Unlike PyTorchVideo, the spatial
operations accept uint8 as well as float and return the dtype they were given
(uint8 results are rounded), so video can stay uint8 until the model.
Boxes are pixel ``x1, y1, x2, y2`` ``[N, 4]`` in continuous coordinates
(a box spanning a whole frame of width W is ``0..W``); their geometry is
torchvision.transforms.v2's.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from vidray.errors import ConfigError, LayoutError
from vidray.transforms.base import as_boxes, check_video, describe, randint, uniform

_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "nearest-exact")


# ---------------------------------------------------------------- temporal
def uniform_temporal_subsample(x: torch.Tensor, num_samples: int, temporal_dim: int = -3) -> torch.Tensor:
    """``num_samples`` evenly spaced frames along ``temporal_dim`` (repeats frames when there are fewer)."""
    t = x.shape[temporal_dim]
    if num_samples <= 0 or t == 0:
        raise LayoutError(f"uniform_temporal_subsample: need num_samples > 0 and frames, got {num_samples} of {t}")
    if num_samples == t:
        return x
    indices = torch.linspace(0, t - 1, num_samples).clamp(0, t - 1).long()
    step = int(indices[1] - indices[0]) if num_samples > 1 else 1
    if step > 0 and torch.equal(indices, torch.arange(num_samples) * step):
        # Evenly strided frames are a view: no copy of the clip.
        window = [slice(None)] * x.dim()
        window[temporal_dim] = slice(0, step * (num_samples - 1) + 1, step)
        return x[tuple(window)]
    return torch.index_select(x, temporal_dim, indices.to(x.device))


def uniform_temporal_subsample_repeated(
    frames: torch.Tensor, frame_ratios: Sequence[int], temporal_dim: int = -3
) -> list[torch.Tensor]:
    """One uniformly subsampled copy per pathway, ``T // ratio`` frames each (SlowFast's inputs)."""
    t = frames.shape[temporal_dim]
    return [uniform_temporal_subsample(frames, t // ratio, temporal_dim) for ratio in frame_ratios]


def temporal_jitter_indices(num_frames: int, num_samples: int) -> torch.Tensor:
    """One random frame from each of ``num_samples`` equal segments (TSN-style temporal jitter)."""
    edges = torch.linspace(0, num_frames, num_samples + 1)
    offsets = torch.rand(num_samples)
    indices = (edges[:-1] + offsets * (edges[1:] - edges[:-1])).floor().long()
    return indices.clamp(0, num_frames - 1)


# ---------------------------------------------------------------- spatial
def resize(
    video: torch.Tensor,
    size: Sequence[int],
    interpolation: str = "bilinear",
    antialias: bool = False,
    to_float: bool = False,
) -> torch.Tensor:
    """Resizes ``[..., H, W]`` to ``size = (h, w)``, keeping the dtype.

    uint8 is interpolated in float32 and rounded back: faster on CPU than
    torch's uint8 kernels for the [C, T, H, W] layout, and exact to 0.5.
    ``to_float`` returns uint8 input as float32 in [0, 1] instead, skipping
    the rounding (for a pipeline that converts next anyway).
    """
    if interpolation not in _INTERPOLATIONS:
        raise ConfigError(f"resize: interpolation must be one of {_INTERPOLATIONS}, got {interpolation!r}")
    h, w = int(size[0]), int(size[1])
    was_uint8 = video.dtype == torch.uint8
    if tuple(video.shape[-2:]) == (h, w):
        return video.to(torch.float32).div_(255.0) if was_uint8 and to_float else video
    lead = video.shape[:-2]
    planes = video.reshape(1, -1, *video.shape[-2:])
    if was_uint8 or video.dtype in (torch.float16, torch.bfloat16) and video.device.type == "cpu":
        planes = planes.float()
    aligned = {"align_corners": False} if interpolation in ("bilinear", "bicubic") else {}
    anti = {"antialias": antialias} if interpolation in ("bilinear", "bicubic") else {}
    out = F.interpolate(planes, size=(h, w), mode=interpolation, **aligned, **anti).reshape(*lead, h, w)
    if was_uint8 and to_float:
        return out.div_(255.0)
    if was_uint8:
        if interpolation == "bicubic":  # the only mode that can overshoot [0, 255]
            out.clamp_(0, 255)
        return out.add_(0.5).to(torch.uint8)  # values are >= 0, so truncation after +0.5 rounds
    return out.to(video.dtype)


def short_side_size(height: int, width: int, size: int) -> tuple[int, int]:
    """``(h, w)`` with the shorter side ``size`` and the aspect ratio kept (PyTorchVideo's rounding)."""
    if width < height:
        return int(math.floor(height / width * size)), size
    return size, int(math.floor(width / height * size))


def short_side_scale(
    x: torch.Tensor, size: int, interpolation: str = "bilinear", backend: str = "pytorch", antialias: bool = False
) -> torch.Tensor:
    """Scales the shorter side to ``size``, keeping the aspect ratio.

    ``antialias=False`` matches PyTorchVideo (and the published checkpoints'
    evaluation); set it when shrinking large frames a lot.
    """
    check_video(x, "short_side_scale")
    if backend != "pytorch":
        raise ConfigError(f"short_side_scale: only backend='pytorch' is supported, got {backend!r}")
    if size <= 0:
        raise ConfigError(f"short_side_scale: size must be positive, got {size}")
    return resize(x, short_side_size(x.shape[-2], x.shape[-1], size), interpolation, antialias)


def crop(video: torch.Tensor, top: int, left: int, height: int, width: int, who: str = "crop") -> torch.Tensor:
    """The window ``[top:top+height, left:left+width]`` of every frame (a view)."""
    h, w = video.shape[-2:]
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise LayoutError(
            f"{who}: a {height}x{width} crop at (top={top}, left={left}) does not fit a {h}x{w} frame"
        )
    return video[..., top : top + height, left : left + width]


def resized_crop(
    video: torch.Tensor,
    top: int,
    left: int,
    height: int,
    width: int,
    size: Sequence[int],
    flip: bool = False,
    interpolation: str = "bilinear",
    antialias: bool = False,
    to_float: bool = False,
) -> torch.Tensor:
    """Crops a window, optionally mirrors it, and resizes it to ``size``, in one pass.

    Only the window is converted and interpolated, so a random scale + crop +
    flip costs a fraction of scaling the whole frame first (the result is the
    same: a bilinear resize commutes with cropping and mirroring).
    """
    window = crop(video, top, left, height, width, "resized_crop")
    if flip:
        window = window.flip(-1)
    return resize(window, size, interpolation, antialias, to_float)


def uniform_crop_offsets(height: int, width: int, size: int, spatial_idx: int) -> tuple[int, int]:
    """``(y, x)`` of PyTorchVideo's three-crop: 0/1/2 = left/centre/right (top/centre/bottom if tall)."""
    if spatial_idx not in (0, 1, 2):
        raise ConfigError(f"uniform_crop: spatial_idx must be 0, 1 or 2, got {spatial_idx}")
    y = int(math.ceil((height - size) / 2))
    x = int(math.ceil((width - size) / 2))
    if height > width:
        y = {0: 0, 1: y, 2: height - size}[spatial_idx]
    else:
        x = {0: 0, 1: x, 2: width - size}[spatial_idx]
    return y, x


def uniform_crop(images: torch.Tensor, size: int, spatial_idx: int = 1) -> torch.Tensor:
    """A ``size`` x ``size`` left/centre/right crop (top/centre/bottom for portrait video)."""
    y, x = uniform_crop_offsets(images.shape[-2], images.shape[-1], size, spatial_idx)
    return crop(images, y, x, size, size, "uniform_crop")


def random_resized_crop_params(
    height: int,
    width: int,
    scale: Sequence[float],
    aspect_ratio: Sequence[float],
    log_uniform_ratio: bool = True,
    num_tries: int = 10,
) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of an Inception-style crop; falls back to a centre crop."""
    lo_s, hi_s = sorted(scale)
    lo_r, hi_r = sorted(aspect_ratio)
    area = height * width
    for _ in range(num_tries):
        target_area = area * uniform(lo_s, hi_s)
        if log_uniform_ratio:
            ratio = math.exp(uniform(math.log(lo_r), math.log(hi_r)))
        else:
            ratio = uniform(lo_r, hi_r)
        w = int(round(math.sqrt(target_area * ratio)))
        h = int(round(math.sqrt(target_area / ratio)))
        if 0 < w <= width and 0 < h <= height:
            return randint(0, height - h), randint(0, width - w), h, w
    in_ratio = width / height
    if in_ratio < lo_r:
        w, h = width, int(round(width / lo_r))
    elif in_ratio > hi_r:
        h, w = height, int(round(height * hi_r))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(
    frames: torch.Tensor,
    target_height: int,
    target_width: int,
    scale: Sequence[float],
    aspect_ratio: Sequence[float],
    shift: bool = False,
    log_uniform_ratio: bool = True,
    interpolation: str = "bilinear",
    num_tries: int = 10,
) -> torch.Tensor:
    """A random area/aspect crop resized to the target, the same window on every frame.

    ``shift=True`` draws a second window for the last frame and moves the
    window linearly between them (PyTorchVideo's option).
    """
    check_video(frames, "random_resized_crop")
    h, w = frames.shape[-2:]
    first = random_resized_crop_params(h, w, scale, aspect_ratio, log_uniform_ratio, num_tries)
    size = (target_height, target_width)
    if not shift:
        return resized_crop(frames, *first, size, interpolation=interpolation)
    last = random_resized_crop_params(h, w, scale, aspect_ratio, log_uniform_ratio, num_tries)
    return shifting_resized_crop(frames, first, last, size, interpolation=interpolation)


def shifting_resized_crop(
    video: torch.Tensor,
    first: Sequence[int],
    last: Sequence[int],
    size: Sequence[int],
    flip: bool = False,
    interpolation: str = "bilinear",
    to_float: bool = False,
) -> torch.Tensor:
    """:func:`resized_crop` with a window ``(top, left, h, w)`` moving linearly from ``first`` to ``last`` over T."""
    steps = [torch.linspace(a, b, video.shape[-3]).long().tolist() for a, b in zip(first, last)]
    frames = [
        resized_crop(video[..., i : i + 1, :, :], *window, size, flip, interpolation, to_float=to_float)
        for i, window in enumerate(zip(*steps))
    ]
    return torch.cat(frames, dim=-3)


def horizontal_flip(video: torch.Tensor) -> torch.Tensor:
    return video.flip(-1)


# ---------------------------------------------------------------- values
def div_255(x: torch.Tensor) -> torch.Tensor:
    """``x / 255`` as float (uint8 pixels to [0, 1])."""
    return x / 255.0


def channel_view(values: Sequence[float] | torch.Tensor, video: torch.Tensor, who: str) -> torch.Tensor:
    """Per-channel values shaped to broadcast over ``[..., C, T, H, W]``."""
    tensor = torch.as_tensor(values, dtype=video.dtype, device=video.device).flatten()
    channels = video.shape[-4]
    if tensor.numel() not in (1, channels):
        raise LayoutError(f"{who}: {tensor.numel()} values for a video with {channels} channels ({describe(video)})")
    return tensor.view(-1, 1, 1, 1)


def normalize(
    video: torch.Tensor, mean: Sequence[float], std: Sequence[float], inplace: bool = False
) -> torch.Tensor:
    """``(video - mean) / std`` per channel; uint8 is converted to float [0, 1] first (one pass)."""
    check_video(video, "normalize")
    if video.dtype == torch.uint8:
        # (x / 255 - m) / s == x * (1 / (255 s)) - m / s, done while converting.
        out = video.to(torch.float32)
        mean_view, std_view = channel_view(mean, out, "normalize"), channel_view(std, out, "normalize")
        return out.mul_(1.0 / (255.0 * std_view)).sub_(mean_view / std_view)
    out = video if inplace else video.clone()
    return out.sub_(channel_view(mean, out, "normalize")).div_(channel_view(std, out, "normalize"))


def convert_to_one_hot(targets: torch.Tensor, num_class: int, label_smooth: float = 0.0) -> torch.Tensor:
    """``[N]`` class indices to ``[N, num_class]`` (smoothed) one-hot rows that sum to 1."""
    if targets.numel() and (int(targets.max()) >= num_class or int(targets.min()) < 0):
        raise LayoutError(f"convert_to_one_hot: labels must be in [0, {num_class}), got {targets.tolist()}")
    if not 0.0 <= label_smooth < 1.0:
        raise ConfigError(f"convert_to_one_hot: label_smooth must be in [0, 1), got {label_smooth}")
    off = label_smooth / num_class
    out = torch.full(
        (targets.shape[0], num_class),
        off,
        dtype=torch.long if label_smooth == 0.0 else torch.float32,
        device=targets.device,
    )
    return out.scatter_(1, targets.long().view(-1, 1), 1.0 - label_smooth + off)


# ---------------------------------------------------------------- boxes (PyTorchVideo's names)
def _pixels(boxes: tv_tensors.BoundingBoxes, like: torch.Tensor) -> torch.Tensor:
    return boxes.as_subclass(torch.Tensor).to(like.dtype if like.is_floating_point() else torch.float32)


def clip_boxes_to_image(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Boxes clamped to a ``height`` x ``width`` frame."""
    clamped = TF.clamp_bounding_boxes(as_boxes(boxes, (height, width), "clip_boxes_to_image"))
    return _pixels(clamped, boxes)


def crop_boxes(boxes: torch.Tensor, x_offset: int, y_offset: int) -> torch.Tensor:
    """Boxes shifted into a crop whose top-left corner is ``(x_offset, y_offset)``."""
    return boxes - torch.tensor([x_offset, y_offset, x_offset, y_offset], dtype=boxes.dtype, device=boxes.device)


def short_side_scale_with_boxes(
    images: torch.Tensor, boxes: torch.Tensor, size: int, interpolation: str = "bilinear", backend: str = "pytorch"
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`short_side_scale` of a clip and its boxes."""
    h, w = images.shape[-2:]
    scaled = short_side_scale(images, size, interpolation, backend)
    moved = TF.resize(as_boxes(boxes, (h, w), "short_side_scale_with_boxes"), list(scaled.shape[-2:]))
    return scaled, _pixels(moved, boxes)


def random_short_side_scale_with_boxes(
    images: torch.Tensor,
    boxes: torch.Tensor,
    min_size: int,
    max_size: int,
    interpolation: str = "bilinear",
    backend: str = "pytorch",
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`short_side_scale_with_boxes` to a size drawn from ``[min_size, max_size]``."""
    return short_side_scale_with_boxes(images, boxes, randint(min_size, max_size), interpolation, backend)


def random_crop_with_boxes(
    images: torch.Tensor, size: int, boxes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random ``size`` crop of a clip and its boxes (clamped to the crop).

    PyTorchVideo returned only the images when no crop was needed and drew
    from numpy's generator (same crops in every DataLoader worker); both fixed.
    """
    h, w = images.shape[-2:]
    if size > h or size > w:
        raise LayoutError(f"random_crop_with_boxes: crop {size} is larger than the {h}x{w} frame")
    y, x = randint(0, h - size), randint(0, w - size)
    return images[..., y : y + size, x : x + size], clip_boxes_to_image(crop_boxes(boxes, x, y), size, size)


def uniform_crop_with_boxes(
    images: torch.Tensor, size: int, spatial_idx: int, boxes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`uniform_crop` of a clip and its boxes (clamped to the crop)."""
    y, x = uniform_crop_offsets(images.shape[-2], images.shape[-1], size, spatial_idx)
    cropped = crop(images, y, x, size, size, "uniform_crop_with_boxes")
    return cropped, clip_boxes_to_image(crop_boxes(boxes, x, y), size, size)


def horizontal_flip_with_boxes(
    prob: float, images: torch.Tensor, boxes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirrors a clip and its boxes with probability ``prob``.

    A box ``x1..x2`` becomes ``W - x2 .. W - x1`` (continuous coordinates;
    PyTorchVideo subtracted one more pixel, shifting flipped boxes left).
    """
    if torch.rand(()).item() >= prob:
        return images, boxes
    flipped = TF.horizontal_flip(as_boxes(boxes, tuple(images.shape[-2:]), "horizontal_flip_with_boxes"))
    return images.flip(-1), _pixels(flipped, boxes)
