"""Video transforms as modules, under PyTorchVideo's names and arguments.

Each works on a clip ``[C, T, H, W]`` or a batch ``[B, C, T, H, W]``, uint8
or float, on CPU or CUDA; random ones draw once per clip. Geometric ones
also move a clip's boxes: ``video, boxes = RandomCrop(224)(video, boxes)``.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Callable, Sequence

import torch
from torch import nn
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from vidray.errors import ConfigError, LayoutError
from vidray.transforms import functional as VF
from vidray.transforms.base import (
    VideoTransform,
    check_probability,
    check_size,
    check_video,
    coin,
    describe,
    randint,
)
from vidray.transforms.compose import TRANSFORMS

Boxes = tv_tensors.BoundingBoxes


# ---------------------------------------------------------------- dict samples
@TRANSFORMS.register()
class ApplyTransformToKey(nn.Module):
    """Applies ``transform`` to ``sample[key]`` (e.g. only the video of a dataset sample)."""

    def __init__(self, key: str, transform: Callable[[Any], Any]) -> None:
        super().__init__()
        self._key = key
        self._transform = transform

    def forward(self, x: dict[str, Any]) -> dict[str, Any]:
        if self._key not in x:
            raise LayoutError(f"ApplyTransformToKey: the sample has no {self._key!r} (keys: {sorted(x)})")
        x[self._key] = self._transform(x[self._key])
        return x


@TRANSFORMS.register()
class RemoveKey(nn.Module):
    """Drops ``key`` from a sample (a modality the model does not use)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self._key = key

    def forward(self, x: dict[str, Any]) -> dict[str, Any]:
        x.pop(self._key, None)
        return x


@TRANSFORMS.register()
class UniformCropVideo(nn.Module):
    """Three-crop testing: crops ``sample[video_key]`` left/centre/right by ``sample[aug_index_key]``.

    Pair it with ``ConstantClipsPerVideoSampler(..., augs_per_clip=3)``, whose
    samples carry ``aug_index`` 0, 1, 2 (see :mod:`vidray.transforms.multiview`).
    """

    def __init__(self, size: int, video_key: str = "video", aug_index_key: str = "aug_index") -> None:
        super().__init__()
        self._size = check_size(size, "size", "UniformCropVideo")[0]
        self._video_key = video_key
        self._aug_index_key = aug_index_key

    def forward(self, x: dict[str, Any]) -> dict[str, Any]:
        video = check_video(x[self._video_key], "UniformCropVideo")
        x[self._video_key] = VF.uniform_crop(video, self._size, int(x[self._aug_index_key]))
        return x


# ---------------------------------------------------------------- temporal
@TRANSFORMS.register()
class UniformTemporalSubsample(VideoTransform):
    """Keeps ``num_samples`` evenly spaced frames."""

    def __init__(self, num_samples: int, temporal_dim: int = -3) -> None:
        super().__init__()
        if num_samples < 1:
            raise ConfigError(f"UniformTemporalSubsample: num_samples must be >= 1, got {num_samples}")
        self._num_samples = num_samples
        self._temporal_dim = temporal_dim

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return VF.uniform_temporal_subsample(video, self._num_samples, self._temporal_dim)


@TRANSFORMS.register()
class UniformTemporalSubsampleRepeated(nn.Module):
    """One subsampled copy per pathway (``T // ratio`` frames): SlowFast's ``[slow, fast]`` input."""

    def __init__(self, frame_ratios: Sequence[int], temporal_dim: int = -3) -> None:
        super().__init__()
        if not frame_ratios or any(r < 1 for r in frame_ratios):
            raise ConfigError(f"UniformTemporalSubsampleRepeated: frame_ratios must be >= 1, got {frame_ratios}")
        self._frame_ratios = tuple(frame_ratios)
        self._temporal_dim = temporal_dim

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_video(x, "UniformTemporalSubsampleRepeated")
        return VF.uniform_temporal_subsample_repeated(x, self._frame_ratios, self._temporal_dim)


@TRANSFORMS.register()
class TemporalJitter(VideoTransform):
    """Keeps ``num_samples`` frames, one drawn at random from each equal segment of the clip.

    Training-time counterpart of :class:`UniformTemporalSubsample` (TSN's
    segment sampling): frame order is kept, spacing jitters.
    """

    random = True

    def __init__(self, num_samples: int) -> None:
        super().__init__()
        if num_samples < 1:
            raise ConfigError(f"TemporalJitter: num_samples must be >= 1, got {num_samples}")
        self._num_samples = num_samples

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        return {"indices": VF.temporal_jitter_indices(video.shape[-3], self._num_samples)}

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return video.index_select(-3, params["indices"].to(video.device))


# ---------------------------------------------------------------- spatial
def check_size_range(min_size: int, max_size: int, who: str) -> tuple[int, int]:
    """``(min_size, max_size)`` of a short-side scale jitter, checked at construction."""
    check_size(min_size, "min_size", who)
    if max_size < min_size:
        raise ConfigError(f"{who}: max_size {max_size} is smaller than min_size {min_size}")
    return min_size, max_size


class _Resize(VideoTransform):
    """Shared by the scaling transforms: resize the frames and the boxes to ``params['size']``."""

    geometric = True

    def __init__(self, interpolation: str, backend: str, antialias: bool) -> None:
        super().__init__()
        if backend != "pytorch":
            raise ConfigError(f"{self.who}: only backend='pytorch' is supported, got {backend!r}")
        self._interpolation = interpolation
        self._antialias = antialias

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return VF.resize(video, params["size"], self._interpolation, self._antialias)

    def transform_boxes(self, boxes: Boxes, params: dict[str, Any]) -> Boxes:
        return TF.resize(boxes, list(params["size"]))


@TRANSFORMS.register()
class ShortSideScale(_Resize):
    """Scales the shorter side to ``size`` (aspect ratio kept)."""

    def __init__(
        self, size: int, interpolation: str = "bilinear", backend: str = "pytorch", antialias: bool = False
    ) -> None:
        super().__init__(interpolation, backend, antialias)
        self._size = check_size(size, "size", self.who)[0]

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        return {"size": VF.short_side_size(video.shape[-2], video.shape[-1], self._size)}


@TRANSFORMS.register()
class RandomShortSideScale(_Resize):
    """Scales the shorter side to a size drawn from ``[min_size, max_size]`` (scale jitter)."""

    random = True

    def __init__(
        self,
        min_size: int,
        max_size: int,
        interpolation: str = "bilinear",
        backend: str = "pytorch",
        antialias: bool = False,
    ) -> None:
        super().__init__(interpolation, backend, antialias)
        self._min_size, self._max_size = check_size_range(min_size, max_size, self.who)

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        size = randint(self._min_size, self._max_size)
        return {"size": VF.short_side_size(video.shape[-2], video.shape[-1], size)}


class _Crop(VideoTransform):
    """Shared by the cropping transforms: one ``(top, left)`` window of ``size`` per clip."""

    geometric = True

    def __init__(self, size: int | Sequence[int]) -> None:
        super().__init__()
        self._size = check_size(size, "size", self.who)

    def _fits(self, video: torch.Tensor) -> tuple[int, int]:
        h, w = video.shape[-2:]
        if self._size[0] > h or self._size[1] > w:
            raise LayoutError(f"{self.who}: crop {self._size[0]}x{self._size[1]} is larger than the {h}x{w} frame")
        return h, w

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return VF.crop(video, params["top"], params["left"], *self._size, who=self.who)

    def transform_boxes(self, boxes: Boxes, params: dict[str, Any]) -> Boxes:
        return TF.crop(boxes, params["top"], params["left"], *self._size)


@TRANSFORMS.register()
class RandomCrop(_Crop):
    """A random ``size`` window, the same on every frame of a clip."""

    random = True

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        h, w = self._fits(video)
        return {"top": randint(0, h - self._size[0]), "left": randint(0, w - self._size[1])}


@TRANSFORMS.register()
class CenterCrop(_Crop):
    """The central ``size`` window, placed as torchvision's ``CenterCrop`` (PyTorchVideo's val pipeline) does."""

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        h, w = self._fits(video)
        return {"top": int(round((h - self._size[0]) / 2.0)), "left": int(round((w - self._size[1]) / 2.0))}


@TRANSFORMS.register()
class RandomHorizontalFlip(VideoTransform):
    """Mirrors a clip (all its frames, and its boxes) with probability ``p``."""

    random = True
    geometric = True

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self._p = check_probability(p, "p", self.who)

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        return {"flip": coin(self._p)}

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return video.flip(-1) if params["flip"] else video

    def transform_boxes(self, boxes: Boxes, params: dict[str, Any]) -> Boxes:
        return TF.horizontal_flip(boxes) if params["flip"] else boxes


class _ResizedCrop(VideoTransform):
    """Shared by the crop-then-resize transforms: only the window is ever converted and resized.

    ``horizontal_flip_prob`` mirrors the window before it is resized (the
    same as ``RandomHorizontalFlip`` afterwards, on fewer bytes), and
    ``convert_to_float`` returns uint8 input as float32 in [0, 1] (what
    ``ConvertUint8ToFloat`` would give next, without rounding to uint8 first).
    """

    random = True
    geometric = True

    def __init__(
        self,
        target: Sequence[int],
        interpolation: str,
        antialias: bool,
        horizontal_flip_prob: float,
        convert_to_float: bool,
    ) -> None:
        super().__init__()
        self._target = check_size(tuple(target), "target size", self.who)
        self._interpolation = interpolation
        self._antialias = antialias
        self._flip_prob = check_probability(horizontal_flip_prob, "horizontal_flip_prob", self.who)
        self._convert_to_float = convert_to_float

    @abstractmethod
    def make_window(self, video: torch.Tensor) -> tuple[int, int, int, int]:
        """``(top, left, height, width)`` of the source window for one clip."""

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        return {"window": self.make_window(video), "flip": coin(self._flip_prob)}

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return VF.resized_crop(
            video,
            *params["window"],
            self._target,
            params["flip"],
            self._interpolation,
            self._antialias,
            self._convert_to_float,
        )

    def transform_boxes(self, boxes: Boxes, params: dict[str, Any]) -> Boxes:
        moved = TF.resized_crop(boxes, *params["window"], list(self._target))
        return TF.horizontal_flip(moved) if params["flip"] else moved


@TRANSFORMS.register()
class RandomShortSideScaleCrop(_ResizedCrop):
    """``RandomShortSideScale(min_size, max_size)`` then ``RandomCrop(crop_size)``, fused.

    Draws the scale and the crop exactly as the two transforms would, then
    resizes only the source window that becomes the crop: the training
    recipe of SlowFast/X3D at a fraction of the cost (see benchmarks/transforms.py).
    ``horizontal_flip_prob`` mirrors the window first (``RandomHorizontalFlip``
    fused in); ``convert_to_float`` returns float32 [0, 1] from uint8 without
    rounding the resized pixels back to uint8 (``ConvertUint8ToFloat`` fused in).
    """

    def __init__(
        self,
        min_size: int,
        max_size: int,
        crop_size: int | Sequence[int],
        interpolation: str = "bilinear",
        antialias: bool = False,
        horizontal_flip_prob: float = 0.0,
        convert_to_float: bool = False,
    ) -> None:
        crop = check_size(crop_size, "crop_size", type(self).__name__)
        super().__init__(crop, interpolation, antialias, horizontal_flip_prob, convert_to_float)
        self._min_size, self._max_size = check_size_range(min_size, max_size, self.who)
        if max(crop) > min_size:
            raise ConfigError(f"{self.who}: crop_size {crop_size} is larger than min_size {min_size}")

    def make_window(self, video: torch.Tensor) -> tuple[int, int, int, int]:
        h, w = video.shape[-2:]
        scaled_h, scaled_w = VF.short_side_size(h, w, randint(self._min_size, self._max_size))
        top, left = randint(0, scaled_h - self._target[0]), randint(0, scaled_w - self._target[1])
        # The crop's window in source pixels: scaled coordinates divided by the scale.
        sy, sx = h / scaled_h, w / scaled_w
        y0, x0 = round(top * sy), round(left * sx)
        y1, x1 = round((top + self._target[0]) * sy), round((left + self._target[1]) * sx)
        return y0, x0, max(min(y1, h) - y0, 1), max(min(x1, w) - x0, 1)


@TRANSFORMS.register()
class RandomResizedCrop(_ResizedCrop):
    """Inception-style crop: random area fraction ``scale`` and ``aspect_ratio``, resized to the target.

    ``shift=True`` moves the window linearly from a first to a last draw over
    the clip (PyTorchVideo's option); such clips cannot carry boxes.
    ``horizontal_flip_prob`` and ``convert_to_float``: see :class:`RandomShortSideScaleCrop`.
    """

    def __init__(
        self,
        target_height: int,
        target_width: int,
        scale: Sequence[float] = (0.08, 1.0),
        aspect_ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0),
        shift: bool = False,
        log_uniform_ratio: bool = True,
        interpolation: str = "bilinear",
        num_tries: int = 10,
        horizontal_flip_prob: float = 0.0,
        convert_to_float: bool = False,
    ) -> None:
        super().__init__((target_height, target_width), interpolation, False, horizontal_flip_prob, convert_to_float)
        if len(scale) != 2 or min(scale) <= 0 or max(scale) > 1:
            raise ConfigError(f"{self.who}: scale must be two fractions in (0, 1], got {scale}")
        if len(aspect_ratio) != 2 or min(aspect_ratio) <= 0:
            raise ConfigError(f"{self.who}: aspect_ratio must be two positive numbers, got {aspect_ratio}")
        if num_tries < 1:
            raise ConfigError(f"{self.who}: num_tries must be >= 1, got {num_tries}")
        self._scale, self._aspect_ratio = tuple(scale), tuple(aspect_ratio)
        self._shift, self._log_uniform_ratio, self._num_tries = shift, log_uniform_ratio, num_tries

    def make_window(self, video: torch.Tensor) -> tuple[int, int, int, int]:
        h, w = video.shape[-2:]
        return VF.random_resized_crop_params(h, w, self._scale, self._aspect_ratio, self._log_uniform_ratio, self._num_tries)

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        params = super().make_params(video)
        return {**params, "last": self.make_window(video) if self._shift else None}

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        if params["last"] is None:
            return super().transform_video(video, params)
        return VF.shifting_resized_crop(
            video,
            params["window"],
            params["last"],
            self._target,
            params["flip"],
            self._interpolation,
            self._convert_to_float,
        )

    def transform_boxes(self, boxes: Boxes, params: dict[str, Any]) -> Boxes:
        if params["last"] is not None:
            raise LayoutError(f"{self.who}(shift=True) moves the window during the clip; boxes cannot follow it")
        return super().transform_boxes(boxes, params)


# ---------------------------------------------------------------- values
@TRANSFORMS.register()
class Normalize(VideoTransform):
    """``(x - mean) / std`` per channel of ``[..., C, T, H, W]``.

    uint8 input is taken as pixels and scaled to [0, 1] in the same pass
    (PyTorchVideo needed ``ConvertUint8ToFloat`` first, a second full copy).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        super().__init__()
        if len(mean) != len(std) or not len(std) or min(std) <= 0:
            raise ConfigError(f"Normalize: need one positive std per mean, got mean={mean}, std={std}")
        self.mean, self.std, self.inplace = tuple(mean), tuple(std), inplace

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return VF.normalize(video, self.mean, self.std, self.inplace)


@TRANSFORMS.register()
class ConvertUint8ToFloat(VideoTransform):
    """uint8 pixels to float32 in [0, 1]."""

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        if video.dtype != torch.uint8:
            raise LayoutError(f"ConvertUint8ToFloat: expected a uint8 video, got {describe(video)}")
        return video.to(torch.float32).div_(255.0)


@TRANSFORMS.register()
class ConvertFloatToUint8(VideoTransform):
    """float [0, 1] to uint8 pixels (rounded, clamped)."""

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        if not video.is_floating_point():
            raise LayoutError(f"ConvertFloatToUint8: expected a float video in [0, 1], got {describe(video)}")
        return (video * 255.0).round_().clamp_(0, 255).to(torch.uint8)


@TRANSFORMS.register()
class Div255(VideoTransform):
    """``x / 255`` (uint8 pixels to float [0, 1])."""

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return VF.div_255(video)


# ---------------------------------------------------------------- layout and composition
@TRANSFORMS.register()
class Permute(nn.Module):
    """``x.permute(dims)``, e.g. ``(1, 0, 2, 3)`` between [C, T, H, W] and [T, C, H, W]."""

    def __init__(self, dims: Sequence[int]) -> None:
        super().__init__()
        self._dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != len(self._dims):
            raise LayoutError(f"Permute{self._dims}: expected a {len(self._dims)}-d tensor, got {describe(x)}")
        return x.permute(*self._dims)


@TRANSFORMS.register()
class MoveChannelRear(nn.Module):
    """[C, T, H, W] to [T, H, W, C] (e.g. for image libraries)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_video(x, "MoveChannelRear")
        return x.movedim(-4, -1)


@TRANSFORMS.register()
class MoveChannelFront(nn.Module):
    """[T, H, W, C] to [C, T, H, W]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() not in (4, 5):
            raise LayoutError(f"MoveChannelFront: expected [T, H, W, C] or [B, T, H, W, C], got {describe(x)}")
        return x.movedim(-1, -4)


@TRANSFORMS.register()
class OpSampler(nn.Module):
    """Applies ``num_sample_op`` transforms drawn from a weighted list, in the drawn order.

    ``randomly_sample_depth`` draws how many (1..num_sample_op) each call.
    """

    def __init__(
        self,
        transforms_list: Sequence[Callable[[Any], Any]],
        transforms_prob: Sequence[float] | None = None,
        num_sample_op: int = 1,
        randomly_sample_depth: bool = False,
        replacement: bool = False,
    ) -> None:
        super().__init__()
        if not transforms_list:
            raise ConfigError("OpSampler: transforms_list is empty")
        if num_sample_op < 1 or (not replacement and num_sample_op > len(transforms_list)):
            raise ConfigError(
                f"OpSampler: num_sample_op must be in [1, {len(transforms_list)}] without replacement, "
                f"got {num_sample_op}"
            )
        if transforms_prob is not None and (
            len(transforms_prob) != len(transforms_list) or min(transforms_prob) <= 0
        ):
            raise ConfigError(
                f"OpSampler: transforms_prob needs one positive weight per transform, got {transforms_prob}"
            )
        self.transforms_list = list(transforms_list)
        for i, t in enumerate(self.transforms_list):
            if isinstance(t, nn.Module):
                self.add_module(str(i), t)
        weights = transforms_prob if transforms_prob is not None else [1.0] * len(transforms_list)
        self.transforms_prob = torch.tensor(weights, dtype=torch.float32)
        self.num_sample_op = num_sample_op
        self.randomly_sample_depth = randomly_sample_depth
        self.replacement = replacement

    def forward(self, x: Any) -> Any:
        depth = randint(1, self.num_sample_op) if self.randomly_sample_depth else self.num_sample_op
        for index in torch.multinomial(self.transforms_prob, depth, replacement=self.replacement).tolist():
            x = self.transforms_list[index](x)
        return x
