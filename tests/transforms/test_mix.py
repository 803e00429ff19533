"""MixUp, CutMix and MixVideo on small real batches."""

from __future__ import annotations

import math

import pytest
import torch

from vidray.errors import ConfigError, LayoutError
from vidray.transforms.compose import TRANSFORMS, build_transform
from vidray.transforms.mix import CutMix, MixUp, MixVideo

B, C, T, H, W = 4, 3, 2, 9, 11
NUM_CLASSES = 5


def float_video(seed: int = 0) -> torch.Tensor:
    return torch.rand(B, C, T, H, W, generator=torch.Generator().manual_seed(seed))


def uint8_video(seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (B, C, T, H, W), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def labels() -> torch.Tensor:
    return torch.tensor([0, 3, 1, 4])


def one_hot(y: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    return torch.nn.functional.one_hot(y, NUM_CLASSES).float() * (1 - smoothing) + smoothing / NUM_CLASSES


def expected_labels(y: torch.Tensor, lam: float, smoothing: float = 0.0) -> torch.Tensor:
    return lam * one_hot(y, smoothing) + (1 - lam) * one_hot(y.flip(0), smoothing)


def box_mask(box: tuple[int, int, int, int], height: int, width: int) -> torch.Tensor:
    top, bottom, left, right = box
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[top:bottom, left:right] = True
    return mask


# ---------------------------------------------------------------- MixUp
def test_mixup_labels_sum_to_one_and_match_last_lambda() -> None:
    torch.manual_seed(0)
    mixup = MixUp(num_classes=NUM_CLASSES)
    _, mixed = mixup(float_video(), labels())
    assert mixed.shape == (B, NUM_CLASSES)
    torch.testing.assert_close(mixed.sum(1), torch.ones(B))
    torch.testing.assert_close(mixed, expected_labels(labels(), mixup.last_lambda))


def test_mixup_float_video_is_exact_blend_with_flipped_batch() -> None:
    torch.manual_seed(1)
    x = float_video()
    mixup = MixUp(num_classes=NUM_CLASSES)
    out, _ = mixup(x, labels())
    lam = mixup.last_lambda
    assert 0.0 < lam < 1.0
    assert out.dtype == torch.float32
    assert torch.equal(out, lam * x + (1 - lam) * x.flip(0))


def test_mixup_uint8_video_is_rounded_blend_and_stays_uint8() -> None:
    torch.manual_seed(2)
    x = uint8_video()
    mixup = MixUp(num_classes=NUM_CLASSES)
    out, _ = mixup(x, labels())
    lam = mixup.last_lambda
    assert out.dtype == torch.uint8
    exact = lam * x.float() + (1 - lam) * x.flip(0).float()
    assert (out.float() - exact).abs().max() <= 0.5 + 1e-4


def test_mixup_does_not_modify_inputs() -> None:
    x, y, audio = float_video(), labels(), torch.rand(B, 1, 6, 4)
    copies = (x.clone(), y.clone(), audio.clone())
    MixUp(num_classes=NUM_CLASSES)(x, y, x_audio=audio)
    for original, copy in zip((x, y, audio), copies):
        assert torch.equal(original, copy)


def test_mixup_mixes_audio_with_the_video_lambda() -> None:
    torch.manual_seed(3)
    x, audio = float_video(), torch.rand(B, 1, 6, 4)
    mixup = MixUp(num_classes=NUM_CLASSES)
    video_out, audio_out, mixed = mixup(x, labels(), x_audio=audio)
    lam = mixup.last_lambda
    assert torch.equal(video_out, lam * x + (1 - lam) * x.flip(0))
    assert torch.equal(audio_out, lam * audio + (1 - lam) * audio.flip(0))
    torch.testing.assert_close(mixed, expected_labels(labels(), lam))


def test_mixup_without_audio_returns_video_and_labels_only() -> None:
    out = MixUp(num_classes=NUM_CLASSES)(float_video(), labels(), x_audio=None)
    assert len(out) == 2


# ---------------------------------------------------------------- CutMix
@pytest.mark.parametrize("seed", range(8))
def test_cutmix_pastes_one_box_from_flipped_batch_on_every_frame(seed: int) -> None:
    torch.manual_seed(seed)
    x = float_video(seed)
    cutmix = CutMix(num_classes=NUM_CLASSES)
    out, _ = cutmix(x, labels())
    inside = box_mask(cutmix.last_box, H, W).expand_as(x)
    assert torch.equal(out[inside], x.flip(0)[inside])
    assert torch.equal(out[~inside], x[~inside])


@pytest.mark.parametrize("seed", range(20))
def test_cutmix_lambda_is_one_minus_box_area_fraction(seed: int) -> None:
    torch.manual_seed(seed)
    x = float_video(seed)
    cutmix = CutMix(num_classes=NUM_CLASSES)
    out, mixed = cutmix(x, labels())
    pasted_pixels = (out != x)[0, 0, 0].sum().item()  # random pixels differ from their partner's
    top, bottom, left, right = cutmix.last_box
    assert pasted_pixels == (bottom - top) * (right - left)
    assert cutmix.last_lambda == pytest.approx(1 - pasted_pixels / (H * W))
    torch.testing.assert_close(mixed, expected_labels(labels(), cutmix.last_lambda))
    torch.testing.assert_close(mixed.sum(1), torch.ones(B))


def test_cutmix_box_has_the_drawn_size_when_inside_the_frame() -> None:
    # PyTorchVideo's cut_h // 2 on both sides shrank odd-sized boxes by a row/column.
    interior = 0
    for seed in range(60):
        torch.manual_seed(seed)
        lam = float(torch.distributions.Beta(torch.tensor(1.0), torch.tensor(1.0)).sample())
        torch.manual_seed(seed)
        cutmix = CutMix(num_classes=NUM_CLASSES)
        cutmix(float_video(), labels())
        top, bottom, left, right = cutmix.last_box
        if 0 < top and bottom < H and 0 < left and right < W:
            interior += 1
            assert bottom - top == int(H * math.sqrt(1 - lam))
            assert right - left == int(W * math.sqrt(1 - lam))
    assert interior > 0


def test_cutmix_uint8_video_stays_uint8_and_copies_pixels_exactly() -> None:
    torch.manual_seed(4)
    x = uint8_video()
    cutmix = CutMix(num_classes=NUM_CLASSES)
    out, _ = cutmix(x, labels())
    inside = box_mask(cutmix.last_box, H, W).expand_as(x)
    assert out.dtype == torch.uint8
    assert torch.equal(out[inside], x.flip(0)[inside])
    assert torch.equal(out[~inside], x[~inside])


def test_cutmix_does_not_modify_inputs() -> None:
    x, y, audio = uint8_video(), labels(), torch.rand(B, 1, 6, 4)
    copies = (x.clone(), y.clone(), audio.clone())
    CutMix(num_classes=NUM_CLASSES)(x, y, x_audio=audio)
    for original, copy in zip((x, y, audio), copies):
        assert torch.equal(original, copy)


@pytest.mark.parametrize("audio_shape", [(B, 1, 12, 8), (B, 1, 3, 12, 8)])
def test_cutmix_pastes_an_audio_box_from_the_same_partners(audio_shape: tuple[int, ...]) -> None:
    torch.manual_seed(5)
    x, audio = float_video(), torch.rand(audio_shape)
    cutmix = CutMix(num_classes=NUM_CLASSES)
    _, audio_out, mixed = cutmix(x, labels(), x_audio=audio)
    inside = box_mask(cutmix.last_audio_box, 12, 8).expand_as(audio)
    assert torch.equal(audio_out[inside], audio.flip(0)[inside])
    assert torch.equal(audio_out[~inside], audio[~inside])
    torch.testing.assert_close(mixed, expected_labels(labels(), cutmix.last_lambda))


# ---------------------------------------------------------------- determinism
@pytest.mark.parametrize("make", [MixUp, CutMix, MixVideo])
def test_same_seed_gives_same_mix(make: type) -> None:
    results = []
    for _ in range(2):
        torch.manual_seed(7)
        transform = make(num_classes=NUM_CLASSES)
        results.append((transform(float_video(), labels()), transform.last_lambda))
    (video_a, labels_a), lam_a = results[0]
    (video_b, labels_b), lam_b = results[1]
    assert lam_a == lam_b
    assert torch.equal(video_a, video_b) and torch.equal(labels_a, labels_b)


# ---------------------------------------------------------------- MixVideo
def test_mixvideo_with_cutmix_prob_zero_always_mixes_up() -> None:
    torch.manual_seed(8)
    mix = MixVideo(cutmix_prob=0.0, num_classes=NUM_CLASSES)
    x = float_video()
    for _ in range(5):
        out, mixed = mix(x, labels())
        lam = mix.last_lambda
        assert lam == mix.mixup.last_lambda
        assert torch.equal(out, lam * x + (1 - lam) * x.flip(0))
        torch.testing.assert_close(mixed, expected_labels(labels(), lam))
    assert mix.cutmix.last_lambda is None


def test_mixvideo_with_cutmix_prob_one_always_cuts() -> None:
    torch.manual_seed(9)
    mix = MixVideo(cutmix_prob=1.0, num_classes=NUM_CLASSES)
    x = float_video()
    for _ in range(5):
        out, mixed = mix(x, labels())
        assert mix.last_lambda == mix.cutmix.last_lambda
        inside = box_mask(mix.cutmix.last_box, H, W).expand_as(x)
        assert torch.equal(out[inside], x.flip(0)[inside]) and torch.equal(out[~inside], x[~inside])
        torch.testing.assert_close(mixed, expected_labels(labels(), mix.last_lambda))
    assert mix.mixup.last_lambda is None


def test_mixvideo_mixup_with_audio_returns_video_audio_labels() -> None:
    # PyTorchVideo passed x_audio positionally and unpacked (video, labels, audio).
    torch.manual_seed(10)
    x, audio = float_video(), torch.rand(B, 1, 6, 4)
    mix = MixVideo(cutmix_prob=0.0, num_classes=NUM_CLASSES)
    video_out, audio_out, mixed = mix(x, labels(), x_audio=audio)
    lam = mix.last_lambda
    assert torch.equal(video_out, lam * x + (1 - lam) * x.flip(0))
    assert torch.equal(audio_out, lam * audio + (1 - lam) * audio.flip(0))
    torch.testing.assert_close(mixed, expected_labels(labels(), lam))


def test_mixvideo_cutmix_with_audio_returns_video_audio_labels() -> None:
    torch.manual_seed(11)
    x, audio = float_video(), torch.rand(B, 1, 12, 8)
    mix = MixVideo(cutmix_prob=1.0, num_classes=NUM_CLASSES)
    video_out, audio_out, mixed = mix(x, labels(), x_audio=audio)
    assert video_out.shape == x.shape and audio_out.shape == audio.shape
    inside = box_mask(mix.cutmix.last_audio_box, 12, 8).expand_as(audio)
    assert torch.equal(audio_out[inside], audio.flip(0)[inside]) and torch.equal(audio_out[~inside], audio[~inside])
    torch.testing.assert_close(mixed, expected_labels(labels(), mix.last_lambda))


def test_mixvideo_passes_one_hot_to_cutmix() -> None:
    torch.manual_seed(12)
    mix = MixVideo(cutmix_prob=1.0, num_classes=NUM_CLASSES, one_hot=True)
    _, mixed = mix(float_video(), one_hot(labels()))
    torch.testing.assert_close(mixed, expected_labels(labels(), mix.last_lambda))


# ---------------------------------------------------------------- labels
@pytest.mark.parametrize("make", [MixUp, CutMix])
def test_label_smoothing_is_applied_before_mixing(make: type) -> None:
    torch.manual_seed(13)
    transform = make(num_classes=NUM_CLASSES, label_smoothing=0.2)
    _, mixed = transform(float_video(), labels())
    torch.testing.assert_close(mixed, expected_labels(labels(), transform.last_lambda, smoothing=0.2))
    torch.testing.assert_close(mixed.sum(1), torch.ones(B))


@pytest.mark.parametrize("make", [MixUp, CutMix])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_one_hot_labels_mix_like_class_indices(make: type, smoothing: float) -> None:
    results = []
    for is_one_hot, y in ((False, labels()), (True, one_hot(labels()))):
        torch.manual_seed(14)
        transform = make(num_classes=NUM_CLASSES, label_smoothing=smoothing, one_hot=is_one_hot)
        results.append(transform(float_video(), y))
    torch.testing.assert_close(results[0][1], results[1][1])
    assert torch.equal(results[0][0], results[1][0])


def test_integer_one_hot_labels_become_float_rows() -> None:
    mixup = MixUp(num_classes=NUM_CLASSES, one_hot=True)
    _, mixed = mixup(float_video(), one_hot(labels()).long())
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, expected_labels(labels(), mixup.last_lambda))


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "kwargs", "parameter"),
    [
        (MixUp, {"alpha": 0.0}, "alpha"),
        (MixUp, {"alpha": -1.0}, "alpha"),
        (CutMix, {"alpha": float("nan")}, "alpha"),
        (MixUp, {"num_classes": 0}, "num_classes"),
        (CutMix, {"num_classes": 2.5}, "num_classes"),
        (MixUp, {"label_smoothing": 1.0}, "label_smoothing"),
        (CutMix, {"label_smoothing": -0.1}, "label_smoothing"),
        (MixVideo, {"cutmix_prob": 1.5}, "cutmix_prob"),
        (MixVideo, {"cutmix_prob": -0.1}, "cutmix_prob"),
        (MixVideo, {"mixup_alpha": 0.0}, "mixup_alpha"),
        (MixVideo, {"cutmix_alpha": -2.0}, "cutmix_alpha"),
        (MixVideo, {"num_classes": 0}, "num_classes"),
        (MixVideo, {"label_smoothing": 1.0}, "label_smoothing"),
    ],
)
def test_bad_arguments_fail_at_construction(make: type, kwargs: dict, parameter: str) -> None:
    with pytest.raises(ConfigError, match=rf"{make.__name__}: {parameter}"):
        make(**kwargs)


@pytest.mark.parametrize(
    ("video", "y", "expected"),
    [
        (torch.rand(1, C, T, H, W), torch.tensor([0]), "at least 2 clips"),
        (torch.rand(C, T, H, W), labels(), r"\[B, C, T, H, W\]"),
        (torch.rand(B, C, H), labels(), r"\[B, C, T, H, W\]"),
        (torch.randint(0, 9, (B, C, T, H, W)), labels(), "uint8 or floating-point"),
        (float_video(), torch.tensor([0, 1, 2]), r"class indices \[4\]"),
        (float_video(), labels().float(), r"integer class indices \[4\]"),
        (float_video(), one_hot(labels()), "pass one_hot=True"),
        (float_video(), torch.tensor([0, 1, 2, NUM_CLASSES]), r"in \[0, 5\), got values from 0 to 5"),
        (float_video(), torch.tensor([0, -1, 2, 3]), r"in \[0, 5\), got values from -1 to 3"),
    ],
)
@pytest.mark.parametrize("make", [MixUp, CutMix, MixVideo])
def test_bad_batches_fail_at_call(make: type, video: torch.Tensor, y: torch.Tensor, expected: str) -> None:
    with pytest.raises(LayoutError, match=expected):
        make(num_classes=NUM_CLASSES)(video, y)


@pytest.mark.parametrize("make", [MixUp, CutMix])
def test_one_hot_labels_of_wrong_width_fail_at_call(make: type) -> None:
    with pytest.raises(LayoutError, match=r"one-hot labels \[4, 5\].*got tensor \[4, 4\]"):
        make(num_classes=NUM_CLASSES, one_hot=True)(float_video(), torch.eye(4))


@pytest.mark.parametrize(
    ("make", "audio"),
    [
        (MixUp, torch.rand(B - 1, 1, 6, 4)),
        (MixUp, torch.rand(B)),
        (CutMix, torch.rand(B, 6, 4)),
        (CutMix, torch.rand(B + 1, 1, 6, 4)),
        (CutMix, torch.randint(0, 9, (B, 1, 6, 4))),
    ],
)
def test_audio_that_does_not_pair_with_the_video_fails_at_call(make: type, audio: torch.Tensor) -> None:
    with pytest.raises(LayoutError, match="x_audio"):
        make(num_classes=NUM_CLASSES)(float_video(), labels(), x_audio=audio)


# ---------------------------------------------------------------- registry
def test_mix_transforms_are_built_from_config_specs() -> None:
    assert {"MixUp", "CutMix", "MixVideo"} <= set(TRANSFORMS.list())
    mix = build_transform({"name": "MixVideo", "args": {"cutmix_prob": 0.3, "num_classes": NUM_CLASSES}})
    assert isinstance(mix, MixVideo) and mix.cutmix_prob == 0.3


# ---------------------------------------------------------------- CUDA
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("make", [MixUp, CutMix, MixVideo])
@pytest.mark.parametrize("video", [float_video(), uint8_video()], ids=["float", "uint8"])
def test_cuda_batch_mixes_like_cpu_under_the_same_seed(make: type, video: torch.Tensor) -> None:
    audio = torch.rand(B, 1, 12, 8)
    outputs = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(15)
        transform = make(num_classes=NUM_CLASSES).to(device)
        result = transform(video.to(device), labels().to(device), x_audio=audio.to(device))
        outputs.append(([t.cpu() for t in result], transform.last_lambda))
    (cpu, lam_cpu), (cuda, lam_cuda) = outputs
    assert lam_cpu == lam_cuda
    for a, b in zip(cpu, cuda):
        if a.dtype == torch.uint8:
            assert (a.int() - b.int()).abs().max() <= 1  # float rounding may differ at .5
        else:
            torch.testing.assert_close(a, b)
