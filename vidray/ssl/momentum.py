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
