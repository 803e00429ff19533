"""Stochastic depth (Huang et al., 2016): drops a residual branch for whole samples while training."""

from __future__ import annotations

import torch
from torch import nn

from vidray.errors import ConfigError


def _check_drop_prob(drop_prob: float, who: str) -> None:
    if not 0.0 <= drop_prob < 1.0:
        raise ConfigError(f"{who}: drop_prob must be in [0, 1), got {drop_prob}")


def drop_path(x: torch.Tensor, drop_prob: float = 0.0, training: bool = False) -> torch.Tensor:
    """Zeroes each sample of ``x`` (dim 0) with probability ``drop_prob`` and rescales the kept ones.

    The kept samples are divided by ``1 - drop_prob`` so the expected value is
    unchanged and evaluation (``training=False``, the identity) needs no rescaling.
    """
    _check_drop_prob(drop_prob, "drop_path")
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)  # one draw per sample, broadcast over the rest
    mask = keep_prob + torch.rand(shape, dtype=x.dtype, device=x.device)
    mask.floor_()
    return x.div(keep_prob) * mask


class DropPath(nn.Module):
    """:func:`drop_path` as a module: active in ``train()`` mode, the identity in ``eval()``."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        _check_drop_prob(drop_prob, "DropPath")
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"
