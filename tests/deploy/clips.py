"""A model input from a real video file, for the deploy tests."""

from __future__ import annotations

import torch
from torch import nn

from vidray.data import EncodedVideo


def clip_of(path: str, frames: int, size: int, normalise: bool = True) -> torch.Tensor:
    """``frames`` frames spread over the video's first second, ``size`` x ``size``, as a batch of one;
    normalised with Kinetics' mean and std, or in [0, 1] (MoViNet's input) when ``normalise`` is False."""
    video = EncodedVideo.from_path(path, decode_audio=False).get_clip(0.0, 1.0)["video"]  # uint8 [C, T, H, W]
    picked = video[:, torch.linspace(0, video.shape[1] - 1, frames).long()].float() / 255
    picked = nn.functional.interpolate(picked, size=(size, size), mode="bilinear", align_corners=False)
    return ((picked - 0.45) / 0.225 if normalise else picked).unsqueeze(0)
