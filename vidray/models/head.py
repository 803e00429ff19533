"""Classification heads: pooled features to class scores (ResNet, RoI detection, vision transformer)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torchvision.ops import RoIAlign

from vidray.errors import ConfigError, LayoutError
from vidray.layers.utils import set_attributes

SEQUENCE_POOL_MODES = ("cls", "mean")


def _build_activation(activation: Callable[..., nn.Module] | None) -> nn.Module | None:
    """Softmax gets ``dim=1`` (the class dimension); other activations take no arguments."""
    if activation is None:
        return None
    if activation == nn.Softmax:
        return activation(dim=1)
    return activation()


def _build_pool(
    pool: Callable[..., nn.Module] | None,
    output_size: tuple[int, int, int],
    kernel_size: tuple[int, int, int],
    stride: tuple[int, int, int],
    padding: tuple[int, int, int],
) -> nn.Module | None:
    """Adaptive average pooling takes an output size; every other pool a kernel, stride and padding."""
    if pool is None:
        return None
    if pool == nn.AdaptiveAvgPool3d:
        return pool(output_size)
    return pool(kernel_size=kernel_size, stride=stride, padding=padding)


class SequencePool(nn.Module):
    """One embedding from a ``[B, N, C]`` token sequence: the class token (``"cls"``) or the mean (``"mean"``)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        if mode not in SEQUENCE_POOL_MODES:
            raise ConfigError(f"SequencePool: mode must be one of {SEQUENCE_POOL_MODES}, got {mode!r}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0] if self.mode == "cls" else x.mean(1)


def create_res_basic_head(
    *,
    # Projection configs.
    in_features: int,
    out_features: int,
    # Pooling configs.
    pool: Callable[..., nn.Module] | None = nn.AvgPool3d,
    output_size: tuple[int, int, int] = (1, 1, 1),
    pool_kernel_size: tuple[int, int, int] = (1, 7, 7),
    pool_stride: tuple[int, int, int] = (1, 1, 1),
    pool_padding: tuple[int, int, int] = (0, 0, 0),
    # Dropout configs.
    dropout_rate: float = 0.5,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = None,
    # Output configs.
    output_with_global_average: bool = True,
) -> nn.Module:
    """Builds a :class:`ResNetBasicHead`.

    ::

                                        Pooling
                                           ↓
                                        Dropout
                                           ↓
                                       Projection
                                           ↓
                                       Activation
                                           ↓
                                       Averaging

    Args:
        in_features: channels of the incoming features.
        out_features: number of classes.
        pool: builds the pooling (``nn.AvgPool3d``, ``nn.MaxPool3d``,
            ``nn.AdaptiveAvgPool3d``, or ``None`` for none).
        output_size: output size of an adaptive pool.
        pool_kernel_size, pool_stride, pool_padding: a non-adaptive pool's geometry.
        dropout_rate: dropout before the projection (0: none).
        activation: builds the activation after the projection (``nn.Softmax``
            is applied over classes; ``None``: logits).
        output_with_global_average: average what remains of ``T x H x W`` and
            return ``[B, out_features]``.
    """
    return ResNetBasicHead(
        proj=nn.Linear(in_features, out_features),
        activation=_build_activation(activation),
        pool=_build_pool(pool, output_size, pool_kernel_size, pool_stride, pool_padding),
        dropout=nn.Dropout(dropout_rate) if dropout_rate > 0 else None,
        output_pool=nn.AdaptiveAvgPool3d(1) if output_with_global_average else None,
    )


def create_vit_basic_head(
    *,
    # Projection configs.
    in_features: int,
    out_features: int,
    # Pooling configs.
    seq_pool_type: str = "cls",
    # Dropout configs.
    dropout_rate: float = 0.5,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = None,
) -> nn.Module:
    """Builds a :class:`VisionTransformerBasicHead`.

    ::

                                        Pooling
                                           ↓
                                        Dropout
                                           ↓
                                       Projection
                                           ↓
                                       Activation

    Args:
        in_features: the token embedding size.
        out_features: number of classes.
        seq_pool_type: ``"cls"`` (the first token), ``"mean"`` (all tokens) or
            ``"none"`` (the input is already pooled).
        dropout_rate: dropout before the projection (0: none).
        activation: builds the activation after the projection (``None``: logits).
    """
    if seq_pool_type not in (*SEQUENCE_POOL_MODES, "none"):
        raise ConfigError(
            f"create_vit_basic_head: seq_pool_type must be 'cls', 'mean' or 'none', got {seq_pool_type!r}"
        )
    return VisionTransformerBasicHead(
        sequence_pool=None if seq_pool_type == "none" else SequencePool(seq_pool_type),
        dropout=nn.Dropout(dropout_rate) if dropout_rate > 0.0 else None,
        proj=nn.Linear(in_features, out_features),
        activation=_build_activation(activation),
    )


def create_res_roi_pooling_head(
    *,
    # Projection configs.
    in_features: int,
    out_features: int,
    # RoI configs.
    resolution: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int = 0,
    roi: Callable[..., nn.Module] = RoIAlign,
    # Pooling configs.
    pool: Callable[..., nn.Module] | None = nn.AvgPool3d,
    output_size: tuple[int, int, int] = (1, 1, 1),
    pool_kernel_size: tuple[int, int, int] = (1, 7, 7),
    pool_stride: tuple[int, int, int] = (1, 1, 1),
    pool_padding: tuple[int, int, int] = (0, 0, 0),
    pool_spatial: Callable[..., nn.Module] | None = nn.MaxPool2d,
    # Dropout configs.
    dropout_rate: float = 0.5,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = None,
    # Output configs.
    output_with_global_average: bool = True,
) -> nn.Module:
    """Builds a :class:`ResNetRoIHead`: one score vector per box (AVA-style detection).

    ::

                                        Pool3d
                                           ↓
                                       RoI Align
                                           ↓
                                        Pool2d
                                           ↓
                                        Dropout
                                           ↓
                                       Projection
                                           ↓
                                       Activation
                                           ↓
                                       Averaging

    Args:
        in_features: channels of the incoming features.
        out_features: number of classes.
        resolution: ``(h, w)`` of each box's RoI-aligned features.
        spatial_scale: multiplies box coordinates into feature-map coordinates
            (1/16 for a stride-16 backbone).
        sampling_ratio: samples per output bin (0: adaptive).
        roi: builds the RoI layer, called with ``output_size``, ``spatial_scale``
            and ``sampling_ratio`` (e.g. ``torchvision.ops.RoIAlign``).
        pool: builds the 3D pooling, which must leave a temporal size of 1.
        output_size: output size of an adaptive pool.
        pool_kernel_size, pool_stride, pool_padding: a non-adaptive pool's geometry.
        pool_spatial: builds the 2D pooling over each box's ``resolution``
            (``nn.MaxPool2d``, ``nn.AvgPool2d``, or ``None`` for none).
        dropout_rate: dropout before the projection (0: none).
        activation: builds the activation after the projection (``None``: logits).
        output_with_global_average: average what remains of ``T x H x W`` and
            return ``[N, out_features]``.
    """
    return ResNetRoIHead(
        proj=nn.Linear(in_features, out_features),
        activation=_build_activation(activation),
        pool=_build_pool(pool, output_size, pool_kernel_size, pool_stride, pool_padding),
        pool_spatial=pool_spatial(resolution, stride=1) if pool_spatial else None,
        roi_layer=roi(output_size=resolution, spatial_scale=spatial_scale, sampling_ratio=sampling_ratio),
        dropout=nn.Dropout(dropout_rate) if dropout_rate > 0 else None,
        output_pool=nn.AdaptiveAvgPool3d(1) if output_with_global_average else None,
    )


def _project(proj: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Applies a linear layer over the channels of ``[B, C, T, H, W]``."""
    return proj(x.permute((0, 2, 3, 4, 1))).permute((0, 4, 1, 2, 3))


def _classify(head: ResNetBasicHead | ResNetRoIHead, x: torch.Tensor) -> torch.Tensor:
    """The pooled features to class scores, the steps after pooling that both ResNet heads share."""
    if head.dropout is not None:
        x = head.dropout(x)
    x = _project(head.proj, x)
    if head.activation is not None:
        x = head.activation(x)
    if head.output_pool is not None:
        x = head.output_pool(x)
        x = x.view(x.shape[0], -1)
    return x


class ResNetBasicHead(nn.Module):
    """Optional pooling, dropout, a linear projection over channels, an activation and a global average.

    ::

                                        Pool3d
                                           ↓
                                        Dropout
                                           ↓
                                       Projection
                                           ↓
                                       Activation
                                           ↓
                                       Averaging

    The projection is applied at every remaining position before averaging, so
    a head built for one input size also runs (fully convolutionally) on larger
    inputs when its pool leaves more than one position. The builder is
    :func:`create_res_basic_head`.
    """

    def __init__(
        self,
        pool: nn.Module | None = None,
        dropout: nn.Module | None = None,
        proj: nn.Module | None = None,
        activation: nn.Module | None = None,
        output_pool: nn.Module | None = None,
    ) -> None:
        super().__init__()
        set_attributes(self, locals())
        if proj is None:
            raise ConfigError("ResNetBasicHead: proj is required")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = self.pool(x)
        return _classify(self, x)


class ResNetRoIHead(nn.Module):
    """A :class:`ResNetBasicHead` that pools features per box with an RoI layer.

    ::

                                        Pool3d
                                           ↓
                                       RoI Align
                                           ↓
                                        Pool2d
                                           ↓
                                        Dropout
                                           ↓
                                       Projection
                                           ↓
                                       Activation
                                           ↓
                                       Averaging

    ``forward(x, bboxes)``: the 3D pool must reduce time to 1, since boxes are
    2D; ``bboxes`` are ``[N, 5]`` rows ``(batch_index, x1, y1, x2, y2)`` for
    RoIAlign. The builder is :func:`create_res_roi_pooling_head`.
    """

    def __init__(
        self,
        pool: nn.Module | None = None,
        pool_spatial: nn.Module | None = None,
        roi_layer: nn.Module | None = None,
        dropout: nn.Module | None = None,
        proj: nn.Module | None = None,
        activation: nn.Module | None = None,
        output_pool: nn.Module | None = None,
    ) -> None:
        super().__init__()
        set_attributes(self, locals())
        if proj is None:
            raise ConfigError("ResNetRoIHead: proj is required")

    def forward(self, x: torch.Tensor, bboxes: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = self.pool(x)
        if self.roi_layer is not None:
            if x.shape[-3] != 1:
                raise LayoutError(
                    f"ResNetRoIHead: features reaching the RoI layer must have temporal size 1, got {x.shape[-3]} "
                    f"(features {list(x.shape)}); make the head's pool cover the whole clip"
                )
            x = self.roi_layer(torch.squeeze(x, -3), bboxes)
            if self.pool_spatial is not None:
                x = self.pool_spatial(x)
            x = x.unsqueeze(-3)
        return _classify(self, x)


class VisionTransformerBasicHead(nn.Module):
    """Sequence pooling, dropout, a linear projection and an activation over ``[B, N, C]`` tokens.

    ::

                                      SequencePool
                                           ↓
                                        Dropout
                                           ↓
                                       Projection
                                           ↓
                                       Activation

    The builder is :func:`create_vit_basic_head`.
    """

    def __init__(
        self,
        sequence_pool: nn.Module | None = None,
        dropout: nn.Module | None = None,
        proj: nn.Module | None = None,
        activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        set_attributes(self, locals())
        if proj is None:
            raise ConfigError("VisionTransformerBasicHead: proj is required")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.sequence_pool is not None:
            x = self.sequence_pool(x)
        if self.dropout is not None:
            x = self.dropout(x)
        x = self.proj(x)
        if self.activation is not None:
            x = self.activation(x)
        return x
