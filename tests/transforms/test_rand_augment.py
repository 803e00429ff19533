"""RandAugment and its op library: PyTorchVideo's semantics on [T, C, H, W] and [C, T, H, W] video."""

from __future__ import annotations

import pytest
import torch

from vidray.errors import ConfigError, LayoutError
from vidray.transforms.augmentations import _NAME_TO_TRANSFORM_FUNC, AugmentTransform
from vidray.transforms.compose import build_transform
from vidray.transforms.rand_augment import RandAugment

IDENTITY_AT_ZERO = [
    "AdjustBrightness",
    "AdjustContrast",
    "AdjustSaturation",
    "AdjustSharpness",
    "Rotate",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
]
EXACT_LEVEL = {"sampling_std": 0.0}  # gaussian sampling that always gives the magnitude itself


def clip(dtype: torch.dtype = torch.float32, frames: int = 8, seed: int = 0) -> torch.Tensor:
    """A random [T, C, H, W] clip whose float values are exact uint8 levels."""
    g = torch.Generator().manual_seed(seed)
    video = torch.randint(0, 256, (frames, 3, 32, 32), generator=g, dtype=torch.uint8)
    return video if dtype == torch.uint8 else video.to(dtype) / 255


def gradient_clip() -> torch.Tensor:
    """A horizontal ramp in [0.1, 0.5]: smooth, so rotation changes it in proportion to the angle."""
    ramp = torch.linspace(0.1, 0.5, 32).expand(8, 3, 32, 32)
    return ramp.clone()


def seeded(transform: torch.nn.Module, video: torch.Tensor, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return transform(video)


@pytest.mark.parametrize("sampling", [("gaussian", EXACT_LEVEL), ("uniform", None)])
@pytest.mark.parametrize("name", IDENTITY_AT_ZERO)
def test_magnitude_zero_is_identity(name: str, sampling: tuple) -> None:
    sampling_type, sampling_hparas = sampling
    op = AugmentTransform(name, 0, prob=1.0, sampling_type=sampling_type, sampling_hparas=sampling_hparas)
    for dtype in (torch.uint8, torch.float32):
        video = clip(dtype)
        assert torch.equal(seeded(op, video, 0), video)


@pytest.mark.parametrize("name", ["AdjustBrightness", "Rotate"])
def test_higher_magnitude_changes_the_clip_more(name: str) -> None:
    video = gradient_clip()
    change = []
    for magnitude in (2, 5, 9):
        op = AugmentTransform(name, magnitude, prob=1.0, sampling_hparas=EXACT_LEVEL)
        change.append((seeded(op, video, 0) - video).abs().mean().item())
    assert 0 < change[0] < change[1] < change[2]


def test_solarize_threshold_follows_the_value_range() -> None:
    # Level 5 is a threshold of 0.5: 100/255 stays, 200/255 is inverted, for uint8 and float alike.
    op = AugmentTransform("Solarize", 5, prob=1.0, sampling_hparas=EXACT_LEVEL)
    video = torch.tensor([100, 200], dtype=torch.uint8).view(1, 1, 1, 2).expand(2, 3, 1, 2)
    assert seeded(op, video, 0)[0, 0, 0].tolist() == [100, 55]
    assert torch.allclose(seeded(op, video / 255, 0) * 255, torch.tensor([100.0, 55.0]).expand(2, 3, 1, 2))


def test_uint8_fill_is_mid_grey() -> None:
    op = AugmentTransform("TranslateX", 10, prob=1.0, sampling_hparas=EXACT_LEVEL)
    out = seeded(op, torch.zeros(2, 3, 32, 32, dtype=torch.uint8), 0)
    # 0.45 of the width (14.4 columns) is uncovered: 14 whole columns of fill, one blended with the content.
    assert out.max() == 128 and (out == 128).sum() == 2 * 3 * 32 * 14


@pytest.mark.parametrize("name", sorted(_NAME_TO_TRANSFORM_FUNC))
def test_each_op_treats_uint8_and_float_alike(name: str) -> None:
    op = AugmentTransform(name, 7, prob=1.0, sampling_hparas=EXACT_LEVEL)
    as_uint8 = seeded(op, clip(torch.uint8), 3)
    as_float = seeded(op, clip(torch.float32), 3)
    assert (as_uint8.float() - as_float * 255).abs().max() <= 2  # uint8 kernels round in between


def test_every_frame_gets_the_same_ops() -> None:
    transform = RandAugment(magnitude=9, num_layers=3, prob=1.0)
    video = clip(torch.uint8, frames=1).expand(6, -1, -1, -1)
    for seed in range(10):
        out = seeded(transform, video, seed)
        assert not torch.equal(out[0], video[0])
        assert all(torch.equal(frame, out[0]) for frame in out)


def test_batch_clips_draw_their_own_ops() -> None:
    transform = RandAugment(magnitude=9, prob=1.0)
    batch = clip(torch.uint8, frames=2).expand(4, -1, -1, -1, -1)
    out = seeded(transform, batch, 0)
    assert out.shape == batch.shape
    assert any(not torch.equal(out[i], out[0]) for i in range(1, 4))


def test_batch_clip_matches_the_clip_alone_under_the_same_draws() -> None:
    transform = RandAugment(magnitude=9, prob=1.0)
    video = clip(torch.uint8)
    assert torch.equal(seeded(transform, video[None], 5)[0], seeded(transform, video, 5))


def test_manual_seed_reproduces_the_output() -> None:
    transform = RandAugment(magnitude=9, num_layers=2, prob=0.8)
    video = clip(torch.float32)
    assert torch.equal(seeded(transform, video, 7), seeded(transform, video, 7))
    assert not torch.equal(seeded(transform, video, 7), seeded(transform, video, 8))


def test_prob_zero_leaves_the_clip_unchanged() -> None:
    video = clip(torch.uint8)
    assert torch.equal(seeded(RandAugment(prob=0.0), video, 0), video)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_output_keeps_the_input_dtype_and_range(dtype: torch.dtype) -> None:
    transform = RandAugment(magnitude=10, num_layers=3, prob=1.0)
    for seed in range(5):
        out = seeded(transform, clip(dtype), seed)
        assert out.dtype == dtype
        if dtype != torch.uint8:
            assert 0.0 <= out.min() and out.max() <= 1.0


def test_cthw_layout_matches_tchw_permuted() -> None:
    video = clip(torch.uint8)
    tchw = seeded(RandAugment(prob=1.0), video, 11)
    cthw = seeded(RandAugment(prob=1.0, layout="CTHW"), video.permute(1, 0, 2, 3), 11)
    assert torch.equal(cthw, tchw.permute(1, 0, 2, 3))


def test_cthw_layout_matches_tchw_permuted_for_batches() -> None:
    batch = torch.stack([clip(torch.uint8, seed=s) for s in range(3)])
    tchw = seeded(RandAugment(prob=1.0), batch, 2)
    cthw = seeded(RandAugment(prob=1.0, layout="CTHW"), batch.permute(0, 2, 1, 3, 4), 2)
    assert torch.equal(cthw, tchw.permute(0, 2, 1, 3, 4))


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"sampling_type": "laplace"}, "sampling_type"),
        ({"magnitude": 11}, "magnitude"),
        ({"magnitude": -1}, "magnitude"),
        ({"prob": 1.5}, "prob"),
        ({"num_layers": 0}, "num_layers"),
        ({"num_layers": 15}, "num_layers"),
        ({"transform_hparas": {"colour": 0.5}}, "fill"),
        ({"sampling_hparas": {"sampling_min": 0}}, "sampling_std"),
        ({"sampling_type": "uniform", "sampling_hparas": {"sampling_data_type": "half"}}, "sampling_data_type"),
        ({"layout": "THWC"}, "layout"),
    ],
)
def test_bad_parameters_raise_config_error_at_construction(kwargs: dict, parameter: str) -> None:
    with pytest.raises(ConfigError, match=rf"RandAugment.*{parameter}"):
        RandAugment(**kwargs)


def test_unknown_transform_name_raises_config_error() -> None:
    with pytest.raises(ConfigError, match=r"AugmentTransform.*transform_name 'Blur'"):
        AugmentTransform("Blur")


def test_four_channel_tchw_raises_layout_error_naming_the_layout() -> None:
    with pytest.raises(LayoutError, match=r"RandAugment.*\[T, C, H, W\].*layout='CTHW'"):
        RandAugment()(torch.rand(8, 4, 32, 32))


def test_four_channel_cthw_raises_layout_error() -> None:
    with pytest.raises(LayoutError, match=r"RandAugment.*channels"):
        RandAugment(layout="CTHW")(torch.rand(4, 8, 32, 32))


def test_boxes_are_refused_because_ops_move_pixels() -> None:
    with pytest.raises(LayoutError, match="cannot move boxes"):
        RandAugment()(clip(torch.uint8), torch.tensor([[0.0, 0.0, 8.0, 8.0]]))


def test_builds_from_a_config_spec() -> None:
    transform = build_transform({"name": "RandAugment", "args": {"magnitude": 5, "num_layers": 1, "layout": "CTHW"}})
    assert isinstance(transform, RandAugment) and transform.num_layers == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("name", sorted(_NAME_TO_TRANSFORM_FUNC))
def test_cuda_matches_cpu(name: str, dtype: torch.dtype) -> None:
    # One op at a time: in a chain, a rounding difference can cross a Posterize or Solarize step.
    op = AugmentTransform(name, 7, prob=1.0)
    video = clip(dtype)
    on_cpu = seeded(op, video, 4)
    on_cuda = seeded(op, video.cuda(), 4)
    assert on_cuda.device.type == "cuda" and on_cuda.dtype == dtype
    assert (on_cuda.cpu().double() - on_cpu.double()).abs().max() <= (1 if dtype == torch.uint8 else 1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batch_stays_on_the_device() -> None:
    batch = torch.stack([clip(torch.uint8, seed=s) for s in range(3)]).cuda()
    out = seeded(RandAugment(magnitude=9, num_layers=3, prob=1.0), batch, 0)
    assert out.device == batch.device and out.shape == batch.shape
