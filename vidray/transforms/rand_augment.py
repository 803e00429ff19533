"""RandAugment for video, PyTorchVideo-compatible (https://arxiv.org/abs/1909.13719)."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from vidray.errors import ConfigError
from vidray.transforms.augmentations import (
    _TRANSFORM_MAX_PARAMS,
    AugmentTransform,
    LayoutAwareTransform,
    check_magnitude,
    check_sampling,
    check_transform_hparas,
)
from vidray.transforms.base import check_probability
from vidray.transforms.compose import TRANSFORMS

# RandAugment's maximum magnitudes are the op library's defaults (PyTorchVideo kept two equal tables).
_TRANSFORM_RANDAUG_MAX_PARAMS = _TRANSFORM_MAX_PARAMS

# Hyperparameters for sampling the level: ints from sampling_min for uniform sampling, sampling_std for gaussian.
SAMPLING_RANDAUG_DEFAULT_HPARAS: dict[str, Any] = {
    "sampling_data_type": "int",
    "sampling_min": 0,
    "sampling_std": 0.5,
}


@TRANSFORMS.register()
class RandAugment(LayoutAwareTransform):
    """Applies ``num_layers`` distinct ops, drawn uniformly from fourteen, each with probability ``prob``.

    Each op's level is drawn around ``magnitude`` (gaussian) or uniformly up to it. Takes PyTorchVideo's
    ``[T, C, H, W]`` by default, vidray's ``[C, T, H, W]`` with ``layout="CTHW"``, and batches of either; uint8 or
    float in [0, 1]. Ops, levels and signs are drawn once per clip from torch's global generator, in
    PyTorchVideo's order, so every frame gets the same augmentation and ``torch.manual_seed`` reproduces it.
    """

    random = True
    geometric = True  # rotations, shears and translations would need the boxes moved
    channels = (3,)

    def __init__(
        self,
        magnitude: int = 9,
        num_layers: int = 2,
        prob: float = 0.5,
        transform_hparas: Optional[dict[str, Any]] = None,
        sampling_type: str = "gaussian",
        sampling_hparas: Optional[dict[str, Any]] = None,
        layout: str = "TCHW",
    ) -> None:
        super().__init__(layout)
        who = self.who
        check_magnitude(magnitude, 0, who)
        check_probability(prob, "prob", who)
        sampling_hparas = check_sampling(
            sampling_type, sampling_hparas or SAMPLING_RANDAUG_DEFAULT_HPARAS, magnitude, who
        )
        if transform_hparas:  # PyTorchVideo's ops fall back to the default for None or {}
            check_transform_hparas(transform_hparas, who)
        names = list(_TRANSFORM_RANDAUG_MAX_PARAMS)
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or not 1 <= num_layers <= len(names):
            raise ConfigError(
                f"{who}: num_layers must be an int in [1, {len(names)}] (ops are distinct), got {num_layers!r}"
            )
        self.magnitude = magnitude
        self.num_layers = num_layers
        self.prob = prob
        self.ops = nn.ModuleList(
            AugmentTransform(
                name,
                magnitude,
                prob=prob,
                transform_max_paras=_TRANSFORM_RANDAUG_MAX_PARAMS,
                transform_hparas=transform_hparas,
                sampling_type=sampling_type,
                sampling_hparas=sampling_hparas,
                layout=layout,
            )
            for name in names
        )

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        indices = torch.multinomial(torch.ones(len(self.ops)), self.num_layers, replacement=False).tolist()
        return {"ops": [(i, self.ops[i].draw()) for i in indices]}

    def transform_frames(self, frames: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        for i, args in params["ops"]:
            frames = self.ops[i].apply(frames, args)
        return frames

    def extra_repr(self) -> str:
        return f"magnitude={self.magnitude}, num_layers={self.num_layers}, prob={self.prob}, layout={self.layout!r}"
