"""Per-view augmentation for self-supervised pretraining."""

from __future__ import annotations

import pytest
import torch

from vidray.errors import ConfigError, LayoutError
from vidray.transforms import (
    ApplyTransformToKeyOnList,
    ColorJitterVideoSSl,
    RandomResizedCrop,
    RepeatandConverttoList,
    build_transform,
)


def clip() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randint(0, 256, (3, 4, 24, 24), dtype=torch.uint8)


def test_each_view_gets_its_own_random_draw():
    crop = RandomResizedCrop(16, 16, scale=(0.2, 0.6), aspect_ratio=(0.75, 1.33))
    views = ApplyTransformToKeyOnList("video", crop)({"video": [clip(), clip()]})["video"]
    assert [v.shape for v in views] == [(3, 4, 16, 16)] * 2
    assert not torch.equal(views[0], views[1])  # same clip in, different crops out


def test_a_single_clip_is_refused_with_the_sampler_named():
    with pytest.raises(LayoutError, match="random_multi"):
        ApplyTransformToKeyOnList("video", lambda v: v)({"video": clip()})


def test_repeat_turns_every_entry_into_views():
    sample = RepeatandConverttoList(3)({"video": clip(), "label": 1})
    assert len(sample["video"]) == 3 and sample["label"] == [1, 1, 1]


def test_grayscale_makes_the_channels_equal_and_keeps_the_dtype():
    gray = ColorJitterVideoSSl([0.4, 0.4, 0.4], 0.1, p_color_jitter=0.0, p_convert_gray=1.0, p_gaussian_blur=0.0)
    out = gray(clip())
    assert out.dtype == torch.uint8 and out.shape == (3, 4, 24, 24)
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


def test_one_draw_applies_to_every_frame_of_a_clip():
    jitter = ColorJitterVideoSSl([0.8, 0.0, 0.0], 0.0, p_color_jitter=1.0, p_convert_gray=0.0, p_gaussian_blur=0.0)
    video = torch.full((3, 4, 8, 8), 0.5)
    out = jitter(video)
    assert torch.allclose(out, out[:, :1].expand_as(out))  # brightness scaled equally in all frames
    assert not torch.allclose(out, video)


def test_blur_smooths_and_bad_parameters_are_refused():
    blur = ColorJitterVideoSSl([0.0, 0.0, 0.0], 0.0, p_color_jitter=0.0, p_convert_gray=0.0,
                               p_gaussian_blur=1.0, gaussian_blur_sigma=(1.5, 1.5))
    noisy = torch.rand(3, 2, 16, 16)
    assert blur(noisy).std() < noisy.std()
    with pytest.raises(ConfigError, match="hue"):
        ColorJitterVideoSSl([0.4, 0.4, 0.4], 0.9, 0.8, 0.2)
    with pytest.raises(ConfigError, match="bri_con_sat"):
        ColorJitterVideoSSl([0.4, 0.4], 0.1, 0.8, 0.2)


def test_a_config_builds_the_per_view_pipeline_by_name():
    transform = build_transform([{"name": "ApplyTransformToKeyOnList", "args": {"key": "video", "transform": [
        {"name": "RandomResizedCrop", "args": {"target_height": 16, "target_width": 16, "scale": [0.2, 0.8],
                                               "aspect_ratio": [0.75, 1.33]}},
        {"name": "ColorJitterVideoSSl", "args": {"bri_con_sat": [0.6, 0.6, 0.6], "hue": 0.15,
                                                 "p_color_jitter": 0.8, "p_convert_gray": 0.2}}]}}])
    views = transform({"video": [clip(), clip()]})["video"]
    assert [tuple(v.shape) for v in views] == [(3, 4, 16, 16)] * 2
