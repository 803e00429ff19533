"""Video transforms: one window per clip, dtype kept, per-clip draws, seeds, clear errors."""

from __future__ import annotations

import pytest
import torch

from vidray.errors import ConfigError, LayoutError
from vidray.transforms.transforms import (
    CenterCrop,
    ConvertFloatToUint8,
    ConvertUint8ToFloat,
    Normalize,
    OpSampler,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomShortSideScale,
    RandomShortSideScaleCrop,
    ShortSideScale,
    TemporalJitter,
    UniformCropVideo,
    UniformTemporalSubsample,
    UniformTemporalSubsampleRepeated,
)

RANDOM_SPATIAL = [
    lambda: RandomCrop(24),
    lambda: RandomShortSideScaleCrop(32, 48, 24),
    lambda: RandomResizedCrop(24, 24, scale=(0.2, 1.0)),
    lambda: RandomHorizontalFlip(0.5),
    lambda: RandomShortSideScale(30, 50),
]


def ramp_clip(t: int = 6, h: int = 36, w: int = 48, step: float = 10.0) -> torch.Tensor:
    """Frame ``i`` is one random image plus ``step * i``, so a shared window keeps the offsets."""
    base = torch.rand(3, 1, h, w) * 100
    return base + step * torch.arange(t, dtype=torch.float32).view(1, t, 1, 1)


@pytest.mark.parametrize("make", RANDOM_SPATIAL)
def test_random_spatial_transforms_use_one_window_for_every_frame(make) -> None:
    torch.manual_seed(3)
    clip = ramp_clip()
    for _ in range(5):
        out = make()(clip)
        offsets = out - out[:, :1]
        expected = 10.0 * torch.arange(clip.shape[1], dtype=torch.float32).view(1, -1, 1, 1)
        assert torch.allclose(offsets, expected.expand_as(offsets), atol=1e-3)


@pytest.mark.parametrize("make", RANDOM_SPATIAL)
def test_random_transforms_repeat_under_a_seed_and_vary_without(make) -> None:
    clip = ramp_clip()
    torch.manual_seed(7)
    first = [make()(clip) for _ in range(4)]
    torch.manual_seed(7)
    again = [make()(clip) for _ in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert any(a.shape != first[0].shape or not torch.equal(a, first[0]) for a in first[1:])


@pytest.mark.parametrize(
    "transform",
    [ShortSideScale(20), RandomShortSideScaleCrop(32, 40, 24), RandomResizedCrop(16, 16), CenterCrop(20)],
)
def test_spatial_transforms_keep_uint8(transform) -> None:
    clip = torch.randint(0, 256, (3, 4, 36, 48), dtype=torch.uint8)
    assert transform(clip).dtype == torch.uint8
    assert transform(clip.float()).dtype == torch.float32


def test_uint8_resize_rounds_the_float_result() -> None:
    clip = torch.randint(0, 256, (3, 4, 36, 48), dtype=torch.uint8)
    as_uint8 = ShortSideScale(50)(clip).float()
    as_float = ShortSideScale(50)(clip.float())
    assert (as_uint8 - as_float).abs().max() <= 0.5 + 1e-4


def test_short_side_scale_follows_pytorchvideo_rounding() -> None:
    assert ShortSideScale(256)(torch.zeros(3, 2, 240, 320)).shape[-2:] == (256, 341)
    assert ShortSideScale(256)(torch.zeros(3, 2, 320, 240)).shape[-2:] == (341, 256)


def test_scale_crop_at_scale_one_is_a_plain_crop() -> None:
    torch.manual_seed(0)
    clip = torch.rand(3, 2, 32, 40)
    out = RandomShortSideScaleCrop(32, 32, 24)(clip)
    matches = [
        (top, left)
        for top in range(9)
        for left in range(17)
        if torch.equal(out, clip[..., top : top + 24, left : left + 24])
    ]
    assert len(matches) == 1


def test_scale_crop_draws_scales_within_the_range() -> None:
    # A horizontal ramp stays a ramp under bilinear resizing; its slope is 1 / scale.
    h, w = 32, 48
    clip = torch.arange(w, dtype=torch.float32).expand(3, 2, h, w).contiguous()
    torch.manual_seed(1)
    slopes = []
    for _ in range(20):
        out = RandomShortSideScaleCrop(40, 64, 24)(clip)
        slopes.append((out[0, 0, 5, 12] - out[0, 0, 5, 11]).item())
    assert all(h / 64 - 0.03 <= s <= h / 40 + 0.03 for s in slopes)
    assert max(slopes) - min(slopes) > 0.1


def test_flip_mirrors_all_frames_or_none() -> None:
    clip = ramp_clip()
    assert torch.equal(RandomHorizontalFlip(1.0)(clip), clip.flip(-1))
    assert torch.equal(RandomHorizontalFlip(0.0)(clip), clip)


def test_batches_draw_parameters_per_clip() -> None:
    torch.manual_seed(0)
    batch = ramp_clip().unsqueeze(0).repeat(16, 1, 1, 1, 1)
    flipped = RandomHorizontalFlip(0.5)(batch)
    kinds = {torch.equal(c, batch[0].flip(-1)) for c in flipped}
    assert kinds == {True, False}
    cropped = RandomCrop(24)(batch)
    assert cropped.shape == (16, 3, 6, 24, 24)
    assert len({c.sum().item() for c in cropped}) > 1


def test_batch_of_different_output_sizes_is_a_clear_error() -> None:
    torch.manual_seed(0)
    batch = torch.rand(8, 3, 2, 30, 40)
    with pytest.raises(LayoutError, match="different sizes"):
        RandomShortSideScale(20, 40)(batch)


def test_deterministic_transforms_process_a_batch_like_each_clip() -> None:
    batch = torch.rand(3, 3, 4, 30, 40)
    for transform in (ShortSideScale(20), CenterCrop(16), Normalize((0.5,) * 3, (0.2,) * 3)):
        assert torch.allclose(transform(batch), torch.stack([transform(c) for c in batch]), atol=1e-6)


def test_center_crop_places_the_window_like_torchvision() -> None:
    from torchvision.transforms.v2 import functional as TF

    for h, w in ((31, 47), (224, 297), (30, 46)):
        clip = torch.rand(3, 2, h, w)
        assert torch.equal(CenterCrop(20)(clip), TF.center_crop(clip, [20, 20]))


@pytest.mark.parametrize(
    "make",
    [
        lambda p: RandomShortSideScaleCrop(40, 56, 24, horizontal_flip_prob=p),
        lambda p: RandomResizedCrop(24, 24, scale=(0.3, 1.0), horizontal_flip_prob=p),
    ],
)
def test_fused_flip_mirrors_the_crop(make) -> None:
    clip = ramp_clip()
    torch.manual_seed(4)
    plain = make(0.0)(clip)
    torch.manual_seed(4)
    mirrored = make(1.0)(clip)
    assert torch.allclose(mirrored, plain.flip(-1), atol=1e-3)


def test_fused_crop_can_return_float_pixels_without_rounding() -> None:
    clip = torch.randint(0, 256, (3, 4, 36, 48), dtype=torch.uint8)
    torch.manual_seed(2)
    as_float = RandomShortSideScaleCrop(40, 50, 24, convert_to_float=True)(clip)
    torch.manual_seed(2)
    as_uint8 = RandomShortSideScaleCrop(40, 50, 24)(clip)
    assert as_float.dtype == torch.float32 and 0 <= as_float.min() and as_float.max() <= 1
    assert (as_float * 255 - as_uint8.float()).abs().max() <= 0.5 + 1e-3


def test_uniform_crop_video_takes_left_centre_right_and_top_centre_bottom() -> None:
    wide = torch.rand(3, 2, 20, 50)
    crops = [UniformCropVideo(20)({"video": wide, "aug_index": i})["video"] for i in range(3)]
    assert torch.equal(crops[0], wide[..., :, 0:20])
    assert torch.equal(crops[1], wide[..., :, 15:35])
    assert torch.equal(crops[2], wide[..., :, 30:50])
    tall = torch.rand(3, 2, 50, 20)
    assert torch.equal(UniformCropVideo(20)({"video": tall, "aug_index": 2})["video"], tall[..., 30:50, :])


def test_uniform_temporal_subsample_picks_pytorchvideo_indices() -> None:
    clip = torch.arange(16, dtype=torch.float32).view(1, 16, 1, 1).expand(3, 16, 2, 2)
    assert UniformTemporalSubsample(8)(clip)[0, :, 0, 0].tolist() == [0, 2, 4, 6, 8, 10, 12, 15]
    assert UniformTemporalSubsample(4)(clip)[0, :, 0, 0].tolist() == [0, 5, 10, 15]
    assert UniformTemporalSubsample(20)(clip).shape[1] == 20
    slow, fast = UniformTemporalSubsampleRepeated((4, 1))(clip)
    assert slow[0, :, 0, 0].tolist() == [0, 5, 10, 15] and fast.shape[1] == 16


def test_temporal_jitter_keeps_order_and_one_frame_per_segment() -> None:
    clip = torch.arange(32, dtype=torch.float32).view(1, 32, 1, 1).expand(3, 32, 2, 2)
    torch.manual_seed(0)
    draws = [TemporalJitter(8)(clip)[0, :, 0, 0].tolist() for _ in range(10)]
    for frames in draws:
        assert [int(f) // 4 for f in frames] == list(range(8))
    assert len({tuple(d) for d in draws}) > 1


def test_normalize_converts_uint8_in_the_same_pass() -> None:
    clip = torch.randint(0, 256, (3, 4, 8, 8), dtype=torch.uint8)
    mean, std = (0.45, 0.4, 0.35), (0.225, 0.2, 0.25)
    expected = (clip.float() / 255 - torch.tensor(mean).view(3, 1, 1, 1)) / torch.tensor(std).view(3, 1, 1, 1)
    assert torch.allclose(Normalize(mean, std)(clip), expected, atol=1e-5)
    assert torch.allclose(Normalize(mean, std)(clip.float() / 255), expected, atol=1e-5)


def test_normalize_in_place_only_when_asked() -> None:
    clip = torch.rand(3, 2, 4, 4)
    before = clip.clone()
    Normalize((0.5,) * 3, (0.5,) * 3)(clip)
    assert torch.equal(clip, before)
    Normalize((0.5,) * 3, (0.5,) * 3, inplace=True)(clip)
    assert not torch.equal(clip, before)


def test_dtype_conversions_round_trip() -> None:
    clip = torch.randint(0, 256, (3, 2, 4, 4), dtype=torch.uint8)
    as_float = ConvertUint8ToFloat()(clip)
    assert as_float.dtype == torch.float32 and as_float.max() <= 1.0
    assert torch.equal(ConvertFloatToUint8()(as_float), clip)


def test_op_sampler_applies_distinct_ops_without_replacement() -> None:
    ops = [lambda x, v=v: x + v for v in (1, 10, 100)]
    torch.manual_seed(0)
    results = {int(OpSampler(ops, num_sample_op=2)(torch.zeros(()))) for _ in range(30)}
    assert results == {11, 101, 110}
    assert OpSampler(ops, transforms_prob=[1e-9, 1e-9, 1.0])(torch.zeros(())) == 100


@pytest.mark.parametrize(
    "bad, expected",
    [
        (torch.rand(3, 8, 8), "expected a video"),
        (torch.zeros(3, 4, 8, 8, dtype=torch.int32), "uint8 or floating-point"),
        (torch.rand(3, 0, 8, 8), "empty clip"),
    ],
)
def test_bad_tensors_name_the_expected_layout(bad, expected) -> None:
    with pytest.raises(LayoutError, match=expected):
        RandomCrop(4)(bad)


def test_channel_count_mismatch_names_both() -> None:
    with pytest.raises(LayoutError, match="3 values for a video with 16 channels"):
        Normalize((0.5,) * 3, (0.2,) * 3)(torch.rand(16, 3, 8, 8))


def test_crop_larger_than_frame_is_a_clear_error() -> None:
    with pytest.raises(LayoutError, match="crop 40x40 is larger than the 36x48 frame"):
        RandomCrop(40)(torch.rand(3, 2, 36, 48))


@pytest.mark.parametrize(
    "build",
    [
        lambda: RandomCrop(-1),
        lambda: RandomHorizontalFlip(1.5),
        lambda: RandomShortSideScale(300, 200),
        lambda: RandomShortSideScaleCrop(200, 300, 224),
        lambda: RandomResizedCrop(16, 16, scale=(0.0, 1.0)),
        lambda: UniformTemporalSubsample(0),
        lambda: Normalize((0.5,), (0.0,)),
        lambda: OpSampler([]),
        lambda: ShortSideScale(10, backend="opencv"),
    ],
)
def test_bad_parameters_fail_at_construction(build) -> None:
    with pytest.raises(ConfigError):
        build()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("make", RANDOM_SPATIAL)
def test_cuda_and_cpu_agree_under_a_seed(make) -> None:
    clip = torch.randint(0, 256, (3, 4, 36, 48), dtype=torch.uint8)
    torch.manual_seed(5)
    cpu = make()(clip)
    torch.manual_seed(5)
    cuda = make()(clip.cuda()).cpu()
    assert (cpu.float() - cuda.float()).abs().max() <= 1
