"""create_video_transform: PyTorchVideo's pipelines, its arguments, and migrated user code."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import Compose, Lambda, RandomCrop, RandomHorizontalFlip

from vidray.errors import ConfigError
from vidray.transforms import (
    ApplyTransformToKey,
    Normalize,
    RandomShortSideScale,
    RemoveKey,
    ShortSideScale,
    UniformTemporalSubsample,
    create_video_transform,
)

MEAN, STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)


def clip(t: int = 16, h: int = 64, w: int = 80) -> torch.Tensor:
    return torch.randint(0, 256, (3, t, h, w), dtype=torch.uint8)


@pytest.mark.parametrize("aug_type", ["default", "randaug", "augmix"])
def test_train_pipeline_gives_normalised_float_crops(aug_type: str) -> None:
    transform = create_video_transform("train", num_samples=4, min_size=48, max_size=60, crop_size=40, aug_type=aug_type)
    out = transform(clip())
    assert out.shape == (3, 4, 40, 40) and out.dtype == torch.float32
    gray = torch.full((3, 8, 64, 80), round(0.45 * 255), dtype=torch.uint8)
    plain = create_video_transform("train", num_samples=4, min_size=48, max_size=60, crop_size=40)
    assert plain(gray).abs().max() < 0.01  # the mean pixel normalises to ~0


def test_val_pipeline_matches_pytorchvideo_order_within_uint8_rounding() -> None:
    video = clip(t=8, h=60, w=97)  # scaled to 48x77: the centre crop offset 18.5 tests the rounding
    ours = create_video_transform("val", num_samples=8, min_size=48, crop_size=40)(video)
    # PyTorchVideo: to float, normalise the full frame, scale (floor), torchvision's centre crop (rounded).
    x = (video.float() / 255 - 0.45) / 0.225
    h, w = 48, math.floor(97 / 60 * 48)
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    top, left = round((h - 40) / 2), round((w - 40) / 2)
    reference = x[..., top : top + 40, left : left + 40]
    assert (ours - reference).abs().max() <= 0.5 / 255 / 0.225 + 1e-4


def test_train_pipeline_repeats_under_a_seed() -> None:
    transform = create_video_transform("train", num_samples=4, min_size=48, max_size=60, crop_size=40, aug_type="randaug")
    video = clip()
    torch.manual_seed(11)
    first = transform(video)
    torch.manual_seed(11)
    assert torch.equal(transform(video), first)


def test_flip_also_follows_random_resized_crop() -> None:
    video = torch.zeros(3, 4, 60, 80, dtype=torch.uint8)
    video[..., :, 40:] = 255  # right half bright
    whole_frame = {"scale": (1.0, 1.0), "aspect_ratio": (80 / 60, 80 / 60)}
    transform = create_video_transform(
        "train", num_samples=None, min_size=60, crop_size=60, horizontal_flip_prob=1.0,
        random_resized_crop_paras=whole_frame,
    )  # fmt: skip
    out = transform(video)
    assert out[..., :, :20].mean() > out[..., :, 40:].mean()  # mirrored: bright on the left now


def test_dict_input_transforms_the_video_key_and_removes_keys() -> None:
    transform = create_video_transform("val", video_key="video", remove_key=["audio"], min_size=48, crop_size=40)
    sample = transform({"video": clip(), "audio": torch.zeros(100), "label": 3})
    assert sample["video"].shape == (3, 8, 40, 40) and "audio" not in sample and sample["label"] == 3


def test_a_batch_on_the_device_gets_per_clip_crops() -> None:
    transform = create_video_transform("train", num_samples=4, min_size=48, max_size=60, crop_size=40)
    batch = clip().unsqueeze(0).repeat(6, 1, 1, 1, 1)
    torch.manual_seed(0)
    out = transform(batch)
    assert out.shape == (6, 3, 4, 40, 40)
    assert len({round(c.sum().item(), 2) for c in out}) > 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "test"}, "mode must be"),
        ({"mode": "train", "crop_size": 300}, "larger than min_size"),
        ({"mode": "train", "remove_key": ["audio"]}, "remove_key needs video_key"),
        ({"mode": "train", "aug_paras": {"magnitude": 3}}, "aug_paras is only used"),
        ({"mode": "train", "aug_type": "cutout"}, "aug_type must be"),
        ({"mode": "train", "aug_type": "randaug", "aug_paras": {"strength": 3}}, "unknown randaug parameters"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_video_transform(**kwargs)


def test_pytorchvideo_tutorial_code_runs_with_the_new_prefix(synthetic_dataset) -> None:
    from vidray.data import Kinetics, make_clip_sampler

    # PyTorchVideo's Lightning tutorial, with "pytorchvideo" replaced by "vidray".
    train_transform = Compose(
        [
            ApplyTransformToKey(
                key="video",
                transform=Compose(
                    [
                        UniformTemporalSubsample(8),
                        Lambda(lambda x: x / 255.0),
                        Normalize(MEAN, STD),
                        RandomShortSideScale(min_size=40, max_size=48),
                        RandomCrop(32),
                        RandomHorizontalFlip(p=0.5),
                    ]
                ),
            ),
            RemoveKey("audio"),
        ]
    )
    dataset = Kinetics(
        data_path=synthetic_dataset.csv["train"],
        video_path_prefix=synthetic_dataset.video_dir["train"],
        clip_sampler=make_clip_sampler("random", 1.0),
        transform=train_transform,
    )
    sample = next(iter(dataset))
    assert sample["video"].shape == (3, 8, 32, 32) and sample["video"].dtype == torch.float32
    assert "audio" not in sample
    val = ApplyTransformToKey("video", Compose([UniformTemporalSubsample(8), ShortSideScale(40)]))
    assert val({"video": sample["video"]})["video"].shape[-2] == 40


def test_pipelines_pickle_for_spawned_workers() -> None:
    import pickle

    transform = create_video_transform("train", video_key="video", min_size=48, max_size=60, crop_size=40, aug_type="augmix")
    restored = pickle.loads(pickle.dumps(transform))
    video = clip()
    torch.manual_seed(3)
    first = transform({"video": video})["video"]
    torch.manual_seed(3)
    assert torch.equal(restored({"video": video})["video"], first)


def test_data_loader_workers_augment_reproducibly_under_the_global_seed(synthetic_dataset) -> None:
    from torch.utils.data import DataLoader

    from vidray.data import Kinetics, make_clip_sampler

    transform = create_video_transform("train", video_key="video", remove_key=["audio"], num_samples=4,
                                       min_size=40, max_size=64, crop_size=32)  # fmt: skip

    def epoch(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)  # DataLoader derives each worker's torch seed from the global generator
        dataset = Kinetics(
            data_path=synthetic_dataset.csv["train"],
            video_path_prefix=synthetic_dataset.video_dir["train"],
            clip_sampler=make_clip_sampler("uniform", 1.0),
            transform=transform,
            frames_per_clip=4,
            seed=0,
        )
        loader = DataLoader(dataset, batch_size=4, num_workers=2)
        return torch.cat([batch["video"] for batch in loader])

    first = epoch(0)
    assert torch.equal(epoch(0), first)  # same clips (dataset seed), same crops (torch seed), 2 workers
    assert not torch.equal(epoch(1), first)  # same clips, other crops
