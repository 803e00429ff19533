"""Augmentations of self-supervised pretraining: per-view transforms and SimCLR's colour distortion.

A multi-view sample (``random_multi`` clip sampler) holds a list of clips under
``"video"``; :class:`ApplyTransformToKeyOnList` gives each clip its own draw of
a random pipeline, which is what makes the views differ. The names and
arguments are PyTorchVideo's (its trainer package); unlike its
``ColorJitterVideoSSl``, which went through PIL one tall image per clip, the
colour distortion here runs on tensors (uint8 or float, any device).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torchvision.transforms.v2.functional as TF
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.transforms.base import VideoTransform, check_probability, coin, uniform
from vidray.transforms.compose import TRANSFORMS


@TRANSFORMS.register()
class ApplyTransformToKeyOnList(nn.Module):
    """Applies ``transform`` to every clip of the list ``sample[key]``, each with its own random draw."""

    def __init__(self, key: str, transform: Callable[[Any], Any]) -> None:
        super().__init__()
        self._key, self._transform = key, transform

    def forward(self, x: dict[str, Any]) -> dict[str, Any]:
        value = x.get(self._key)
        if not isinstance(value, (list, tuple)):
            raise LayoutError(
                f"ApplyTransformToKeyOnList: sample[{self._key!r}] must be a list of clips "
                f"(a multi-clip sampler such as 'random_multi'), got {type(value).__name__}"
            )
        x[self._key] = [self._transform(clip) for clip in value]
        return x


@TRANSFORMS.register()
class RepeatandConverttoList(nn.Module):
    """Turns every entry of a sample into a list of ``repeat_num`` copies (views of one clip)."""

    def __init__(self, repeat_num: int) -> None:
        super().__init__()
        if repeat_num < 1:
            raise ConfigError(f"RepeatandConverttoList: repeat_num must be >= 1, got {repeat_num}")
        self.repeat_num = repeat_num

    def forward(self, x: dict[str, Any]) -> dict[str, list[Any]]:
        return {key: [value] * self.repeat_num for key, value in x.items()}


@TRANSFORMS.register()
class ColorJitterVideoSSl(VideoTransform):
    """SimCLR's colour distortion of a clip: jitter, grayscale, blur, one draw for all its frames.

    Args:
        bri_con_sat: brightness, contrast and saturation strengths (factors drawn from ``[1-s, 1+s]``).
        hue: hue shift strength (shift drawn from ``[-hue, hue]``, at most 0.5).
        p_color_jitter: probability of the jitter (its four changes in a random order).
        p_convert_gray: probability of converting to grayscale (kept 3-channel).
        p_gaussian_blur: probability of a Gaussian blur.
        gaussian_blur_sigma: the blur's sigma range in pixels.
    """

    random = True
    channels = (3,)

    def __init__(
        self,
        bri_con_sat: Sequence[float],
        hue: float,
        p_color_jitter: float,
        p_convert_gray: float,
        p_gaussian_blur: float = 0.5,
        gaussian_blur_sigma: Sequence[float] = (0.1, 2.0),
    ) -> None:
        super().__init__()
        if len(bri_con_sat) != 3 or any(s < 0 for s in bri_con_sat):
            raise ConfigError(f"{self.who}: bri_con_sat must be 3 strengths >= 0, got {list(bri_con_sat)}")
        if not 0 <= hue <= 0.5:
            raise ConfigError(f"{self.who}: hue must be in [0, 0.5], got {hue}")
        sigma = tuple(float(s) for s in gaussian_blur_sigma)
        if len(sigma) not in (1, 2) or min(sigma) <= 0 or sigma[0] > sigma[-1]:
            raise ConfigError(f"{self.who}: gaussian_blur_sigma must be (low, high) > 0, got {list(gaussian_blur_sigma)}")
        self.bri_con_sat, self.hue, self.sigma = tuple(bri_con_sat), hue, sigma
        self.p_color_jitter = check_probability(p_color_jitter, "p_color_jitter", self.who)
        self.p_convert_gray = check_probability(p_convert_gray, "p_convert_gray", self.who)
        self.p_gaussian_blur = check_probability(p_gaussian_blur, "p_gaussian_blur", self.who)

    def make_params(self, video: torch.Tensor) -> dict[str, Any]:
        jitter = []
        if coin(self.p_color_jitter):
            (b, c, s), h = self.bri_con_sat, self.hue
            changes = [("brightness", uniform(1 - b, 1 + b)), ("contrast", uniform(1 - c, 1 + c)),
                       ("saturation", uniform(1 - s, 1 + s)), ("hue", uniform(-h, h))]
            jitter = [changes[i] for i in torch.randperm(4).tolist()]
        blur = uniform(self.sigma[0], self.sigma[-1]) if coin(self.p_gaussian_blur) else None
        return {"jitter": jitter, "gray": coin(self.p_convert_gray), "blur": blur}

    def transform_video(self, video: torch.Tensor, params: dict[str, Any]) -> torch.Tensor:
        frames = video.transpose(0, 1)  # [T, C, H, W]: torchvision's image layout, frames as a batch
        for name, factor in params["jitter"]:
            frames = _ADJUST[name](frames, factor)
        if params["gray"]:
            frames = TF.rgb_to_grayscale(frames, num_output_channels=3)
        if params["blur"] is not None:
            sigma = params["blur"]
            kernel = 2 * int(round(3 * sigma)) + 1  # +-3 sigma
            kernel = min(kernel, 2 * (min(frames.shape[-2:]) // 2) - 1) if min(frames.shape[-2:]) > 2 else 1
            frames = TF.gaussian_blur(frames, [kernel, kernel], [sigma, sigma]) if kernel > 1 else frames
        return frames.transpose(0, 1).contiguous()


_ADJUST = {
    "brightness": TF.adjust_brightness,
    "contrast": TF.adjust_contrast,
    "saturation": TF.adjust_saturation,
    "hue": TF.adjust_hue,
}
