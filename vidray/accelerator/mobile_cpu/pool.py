"""Adaptive average pools as efficient blocks for mobile CPUs.

Global pools (output size 1) convert to a plain average pool whose kernel is
the input size, which mobile CPUs run faster than an adaptive pool; other
output sizes stay adaptive.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vidray.accelerator.efficient_blocks import EfficientBlockBase, NoOpConvertBlock
from vidray.errors import ConfigError


class _GlobalAvgPool(EfficientBlockBase):
    """An adaptive average pool to size 1 that converts to a fixed-kernel average pool."""

    _adaptive: type[nn.Module]
    _fixed: type[nn.Module]

    def __init__(self) -> None:
        super().__init__()
        self.pool = self._adaptive(1)
        self.convert_flag = False

    def convert(self, input_blob_size: tuple[int, ...], **kwargs: Any) -> None:
        """Replaces the adaptive pool with an average pool over the whole of ``input_blob_size[2:]``.

        Args:
            input_blob_size: ``[B, C, ...]`` of the block's input.
            kwargs: unused target options.
        """
        if self.convert_flag:
            raise ConfigError(f"{type(self).__name__}: already converted, cannot be converted again")
        self.pool = self._fixed(tuple(input_blob_size[2:]))
        self.convert_flag = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class AdaptiveAvgPool3dOutSize1(_GlobalAvgPool):
    """``AdaptiveAvgPool3d(1)``; converts to ``AvgPool3d`` with the input's ``(T, H, W)`` as kernel."""

    _adaptive = nn.AdaptiveAvgPool3d
    _fixed = nn.AvgPool3d


class AdaptiveAvgPool2dOutSize1(_GlobalAvgPool):
    """``AdaptiveAvgPool2d(1)``; converts to ``AvgPool2d`` with the input's ``(H, W)`` as kernel."""

    _adaptive = nn.AdaptiveAvgPool2d
    _fixed = nn.AvgPool2d


class AdaptiveAvgPool3d(NoOpConvertBlock):
    """``AdaptiveAvgPool3d`` of any output size (QNNPACK runs it reasonably), unchanged by ``convert()``.

    For output size 1 use :class:`AdaptiveAvgPool3dOutSize1`, which converts to a faster pool.

    Args:
        output_size: the output ``(T, H, W)``, or one int for all three.
    """

    def __init__(self, output_size: int | tuple[int, int, int]) -> None:
        super().__init__(model=nn.AdaptiveAvgPool3d(output_size))


class AdaptiveAvgPool2d(NoOpConvertBlock):
    """``AdaptiveAvgPool2d`` of any output size (QNNPACK runs it reasonably), unchanged by ``convert()``.

    For output size 1 use :class:`AdaptiveAvgPool2dOutSize1`, which converts to a faster pool.

    Args:
        output_size: the output ``(H, W)``, or one int for both.
    """

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        super().__init__(model=nn.AdaptiveAvgPool2d(output_size))
