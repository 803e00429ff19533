"""Boxes move with the pixels: flips, crops and scales; boxes that leave the frame are dropped."""

from __future__ import annotations

import pytest
import torch

from vidray.errors import ConfigError, LayoutError
from vidray.transforms import functional as VF
from vidray.transforms.boxes import ApplyTransformToVideoAndBoxes
from vidray.transforms.transforms import (
    CenterCrop,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomShortSideScale,
    RandomShortSideScaleCrop,
    ShortSideScale,
    UniformTemporalSubsample,
)

H, W = 60, 80


def painted_clip(box: tuple[int, int, int, int]) -> torch.Tensor:
    """A dark clip with the pixel box ``x1, y1, x2, y2`` painted white on every frame."""
    clip = torch.zeros(3, 4, H, W)
    x1, y1, x2, y2 = box
    clip[..., y1:y2, x1:x2] = 1.0
    return clip


def painted_extent(clip: torch.Tensor) -> tuple[float, float, float, float] | None:
    """``x1, y1, x2, y2`` of the region brighter than half, in continuous pixel coordinates."""
    mask = clip[0, 0] > 0.5
    if not mask.any():
        return None
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1


PIPELINES = {
    "flip": lambda: [RandomHorizontalFlip(1.0)],
    "scale_crop_flip": lambda: [RandomShortSideScale(60, 90), RandomCrop(48), RandomHorizontalFlip(0.5)],
    "fused_scale_crop": lambda: [RandomShortSideScaleCrop(60, 90, 48), RandomHorizontalFlip(0.5)],
    "fused_scale_crop_flip": lambda: [RandomShortSideScaleCrop(60, 90, 48, horizontal_flip_prob=0.5)],
    "resized_crop_flip": lambda: [RandomResizedCrop(40, 40, scale=(0.3, 1.0), horizontal_flip_prob=0.5)],
    "resized_crop": lambda: [RandomResizedCrop(40, 40, scale=(0.3, 1.0))],
    "val": lambda: [ShortSideScale(48), CenterCrop(48)],
}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_boxes_follow_the_painted_pixels(name: str) -> None:
    box = (20, 15, 44, 40)
    clip = painted_clip(box)
    normalized = torch.tensor([[box[0] / W, box[1] / H, box[2] / W, box[3] / H]])
    for seed in range(12):
        torch.manual_seed(seed)
        sample = {"video": clip.clone(), "boxes": normalized.clone(), "labels": [[3]]}
        out = ApplyTransformToVideoAndBoxes(PIPELINES[name]())(sample)
        extent = painted_extent(out["video"])
        if extent is None:  # the box was cropped away entirely
            assert out["boxes"].shape == (0, 4) and out["labels"] == []
            continue
        h, w = out["video"].shape[-2:]
        moved = out["boxes"][0] * torch.tensor([w, h, w, h])
        assert torch.allclose(moved, torch.tensor(extent, dtype=torch.float32), atol=2.0), (seed, moved, extent)
        assert out["labels"] == [[3]]


def test_flip_maps_x_to_width_minus_x() -> None:
    clip = painted_clip((10, 10, 30, 20))
    video, boxes = RandomHorizontalFlip(1.0)(clip, torch.tensor([[10.0, 10.0, 30.0, 20.0]]))
    assert boxes.tolist() == [[W - 30.0, 10.0, W - 10.0, 20.0]]
    assert painted_extent(video) == (W - 30, 10, W - 10, 20)


def test_boxes_leaving_the_frame_are_dropped_with_their_labels() -> None:
    clip = torch.rand(3, 2, H, W)
    sample = {
        "video": clip,
        "boxes": torch.tensor([[0.0, 0.0, 0.1, 0.1], [0.4, 0.4, 0.6, 0.6], [0.95, 0.9, 1.0, 1.0]]),
        "labels": [[1], [2], [3]],
        "multi_hot_labels": torch.eye(3),
        "extra_info": [[7], [8], [9]],
    }
    out = ApplyTransformToVideoAndBoxes([CenterCrop(40)])(sample)
    assert out["labels"] == [[2]] and out["extra_info"] == [[8]]
    assert torch.equal(out["multi_hot_labels"], torch.eye(3)[1:2])
    assert out["boxes"].shape == (1, 4)
    assert ((out["boxes"] >= 0) & (out["boxes"] <= 1)).all()


def test_boxes_straddling_the_edge_are_clamped_not_dropped() -> None:
    sample = {"video": torch.rand(3, 2, H, W), "boxes": torch.tensor([[0.0, 0.25, 0.5, 0.75]]), "labels": [[1]]}
    out = ApplyTransformToVideoAndBoxes([CenterCrop(40)], normalized=True)(sample)
    x1, y1, x2, y2 = (out["boxes"][0] * 40).tolist()
    assert x1 == 0.0 and x2 == pytest.approx(40 - 20)  # the crop starts at x=20; the box ended at x=40
    assert (y1, y2) == (pytest.approx(5.0), pytest.approx(35.0))


def test_pixel_boxes_stay_in_pixels() -> None:
    sample = {"video": torch.rand(3, 2, H, W), "boxes": torch.tensor([[20.0, 10.0, 40.0, 30.0]])}
    out = ApplyTransformToVideoAndBoxes([ShortSideScale(30)], normalized=False, aligned_keys=())(sample)
    assert out["boxes"].tolist() == [[10.0, 5.0, 20.0, 15.0]]


def test_non_geometric_steps_pass_boxes_through() -> None:
    sample = {"video": torch.rand(3, 8, H, W), "boxes": torch.tensor([[0.1, 0.1, 0.5, 0.5]]), "labels": [[1]]}
    steps = [UniformTemporalSubsample(4), Normalize((0.5,) * 3, (0.2,) * 3)]
    out = ApplyTransformToVideoAndBoxes(steps)(sample)
    assert torch.allclose(out["boxes"], torch.tensor([[0.1, 0.1, 0.5, 0.5]]))
    assert out["video"].shape[1] == 4


def test_a_callable_that_cannot_move_boxes_is_refused_at_construction() -> None:
    with pytest.raises(ConfigError, match="cannot move boxes"):
        ApplyTransformToVideoAndBoxes([lambda v: v.flip(-1)])


def test_shifting_crop_refuses_boxes() -> None:
    sample = {"video": torch.rand(3, 4, H, W), "boxes": torch.tensor([[0.1, 0.1, 0.5, 0.5]])}
    with pytest.raises(LayoutError, match="boxes cannot follow"):
        ApplyTransformToVideoAndBoxes([RandomResizedCrop(32, 32, shift=True)], aligned_keys=())(sample)


def test_bad_boxes_and_misaligned_entries_are_clear_errors() -> None:
    video = torch.rand(3, 2, H, W)
    with pytest.raises(LayoutError, match=r"expected boxes \[N, 4\]"):
        ApplyTransformToVideoAndBoxes([CenterCrop(40)])({"video": video, "boxes": torch.rand(2, 5)})
    with pytest.raises(LayoutError, match="'labels' has 1 entries for 2 boxes"):
        ApplyTransformToVideoAndBoxes([CenterCrop(40)])({"video": video, "boxes": torch.rand(2, 4), "labels": [[1]]})


# PyTorchVideo's functional names ------------------------------------------------------------
def test_random_crop_with_boxes_always_returns_images_and_boxes() -> None:
    clip = torch.rand(3, 2, 32, 32)
    boxes = torch.tensor([[4.0, 4.0, 12.0, 12.0]])
    images, moved = VF.random_crop_with_boxes(clip, 32, boxes)  # PyTorchVideo returned images alone here
    assert torch.equal(images, clip) and torch.equal(moved, boxes)


def test_functional_box_ops_move_boxes_like_the_pixels() -> None:
    clip = painted_clip((20, 15, 44, 40))
    boxes = torch.tensor([[20.0, 15.0, 44.0, 40.0]])
    for spatial_idx in range(3):
        images, moved = VF.uniform_crop_with_boxes(clip, 50, spatial_idx, boxes)
        assert torch.allclose(moved[0], torch.tensor(painted_extent(images), dtype=torch.float32))
    images, moved = VF.short_side_scale_with_boxes(clip, boxes, 30)
    assert torch.allclose(moved, boxes / 2)
    images, moved = VF.horizontal_flip_with_boxes(1.0, clip, boxes)
    assert moved.tolist() == [[W - 44.0, 15.0, W - 20.0, 40.0]]
    clipped = VF.clip_boxes_to_image(torch.tensor([[-5.0, 2.0, 90.0, 70.0]]), H, W)
    assert clipped.tolist() == [[0.0, 2.0, 80.0, 60.0]]
