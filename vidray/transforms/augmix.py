"""AugMix for video, PyTorchVideo-compatible (https://arxiv.org/abs/1912.02781)."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn
from torch.distributions import Beta, Dirichlet

from vidray.errors import ConfigError
from vidray.transforms.augmentations import (
    AugmentTransform,
    LayoutAwareTransform,
    _decreasing_int_to_arg,
    _decreasing_to_arg,
    _increasing_magnitude_to_arg,
    _increasing_randomly_negate_to_arg,
    check_magnitude,
    check_sampling,
    check_transform_hparas,
)
from vidray.transforms.base import randint
from vidray.transforms.compose import TRANSFORMS

# AugMix's colour factors rise with the level, from 0.1 (a strong decrease) to 1.9, with no random sign.
_AUGMIX_LEVEL_TO_ARG = {
    "AutoContrast": None,
    "Equalize": None,
    "Rotate": _increasing_randomly_negate_to_arg,
    "Posterize": _decreasing_int_to_arg,
    "Solarize": _decreasing_to_arg,
    "ShearX": _increasing_randomly_negate_to_arg,
    "ShearY": _increasing_randomly_negate_to_arg,
    "TranslateX": _increasing_randomly_negate_to_arg,
    "TranslateY": _increasing_randomly_negate_to_arg,
    "AdjustSaturation": _increasing_magnitude_to_arg,
    "AdjustContrast": _increasing_magnitude_to_arg,
    "AdjustBrightness": _increasing_magnitude_to_arg,
    "AdjustSharpness": _increasing_magnitude_to_arg,
}

_TRANSFORM_AUGMIX_MAX_PARAMS: dict[str, Optional[tuple[float, float]]] = {
    "AutoContrast": None,
    "Equalize": None,
    "Rotate": (0, 30),
    "Posterize": (4, 4),
    "Solarize": (1, 1),
    "ShearX": (0, 0.3),
    "ShearY": (0, 0.3),
    "TranslateX": (0, 1.0 / 3.0),
    "TranslateY": (0, 1.0 / 3.0),
    "AdjustSaturation": (0.1, 1.8),
    "AdjustContrast": (0.1, 1.8),
    "AdjustBrightness": (0.1, 1.8),
    "AdjustSharpness": (0.1, 1.8),
}

# Levels are drawn uniformly: floats from sampling_min ("int" draws whole levels).
SAMPLING_AUGMIX_DEFAULT_HPARAS: dict[str, Any] = {"sampling_data_type": "float", "sampling_min": 0.1}

_RANDOM_DEPTH_MAX = 3  # chain length bound when depth <= 0


@TRANSFORMS.register()
class AugMix(LayoutAwareTransform):
    """Mixes ``width`` chains of random ops with Dirichlet(``alpha``) weights, then with the input by Beta(``alpha``).

    A chain applies ``depth`` ops drawn with replacement from thirteen (1 to 3 when ``depth <= 0``), each at a level
    drawn uniformly up to ``magnitude``. The result is a convex mix of the chains and the input, so it stays in the
    value range: uint8 in gives uint8 out (rounded; PyTorchVideo truncated, darkening by half a level on average),
    float gives the same float dtype, and the mix is accumulated on the input's device (PyTorchVideo's lived on the
    CPU, failing for CUDA video). Takes ``[T, C, H, W]`` by default, ``[C, T, H, W]`` with ``layout="CTHW"``, and
    batches of either. All draws happen once per clip from torch's global generator, in PyTorchVideo's order.
    """

    random = True
    geometric = True  # rotations, shears and translations would need the boxes moved
    channels = (3,)

    def __init__(
        self,
        magnitude: int = 3,
        alpha: float = 1.0,
        width: int = 3,
        depth: int = -1,
        transform_hparas: Optional[dict[str, Any]] = None,
        sampling_hparas: Optional[dict[str, Any]] = None,
        layout: str = "TCHW",
    ) -> None:
        super().__init__(layout)
        who = self.who
        check_magnitude(magnitude, 1, who, integer=True)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ConfigError(f"{who}: alpha must be a number > 0, got {alpha!r}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ConfigError(f"{who}: width must be an int >= 1, got {width!r}")
        if isinstance(depth, bool) or not isinstance(depth, int):
            raise ConfigError(f"{who}: depth must be an int (<= 0 for a random depth of 1 to 3), got {depth!r}")
        sampling_hparas = check_sampling("uniform", sampling_hparas or SAMPLING_AUGMIX_DEFAULT_HPARAS, magnitude, who)
        if transform_hparas:  # PyTorchVideo's ops fall back to the default for None or {}
            check_transform_hparas(transform_hparas, who)
        self.magnitude = magnitude
        self.width = width
        self.depth = depth
        self.dirichlet = Dirichlet(torch.full((width,), float(alpha)))
        self.beta = Beta(float(alpha), float(alpha))
        self.ops = nn.ModuleList(
            AugmentTransform(
                name,
                magnitude,
                prob=1.0,
                level_to_arg=_AUGMIX_LEVEL_TO_ARG,
                transform_max_paras=_TRANSFORM_AUGMIX_MAX_PARAMS,
                transform_hparas=transform_hparas,
                sampling_type="uniform",
                sampling_hparas=sampling_hparas,
                layout=layout,
            )
            for name in _TRANSFORM_AUGMIX_MAX_PARAMS
        )

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        weights = self.dirichlet.sample().tolist()
        skip = self.beta.sample().item()
        chains = []
        for _ in weights:
            depth = self.depth if self.depth > 0 else randint(1, _RANDOM_DEPTH_MAX)
            indices = torch.multinomial(torch.ones(len(self.ops)), depth, replacement=True).tolist()
            chains.append([(i, self.ops[i].draw()) for i in indices])
        return {"weights": weights, "skip": skip, "chains": chains}

    def transform_frames(self, frames: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        dtype = torch.promote_types(frames.dtype, torch.float32) if frames.is_floating_point() else torch.float32
        mixed = torch.zeros(frames.shape, dtype=dtype, device=frames.device)
        for weight, chain in zip(params["weights"], params["chains"]):
            augmented = frames
            for i, args in chain:
                augmented = self.ops[i].apply(augmented, args)
            mixed.add_(augmented.to(dtype), alpha=weight)
        skip = params["skip"]
        out = mixed.mul_(1.0 - skip).add_(frames.to(dtype), alpha=skip)
        return out.round_().to(torch.uint8) if frames.dtype == torch.uint8 else out.to(frames.dtype)

    def extra_repr(self) -> str:
        return f"magnitude={self.magnitude}, width={self.width}, depth={self.depth}, layout={self.layout!r}"
