"""ResNet-style video networks: C2D, I3D and Slow (Kinetics), Slow with an RoI head (AVA), acoustic ResNet.

Everything is composed from injectable builders, as in PyTorchVideo: a network
is a stem, residual stages and a head (:class:`~vidray.models.net.Net`); a
stage is a list of :class:`ResBlock`; a block adds a shortcut to a bottleneck
(:class:`BottleneckBlock`). Swapping ``norm``, ``activation``, ``stem``,
``bottleneck`` or ``head`` changes the architecture without touching this code.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from vidray.errors import ConfigError
from vidray.layers.utils import set_attributes
from vidray.models.head import create_res_basic_head, create_res_roi_pooling_head
from vidray.models.net import DetectionBBoxNetwork, Net
from vidray.models.registry import PTV_CHECKPOINT_ROOT, InputSpec, ModelSpec, register_model
from vidray.models.stem import create_acoustic_res_basic_stem, create_res_basic_stem

Size3 = tuple[int, int, int]

# Number of residual blocks per stage for each model depth.
_MODEL_STAGE_DEPTH = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def stage_depths(
    model_depth: int, builder: str, depths: dict[int, tuple[int, ...]] = _MODEL_STAGE_DEPTH
) -> tuple[int, ...]:
    """The blocks per stage of a ResNet of ``model_depth`` (by default 50, 101 or 152), from ``depths``."""
    if model_depth not in depths:
        raise ConfigError(f"{builder}: model_depth must be one of {sorted(depths)}, got {model_depth!r}")
    return depths[model_depth]


def stage_dims(stem_dim_out: int, num_stages: int) -> list[tuple[int, int]]:
    """Each stage's ``(dim_in, dim_out)``: the stem's channels times 4 in the first stage, doubled in each next one."""
    dims_out = [stem_dim_out * 4 * 2**idx for idx in range(num_stages)]
    return list(zip([stem_dim_out, *dims_out[:-1]], dims_out))


def stage_paddings(
    conv_a_kernel_size: Size3 | Sequence[Size3], conv_b_kernel_size: Size3, conv_b_dilation: Size3
) -> tuple[list[int] | list[list[int]], Size3]:
    """``conv_a`` and ``conv_b`` paddings that keep a stage's resolution, as PyTorchVideo pads them.

    Half of each kernel (``conv_a_kernel_size`` may be a list of kernels, one per
    block); a dilated spatial axis of ``conv_b`` (a 3x3 kernel) is padded by its dilation.
    """
    conv_a_padding = (
        [size // 2 for size in conv_a_kernel_size]
        if isinstance(conv_a_kernel_size[0], int)
        else [[size // 2 for size in sizes] for sizes in conv_a_kernel_size]
    )
    conv_b_padding = (
        conv_b_kernel_size[0] // 2,
        conv_b_dilation[1] if conv_b_dilation[1] > 1 else conv_b_kernel_size[1] // 2,
        conv_b_dilation[2] if conv_b_dilation[2] > 1 else conv_b_kernel_size[2] // 2,
    )
    return conv_a_padding, conv_b_padding


def _norm(norm: Callable[..., nn.Module] | None, channels: int, eps: float, momentum: float) -> nn.Module | None:
    return None if norm is None else norm(num_features=channels, eps=eps, momentum=momentum)


def _act(activation: Callable[..., nn.Module] | None) -> nn.Module | None:
    return None if activation is None else activation()


def create_bottleneck_block(
    *,
    # Convolution configs.
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    conv_a_kernel_size: Size3 = (3, 1, 1),
    conv_a_stride: Size3 = (2, 1, 1),
    conv_a_padding: Size3 = (1, 0, 0),
    conv_a: Callable[..., nn.Module] = nn.Conv3d,
    conv_b_kernel_size: Size3 = (1, 3, 3),
    conv_b_stride: Size3 = (1, 2, 2),
    conv_b_padding: Size3 = (0, 1, 1),
    conv_b_num_groups: int = 1,
    conv_b_dilation: Size3 = (1, 1, 1),
    conv_b: Callable[..., nn.Module] = nn.Conv3d,
    conv_c: Callable[..., nn.Module] = nn.Conv3d,
    # Norm configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
) -> nn.Module:
    """Builds a :class:`BottleneckBlock`: reduce channels, convolve, expand channels.

    ::

                                    Conv3d (conv_a)
                                           ↓
                                 Normalization (norm_a)
                                           ↓
                                   Activation (act_a)
                                           ↓
                                    Conv3d (conv_b)
                                           ↓
                                 Normalization (norm_b)
                                           ↓
                                   Activation (act_b)
                                           ↓
                                    Conv3d (conv_c)
                                           ↓
                                 Normalization (norm_c)

    Args:
        dim_in: input channels.
        dim_inner: channels inside the bottleneck.
        dim_out: output channels.
        conv_a_kernel_size, conv_a_stride, conv_a_padding: ``conv_a``'s geometry
            (usually the temporal ``T x 1 x 1`` convolution).
        conv_a: builds ``conv_a`` (e.g. ``nn.Conv3d``).
        conv_b_kernel_size, conv_b_stride, conv_b_padding: ``conv_b``'s geometry
            (usually the spatial ``1 x 3 x 3`` convolution).
        conv_b_num_groups: groups of ``conv_b`` (>1 for ResNeXt, ``dim_inner`` for depthwise).
        conv_b_dilation: dilation of ``conv_b``.
        conv_b: builds ``conv_b``.
        conv_c: builds the 1x1x1 expansion ``conv_c``.
        norm: builds the normalisations (``None``: none).
        norm_eps: normalisation epsilon.
        norm_momentum: normalisation momentum.
        activation: builds the activations (``None``: none).
    """
    return BottleneckBlock(
        conv_a=conv_a(
            in_channels=dim_in,
            out_channels=dim_inner,
            kernel_size=conv_a_kernel_size,
            stride=conv_a_stride,
            padding=conv_a_padding,
            bias=False,
        ),
        norm_a=_norm(norm, dim_inner, norm_eps, norm_momentum),
        act_a=_act(activation),
        conv_b=conv_b(
            in_channels=dim_inner,
            out_channels=dim_inner,
            kernel_size=conv_b_kernel_size,
            stride=conv_b_stride,
            padding=conv_b_padding,
            bias=False,
            groups=conv_b_num_groups,
            dilation=conv_b_dilation,
        ),
        norm_b=_norm(norm, dim_inner, norm_eps, norm_momentum),
        act_b=_act(activation),
        conv_c=conv_c(in_channels=dim_inner, out_channels=dim_out, kernel_size=(1, 1, 1), bias=False),
        norm_c=_norm(norm, dim_out, norm_eps, norm_momentum),
    )


def create_acoustic_bottleneck_block(
    *,
    # Convolution configs.
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    conv_a_kernel_size: Size3 = (3, 1, 1),
    conv_a_stride: Size3 = (2, 1, 1),
    conv_a_padding: Size3 = (1, 0, 0),
    conv_a: Callable[..., nn.Module] = nn.Conv3d,
    # Conv b f configs.
    conv_b_kernel_size: Size3 = (1, 1, 1),
    conv_b_stride: Size3 = (1, 1, 1),
    conv_b_padding: Size3 = (0, 0, 0),
    conv_b_num_groups: int = 1,
    conv_b_dilation: Size3 = (1, 1, 1),
    conv_b: Callable[..., nn.Module] = nn.Conv3d,
    conv_c: Callable[..., nn.Module] = nn.Conv3d,
    # Norm configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
) -> nn.Module:
    """Builds a :class:`SeparableBottleneckBlock` whose ``conv_b`` is split into time and frequency.

    ::

                                    Conv3d (conv_a)
                                           ↓
                                 Normalization (norm_a)
                                           ↓
                                   Activation (act_a)
                                           ↓
                           ---------------------------------
                           ↓                               ↓
                Temporal Conv3d (conv_b)        Spatial Conv3d (conv_b)
                           ↓                               ↓
                 Normalization (norm_b)         Normalization (norm_b)
                           ↓                               ↓
                   Activation (act_b)              Activation (act_b)
                           ↓                               ↓
                           ---------------------------------
                                           ↓
                                    Conv3d (conv_c)
                                           ↓
                                 Normalization (norm_c)

    ``conv_b_kernel_size`` ``(t, h, w)`` becomes a ``1 x h x w`` branch (index 0)
    and a ``t x 1 x 1`` branch (index 1), summed. Arguments as in
    :func:`create_bottleneck_block`.
    """
    conv_b_1 = conv_b(  # temporal
        in_channels=dim_inner,
        out_channels=dim_inner,
        kernel_size=[conv_b_kernel_size[0], 1, 1],
        stride=conv_b_stride,
        padding=[conv_b_padding[0], 0, 0],
        bias=False,
        groups=conv_b_num_groups,
        dilation=[conv_b_dilation[0], 1, 1],
    )
    conv_b_2 = conv_b(  # spatial (frequency)
        in_channels=dim_inner,
        out_channels=dim_inner,
        kernel_size=[1, conv_b_kernel_size[1], conv_b_kernel_size[2]],
        stride=conv_b_stride,
        padding=[0, conv_b_padding[1], conv_b_padding[2]],
        bias=False,
        groups=conv_b_num_groups,
        dilation=[1, conv_b_dilation[1], conv_b_dilation[2]],
    )
    norm_b_1 = _norm(norm, dim_inner, norm_eps, norm_momentum)
    norm_b_2 = _norm(norm, dim_inner, norm_eps, norm_momentum)
    act_b_1, act_b_2 = _act(activation), _act(activation)
    return SeparableBottleneckBlock(
        conv_a=conv_a(
            in_channels=dim_in,
            out_channels=dim_inner,
            kernel_size=conv_a_kernel_size,
            stride=conv_a_stride,
            padding=conv_a_padding,
            bias=False,
        ),
        norm_a=_norm(norm, dim_inner, norm_eps, norm_momentum),
        act_a=_act(activation),
        conv_b=nn.ModuleList([conv_b_2, conv_b_1]),
        norm_b=nn.ModuleList([norm_b_2, norm_b_1]),
        act_b=nn.ModuleList([act_b_2, act_b_1]),
        conv_c=conv_c(in_channels=dim_inner, out_channels=dim_out, kernel_size=(1, 1, 1), bias=False),
        norm_c=_norm(norm, dim_out, norm_eps, norm_momentum),
    )


def _trivial_sum(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The default branch fusion (a function, not a lambda, so models stay picklable)."""
    return x + y


def create_res_block(
    *,
    # Bottleneck Block configs.
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    bottleneck: Callable[..., nn.Module],
    use_shortcut: bool = False,
    branch_fusion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = _trivial_sum,
    # Conv configs.
    conv_a_kernel_size: Size3 = (3, 1, 1),
    conv_a_stride: Size3 = (2, 1, 1),
    conv_a_padding: Size3 = (1, 0, 0),
    conv_a: Callable[..., nn.Module] = nn.Conv3d,
    conv_b_kernel_size: Size3 = (1, 3, 3),
    conv_b_stride: Size3 = (1, 2, 2),
    conv_b_padding: Size3 = (0, 1, 1),
    conv_b_num_groups: int = 1,
    conv_b_dilation: Size3 = (1, 1, 1),
    conv_b: Callable[..., nn.Module] = nn.Conv3d,
    conv_c: Callable[..., nn.Module] = nn.Conv3d,
    conv_skip: Callable[..., nn.Module] = nn.Conv3d,
    # Norm configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation_bottleneck: Callable[..., nn.Module] | None = nn.ReLU,
    activation_block: Callable[..., nn.Module] | None = nn.ReLU,
) -> nn.Module:
    """Builds a :class:`ResBlock`: ``activation(shortcut(x) + bottleneck(x))``.

    ::

                                         Input
                                           |-------+
                                           ↓       |
                                         Block     |
                                           ↓       |
                                       Summation ←-+
                                           ↓
                                       Activation

    The shortcut is the identity unless the block changes the channel count or
    the resolution (or ``use_shortcut``): then it is a strided 1x1x1
    ``conv_skip`` and a norm.

    Args:
        dim_in, dim_inner, dim_out: channels in, inside the bottleneck, out.
        bottleneck: builds the main branch (e.g. :func:`create_bottleneck_block`),
            called with the convolution, norm and activation arguments below.
        use_shortcut: always use a convolution (and norm) on the shortcut.
        branch_fusion: combines shortcut and main branch (default: sum).
        conv_a_*, conv_b_*, conv_a, conv_b, conv_c: passed to ``bottleneck``.
        conv_skip: builds the shortcut convolution.
        norm, norm_eps, norm_momentum: the normalisations (``None``: none).
        activation_bottleneck: builds the activations inside the bottleneck.
        activation_block: builds the activation after the sum (``None``: none).
    """
    branch1_conv_stride = tuple(a * b for a, b in zip(conv_a_stride, conv_b_stride))
    changes_shape = dim_in != dim_out or any(stride != 1 for stride in branch1_conv_stride)
    norm_model = None
    if use_shortcut or (norm is not None and changes_shape):
        norm_model = norm(num_features=dim_out, eps=norm_eps, momentum=norm_momentum)
    branch1_conv = None
    if changes_shape or use_shortcut:
        branch1_conv = conv_skip(dim_in, dim_out, kernel_size=(1, 1, 1), stride=branch1_conv_stride, bias=False)

    return ResBlock(
        branch1_conv=branch1_conv,
        branch1_norm=norm_model,
        branch2=bottleneck(
            dim_in=dim_in,
            dim_inner=dim_inner,
            dim_out=dim_out,
            conv_a_kernel_size=conv_a_kernel_size,
            conv_a_stride=conv_a_stride,
            conv_a_padding=conv_a_padding,
            conv_a=conv_a,
            conv_b_kernel_size=conv_b_kernel_size,
            conv_b_stride=conv_b_stride,
            conv_b_padding=conv_b_padding,
            conv_b_num_groups=conv_b_num_groups,
            conv_b_dilation=conv_b_dilation,
            conv_b=conv_b,
            conv_c=conv_c,
            norm=norm,
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
            activation=activation_bottleneck,
        ),
        activation=_act(activation_block),
        branch_fusion=branch_fusion,
    )


def create_res_stage(
    *,
    # Stage configs.
    depth: int,
    # Bottleneck Block configs.
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    bottleneck: Callable[..., nn.Module],
    # Conv configs.
    conv_a_kernel_size: Size3 | Sequence[Size3] = (3, 1, 1),
    conv_a_stride: Size3 = (2, 1, 1),
    conv_a_padding: Size3 | Sequence[Size3] = (1, 0, 0),
    conv_a: Callable[..., nn.Module] = nn.Conv3d,
    conv_b_kernel_size: Size3 = (1, 3, 3),
    conv_b_stride: Size3 = (1, 2, 2),
    conv_b_padding: Size3 = (0, 1, 1),
    conv_b_num_groups: int = 1,
    conv_b_dilation: Size3 = (1, 1, 1),
    conv_b: Callable[..., nn.Module] = nn.Conv3d,
    conv_c: Callable[..., nn.Module] = nn.Conv3d,
    # Norm configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
) -> nn.Module:
    """Builds a :class:`ResStage` of ``depth`` residual blocks; only the first one strides.

    ::

                                        Input
                                           ↓
                                       ResBlock
                                           ↓
                                           .
                                           .
                                           .
                                           ↓
                                       ResBlock

    ``conv_a_kernel_size`` and ``conv_a_padding`` are one size for all blocks or
    a list cycled over the blocks: I3D alternates ``[(3, 1, 1), (1, 1, 1)]`` so
    that only every other block convolves over time. Other arguments as in
    :func:`create_res_block` (``activation`` is used inside and after each block).
    """
    if isinstance(conv_a_kernel_size[0], int):
        conv_a_kernel_size = [conv_a_kernel_size]
    if isinstance(conv_a_padding[0], int):
        conv_a_padding = [conv_a_padding]
    conv_a_kernel_size = (list(conv_a_kernel_size) * depth)[:depth]
    conv_a_padding = (list(conv_a_padding) * depth)[:depth]

    res_blocks = [
        create_res_block(
            dim_in=dim_in if ind == 0 else dim_out,
            dim_inner=dim_inner,
            dim_out=dim_out,
            bottleneck=bottleneck,
            conv_a_kernel_size=conv_a_kernel_size[ind],
            conv_a_stride=conv_a_stride if ind == 0 else (1, 1, 1),
            conv_a_padding=conv_a_padding[ind],
            conv_a=conv_a,
            conv_b_kernel_size=conv_b_kernel_size,
            conv_b_stride=conv_b_stride if ind == 0 else (1, 1, 1),
            conv_b_padding=conv_b_padding,
            conv_b_num_groups=conv_b_num_groups,
            conv_b_dilation=conv_b_dilation,
            conv_b=conv_b,
            conv_c=conv_c,
            norm=norm,
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
            activation_bottleneck=activation,
            activation_block=activation,
        )
        for ind in range(depth)
    ]
    return ResStage(res_blocks=nn.ModuleList(res_blocks))


def create_resnet(
    *,
    # Input clip configs.
    input_channel: int = 3,
    # Model configs.
    model_depth: int = 50,
    model_num_class: int = 400,
    dropout_rate: float = 0.5,
    # Normalization configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
    # Stem configs.
    stem_dim_out: int = 64,
    stem_conv_kernel_size: Size3 = (3, 7, 7),
    stem_conv_stride: Size3 = (1, 2, 2),
    stem_pool: Callable[..., nn.Module] | None = nn.MaxPool3d,
    stem_pool_kernel_size: Size3 = (1, 3, 3),
    stem_pool_stride: Size3 = (1, 2, 2),
    stem: Callable[..., nn.Module] = create_res_basic_stem,
    # Stage configs.
    stage1_pool: Callable[..., nn.Module] | None = None,
    stage1_pool_kernel_size: Size3 = (2, 1, 1),
    stage_conv_a_kernel_size: Size3 | Sequence[Size3 | Sequence[Size3]] = (
        (1, 1, 1),
        (1, 1, 1),
        (3, 1, 1),
        (3, 1, 1),
    ),
    stage_conv_b_kernel_size: Size3 | Sequence[Size3] = (
        (1, 3, 3),
        (1, 3, 3),
        (1, 3, 3),
        (1, 3, 3),
    ),
    stage_conv_b_num_groups: Sequence[int] = (1, 1, 1, 1),
    stage_conv_b_dilation: Size3 | Sequence[Size3] = (
        (1, 1, 1),
        (1, 1, 1),
        (1, 1, 1),
        (1, 1, 1),
    ),
    stage_spatial_h_stride: Sequence[int] = (1, 2, 2, 2),
    stage_spatial_w_stride: Sequence[int] = (1, 2, 2, 2),
    stage_temporal_stride: Sequence[int] = (1, 1, 1, 1),
    bottleneck: Callable[..., nn.Module] | Sequence[Callable[..., nn.Module]] = create_bottleneck_block,
    # Head configs.
    head: Callable[..., nn.Module] | None = create_res_basic_head,
    head_pool: Callable[..., nn.Module] | None = nn.AvgPool3d,
    head_pool_kernel_size: Size3 = (4, 7, 7),
    head_output_size: Size3 = (1, 1, 1),
    head_activation: Callable[..., nn.Module] | None = None,
    head_output_with_global_average: bool = True,
) -> nn.Module:
    """Builds a ResNet for video classification: stem, four residual stages, head.

    ::

                                         Input
                                           ↓
                                         Stem
                                           ↓
                                         Stage 1
                                           ↓
                                           .
                                           .
                                           .
                                           ↓
                                         Stage N
                                           ↓
                                         Head

    The defaults are the Slow pathway's layout (temporal convolutions only in
    the last two stages). C2D uses ``(1, 1, 1)`` everywhere and a ``stage1_pool``;
    I3D inflates stem and stage kernels over time. Channels start at
    ``stem_dim_out``, are multiplied by 4 in the first stage and doubled in each
    next one (64 -> 256 -> 512 -> 1024 -> 2048 for R50).

    Args:
        input_channel: channels of the input clip.
        model_depth: 50, 101 or 152.
        model_num_class: number of classes.
        dropout_rate: dropout before the classifier.
        norm: builds every normalisation (``None``: none).
        activation: builds every activation (``None``: none).
        stem_dim_out: output channels of the stem.
        stem_conv_kernel_size, stem_conv_stride: the stem convolution (padding is half the kernel).
        stem_pool: builds the stem's pooling (``None``: none).
        stem_pool_kernel_size, stem_pool_stride: the stem pooling (padding is half the kernel).
        stem: builds the stem (e.g. :func:`~vidray.models.stem.create_res_basic_stem`).
        stage1_pool: builds a pooling after the first stage (``None``: none), with
            ``stage1_pool_kernel_size`` as kernel and stride.
        stage_conv_a_kernel_size: per stage, ``conv_a``'s kernel, or a list of
            kernels cycled over the stage's blocks; one tuple applies to all stages.
        stage_conv_b_kernel_size: per stage, ``conv_b``'s kernel (one tuple: all stages).
        stage_conv_b_num_groups: per stage, ``conv_b``'s groups (>1 for ResNeXt).
        stage_conv_b_dilation: per stage, ``conv_b``'s dilation (one tuple: all stages).
        stage_spatial_h_stride, stage_spatial_w_stride, stage_temporal_stride: per stage strides.
        bottleneck: builds each stage's bottleneck, one for all stages or one per stage.
        head: builds the head (``None``: the network ends with the last stage).
        head_pool: builds the head's pooling.
        head_pool_kernel_size: the head pool's kernel; it fixes the smallest input
            (e.g. ``(4, 7, 7)`` needs 4 frames and 7x7 positions after the stages).
        head_output_size: output size of an adaptive head pool.
        head_activation: builds the activation after the classifier (``None``: logits).
        head_output_with_global_average: average the head output to ``[B, classes]``.
    """
    stage_depth = stage_depths(model_depth, "create_resnet")
    num_stages = len(stage_depth)
    if isinstance(stage_conv_a_kernel_size[0], int):
        stage_conv_a_kernel_size = (stage_conv_a_kernel_size,) * num_stages
    if isinstance(stage_conv_b_kernel_size[0], int):
        stage_conv_b_kernel_size = (stage_conv_b_kernel_size,) * num_stages
    if isinstance(stage_conv_b_dilation[0], int):
        stage_conv_b_dilation = (stage_conv_b_dilation,) * num_stages
    if callable(bottleneck):
        bottleneck = [bottleneck] * num_stages

    blocks = [
        stem(
            in_channels=input_channel,
            out_channels=stem_dim_out,
            conv_kernel_size=stem_conv_kernel_size,
            conv_stride=stem_conv_stride,
            conv_padding=[size // 2 for size in stem_conv_kernel_size],
            pool=stem_pool,
            pool_kernel_size=stem_pool_kernel_size,
            pool_stride=stem_pool_stride,
            pool_padding=[size // 2 for size in stem_pool_kernel_size],
            norm=norm,
            activation=activation,
        )
    ]

    for idx, (stage_dim_in, stage_dim_out) in enumerate(stage_dims(stem_dim_out, num_stages)):
        conv_a_padding, conv_b_padding = stage_paddings(
            stage_conv_a_kernel_size[idx], stage_conv_b_kernel_size[idx], stage_conv_b_dilation[idx]
        )
        blocks.append(
            create_res_stage(
                depth=stage_depth[idx],
                dim_in=stage_dim_in,
                dim_inner=stage_dim_out // 4,
                dim_out=stage_dim_out,
                bottleneck=bottleneck[idx],
                conv_a_kernel_size=stage_conv_a_kernel_size[idx],
                conv_a_stride=(stage_temporal_stride[idx], 1, 1),
                conv_a_padding=conv_a_padding,
                conv_b_kernel_size=stage_conv_b_kernel_size[idx],
                conv_b_stride=(1, stage_spatial_h_stride[idx], stage_spatial_w_stride[idx]),
                conv_b_padding=conv_b_padding,
                conv_b_num_groups=stage_conv_b_num_groups[idx],
                conv_b_dilation=stage_conv_b_dilation[idx],
                norm=norm,
                activation=activation,
            )
        )
        if idx == 0 and stage1_pool is not None:
            blocks.append(
                stage1_pool(kernel_size=stage1_pool_kernel_size, stride=stage1_pool_kernel_size, padding=(0, 0, 0))
            )

    if head is not None:
        blocks.append(
            head(
                in_features=stage_dim_out,
                out_features=model_num_class,
                pool=head_pool,
                output_size=head_output_size,
                pool_kernel_size=head_pool_kernel_size,
                dropout_rate=dropout_rate,
                activation=head_activation,
                output_with_global_average=head_output_with_global_average,
            )
        )
    return Net(blocks=nn.ModuleList(blocks))


def create_resnet_with_roi_head(
    *,
    # Input clip configs.
    input_channel: int = 3,
    # Model configs.
    model_depth: int = 50,
    model_num_class: int = 80,
    dropout_rate: float = 0.5,
    # Normalization configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
    # Stem configs.
    stem_dim_out: int = 64,
    stem_conv_kernel_size: Size3 = (1, 7, 7),
    stem_conv_stride: Size3 = (1, 2, 2),
    stem_pool: Callable[..., nn.Module] | None = nn.MaxPool3d,
    stem_pool_kernel_size: Size3 = (1, 3, 3),
    stem_pool_stride: Size3 = (1, 2, 2),
    stem: Callable[..., nn.Module] = create_res_basic_stem,
    # Stage configs.
    stage1_pool: Callable[..., nn.Module] | None = None,
    stage1_pool_kernel_size: Size3 = (2, 1, 1),
    stage_conv_a_kernel_size: Size3 | Sequence[Size3 | Sequence[Size3]] = (
        (1, 1, 1),
        (1, 1, 1),
        (3, 1, 1),
        (3, 1, 1),
    ),
    stage_conv_b_kernel_size: Size3 | Sequence[Size3] = (
        (1, 3, 3),
        (1, 3, 3),
        (1, 3, 3),
        (1, 3, 3),
    ),
    stage_conv_b_num_groups: Sequence[int] = (1, 1, 1, 1),
    stage_conv_b_dilation: Size3 | Sequence[Size3] = (
        (1, 1, 1),
        (1, 1, 1),
        (1, 1, 1),
        (1, 2, 2),
    ),
    stage_spatial_h_stride: Sequence[int] = (1, 2, 2, 1),
    stage_spatial_w_stride: Sequence[int] = (1, 2, 2, 1),
    stage_temporal_stride: Sequence[int] = (1, 1, 1, 1),
    bottleneck: Callable[..., nn.Module] | Sequence[Callable[..., nn.Module]] = create_bottleneck_block,
    # Head configs.
    head: Callable[..., nn.Module] = create_res_roi_pooling_head,
    head_pool: Callable[..., nn.Module] | None = nn.AvgPool3d,
    head_pool_kernel_size: Size3 = (4, 1, 1),
    head_output_size: Size3 = (1, 1, 1),
    head_activation: Callable[..., nn.Module] | None = nn.Sigmoid,
    head_output_with_global_average: bool = False,
    head_spatial_resolution: tuple[int, int] = (7, 7),
    head_spatial_scale: float = 1.0 / 16.0,
    head_sampling_ratio: int = 0,
) -> nn.Module:
    """Builds a ResNet for spatio-temporal action detection: a backbone and an RoI head.

    ::

                            Input Clip    Input Bounding Boxes
                              ↓                       ↓
                            Stem                      ↓
                              ↓                       ↓
                            Stage 1                   ↓
                              ↓                       ↓
                              .                       ↓
                              .                       ↓
                              .                       ↓
                              ↓                       ↓
                            Stage N                   ↓
                              ↓--------> Head <-------↓

    The last stage keeps its resolution with a dilated ``conv_b`` instead of a
    stride (overall stride 16, hence ``head_spatial_scale`` 1/16), so boxes keep
    more detail. The result is a :class:`~vidray.models.net.DetectionBBoxNetwork`
    whose ``forward(x, bboxes)`` returns ``[num_boxes, model_num_class]``
    (sigmoid scores: AVA's labels are multi-label).

    Args:
        head: builds the box head (e.g. :func:`~vidray.models.head.create_res_roi_pooling_head`).
        head_pool_kernel_size: the head's 3D pool; it must reduce time to 1.
        head_spatial_resolution: ``(h, w)`` of each box's RoI-aligned features.
        head_spatial_scale: box coordinates times this gives feature-map coordinates.
        head_sampling_ratio: RoIAlign samples per bin (0: adaptive).
        Others: as in :func:`create_resnet`.
    """
    model = create_resnet(
        input_channel=input_channel,
        model_depth=model_depth,
        model_num_class=model_num_class,
        dropout_rate=dropout_rate,
        norm=norm,
        activation=activation,
        stem_dim_out=stem_dim_out,
        stem_conv_kernel_size=stem_conv_kernel_size,
        stem_conv_stride=stem_conv_stride,
        stem_pool=stem_pool,
        stem_pool_kernel_size=stem_pool_kernel_size,
        stem_pool_stride=stem_pool_stride,
        stem=stem,
        stage1_pool=stage1_pool,
        stage1_pool_kernel_size=stage1_pool_kernel_size,
        stage_conv_a_kernel_size=stage_conv_a_kernel_size,
        stage_conv_b_kernel_size=stage_conv_b_kernel_size,
        stage_conv_b_num_groups=stage_conv_b_num_groups,
        stage_conv_b_dilation=stage_conv_b_dilation,
        stage_spatial_h_stride=stage_spatial_h_stride,
        stage_spatial_w_stride=stage_spatial_w_stride,
        stage_temporal_stride=stage_temporal_stride,
        bottleneck=bottleneck,
        head=None,
    )
    head = head(
        in_features=stage_dims(stem_dim_out, len(stage_depths(model_depth, "create_resnet_with_roi_head")))[-1][1],
        out_features=model_num_class,
        pool=head_pool,
        output_size=head_output_size,
        pool_kernel_size=head_pool_kernel_size,
        dropout_rate=dropout_rate,
        activation=head_activation,
        output_with_global_average=head_output_with_global_average,
        resolution=head_spatial_resolution,
        spatial_scale=head_spatial_scale,
        sampling_ratio=head_sampling_ratio,
    )
    return DetectionBBoxNetwork(model, head)


def create_acoustic_resnet(
    *,
    # Input clip configs.
    input_channel: int = 1,
    # Model configs.
    model_depth: int = 50,
    model_num_class: int = 400,
    dropout_rate: float = 0.5,
    # Normalization configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
    # Stem configs.
    stem_dim_out: int = 64,
    stem_conv_kernel_size: Size3 = (9, 1, 9),
    stem_conv_stride: Size3 = (1, 1, 3),
    stem_pool: Callable[..., nn.Module] | None = None,
    stem_pool_kernel_size: Size3 = (3, 1, 3),
    stem_pool_stride: Size3 = (2, 1, 2),
    stem: Callable[..., nn.Module] = create_acoustic_res_basic_stem,
    # Stage configs.
    stage1_pool: Callable[..., nn.Module] | None = None,
    stage1_pool_kernel_size: Size3 = (2, 1, 1),
    stage_conv_a_kernel_size: Size3 | Sequence[Size3 | Sequence[Size3]] = (3, 1, 1),
    stage_conv_b_kernel_size: Size3 | Sequence[Size3] = (3, 1, 3),
    stage_conv_b_num_groups: Sequence[int] = (1, 1, 1, 1),
    stage_conv_b_dilation: Size3 | Sequence[Size3] = (1, 1, 1),
    stage_spatial_h_stride: Sequence[int] = (1, 1, 1, 1),
    stage_spatial_w_stride: Sequence[int] = (1, 2, 2, 2),
    stage_temporal_stride: Sequence[int] = (1, 2, 2, 2),
    bottleneck: Callable[..., nn.Module] | Sequence[Callable[..., nn.Module]] = (
        create_acoustic_bottleneck_block,
        create_acoustic_bottleneck_block,
        create_bottleneck_block,
        create_bottleneck_block,
    ),
    # Head configs.
    head_pool: Callable[..., nn.Module] | None = nn.AvgPool3d,
    head_pool_kernel_size: Size3 = (4, 1, 2),
    head_output_size: Size3 = (1, 1, 1),
    head_activation: Callable[..., nn.Module] | None = None,
    head_output_with_global_average: bool = True,
) -> nn.Module:
    """Builds a ResNet for audio: a :func:`create_resnet` over log-mel spectrograms.

    The input is a spectrogram laid out as ``[B, C, T, 1, F]`` (time, a unit
    height, frequency); the stem and the first two stages convolve time and
    frequency separately (:func:`create_acoustic_bottleneck_block`). Arguments
    as in :func:`create_resnet`.
    """
    return create_resnet(
        input_channel=input_channel,
        model_depth=model_depth,
        model_num_class=model_num_class,
        dropout_rate=dropout_rate,
        norm=norm,
        activation=activation,
        stem_dim_out=stem_dim_out,
        stem_conv_kernel_size=stem_conv_kernel_size,
        stem_conv_stride=stem_conv_stride,
        stem_pool=stem_pool,
        stem_pool_kernel_size=stem_pool_kernel_size,
        stem_pool_stride=stem_pool_stride,
        stem=stem,
        stage1_pool=stage1_pool,
        stage1_pool_kernel_size=stage1_pool_kernel_size,
        stage_conv_a_kernel_size=stage_conv_a_kernel_size,
        stage_conv_b_kernel_size=stage_conv_b_kernel_size,
        stage_conv_b_num_groups=stage_conv_b_num_groups,
        stage_conv_b_dilation=stage_conv_b_dilation,
        stage_spatial_h_stride=stage_spatial_h_stride,
        stage_spatial_w_stride=stage_spatial_w_stride,
        stage_temporal_stride=stage_temporal_stride,
        bottleneck=bottleneck,
        head_pool=head_pool,
        head_pool_kernel_size=head_pool_kernel_size,
        head_output_size=head_output_size,
        head_activation=head_activation,
        head_output_with_global_average=head_output_with_global_average,
    )


class ResBlock(nn.Module):
    """A residual block: ``activation(branch_fusion(shortcut(x), branch2(x)))``.

    ::

                                         Input
                                           |-------+
                                           ↓       |
                                         Block     |
                                           ↓       |
                                       Summation ←-+
                                           ↓
                                       Activation

    The shortcut is the identity when ``branch1_conv`` is ``None``, else
    ``branch1_conv`` followed by the optional ``branch1_norm``. The builder is
    :func:`create_res_block`.
    """

    def __init__(
        self,
        branch1_conv: nn.Module | None = None,
        branch1_norm: nn.Module | None = None,
        branch2: nn.Module | None = None,
        activation: nn.Module | None = None,
        branch_fusion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        set_attributes(self, locals())
        if branch2 is None:
            raise ConfigError("ResBlock: branch2 is required")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.branch1_conv is None:
            x = self.branch_fusion(x, self.branch2(x))
        else:
            shortcut = self.branch1_conv(x)
            if self.branch1_norm is not None:
                shortcut = self.branch1_norm(shortcut)
            x = self.branch_fusion(shortcut, self.branch2(x))
        if self.activation is not None:
            x = self.activation(x)
        return x


class SeparableBottleneckBlock(nn.Module):
    """A bottleneck whose middle convolution runs as parallel branches, reduced by sum or concatenation.

    ::

                                    Conv3d (conv_a)
                                           ↓
                                 Normalization (norm_a)
                                           ↓
                                   Activation (act_a)
                                           ↓
                                 Conv3d(s) (conv_b), ...
                                         ↓ (↓)
                              Normalization(s) (norm_b), ...
                                         ↓ (↓)
                                 Activation(s) (act_b), ...
                                         ↓ (↓)
                                  Reduce (sum or cat)
                                           ↓
                                    Conv3d (conv_c)
                                           ↓
                                 Normalization (norm_c)

    ``conv_b``, ``norm_b`` and ``act_b`` are ``nn.ModuleList`` of equal length
    (``None`` entries skip that norm or activation). ``norm_c`` is flagged
    ``block_final_bn`` so that initialisation zeroes it.
    """

    def __init__(
        self,
        *,
        conv_a: nn.Module | None,
        norm_a: nn.Module | None,
        act_a: nn.Module | None,
        conv_b: nn.ModuleList,
        norm_b: nn.ModuleList,
        act_b: nn.ModuleList,
        conv_c: nn.Module,
        norm_c: nn.Module | None,
        reduce_method: str = "sum",
    ) -> None:
        super().__init__()
        set_attributes(self, locals())
        if conv_b is None or conv_c is None:
            raise ConfigError("SeparableBottleneckBlock: conv_b and conv_c are required")
        if reduce_method not in ("sum", "cat"):
            raise ConfigError(f"SeparableBottleneckBlock: reduce_method must be 'sum' or 'cat', got {reduce_method!r}")
        if self.norm_c is not None:
            self.norm_c.block_final_bn = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv_a is not None:
            x = self.conv_a(x)
        if self.norm_a is not None:
            x = self.norm_a(x)
        if self.act_a is not None:
            x = self.act_a(x)

        output = []
        for conv, norm, act in zip(self.conv_b, self.norm_b, self.act_b):
            x_ = conv(x)
            if norm is not None:
                x_ = norm(x_)
            if act is not None:
                x_ = act(x_)
            output.append(x_)
        x = torch.stack(output, dim=0).sum(dim=0) if self.reduce_method == "sum" else torch.cat(output, dim=1)

        x = self.conv_c(x)
        if self.norm_c is not None:
            x = self.norm_c(x)
        return x


class BottleneckBlock(nn.Module):
    """Three convolutions, each followed by an optional norm and (but the last) an activation.

    ::

                                    Conv3d (conv_a)
                                           ↓
                                 Normalization (norm_a)
                                           ↓
                                   Activation (act_a)
                                           ↓
                                    Conv3d (conv_b)
                                           ↓
                                 Normalization (norm_b)
                                           ↓
                                   Activation (act_b)
                                           ↓
                                    Conv3d (conv_c)
                                           ↓
                                 Normalization (norm_c)

    ``norm_c`` is flagged ``block_final_bn`` so that initialisation zeroes it and
    the block starts as the identity of its residual. The builder is
    :func:`create_bottleneck_block`.
    """

    def __init__(
        self,
        *,
        conv_a: nn.Module | None = None,
        norm_a: nn.Module | None = None,
        act_a: nn.Module | None = None,
        conv_b: nn.Module | None = None,
        norm_b: nn.Module | None = None,
        act_b: nn.Module | None = None,
        conv_c: nn.Module | None = None,
        norm_c: nn.Module | None = None,
    ) -> None:
        super().__init__()
        set_attributes(self, locals())
        if conv_a is None or conv_b is None or conv_c is None:
            raise ConfigError("BottleneckBlock: conv_a, conv_b and conv_c are required")
        if self.norm_c is not None:
            self.norm_c.block_final_bn = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_a(x)
        if self.norm_a is not None:
            x = self.norm_a(x)
        if self.act_a is not None:
            x = self.act_a(x)
        x = self.conv_b(x)
        if self.norm_b is not None:
            x = self.norm_b(x)
        if self.act_b is not None:
            x = self.act_b(x)
        x = self.conv_c(x)
        if self.norm_c is not None:
            x = self.norm_c(x)
        return x


class ResStage(nn.Module):
    """Residual blocks applied in order (``self.res_blocks``). The builder is :func:`create_res_stage`.

    ::

                                        Input
                                           ↓
                                       ResBlock
                                           ↓
                                           .
                                           .
                                           .
                                           ↓
                                       ResBlock
    """

    def __init__(self, res_blocks: nn.ModuleList) -> None:
        super().__init__()
        self.res_blocks = res_blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for res_block in self.res_blocks:
            x = res_block(x)
        return x


# Hub entries: PyTorchVideo's hub/resnet.py configurations with the published figures
# (PyTorchVideo model zoo, Kinetics-400 and AVA v2.2 tables). The Kinetics figures were
# measured on 3 x 10 views of 256 px crops (the GFLOPs per view are those of a 256 px
# input), hence the default crop of 256 although the networks train on 224 px.
_KINETICS = f"{PTV_CHECKPOINT_ROOT}/kinetics"
# The stages stride 32 in space and the fixed head pool needs 7x7 positions: 193 px at least.
_MIN_SIZE = 193


@register_model(
    ModelSpec(
        family="resnet",
        input=InputSpec.clip(8, 256, min_frames=8, min_size=_MIN_SIZE),
        sampling_rate=8,
        params_m=24.33,
        gflops=25.89,
        top1=71.46,
        top5=89.68,
        checkpoint=f"{_KINETICS}/C2D_8x8_R50.pyth",
        classifier="blocks.6.proj",
    )
)
def c2d_r50(**kwargs: Any) -> nn.Module:
    """C2D R50 (8x8, Kinetics-400): a 2D ResNet-50 applied per frame, with one temporal pooling after stage 1."""
    return create_resnet(
        stem_conv_kernel_size=(1, 7, 7),
        stage1_pool=nn.MaxPool3d,
        stage_conv_a_kernel_size=((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1)),
        **kwargs,
    )


@register_model(
    ModelSpec(
        family="resnet",
        input=InputSpec.clip(8, 256, min_frames=8, min_size=_MIN_SIZE),
        sampling_rate=8,
        params_m=28.04,
        gflops=37.53,
        top1=73.27,
        top5=90.70,
        checkpoint=f"{_KINETICS}/I3D_8x8_R50.pyth",
        classifier="blocks.6.proj",
    )
)
def i3d_r50(**kwargs: Any) -> nn.Module:
    """I3D R50 (8x8, Kinetics-400): ResNet-50 with kernels inflated over time (Carreira & Zisserman, 2017)."""
    return create_resnet(
        stem_conv_kernel_size=(5, 7, 7),
        stage1_pool=nn.MaxPool3d,
        stage_conv_a_kernel_size=(
            (3, 1, 1),
            [(3, 1, 1), (1, 1, 1)],
            [(3, 1, 1), (1, 1, 1)],
            [(1, 1, 1), (3, 1, 1)],
        ),
        **kwargs,
    )


@register_model(
    ModelSpec(
        family="resnet",
        input=InputSpec.clip(8, 256, min_frames=8, min_size=_MIN_SIZE),
        sampling_rate=8,
        params_m=32.45,
        gflops=54.52,
        top1=74.58,
        top5=91.63,
        checkpoint=f"{_KINETICS}/SLOW_8x8_R50.pyth",
        classifier="blocks.5.proj",
    )
)
def slow_r50(**kwargs: Any) -> nn.Module:
    """Slow R50 (8x8, Kinetics-400): SlowFast's slow pathway alone (Feichtenhofer et al., 2019)."""
    return create_resnet(stem_conv_kernel_size=(1, 7, 7), head_pool_kernel_size=(8, 7, 7), model_depth=50, **kwargs)


@register_model(
    ModelSpec(
        family="resnet",
        input=InputSpec.clip(4, 256, min_frames=4),
        sampling_rate=16,
        num_classes=80,
        dataset="AVA v2.2",
        task="detection",
        params_m=31.78,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/ava/SLOW_4x16_R50_DETECTION.pyth",
        classifier="detection_head.proj",
        notes=(
            "forward(x, bboxes): bboxes are [N, 5] rows (batch_index, x1, y1, x2, y2) in input pixels; "
            "returns [N, 80] sigmoid scores. The head pools exactly 4 frames (more raise a LayoutError). "
            "Published: 19.5 mAP (AVA v2.2); the table's 31.78M parameters differ from the architecture's 31.80M."
        ),
    )
)
def slow_r50_detection(**kwargs: Any) -> nn.Module:
    """Slow R50 (4x16) with an RoIAlign head, fine-tuned on AVA v2.2 for action detection."""
    return create_resnet_with_roi_head(**kwargs)
