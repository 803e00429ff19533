"""Momentum (EMA) targets: MoCo's key encoder and BYOL's target network."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen copy of ``module`` that :func:`momentum_update` moves towards it."""
    target = copy.deepcopy(module)
    for parameter in target.parameters():
        parameter.requires_grad = False
    return target


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, momentum: float) -> None:
    """``target <- momentum * target + (1 - momentum) * online``, parameter by parameter.

    Buffers (batch-norm statistics) are not averaged: the target keeps the
    statistics of its own forward passes, as in MoCo and BYOL.
    """
    targets = [t for t in target.parameters()]
    onlines = [o.detach() for o in online.parameters()]
    if len(targets) != len(onlines):
        raise ValueError(f"momentum_update: {len(onlines)} online parameters, but the target has {len(targets)}")
    torch._foreach_lerp_(targets, onlines, 1.0 - momentum)


def cosine_momentum(base: float, progress: float) -> float:
    """BYOL's schedule: ``base`` at the start of training, 1 at the end (``progress`` in [0, 1])."""
    progress = min(max(progress, 0.0), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0


class MomentumMethod(nn.Module):
    """Base of methods with an online ``backbone`` and a momentum copy ``backbone_mmt`` (MoCo, BYOL)."""

    def __init__(self, backbone: nn.Module, mmt: float) -> None:
        super().__init__()
        self.backbone, self.backbone_mmt, self.mmt = backbone, momentum_copy(backbone), mmt

    def update_mmt(self, mmt: float) -> None:
        """Sets the momentum (for schedules such as :func:`cosine_momentum`)."""
        self.mmt = mmt

    def get_mmt(self) -> float:
        return self.mmt

    def momentum_update(self) -> None:
        """Moves the momentum copy towards the online backbone; once per optimizer step."""
        momentum_update(self.backbone, self.backbone_mmt, self.mmt)
