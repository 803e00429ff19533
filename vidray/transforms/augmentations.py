"""The op library of RandAugment and AugMix, under PyTorchVideo's names, arguments and defaults.

Fourteen ops take frames ``[..., C, H, W]`` (a ``[T, C, H, W]`` clip: every frame gets the same arguments), uint8 or
float in [0, 1], on any device. They are built on torchvision.transforms.v2's kernels, since PyTorchVideo's used the
removed ``torchvision.transforms.functional_tensor``. Level functions turn a magnitude level in
``[0, _AUGMENTATION_MAX_LEVEL]`` into an op's arguments, and :class:`AugmentTransform` is one op with a sampled level.

Values given relative to the value range (``fill``, Solarize's threshold) are scaled by 255 for uint8, so uint8 and
float video get the same augmentation. PyTorchVideo passed the fill unscaled, filling uint8 video with black, and
its early releases did the same with Solarize's threshold, so every non-zero uint8 pixel was inverted (an Invert).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, Callable, Mapping, Optional

import torch
from torchvision.transforms.v2 import functional as TF

from vidray.errors import ConfigError, LayoutError
from vidray.transforms.base import (
    VideoTransform,
    check_probability,
    check_video,
    coin,
    describe,
)

# Maximum global magnitude used for video augmentation.
_AUGMENTATION_MAX_LEVEL = 10

_BILINEAR = TF.InterpolationMode.BILINEAR
_LAYOUTS = ("TCHW", "CTHW")
_FRAMES_FIRST_LAYOUT = "a video [T, C, H, W] or a batch [B, T, C, H, W] (layout='TCHW')"


def _value_range(video: torch.Tensor) -> float:
    return 255.0 if video.dtype == torch.uint8 else 1.0


def _fill(video: torch.Tensor, kwargs: Mapping[str, Any]) -> list[float]:
    """``kwargs["fill"]`` (relative to the value range, 0.5 is mid-grey) in ``video``'s values: 128 for uint8."""
    fill = kwargs["fill"]
    values = [float(fill)] if isinstance(fill, (int, float)) else [float(v) for v in fill]
    if video.dtype == torch.uint8:
        return [float(round(v * 255.0)) for v in values]
    return values


def _via_uint8(video: torch.Tensor, op: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Applies a uint8-only kernel to float video through uint8 and back (rounded, where PyTorchVideo truncated)."""
    if video.dtype == torch.uint8:
        return op(video)
    as_uint8 = video.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return op(as_uint8).to(video.dtype).div_(255.0)


def _autocontrast(video: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """Stretches each frame's channels so that their darkest value becomes black and their lightest white."""
    return TF.autocontrast(video)


def _equalize(video: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """Equalizes each frame's per-channel histogram (computed on 256 levels, so float video goes through uint8)."""
    return _via_uint8(video, TF.equalize)


def _invert(video: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """Inverts the colours."""
    return TF.invert(video)


def _rotate(video: torch.Tensor, factor: float, **kwargs: Any) -> torch.Tensor:
    """Rotates by ``factor`` degrees counter-clockwise about the centre, filling the corners with ``fill``."""
    if factor == 0:  # bilinear resampling at the identity is not bit-exact
        return video
    return TF.rotate(video, factor, interpolation=_BILINEAR, fill=_fill(video, kwargs))


def _solarize(video: torch.Tensor, factor: float, **kwargs: Any) -> torch.Tensor:
    """Inverts the values at or above ``factor`` (relative to the value range: 0.5 is 127.5 for uint8).

    PyTorchVideo's early releases passed the relative threshold to uint8 video unscaled, inverting every non-zero
    pixel.
    """
    return TF.solarize(video, factor * _value_range(video))


def _adjust_contrast(video: torch.Tensor, factor: float, **kwargs: Any) -> torch.Tensor:
    """Blends each frame with its mean grey: 0 gives solid grey, 1 the original, 2 doubles the contrast."""
    return TF.adjust_contrast(video, factor)


def _adjust_saturation(video: torch.Tensor, factor: float, **kwargs: Any) -> torch.Tensor:
    """Blends with the greyscale frame: 0 gives black and white, 1 the original, 2 doubles the saturation."""
    return TF.adjust_saturation(video, factor)


def _adjust_brightness(video: torch.Tensor, factor: float, **kwargs: Any) -> torch.Tensor:
    """Scales the values by ``factor``: 0 gives black, 1 the original."""
    return TF.adjust_brightness(video, factor)


def _adjust_sharpness(video: torch.Tensor, factor: float, **kwargs: Any) -> torch.Tensor:
    """Blends with a smoothed frame: 0 gives a blurred video, 1 the original, 2 doubles the sharpness."""
    return TF.adjust_sharpness(video, factor)


def _posterize(video: torch.Tensor, factor: float, **kwargs: Any) -> torch.Tensor:
    """Keeps the ``factor`` (0-8) most significant bits of each 8-bit value (float video goes through uint8)."""
    bits = int(factor)
    if bits >= 8:
        return video
    return _via_uint8(video, lambda frames: TF.posterize(frames, bits))


def _affine(video: torch.Tensor, kwargs: Mapping[str, Any], **affine_args: Any) -> torch.Tensor:
    args = {"angle": 0.0, "translate": [0.0, 0.0], "scale": 1.0, "shear": [0.0, 0.0], **affine_args}
    return TF.affine(video, **args, interpolation=_BILINEAR, fill=_fill(video, kwargs))


def _shear_x(video: torch.Tensor, factor: float, **kwargs: Any) -> torch.Tensor:
    """Shears horizontally, ``x_in = x_out + factor * y_out``, about the top row (PIL's and PyTorchVideo's origin)."""
    if factor == 0:  # bilinear resampling at the identity is not bit-exact
        return video
    return _affine(video, kwargs, shear=[math.degrees(math.atan(factor)), 0.0], center=[0.0, 0.0])


def _shear_y(video: torch.Tensor, factor: float, **kwargs: Any) -> torch.Tensor:
    """Shears vertically, ``y_in = y_out + factor * x_out``, about the left column."""
    if factor == 0:
        return video
    return _affine(video, kwargs, shear=[0.0, math.degrees(math.atan(factor))], center=[0.0, 0.0])


def _translate_x(video: torch.Tensor, factor: float, **kwargs: Any) -> torch.Tensor:
    """Moves the content left by ``factor`` times the width (right when negative), as PyTorchVideo did."""
    if factor == 0:
        return video
    return _affine(video, kwargs, translate=[-factor * video.shape[-1], 0.0])


def _translate_y(video: torch.Tensor, factor: float, **kwargs: Any) -> torch.Tensor:
    """Moves the content up by ``factor`` times the height (down when negative)."""
    if factor == 0:
        return video
    return _affine(video, kwargs, translate=[0.0, -factor * video.shape[-2]])


def _randomly_negate(magnitude: float) -> float:
    """``magnitude`` or ``-magnitude`` with even odds."""
    return magnitude if torch.rand(1).item() > 0.5 else -magnitude


def _increasing_magnitude_to_arg(level: float, params: tuple[float, float]) -> tuple[float]:
    """``params[0]`` at level 0, rising linearly by ``params[1]`` up to the maximum level."""
    return (params[0] + level / _AUGMENTATION_MAX_LEVEL * params[1],)


def _increasing_randomly_negate_to_arg(level: float, params: tuple[float, float]) -> tuple[float]:
    """``params[0]`` at level 0, moving linearly by up to ``params[1]`` in a random direction."""
    return (params[0] + _randomly_negate(level / _AUGMENTATION_MAX_LEVEL * params[1]),)


def _decreasing_int_to_arg(level: float, params: tuple[int, int]) -> tuple[int]:
    """``params[0]`` at level 0, falling by up to ``params[1]`` in whole steps (Posterize's bits)."""
    return (params[0] - int(level / _AUGMENTATION_MAX_LEVEL * params[1]),)


def _decreasing_to_arg(level: float, params: tuple[float, float]) -> tuple[float]:
    """``params[0]`` at level 0, falling linearly by up to ``params[1]``."""
    return (params[0] - level / _AUGMENTATION_MAX_LEVEL * params[1],)


# Transform names and their op functions.
_NAME_TO_TRANSFORM_FUNC: dict[str, Callable[..., torch.Tensor]] = {
    "AdjustBrightness": _adjust_brightness,
    "AdjustContrast": _adjust_contrast,
    "AdjustSaturation": _adjust_saturation,
    "AdjustSharpness": _adjust_sharpness,
    "AutoContrast": _autocontrast,
    "Equalize": _equalize,
    "Invert": _invert,
    "Rotate": _rotate,
    "Posterize": _posterize,
    "Solarize": _solarize,
    "ShearX": _shear_x,
    "ShearY": _shear_y,
    "TranslateX": _translate_x,
    "TranslateY": _translate_y,
}

# Transform names and the functions that turn a level into the op's arguments (None: the op takes none).
_LEVEL_TO_ARG: dict[str, Optional[Callable[..., tuple]]] = {
    "AdjustBrightness": _increasing_randomly_negate_to_arg,
    "AdjustContrast": _increasing_randomly_negate_to_arg,
    "AdjustSaturation": _increasing_randomly_negate_to_arg,
    "AdjustSharpness": _increasing_randomly_negate_to_arg,
    "AutoContrast": None,
    "Equalize": None,
    "Invert": None,
    "Rotate": _increasing_randomly_negate_to_arg,
    "Posterize": _decreasing_int_to_arg,
    "Solarize": _decreasing_to_arg,
    "ShearX": _increasing_randomly_negate_to_arg,
    "ShearY": _increasing_randomly_negate_to_arg,
    "TranslateX": _increasing_randomly_negate_to_arg,
    "TranslateY": _increasing_randomly_negate_to_arg,
}

# Transform names and the (base, range) their level function maps levels 0..max onto.
_TRANSFORM_MAX_PARAMS: dict[str, Optional[tuple[float, float]]] = {
    "AdjustBrightness": (1, 0.9),
    "AdjustContrast": (1, 0.9),
    "AdjustSaturation": (1, 0.9),
    "AdjustSharpness": (1, 0.9),
    "AutoContrast": None,
    "Equalize": None,
    "Invert": None,
    "Rotate": (0, 30),
    "Posterize": (4, 4),
    "Solarize": (1, 1),
    "ShearX": (0, 0.3),
    "ShearY": (0, 0.3),
    "TranslateX": (0, 0.45),
    "TranslateY": (0, 0.45),
}

_GEOMETRIC_OPS = frozenset({"Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY"})

# Hyperparameters for sampling magnitude.
SAMPLING_DEFAULT_HPARAS: dict[str, Any] = {"sampling_std": 0.5}

# Hyperparameters for transform functions.
TRANSFORM_DEFAULT_HPARAS: dict[str, Any] = {"fill": (0.5, 0.5, 0.5)}


# Constructor checks shared with RandAugment and AugMix, so that their errors name them.
def check_magnitude(magnitude: float, low: float, who: str, integer: bool = False) -> float:
    """``magnitude`` if it is a number (an int when ``integer``) in ``[low, _AUGMENTATION_MAX_LEVEL]``."""
    kind = int if integer else (int, float)
    if (
        isinstance(magnitude, bool)
        or not isinstance(magnitude, kind)
        or not low <= magnitude <= _AUGMENTATION_MAX_LEVEL
    ):
        what = "an int" if integer else "a number"
        raise ConfigError(f"{who}: magnitude must be {what} in [{low}, {_AUGMENTATION_MAX_LEVEL}], got {magnitude!r}")
    return magnitude


def check_transform_hparas(transform_hparas: Mapping[str, Any], who: str) -> dict[str, Any]:
    if "fill" not in transform_hparas:
        raise ConfigError(
            f"{who}: transform_hparas needs key 'fill' (a colour relative to the value range, e.g. (0.5, 0.5, 0.5)), "
            f"got keys {sorted(transform_hparas)}"
        )
    return dict(transform_hparas)


def check_sampling(
    sampling_type: str, sampling_hparas: Mapping[str, Any], magnitude: float, who: str
) -> dict[str, Any]:
    """The sampling hyperparameters; uniform sampling defaults to whole levels from 0, as PyTorchVideo first drew."""
    if sampling_type == "gaussian":
        std = sampling_hparas.get("sampling_std")
        if isinstance(std, bool) or not isinstance(std, (int, float)) or std < 0:
            raise ConfigError(
                f"{who}: gaussian sampling needs sampling_hparas['sampling_std'] >= 0, got {dict(sampling_hparas)}"
            )
        return dict(sampling_hparas)
    if sampling_type != "uniform":
        raise ConfigError(f"{who}: sampling_type must be 'gaussian' or 'uniform', got {sampling_type!r}")
    hparas = {"sampling_data_type": "int", "sampling_min": 0, **sampling_hparas}
    data_type, low = hparas["sampling_data_type"], hparas["sampling_min"]
    if data_type not in ("int", "float"):
        raise ConfigError(f"{who}: sampling_hparas['sampling_data_type'] must be 'int' or 'float', got {data_type!r}")
    kind = int if data_type == "int" else (int, float)
    if isinstance(low, bool) or not isinstance(low, kind) or low > magnitude:
        raise ConfigError(
            f"{who}: sampling_hparas['sampling_min'] must be a {data_type} <= magnitude ({magnitude}), got {low!r}"
        )
    if data_type == "int" and not isinstance(magnitude, int):
        raise ConfigError(f"{who}: uniform int sampling needs an int magnitude, got {magnitude!r}")
    return hparas


class LayoutAwareTransform(VideoTransform):
    """A video transform that also takes PyTorchVideo's frames-first ``[T, C, H, W]`` (``layout="TCHW"``).

    The input is viewed as vidray's ``[C, T, H, W]`` for the base class's checks and per-clip draws; subclasses get
    frames-first views in :meth:`transform_frames`, the layout torchvision's kernels want. The output has the
    input's layout.
    """

    def __init__(self, layout: str = "TCHW") -> None:
        super().__init__()
        if layout not in _LAYOUTS:
            raise ConfigError(f"{self.who}: layout must be one of {_LAYOUTS}, got {layout!r}")
        self.layout = layout

    @abstractmethod
    def transform_frames(self, frames: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        """Transforms one clip's frames ``[T, C, H, W]`` with the clip's parameters."""

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return self.transform_frames(video.transpose(-4, -3), params).transpose(-4, -3)

    def forward(self, video: torch.Tensor, boxes: torch.Tensor | None = None) -> Any:
        if self.layout == "CTHW":
            return super().forward(video, boxes)
        if not isinstance(video, torch.Tensor) or video.dim() not in (4, 5):
            raise LayoutError(f"{self.who}: expected {_FRAMES_FIRST_LAYOUT}, got {describe(video)}")
        if self.channels is not None and video.shape[-3] not in self.channels:
            raise LayoutError(
                f"{self.who}: expected {'/'.join(map(str, self.channels))} channels at dim -3 of "
                f"{_FRAMES_FIRST_LAYOUT}, got {describe(video)}; pass layout='CTHW' for [C, T, H, W] video"
            )
        check_video(video, self.who)  # dtype and emptiness; the base class checks again, frames transposed
        out = super().forward(video.transpose(-4, -3), boxes)
        if isinstance(out, tuple):
            return out[0].transpose(-4, -3), out[1]
        return out.transpose(-4, -3)


class AugmentTransform(LayoutAwareTransform):
    """One augmentation op, applied with probability ``prob`` at a sampled magnitude level.

    The level is drawn around ``magnitude`` (``sampling_type="gaussian"``, clipped to ``[0, 10]``) or uniformly up
    to it (``"uniform"``: ints from ``sampling_min``, or floats with ``sampling_data_type="float"``), and the level
    function turns it into the op's arguments. Everything is drawn once per clip, in PyTorchVideo's order, from
    torch's global generator. ``name_to_transform_func``'s functions take frames ``[..., C, H, W]``, the level
    function's arguments and ``transform_hparas`` as keywords.
    """

    random = True
    channels = (3,)

    def __init__(
        self,
        transform_name: str,
        magnitude: int = 10,
        prob: float = 0.5,
        name_to_transform_func: Optional[dict[str, Callable]] = None,
        level_to_arg: Optional[dict[str, Callable]] = None,
        transform_max_paras: Optional[dict[str, tuple]] = None,
        transform_hparas: Optional[dict[str, Any]] = None,
        sampling_type: str = "gaussian",
        sampling_hparas: Optional[dict[str, Any]] = None,
        layout: str = "TCHW",
    ) -> None:
        super().__init__(layout)
        name_to_transform_func = name_to_transform_func or _NAME_TO_TRANSFORM_FUNC
        level_to_arg = level_to_arg or _LEVEL_TO_ARG
        transform_max_paras = transform_max_paras or _TRANSFORM_MAX_PARAMS
        for table, table_name in (
            (name_to_transform_func, "name_to_transform_func"),
            (level_to_arg, "level_to_arg"),
            (transform_max_paras, "transform_max_paras"),
        ):
            if transform_name not in table:
                raise ConfigError(
                    f"{self.who}: unknown transform_name {transform_name!r} (not in {table_name}: {sorted(table)})"
                )
        self.transform_name = transform_name
        self.magnitude = check_magnitude(magnitude, 0, self.who)
        self.prob = check_probability(prob, "prob", self.who)
        self.transform_hparas = check_transform_hparas(transform_hparas or TRANSFORM_DEFAULT_HPARAS, self.who)
        self.sampling_type = sampling_type
        self.sampling_hparas = check_sampling(
            sampling_type, sampling_hparas or SAMPLING_DEFAULT_HPARAS, magnitude, self.who
        )
        self.max_level = _AUGMENTATION_MAX_LEVEL
        self.transform_fn = name_to_transform_func[transform_name]
        self.level_fn = level_to_arg[transform_name]
        self.level_paras = transform_max_paras[transform_name]
        self.geometric = transform_name in _GEOMETRIC_OPS

    def _get_magnitude(self) -> float:
        if self.sampling_type == "gaussian":
            level = torch.normal(float(self.magnitude), float(self.sampling_hparas["sampling_std"]), size=(1,)).item()
            return max(0.0, min(float(self.max_level), level))
        low = self.sampling_hparas["sampling_min"]
        if self.sampling_hparas["sampling_data_type"] == "int":
            return torch.randint(low, self.magnitude + 1, size=(1,)).item()
        return torch.rand(1).item() * (self.magnitude - low) + low

    def draw(self) -> Optional[tuple]:
        """The op's arguments for one clip, or None when the ``prob`` coin skips it."""
        if not coin(self.prob):
            return None
        level = self._get_magnitude()
        return self.level_fn(level, self.level_paras) if self.level_fn is not None else ()

    def apply(self, frames: torch.Tensor, args: Optional[tuple]) -> torch.Tensor:
        """Applies the op with drawn ``args`` (from :meth:`draw`) to frames ``[..., C, H, W]``."""
        return frames if args is None else self.transform_fn(frames, *args, **self.transform_hparas)

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        return {"args": self.draw()}

    def transform_frames(self, frames: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        return self.apply(frames, params["args"])

    def extra_repr(self) -> str:
        return f"{self.transform_name!r}, magnitude={self.magnitude}, prob={self.prob}, layout={self.layout!r}"
