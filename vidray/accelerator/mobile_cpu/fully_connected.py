"""Fully connected layer as an efficient block (QNNPACK runs ``nn.Linear`` natively)."""

from __future__ import annotations

from torch import nn

from vidray.accelerator.efficient_blocks import NoOpConvertBlock


class FullyConnected(NoOpConvertBlock):
    """``nn.Linear`` (kept as ``self.model``), unchanged by ``convert()``.

    Args:
        in_features: input features.
        out_features: output features.
        bias: add a bias.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(model=nn.Linear(in_features, out_features, bias=bias))
