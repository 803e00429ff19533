"""Squeeze-and-excitation as an efficient block for mobile CPUs."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import torch
from torch import nn

from vidray.accelerator.efficient_blocks import EfficientBlockBase
from vidray.accelerator.mobile_cpu.conv_helper import _Reshape, _SkipConnectMul
from vidray.errors import ConfigError
from vidray.layers.squeeze_excitation import SqueezeExcitation as _SqueezeExcitationLayer


def _conv_as_linear(conv: nn.Module) -> nn.Linear:
    """The ``nn.Linear`` computing a 1x1(x1) convolution on ``[B, C]``."""
    linear = nn.Linear(conv.in_channels, conv.out_channels, bias=conv.bias is not None)
    state_dict = conv.state_dict()
    state_dict["weight"] = state_dict["weight"].flatten(1)
    linear.load_state_dict(state_dict)
    return linear


class SqueezeExcitation(EfficientBlockBase):
    """Squeeze-and-excitation (Hu et al., arXiv:1709.01507) with a mobile-CPU deployable form.

    Trains as :class:`vidray.layers.squeeze_excitation.SqueezeExcitation`
    (same arguments, kept as ``self.se``). QNNPACK runs its 1x1x1 Conv3ds
    poorly, so :meth:`convert` rewrites it as::

        x * reshape(sigmoid(fc(act(fc(reshape(avg_pool(x)))))))

    with ``nn.Linear`` layers on ``[B, C]``.

    Args:
        num_channels: input channels.
        num_channels_reduced: bottleneck channels (default ``num_channels // reduction_ratio``).
        reduction_ratio: used when ``num_channels_reduced`` is not given.
        is_3d: operate on ``[B, C, T, H, W]`` instead of ``[B, C, H, W]``.
        activation: the bottleneck's activation module (default ``nn.ReLU()``).
    """

    def __init__(
        self,
        num_channels: int,
        num_channels_reduced: int | None = None,
        reduction_ratio: float = 2.0,
        is_3d: bool = False,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.se = _SqueezeExcitationLayer(
            num_channels,
            num_channels_reduced=num_channels_reduced,
            reduction_ratio=reduction_ratio,
            is_3d=is_3d,
            activation=activation,
        )
        self.is_3d = is_3d
        self.convert_flag = False

    def convert(self, input_blob_size: tuple[int, ...], **kwargs: Any) -> None:
        """Replaces the convolutions with linear layers for inputs of ``input_blob_size``.

        Args:
            input_blob_size: ``[B, C, (T,) H, W]`` of the block's input.
            kwargs: unused target options.
        """
        if self.convert_flag:
            raise ConfigError("SqueezeExcitation: already converted, cannot be converted again")
        batch_size, channels = input_blob_size[0], input_blob_size[1]
        conv_reduce, activation, conv_expand, sigmoid = self.se.block
        gate = nn.Sequential(
            nn.AdaptiveAvgPool3d(1) if self.is_3d else nn.AdaptiveAvgPool2d(1),
            _Reshape((batch_size, channels)),
            _conv_as_linear(conv_reduce),
            deepcopy(activation),
            _conv_as_linear(conv_expand),
            deepcopy(sigmoid),
            _Reshape((batch_size, channels, 1, 1) + ((1,) if self.is_3d else ())),
        )
        self.se = _SkipConnectMul(gate)
        self.convert_flag = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(x)
