"""Efficient blocks: modules with a training form and a deployable form.

A block is built in its original form, the one to train. Once trained,
``block.convert(input_blob_size, **kwargs)`` rewrites it in place into its
deployable form for a target device (conv + norm fusion, 3D convolutions
unrolled into 2D ones, adaptive pools fixed to a kernel...), computing the same
function for inputs of that one size. Converting is one-way.

PyTorchVideo's ``accelerator.efficient_blocks`` (``EfficientBlockBase``,
``NoOpConvertBlock``), in one module.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any

import torch
from torch import nn


class EfficientBlockBase(nn.Module, metaclass=ABCMeta):
    """Base of every efficient block: an ``nn.Module`` whose :meth:`convert` makes it deployable.

    Subclasses implement ``forward`` and ``convert``; a converted block records
    it in ``convert_flag`` where converting twice would be wrong.
    """

    @abstractmethod
    def convert(self, input_blob_size: tuple[int, ...], **kwargs: Any) -> None:
        """Rewrites the block in place into its deployable form.

        Args:
            input_blob_size: the shape of the block's input in the deployed
                model (``[B, C, T, H, W]`` for video blocks); the converted
                block only accepts inputs of this shape.
            kwargs: target options, e.g. ``convert_for_quantize`` and
                ``native_conv3d_op_qnnpack``; blocks ignore the ones they do not use.
        """


class NoOpConvertBlock(EfficientBlockBase):
    """Wraps a module that is already deployable as an efficient block whose :meth:`convert` changes nothing.

    Args:
        model: the wrapped module (kept as ``self.model``).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def convert(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to do: the wrapped module is its own deployable form."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
