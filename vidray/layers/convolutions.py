"""Convolution variants: parallel convolutions reduced to one output, and (2+1)D factorised convolutions."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn.common_types import _size_3_t

from vidray.errors import ConfigError
from vidray.layers.utils import set_attributes


class ConvReduce3D(nn.Module):
    """Several ``Conv3d`` on the same input, their outputs summed or concatenated.

    ::

                            Conv3d, Conv3d, ...,  Conv3d
                                           ↓
                                          Sum

    The acoustic ResNet stem uses it to run a temporal and a frequency
    convolution side by side. Every per-convolution argument is a sequence with
    one entry per convolution (``None`` entries keep ``Conv3d``'s default).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        out_channels: int,
        kernel_size: Sequence[_size_3_t],
        stride: Sequence[_size_3_t | None] | None = None,
        padding: Sequence[_size_3_t | None] | None = None,
        padding_mode: Sequence[str | None] | None = None,
        dilation: Sequence[_size_3_t | None] | None = None,
        groups: Sequence[int | None] | None = None,
        bias: Sequence[bool | None] | None = None,
        reduction_method: str = "sum",
    ) -> None:
        """
        Args:
            in_channels: input channels of every convolution.
            out_channels: output channels of every convolution.
            kernel_size: one kernel size per convolution (their count sets the number of convolutions).
            stride, padding, padding_mode, dilation, groups, bias: one entry per convolution.
            reduction_method: ``"sum"`` (outputs added) or ``"cat"`` (concatenated along channels).
        """
        super().__init__()
        if reduction_method not in ("sum", "cat"):
            raise ConfigError(f"ConvReduce3D: reduction_method must be 'sum' or 'cat', got {reduction_method!r}")
        self.reduction_method = reduction_method
        optional = {
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": groups,
            "bias": bias,
            "padding_mode": padding_mode,
        }
        convs = []
        for ind, size in enumerate(kernel_size):
            conv_param = {"in_channels": in_channels, "out_channels": out_channels, "kernel_size": size}
            for name, values in optional.items():
                if values is not None and values[ind] is not None:
                    conv_param[name] = values[ind]
            convs.append(nn.Conv3d(**conv_param))
        self.convs = nn.ModuleList(convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [conv(x) for conv in self.convs]
        if self.reduction_method == "sum":
            return torch.stack(outputs, dim=0).sum(dim=0)
        return torch.cat(outputs, dim=1)


def create_conv_2plus1d(
    *,
    # Conv configs.
    in_channels: int,
    out_channels: int,
    inner_channels: int | None = None,
    conv_xy_first: bool = False,
    kernel_size: tuple[int, int, int] = (3, 3, 3),
    stride: tuple[int, int, int] = (2, 2, 2),
    padding: tuple[int, int, int] = (1, 1, 1),
    bias: bool = False,
    dilation: tuple[int, int, int] = (1, 1, 1),
    groups: int = 1,
    # BN configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
) -> nn.Module:
    """Builds a :class:`Conv2plus1d`: a ``T x H x W`` convolution factorised into ``T x 1 x 1`` and ``1 x H x W``.

    ::

                        Conv_t (or Conv_xy if conv_xy_first = True)
                                           ↓
                                     Normalization
                                           ↓
                                       Activation
                                           ↓
                        Conv_xy (or Conv_t if conv_xy_first = True)

    Args:
        in_channels: input channels.
        out_channels: output channels.
        inner_channels: channels between the two convolutions (default ``out_channels``).
        conv_xy_first: run the spatial convolution before the temporal one.
        kernel_size, stride, padding: ``(T, H, W)`` of the factorised 3D convolution.
        bias: add a learnable bias to both convolutions.
        dilation: must be all ones (dilation is not supported).
        groups: must be 1 (grouped convolution is not supported).
        norm: builds the normalisation between the convolutions (``None``: no norm).
        norm_eps: normalisation epsilon.
        norm_momentum: normalisation momentum.
        activation: builds the activation between the convolutions (``None``: no activation).
    """
    if inner_channels is None:
        inner_channels = out_channels
    if groups != 1:
        raise ConfigError(
            f"create_conv_2plus1d: groups must be 1 (grouped (2+1)D convolution is unsupported), got {groups}"
        )
    if max(dilation) != 1 or min(dilation) != 1:
        raise ConfigError(f"create_conv_2plus1d: dilation must be (1, 1, 1) (dilation is unsupported), got {dilation}")

    conv_t = nn.Conv3d(
        in_channels=inner_channels if conv_xy_first else in_channels,
        out_channels=out_channels if conv_xy_first else inner_channels,
        kernel_size=(kernel_size[0], 1, 1),
        stride=(stride[0], 1, 1),
        padding=(padding[0], 0, 0),
        bias=bias,
    )
    conv_xy = nn.Conv3d(
        in_channels=in_channels if conv_xy_first else inner_channels,
        out_channels=inner_channels if conv_xy_first else out_channels,
        kernel_size=(1, kernel_size[1], kernel_size[2]),
        stride=(1, stride[1], stride[2]),
        padding=(0, padding[1], padding[2]),
        bias=bias,
    )
    return Conv2plus1d(
        conv_t=conv_t,
        norm=None if norm is None else norm(num_features=inner_channels, eps=norm_eps, momentum=norm_momentum),
        activation=None if activation is None else activation(),
        conv_xy=conv_xy,
        conv_xy_first=conv_xy_first,
    )


class Conv2plus1d(nn.Module):
    """A 3D convolution factorised into a temporal and a spatial one, with a norm and activation between.

    ::

                        Conv_t (or Conv_xy if conv_xy_first = True)
                                           ↓
                                     Normalization
                                           ↓
                                       Activation
                                           ↓
                        Conv_xy (or Conv_t if conv_xy_first = True)

    The factorisation doubles the non-linearities for the same parameter budget
    (R(2+1)D, Tran et al., CVPR 2018). The builder is :func:`create_conv_2plus1d`.
    """

    def __init__(
        self,
        *,
        conv_t: nn.Module | None = None,
        norm: nn.Module | None = None,
        activation: nn.Module | None = None,
        conv_xy: nn.Module | None = None,
        conv_xy_first: bool = False,
    ) -> None:
        super().__init__()
        set_attributes(self, locals())
        if conv_t is None or conv_xy is None:
            raise ConfigError("Conv2plus1d: conv_t and conv_xy are required")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_xy(x) if self.conv_xy_first else self.conv_t(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return self.conv_t(x) if self.conv_xy_first else self.conv_xy(x)
