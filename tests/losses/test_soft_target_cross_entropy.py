"""SoftTargetCrossEntropyLoss against torch's cross entropy, and the losses registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.losses import LOSSES, SoftTargetCrossEntropyLoss

N, C = 6, 5


def logits(seed: int = 0) -> torch.Tensor:
    return torch.randn(N, C, generator=torch.Generator().manual_seed(seed))


def indices() -> torch.Tensor:
    return torch.tensor([0, 4, 2, 2, 1, 3])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_one_hot_targets_match_cross_entropy(reduction: str) -> None:
    x, y = logits(), indices()
    loss = SoftTargetCrossEntropyLoss(reduction=reduction)(x, F.one_hot(y, C).float())
    torch.testing.assert_close(loss, F.cross_entropy(x, y, reduction=reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_class_index_targets_match_cross_entropy(reduction: str) -> None:
    x, y = logits(), indices()
    loss = SoftTargetCrossEntropyLoss(reduction=reduction)(x, y)
    torch.testing.assert_close(loss, F.cross_entropy(x, y, reduction=reduction))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ignore_index_in_class_indices_matches_cross_entropy(reduction: str) -> None:
    x, y = logits(), torch.tensor([0, -100, 2, -100, 1, 3])
    loss = SoftTargetCrossEntropyLoss(reduction=reduction)(x, y)
    torch.testing.assert_close(loss, F.cross_entropy(x, y, reduction=reduction))


def test_ignore_index_class_drops_samples_with_mass_on_it() -> None:
    x = logits()
    target = torch.full((N, C), 0.1)
    target[:, 0] = torch.tensor([0.6, 0.0, 0.0, 0.2, 0.0, 0.0])  # samples 0 and 3 touch class 0
    target = target / target.sum(1, keepdim=True)
    per_sample = SoftTargetCrossEntropyLoss(ignore_index=0, reduction="none")(x, target)
    expected = -(target * F.log_softmax(x, -1)).sum(1)
    kept = torch.tensor([False, True, True, False, True, True])
    torch.testing.assert_close(per_sample[kept], expected[kept])
    assert torch.equal(per_sample[~kept], torch.zeros(2))
    mean = SoftTargetCrossEntropyLoss(ignore_index=0)(x, target)
    torch.testing.assert_close(mean, expected[kept].mean())


def test_mean_of_all_ignored_samples_is_zero() -> None:
    loss = SoftTargetCrossEntropyLoss()(logits(), torch.full((N,), -100))
    assert loss.item() == 0.0


def test_normalize_targets_spreads_multi_hot_rows_evenly() -> None:
    x = logits()
    multi_hot = torch.zeros(N, C)
    multi_hot[:, 1] = 1
    multi_hot[:, 3] = 1
    by_class = [F.cross_entropy(x, torch.full((N,), k), reduction="none") for k in (1, 3)]
    normalized = SoftTargetCrossEntropyLoss(reduction="none")(x, multi_hot)
    torch.testing.assert_close(normalized, (by_class[0] + by_class[1]) / 2)
    summed = SoftTargetCrossEntropyLoss(reduction="none", normalize_targets=False)(x, multi_hot)
    torch.testing.assert_close(summed, by_class[0] + by_class[1])


def test_zero_target_rows_give_zero_loss_and_still_count_in_the_mean() -> None:
    x, target = logits(), F.one_hot(indices(), C).float()
    target[2] = 0
    per_sample = SoftTargetCrossEntropyLoss(reduction="none")(x, target)
    assert per_sample[2].item() == 0.0
    torch.testing.assert_close(SoftTargetCrossEntropyLoss()(x, target), per_sample.sum() / N)


def test_mixed_labels_give_the_lambda_weighted_cross_entropies() -> None:
    x, y, lam = logits(), indices(), 0.3
    target = lam * F.one_hot(y, C).float() + (1 - lam) * F.one_hot(y.flip(0), C).float()
    loss = SoftTargetCrossEntropyLoss()(x, target)
    expected = lam * F.cross_entropy(x, y) + (1 - lam) * F.cross_entropy(x, y.flip(0))
    torch.testing.assert_close(loss, expected)


def test_gradient_is_softmax_minus_target_over_batch() -> None:
    x = logits().requires_grad_()
    target = torch.softmax(logits(1), -1)
    SoftTargetCrossEntropyLoss()(x, target).backward()
    torch.testing.assert_close(x.grad, (torch.softmax(x.detach(), -1) - target) / N)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"reduction": "max"}, "reduction must be one of"),
        ({"normalize_targets": 1}, "normalize_targets must be a bool"),
        ({"ignore_index": 1.5}, "ignore_index must be an int"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=f"SoftTargetCrossEntropyLoss: {expected}"):
        SoftTargetCrossEntropyLoss(**kwargs)


@pytest.mark.parametrize(
    ("x", "target", "expected"),
    [
        (torch.randn(N), indices(), r"logits \[N, C\]"),
        (torch.randint(0, 3, (N, C)), indices(), r"float logits \[N, C\]"),
        (logits(), torch.rand(N, C + 1), r"targets \[6, 5\] or class indices \[6\].*got tensor \[6, 6\]"),
        (logits(), indices()[:4], r"class indices \[6\].*got tensor \[4\]"),
        (logits(), torch.tensor([0, 1, 2, 3, 4, 5]), r"in \[0, 5\) or ignore_index \(-100\), got values from 0 to 5"),
        (logits(), indices().float(), "must be integer class indices"),
    ],
)
def test_bad_shapes_fail_at_call(x: torch.Tensor, target: torch.Tensor, expected: str) -> None:
    with pytest.raises(LayoutError, match=expected):
        SoftTargetCrossEntropyLoss()(x, target)


def test_losses_registry_builds_soft_target_and_torch_losses() -> None:
    assert isinstance(LOSSES.build("SoftTargetCrossEntropyLoss", reduction="sum"), SoftTargetCrossEntropyLoss)
    assert isinstance(LOSSES.build("CrossEntropyLoss", label_smoothing=0.1), nn.CrossEntropyLoss)
    assert isinstance(LOSSES.build("BCEWithLogitsLoss"), nn.BCEWithLogitsLoss)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("target", [indices(), torch.softmax(logits(1), -1)], ids=["indices", "soft"])
def test_cuda_loss_equals_cpu_loss(target: torch.Tensor) -> None:
    loss = SoftTargetCrossEntropyLoss()
    torch.testing.assert_close(loss(logits().cuda(), target.cuda()).cpu(), loss(logits(), target))
