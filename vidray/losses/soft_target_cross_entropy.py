"""Cross entropy against soft targets: the loss for MixUp/CutMix labels and multi-label clips."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.losses import LOSSES
from vidray.transforms.base import describe

_REDUCTIONS = ("mean", "sum", "none")


@LOSSES.register()
class SoftTargetCrossEntropyLoss(nn.Module):
    """``-sum(target * log_softmax(input))`` per sample, for targets that are distributions over classes.

    Targets are ``[N, C]`` rows (soft, multi-hot, or mixed labels) or ``[N]``
    class indices. A sample is ignored (loss 0, not counted by ``"mean"``) when
    its index target equals ``ignore_index``, or, for ``[N, C]`` targets, when
    ``ignore_index`` is a class and the sample's target for it is positive.
    ``"mean"`` divides by the number of samples not ignored, so for one-hot
    targets the loss equals ``F.cross_entropy``.

    Differs from PyTorchVideo 0.1.5, whose ``ignore_index`` raised
    ``AttributeError`` for ``[N, C]`` targets (it read ``self.ignore_idx``) and
    whose ``[N]`` targets could not hold ``ignore_index``; ``"sum"`` is added;
    a zero row is normalized to zero, and a one-hot row exactly to itself.

    Args:
        ignore_index: the index target (or class) whose samples do not contribute.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (a loss per sample).
        normalize_targets: rescale each target row to sum to 1 (multi-hot rows
            become uniform over their positive classes).
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean", normalize_targets: bool = True) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ConfigError(f"SoftTargetCrossEntropyLoss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        if not isinstance(normalize_targets, bool):
            raise ConfigError(
                f"SoftTargetCrossEntropyLoss: normalize_targets must be a bool, got {normalize_targets!r}"
            )
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise ConfigError(f"SoftTargetCrossEntropyLoss: ignore_index must be an int, got {ignore_index!r}")
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.normalize_targets = normalize_targets

    def extra_repr(self) -> str:
        return (
            f"ignore_index={self.ignore_index}, reduction={self.reduction!r}, "
            f"normalize_targets={self.normalize_targets}"
        )

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``input``: logits ``[N, C]``; ``target``: ``[N, C]`` soft targets or ``[N]`` class indices."""
        if not isinstance(input, torch.Tensor) or input.dim() != 2 or not input.is_floating_point():
            raise LayoutError(f"SoftTargetCrossEntropyLoss: expected float logits [N, C], got {describe(input)}")
        n, c = input.shape
        log_probs = F.log_softmax(input, dim=-1)
        dense, valid = self._dense_targets(target, n, c)
        dense = dense.to(log_probs.dtype) * valid.unsqueeze(1)
        if self.normalize_targets:
            # clamp rather than PyTorchVideo's "+ eps": exact for one-hot rows, still 0 for zero rows
            dense = dense / dense.sum(dim=1, keepdim=True).clamp_min(torch.finfo(dense.dtype).eps)
        per_sample = -(dense * log_probs).sum(dim=-1)
        if self.reduction == "none":
            return per_sample
        if self.reduction == "sum":
            return per_sample.sum()
        return per_sample.sum() / valid.sum().clamp_min(1)

    def _dense_targets(self, target: object, n: int, c: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, C]`` targets and the ``[N]`` mask of samples that count."""
        if isinstance(target, torch.Tensor) and target.dim() == 1 and target.shape[0] == n:
            if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
                raise LayoutError(
                    f"SoftTargetCrossEntropyLoss: [N] targets must be integer class indices, got {describe(target)}"
                )
            valid = target != self.ignore_index
            kept = target[valid]
            if kept.numel() and (int(kept.min()) < 0 or int(kept.max()) >= c):
                raise LayoutError(
                    f"SoftTargetCrossEntropyLoss: class indices must be in [0, {c}) or ignore_index "
                    f"({self.ignore_index}), got values from {int(kept.min())} to {int(kept.max())}"
                )
            dense = F.one_hot(torch.where(valid, target, 0).long(), c)
            return dense, valid
        if isinstance(target, torch.Tensor) and tuple(target.shape) == (n, c):
            if 0 <= self.ignore_index < c:
                valid = target[:, self.ignore_index] <= 0
            else:
                valid = torch.ones(n, dtype=torch.bool, device=target.device)
            return target, valid
        raise LayoutError(
            f"SoftTargetCrossEntropyLoss: expected targets [{n}, {c}] or class indices [{n}] "
            f"for logits [{n}, {c}], got {describe(target)}"
        )
