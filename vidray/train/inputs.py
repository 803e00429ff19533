"""The model boundary: uint8 clips from the data pipeline become the model's input on its device.

Clips travel as ``uint8 [B, C, T, H, W]`` (4x less memory and transfer than
float); here, once, on the training device, they become float, normalised
with the model's mean and std, and split into pathways for multi-pathway
models (SlowFast's slow pathway takes every ``alpha``-th frame of the fast
one, as PyTorchVideo's ``PackPathway`` does).
"""

from __future__ import annotations

from typing import Sequence

import torch

from vidray.errors import ConfigError, LayoutError
from vidray.models.registry import InputSpec

VIDEO_PATHWAYS = ("video", "slow", "fast")


class ClipToModelInput:
    """Converts a uint8 clip batch into what the model's forward takes."""

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str = "cpu",
        input_spec: InputSpec | None = None,
    ) -> None:
        if len(mean) != len(std):
            raise ConfigError(f"mean {list(mean)} and std {list(std)} must have one value per channel")
        shape = (1, len(mean), 1, 1, 1)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(shape) * 255.0
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(shape) * 255.0
        pathways = input_spec.pathways if input_spec is not None else ()
        if any(p.name not in VIDEO_PATHWAYS for p in pathways):
            raise ConfigError(
                f"the model takes a {[p.name for p in pathways]} input; the training engine feeds video pathways only"
            )
        # Frames of each pathway relative to the densest one (SlowFast R50: 8 and 32 -> 1/4 and 1).
        densest = max((p.shape[1] for p in pathways), default=1)
        self.pathway_ratios = [p.shape[1] / densest for p in pathways] if len(pathways) > 1 else []

    def __call__(self, video: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if video.dim() != 5 or video.shape[1] != self.mean.shape[1]:
            raise LayoutError(
                f"model input: expected a clip batch [B, {self.mean.shape[1]}, T, H, W], got {list(video.shape)}"
            )
        clip = (video.float() - self.mean) / self.std
        if not self.pathway_ratios:
            return clip
        frames = clip.shape[2]
        pathways = []
        for ratio in self.pathway_ratios:
            count = max(1, round(frames * ratio))
            index = torch.linspace(0, frames - 1, count, device=clip.device).long()
            pathways.append(clip if count == frames else clip.index_select(2, index))
        return pathways
