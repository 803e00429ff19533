"""AugMix: PyTorchVideo's semantics, a convex mix that keeps the dtype, range and device."""

from __future__ import annotations

import pytest
import torch

from vidray.errors import ConfigError, LayoutError
from vidray.transforms.augmix import AugMix
from vidray.transforms.compose import build_transform


def clip(dtype: torch.dtype = torch.float32, frames: int = 8, seed: int = 0) -> torch.Tensor:
    """A random [T, C, H, W] clip whose float values are exact uint8 levels."""
    g = torch.Generator().manual_seed(seed)
    video = torch.randint(0, 256, (frames, 3, 32, 32), generator=g, dtype=torch.uint8)
    return video if dtype == torch.uint8 else video.to(dtype) / 255


def seeded(transform: torch.nn.Module, video: torch.Tensor, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)
    return transform(video)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_output_keeps_the_input_dtype(dtype: torch.dtype) -> None:
    assert seeded(AugMix(), clip(dtype), 0).dtype == dtype


def test_output_is_a_convex_mix_within_the_value_range() -> None:
    augmix = AugMix(magnitude=10, width=4, depth=3)
    for seed in range(5):
        video = clip(torch.float32, seed=seed)
        out = seeded(augmix, video, seed)
        assert 0.0 <= out.min() and out.max() <= 1.0
        assert not torch.equal(out, video)


def chains_of(augmix: AugMix, video: torch.Tensor, chains: list) -> dict:
    """A clip's drawn weights with chosen chains: ``(op name, args)`` lists."""
    index = {op.transform_name: i for i, op in enumerate(augmix.ops)}
    torch.manual_seed(0)
    params = augmix.make_params(video)
    params["chains"] = [[(index[name], args) for name, args in chain] for chain in chains]
    return params


def test_uint8_mix_of_identity_chains_is_the_clip() -> None:
    augmix = AugMix(layout="CTHW")
    video = clip(torch.uint8).permute(1, 0, 2, 3)
    params = chains_of(augmix, video, [[], [], []])
    assert torch.equal(augmix.transform_video(video, params), video)


def test_uint8_output_is_rounded_not_truncated() -> None:
    # Solarize at 0.5 is exact for uint8 and float alike, so only the final conversion can differ.
    augmix = AugMix(layout="CTHW")
    video = clip(torch.uint8).permute(1, 0, 2, 3)
    params = chains_of(augmix, video, [[("Solarize", (0.5,))], [], [("Solarize", (0.2,))]])
    as_uint8 = augmix.transform_video(video, params)
    as_float = augmix.transform_video(video.double() / 255, params)
    assert torch.equal(as_uint8, (as_float * 255).round().to(torch.uint8))


def test_every_frame_gets_the_same_mix() -> None:
    augmix = AugMix(magnitude=5)
    video = clip(torch.uint8, frames=1).expand(6, -1, -1, -1)
    for seed in range(5):
        out = seeded(augmix, video, seed)
        assert all(torch.equal(frame, out[0]) for frame in out)


def test_batch_clips_draw_their_own_mix() -> None:
    batch = clip(torch.uint8, frames=2).expand(4, -1, -1, -1, -1)
    out = seeded(AugMix(), batch, 0)
    assert out.shape == batch.shape
    assert any(not torch.equal(out[i], out[0]) for i in range(1, 4))


def test_manual_seed_reproduces_the_output() -> None:
    augmix = AugMix(magnitude=4, width=2)
    video = clip(torch.float32)
    assert torch.equal(seeded(augmix, video, 3), seeded(augmix, video, 3))
    assert not torch.equal(seeded(augmix, video, 3), seeded(augmix, video, 4))


def test_cthw_layout_matches_tchw_permuted() -> None:
    batch = torch.stack([clip(torch.uint8, seed=s) for s in range(2)])
    tchw = seeded(AugMix(), batch, 9)
    cthw = seeded(AugMix(layout="CTHW"), batch.permute(0, 2, 1, 3, 4), 9)
    assert torch.equal(cthw, tchw.permute(0, 2, 1, 3, 4))


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"magnitude": 0}, "magnitude"),
        ({"magnitude": 11}, "magnitude"),
        ({"magnitude": 2.5}, "magnitude"),
        ({"alpha": 0.0}, "alpha"),
        ({"width": 0}, "width"),
        ({"depth": 1.5}, "depth"),
        ({"transform_hparas": {"colour": 0.5}}, "fill"),
        ({"sampling_hparas": {"sampling_data_type": "half"}}, "sampling_data_type"),
        ({"sampling_hparas": {"sampling_data_type": "float", "sampling_min": 5.0}, "magnitude": 3}, "sampling_min"),
        ({"layout": "HWC"}, "layout"),
    ],
)
def test_bad_parameters_raise_config_error_at_construction(kwargs: dict, parameter: str) -> None:
    with pytest.raises(ConfigError, match=rf"AugMix.*{parameter}"):
        AugMix(**kwargs)


def test_four_channel_tchw_raises_layout_error_naming_the_layout() -> None:
    with pytest.raises(LayoutError, match=r"AugMix.*\[T, C, H, W\]"):
        AugMix()(torch.rand(8, 4, 32, 32))


def test_builds_from_a_config_spec() -> None:
    transform = build_transform({"name": "AugMix", "args": {"magnitude": 5, "width": 2}})
    assert isinstance(transform, AugMix) and transform.width == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_cuda_video_is_mixed_on_the_device_like_on_cpu(dtype: torch.dtype) -> None:
    augmix = AugMix(magnitude=5)
    video = clip(dtype)
    on_cpu = seeded(augmix, video, 1)
    on_cuda = seeded(augmix, video.cuda(), 1)
    assert on_cuda.device.type == "cuda" and on_cuda.dtype == dtype
    # A rounding difference inside a chain can cross a Posterize or Solarize step, so compare on average.
    scale = 255 if dtype == torch.uint8 else 1
    assert (on_cuda.cpu().double() - on_cpu.double()).abs().mean() < 0.01 * scale
