"""Stems: the first layers, which turn pixels (or spectrograms) into features at reduced resolution."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from vidray.errors import ConfigError
from vidray.layers.convolutions import ConvReduce3D
from vidray.layers.utils import set_attributes


def _norm_act_pool(
    out_channels: int,
    norm: Callable[..., nn.Module] | None,
    norm_eps: float,
    norm_momentum: float,
    activation: Callable[..., nn.Module] | None,
    pool: Callable[..., nn.Module] | None,
    pool_kernel_size: tuple[int, int, int],
    pool_stride: tuple[int, int, int],
    pool_padding: tuple[int, int, int],
) -> dict[str, nn.Module | None]:
    return {
        "norm": None if norm is None else norm(num_features=out_channels, eps=norm_eps, momentum=norm_momentum),
        "activation": None if activation is None else activation(),
        "pool": None if pool is None else pool(kernel_size=pool_kernel_size, stride=pool_stride, padding=pool_padding),
    }


def create_res_basic_stem(
    *,
    # Conv configs.
    in_channels: int,
    out_channels: int,
    conv_kernel_size: tuple[int, int, int] = (3, 7, 7),
    conv_stride: tuple[int, int, int] = (1, 2, 2),
    conv_padding: tuple[int, int, int] = (1, 3, 3),
    conv_bias: bool = False,
    conv: Callable[..., nn.Module] = nn.Conv3d,
    # Pool configs.
    pool: Callable[..., nn.Module] | None = nn.MaxPool3d,
    pool_kernel_size: tuple[int, int, int] = (1, 3, 3),
    pool_stride: tuple[int, int, int] = (1, 2, 2),
    pool_padding: tuple[int, int, int] = (0, 1, 1),
    # BN configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
) -> nn.Module:
    """Builds the ResNet stem, a :class:`ResNetBasicStem`.

    ::

                                        Conv3d
                                           ↓
                                     Normalization
                                           ↓
                                       Activation
                                           ↓
                                        Pool3d

    Args:
        in_channels: input channels (3 for RGB).
        out_channels: output channels.
        conv_kernel_size, conv_stride, conv_padding: the convolution's ``(T, H, W)`` geometry.
        conv_bias: add a learnable bias to the convolution.
        conv: builds the convolution.
        pool: builds the pooling (``nn.MaxPool3d``, ``nn.AvgPool3d``, ``None``: none).
        pool_kernel_size, pool_stride, pool_padding: the pooling's geometry.
        norm: builds the normalisation (``None``: none).
        norm_eps: normalisation epsilon.
        norm_momentum: normalisation momentum.
        activation: builds the activation (``None``: none).
    """
    conv_module = conv(
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=conv_kernel_size,
        stride=conv_stride,
        padding=conv_padding,
        bias=conv_bias,
    )
    return ResNetBasicStem(
        conv=conv_module,
        **_norm_act_pool(
            out_channels, norm, norm_eps, norm_momentum, activation, pool, pool_kernel_size, pool_stride, pool_padding
        ),
    )


def create_acoustic_res_basic_stem(
    *,
    # Conv configs.
    in_channels: int,
    out_channels: int,
    conv_kernel_size: tuple[int, int, int] = (3, 7, 7),
    conv_stride: tuple[int, int, int] = (1, 1, 1),
    conv_padding: tuple[int, int, int] = (1, 3, 3),
    conv_bias: bool = False,
    # Pool configs.
    pool: Callable[..., nn.Module] | None = nn.MaxPool3d,
    pool_kernel_size: tuple[int, int, int] = (1, 3, 3),
    pool_stride: tuple[int, int, int] = (1, 2, 2),
    pool_padding: tuple[int, int, int] = (0, 1, 1),
    # BN configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
) -> nn.Module:
    """Builds the acoustic stem: a temporal and a spatial convolution in parallel, summed.

    ::

                                    Conv3d   Conv3d
                                           ↓
                                     Normalization
                                           ↓
                                       Activation
                                           ↓
                                        Pool3d

    ``conv_kernel_size`` ``(t, h, w)`` is split into a ``t x 1 x 1`` and a
    ``1 x h x w`` convolution (a :class:`~vidray.layers.convolutions.ConvReduce3D`),
    both with ``conv_stride``; the input is a spectrogram laid out as
    ``[B, C, T, 1, F]``. Other arguments as in :func:`create_res_basic_stem`.
    """
    conv_module = ConvReduce3D(
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=((conv_kernel_size[0], 1, 1), (1, conv_kernel_size[1], conv_kernel_size[2])),
        stride=(conv_stride, conv_stride),
        padding=((conv_padding[0], 0, 0), (0, conv_padding[1], conv_padding[2])),
        bias=(conv_bias, conv_bias),
        reduction_method="sum",
    )
    return ResNetBasicStem(
        conv=conv_module,
        **_norm_act_pool(
            out_channels, norm, norm_eps, norm_momentum, activation, pool, pool_kernel_size, pool_stride, pool_padding
        ),
    )


class ResNetBasicStem(nn.Module):
    """Convolution, optional normalisation, activation and pooling, in that order.

    ::

                                        Conv3d
                                           ↓
                                     Normalization
                                           ↓
                                       Activation
                                           ↓
                                        Pool3d

    The builders are :func:`create_res_basic_stem` and :func:`create_acoustic_res_basic_stem`.
    """

    def __init__(
        self,
        *,
        conv: nn.Module | None = None,
        norm: nn.Module | None = None,
        activation: nn.Module | None = None,
        pool: nn.Module | None = None,
    ) -> None:
        super().__init__()
        set_attributes(self, locals())
        if conv is None:
            raise ConfigError("ResNetBasicStem: conv is required")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        if self.pool is not None:
            x = self.pool(x)
        return x


class PatchEmbed(nn.Module):
    """Transformer patch embedding: ``patch_model`` (e.g. a strided convolution), then ``[B, C, T, H, W] -> [B, THW, C]``.

    ::

                                       PatchModel
                                           ↓
                                        flatten
                                           ↓
                                       transpose

    The builder is :func:`create_conv_patch_embed`.
    """

    def __init__(self, *, patch_model: nn.Module | None = None) -> None:
        super().__init__()
        set_attributes(self, locals())
        if patch_model is None:
            raise ConfigError("PatchEmbed: patch_model is required")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.patch_model(x).flatten(2).transpose(1, 2)


def create_conv_patch_embed(
    *,
    in_channels: int,
    out_channels: int,
    conv_kernel_size: tuple[int, int, int] = (1, 16, 16),
    conv_stride: tuple[int, int, int] = (1, 4, 4),
    conv_padding: tuple[int, int, int] = (1, 7, 7),
    conv_bias: bool = True,
    conv: Callable[..., nn.Module] = nn.Conv3d,
) -> nn.Module:
    """Builds a :class:`PatchEmbed` around a convolution: patches to a token sequence.

    ::

                                        Conv3d
                                           ↓
                                        flatten
                                           ↓
                                       transpose

    Args:
        in_channels: input channels.
        out_channels: the token embedding size.
        conv_kernel_size, conv_stride, conv_padding: the patch convolution's geometry.
        conv_bias: add a learnable bias to the convolution.
        conv: builds the convolution.
    """
    conv_module = conv(
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=conv_kernel_size,
        stride=conv_stride,
        padding=conv_padding,
        bias=conv_bias,
    )
    return PatchEmbed(patch_model=conv_module)
