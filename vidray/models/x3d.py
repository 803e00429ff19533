"""X3D: a ResNet expanded along width, depth, frames and resolution (Feichtenhofer, CVPR 2020, arXiv:2004.04730).

A network is an X3D stem, four residual stages of channel-wise (depthwise)
bottlenecks with squeeze-excitation on every other block, and a head that
projects, pools and projects again before the classifier. Norm, activation,
the bottleneck builder and the inner activation are injectable, as in
PyTorchVideo; state_dict keys are PyTorchVideo's, so its X3D checkpoints load.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from vidray.errors import ConfigError
from vidray.layers.convolutions import Conv2plus1d
from vidray.layers.squeeze_excitation import SqueezeExcitation
from vidray.layers.swish import Swish
from vidray.layers.utils import round_repeats, round_width, set_attributes
from vidray.models.head import ResNetBasicHead
from vidray.models.net import Net
from vidray.models.registry import PTV_CHECKPOINT_ROOT, InputSpec, ModelSpec, register_model
from vidray.models.resnet import BottleneckBlock, ResBlock, ResStage, _act, _norm, _trivial_sum
from vidray.models.stem import ResNetBasicStem

Size3 = tuple[int, int, int]
ModuleFactory = Callable[..., nn.Module]


def create_x3d_stem(
    *,
    # Conv configs.
    in_channels: int,
    out_channels: int,
    conv_kernel_size: Size3 = (5, 3, 3),
    conv_stride: Size3 = (1, 2, 2),
    conv_padding: Size3 = (2, 1, 1),
    # BN configs.
    norm: ModuleFactory | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation: ModuleFactory | None = nn.ReLU,
) -> nn.Module:
    """Builds X3D's stem: a spatial convolution, a depthwise temporal one, a norm and an activation.

    ::

                                        Conv_xy
                                           ↓
                                        Conv_t
                                           ↓
                                     Normalization
                                           ↓
                                       Activation

    The two convolutions sit in a :class:`Conv2plus1d` under PyTorchVideo's
    names, which are swapped: ``conv.conv_t`` holds the spatial ``1 x k x k``
    convolution (applied first) and ``conv.conv_xy`` the depthwise temporal one,
    as in its checkpoints.

    Args:
        in_channels: input channels (3 for RGB).
        out_channels: output channels.
        conv_kernel_size: ``(T, H, W)`` kernel, split into ``(1, H, W)`` and ``(T, 1, 1)``.
        conv_stride: ``(T, H, W)`` stride, split the same way.
        conv_padding: ``(T, H, W)`` padding, split the same way.
        norm: builds the normalisation (``None``: none).
        norm_eps: normalisation epsilon.
        norm_momentum: normalisation momentum.
        activation: builds the activation (``None``: none).
    """
    conv_xy_module = nn.Conv3d(
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=(1, conv_kernel_size[1], conv_kernel_size[2]),
        stride=(1, conv_stride[1], conv_stride[2]),
        padding=(0, conv_padding[1], conv_padding[2]),
        bias=False,
    )
    conv_t_module = nn.Conv3d(
        in_channels=out_channels,
        out_channels=out_channels,
        kernel_size=(conv_kernel_size[0], 1, 1),
        stride=(conv_stride[0], 1, 1),
        padding=(conv_padding[0], 0, 0),
        bias=False,
        groups=out_channels,
    )
    return ResNetBasicStem(
        conv=Conv2plus1d(conv_t=conv_xy_module, norm=None, activation=None, conv_xy=conv_t_module),
        norm=_norm(norm, out_channels, norm_eps, norm_momentum),
        activation=_act(activation),
        pool=None,
    )


def create_x3d_bottleneck_block(
    *,
    # Convolution configs.
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    conv_kernel_size: Size3 = (3, 3, 3),
    conv_stride: Size3 = (1, 2, 2),
    # Norm configs.
    norm: ModuleFactory | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    se_ratio: float = 0.0625,
    # Activation configs.
    activation: ModuleFactory | None = nn.ReLU,
    inner_act: ModuleFactory | None = Swish,
) -> nn.Module:
    """Builds X3D's bottleneck, a :class:`~vidray.models.resnet.BottleneckBlock` whose middle convolution is depthwise.

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
                                 Squeeze-and-Excitation
                                           ↓
                                   Activation (act_b)
                                           ↓
                                    Conv3d (conv_c)
                                           ↓
                                 Normalization (norm_c)

    ``norm_b`` is ``Sequential(norm, SE)`` (an ``Identity`` for each one left out).

    Args:
        dim_in: input channels.
        dim_inner: channels of the depthwise convolution.
        dim_out: output channels.
        conv_kernel_size: kernel of the depthwise ``conv_b`` (padded to keep the size).
        conv_stride: stride of ``conv_b``.
        norm: builds the normalisations (``None``: none).
        norm_eps: normalisation epsilon.
        norm_momentum: normalisation momentum.
        se_ratio: if > 0, squeeze-excitation after ``conv_b`` with
            ``round_width(dim_inner, se_ratio)`` bottleneck channels.
        activation: builds ``act_a`` (``None``: none).
        inner_act: builds ``act_b``, after the SE (``None``: none).
    """
    conv_a = nn.Conv3d(in_channels=dim_in, out_channels=dim_inner, kernel_size=(1, 1, 1), bias=False)
    conv_b = nn.Conv3d(
        in_channels=dim_inner,
        out_channels=dim_inner,
        kernel_size=conv_kernel_size,
        stride=conv_stride,
        padding=[size // 2 for size in conv_kernel_size],
        bias=False,
        groups=dim_inner,
        dilation=(1, 1, 1),
    )
    se = (
        SqueezeExcitation(num_channels=dim_inner, num_channels_reduced=round_width(dim_inner, se_ratio), is_3d=True)
        if se_ratio > 0.0
        else nn.Identity()
    )
    conv_c = nn.Conv3d(in_channels=dim_inner, out_channels=dim_out, kernel_size=(1, 1, 1), bias=False)
    norm_b = _norm(norm, dim_inner, norm_eps, norm_momentum)
    return BottleneckBlock(
        conv_a=conv_a,
        norm_a=_norm(norm, dim_inner, norm_eps, norm_momentum),
        act_a=_act(activation),
        conv_b=conv_b,
        norm_b=nn.Sequential(nn.Identity() if norm_b is None else norm_b, se),
        act_b=_act(inner_act),
        conv_c=conv_c,
        norm_c=_norm(norm, dim_out, norm_eps, norm_momentum),
    )


def create_x3d_res_block(
    *,
    # Bottleneck Block configs.
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    bottleneck: ModuleFactory = create_x3d_bottleneck_block,
    use_shortcut: bool = True,
    # Conv configs.
    conv_kernel_size: Size3 = (3, 3, 3),
    conv_stride: Size3 = (1, 2, 2),
    # Norm configs.
    norm: ModuleFactory | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    se_ratio: float = 0.0625,
    # Activation configs.
    activation: ModuleFactory | None = nn.ReLU,
    inner_act: ModuleFactory | None = Swish,
) -> nn.Module:
    """Builds an X3D residual block, a :class:`~vidray.models.resnet.ResBlock` around ``bottleneck``.

    ::

                                         Input
                                           |-------+
                                           ↓       |
                                         Block     |
                                           ↓       |
                                       Summation ←-+
                                           ↓
                                       Activation

    The shortcut is a strided 1x1x1 convolution when the block changes the
    resolution or the channels (followed by a norm when the channels change),
    else the identity; ``use_shortcut=False`` drops the convolution.

    Args:
        dim_in: input channels.
        dim_inner: channels inside the bottleneck.
        dim_out: output channels.
        bottleneck: builds the main branch, called with this function's
            remaining arguments (e.g. :func:`create_x3d_bottleneck_block`).
        use_shortcut: give the shortcut its projection when the shapes change.
        conv_kernel_size: kernel of the bottleneck's ``conv_b``.
        conv_stride: stride of the bottleneck's ``conv_b`` (and of the shortcut).
        norm: builds the normalisations (``None``: none).
        norm_eps: normalisation epsilon.
        norm_momentum: normalisation momentum.
        se_ratio: the bottleneck's squeeze-excitation ratio (0: none).
        activation: builds the activations, after the sum too (``None``: none).
        inner_act: builds the bottleneck's activation after the SE (``None``: none).
    """
    project = (dim_in != dim_out or math.prod(conv_stride) > 1) and use_shortcut
    normalize = norm is not None and dim_in != dim_out and use_shortcut
    return ResBlock(
        branch1_conv=(
            nn.Conv3d(dim_in, dim_out, kernel_size=(1, 1, 1), stride=conv_stride, bias=False) if project else None
        ),
        branch1_norm=_norm(norm, dim_out, norm_eps, norm_momentum) if normalize else None,
        branch2=bottleneck(
            dim_in=dim_in,
            dim_inner=dim_inner,
            dim_out=dim_out,
            conv_kernel_size=conv_kernel_size,
            conv_stride=conv_stride,
            norm=norm,
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
            se_ratio=se_ratio,
            activation=activation,
            inner_act=inner_act,
        ),
        activation=_act(activation),
        branch_fusion=_trivial_sum,
    )


def create_x3d_res_stage(
    *,
    # Stage configs.
    depth: int,
    # Bottleneck Block configs.
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    bottleneck: ModuleFactory = create_x3d_bottleneck_block,
    # Conv configs.
    conv_kernel_size: Size3 = (3, 3, 3),
    conv_stride: Size3 = (1, 2, 2),
    # Norm configs.
    norm: ModuleFactory | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    se_ratio: float = 0.0625,
    # Activation configs.
    activation: ModuleFactory | None = nn.ReLU,
    inner_act: ModuleFactory | None = Swish,
) -> nn.Module:
    """Builds an X3D stage: ``depth`` residual blocks, the first one strided, SE on every other block.

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

    Args:
        depth: number of blocks.
        dim_in: input channels of the first block.
        dim_inner: channels inside the bottlenecks.
        dim_out: output channels of every block.
        bottleneck: builds each block's main branch.
        conv_kernel_size: kernel of the bottlenecks' ``conv_b``.
        conv_stride: stride of the first block (the others have stride 1).
        norm: builds the normalisations (``None``: none).
        norm_eps: normalisation epsilon.
        norm_momentum: normalisation momentum.
        se_ratio: squeeze-excitation ratio of blocks 1, 3, 5, ... (0: none).
        activation: builds the activations (``None``: none).
        inner_act: builds the bottlenecks' activation after the SE (``None``: none).
    """
    res_blocks = [
        create_x3d_res_block(
            dim_in=dim_in if idx == 0 else dim_out,
            dim_inner=dim_inner,
            dim_out=dim_out,
            bottleneck=bottleneck,
            conv_kernel_size=conv_kernel_size,
            conv_stride=conv_stride if idx == 0 else (1, 1, 1),
            norm=norm,
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
            se_ratio=se_ratio if idx % 2 == 0 else 0.0,
            activation=activation,
            inner_act=inner_act,
        )
        for idx in range(depth)
    ]
    return ResStage(res_blocks=nn.ModuleList(res_blocks))


def create_x3d_head(
    *,
    # Projection configs.
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    num_classes: int,
    # Pooling configs.
    pool_act: ModuleFactory | None = nn.ReLU,
    pool_kernel_size: Size3 | None = (13, 5, 5),
    # BN configs.
    norm: ModuleFactory | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    bn_lin5_on: bool = False,
    # Dropout configs.
    dropout_rate: float = 0.5,
    # Activation configs.
    activation: ModuleFactory | None = nn.Softmax,
    # Output configs.
    output_with_global_average: bool = True,
) -> nn.Module:
    """Builds X3D's head, a :class:`~vidray.models.head.ResNetBasicHead` pooling through a :class:`ProjectedPool`.

    ::

                                     ProjectedPool
                                           ↓
                                        Dropout
                                           ↓
                                       Projection
                                           ↓
                                       Activation
                                           ↓
                                       Averaging

    Args:
        dim_in: channels of the last stage.
        dim_inner: channels of the projection before the pool.
        dim_out: channels of the projection after the pool (the classifier's input).
        num_classes: classes of the classifier.
        pool_act: builds the activations around the pool (``None``: none).
        pool_kernel_size: the average pool's ``(T, H, W)`` kernel (stride 1);
            ``None`` pools adaptively to ``1 x 1 x 1``.
        norm: builds the normalisations (``None``: none).
        norm_eps: normalisation epsilon.
        norm_momentum: normalisation momentum.
        bn_lin5_on: normalise after the post-pool projection too.
        dropout_rate: dropout before the classifier (0: none).
        activation: builds the activation after the classifier (``nn.Softmax``
            is applied over classes; ``None``: logits).
        output_with_global_average: average what remains of ``T x H x W`` and
            return ``[B, num_classes]``.
    """
    pool = nn.AdaptiveAvgPool3d((1, 1, 1)) if pool_kernel_size is None else nn.AvgPool3d(pool_kernel_size, stride=1)
    projected_pool = ProjectedPool(
        pre_conv=nn.Conv3d(in_channels=dim_in, out_channels=dim_inner, kernel_size=(1, 1, 1), bias=False),
        pre_norm=_norm(norm, dim_inner, norm_eps, norm_momentum),
        pre_act=_act(pool_act),
        pool=pool,
        post_conv=nn.Conv3d(in_channels=dim_inner, out_channels=dim_out, kernel_size=(1, 1, 1), bias=False),
        post_norm=_norm(norm, dim_out, norm_eps, norm_momentum) if bn_lin5_on else None,
        post_act=_act(pool_act),
    )
    if activation is None:
        activation_module = None
    elif activation == nn.Softmax:
        activation_module = activation(dim=1)
    else:
        activation_module = activation()
    return ResNetBasicHead(
        proj=nn.Linear(dim_out, num_classes, bias=True),
        activation=activation_module,
        pool=projected_pool,
        dropout=nn.Dropout(dropout_rate) if dropout_rate > 0 else None,
        output_pool=nn.AdaptiveAvgPool3d(1) if output_with_global_average else None,
    )


def create_x3d(
    *,
    # Input clip configs.
    input_channel: int = 3,
    input_clip_length: int = 13,
    input_crop_size: int = 160,
    # Model configs.
    model_num_class: int = 400,
    dropout_rate: float = 0.5,
    width_factor: float = 2.0,
    depth_factor: float = 2.2,
    # Normalization configs.
    norm: ModuleFactory | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation: ModuleFactory | None = nn.ReLU,
    # Stem configs.
    stem_dim_in: int = 12,
    stem_conv_kernel_size: Size3 = (5, 3, 3),
    stem_conv_stride: Size3 = (1, 2, 2),
    # Stage configs.
    stage_conv_kernel_size: tuple[Size3, Size3, Size3, Size3] = ((3, 3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
    stage_spatial_stride: tuple[int, int, int, int] = (2, 2, 2, 2),
    stage_temporal_stride: tuple[int, int, int, int] = (1, 1, 1, 1),
    bottleneck: ModuleFactory = create_x3d_bottleneck_block,
    bottleneck_factor: float = 2.25,
    se_ratio: float = 0.0625,
    inner_act: ModuleFactory | None = Swish,
    # Head configs.
    head_dim_out: int = 2048,
    head_pool_act: ModuleFactory | None = nn.ReLU,
    head_bn_lin5_on: bool = False,
    head_activation: ModuleFactory | None = nn.Softmax,
    head_output_with_global_average: bool = True,
) -> nn.Module:
    """Builds X3D (Feichtenhofer, "X3D: Expanding Architectures for Efficient Video Recognition").

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

    Stage widths double from ``stem_dim_in`` and are scaled by
    ``width_factor``; stage depths (1, 2, 5, 3) are scaled by ``depth_factor``.
    The head's average pool covers the whole feature map of an
    ``input_clip_length x input_crop_size²`` clip, so the network takes clips
    at least that large (larger ones are classified fully convolutionally).

    Args:
        input_channel: channels of the input clip.
        input_clip_length: frames of the input clip (XS: 4, S: 13, M: 16, L: 16).
        input_crop_size: side of the input crop (XS: 160, S: 160, M: 224, L: 312).
        model_num_class: classes of the classifier.
        dropout_rate: dropout before the classifier.
        width_factor: channel expansion factor.
        depth_factor: depth expansion factor (XS/S/M: 2.2, L: 5.0).
        norm: builds the normalisations.
        norm_eps: normalisation epsilon.
        norm_momentum: normalisation momentum.
        activation: builds the activations.
        stem_dim_in: stem channels before the width expansion.
        stem_conv_kernel_size: the stem's ``(T, H, W)`` kernel.
        stem_conv_stride: the stem's ``(T, H, W)`` stride.
        stage_conv_kernel_size: each stage's depthwise kernel.
        stage_spatial_stride: each stage's spatial stride.
        stage_temporal_stride: each stage's temporal stride.
        bottleneck: builds the blocks' main branches.
        bottleneck_factor: the bottlenecks' inner-channel expansion.
        se_ratio: squeeze-excitation ratio (every other block; 0: none).
        inner_act: builds the bottlenecks' activation after the SE.
        head_dim_out: channels of the head's post-pool projection.
        head_pool_act: builds the activations around the head's pool.
        head_bn_lin5_on: normalise after the head's post-pool projection.
        head_activation: builds the activation after the classifier (``None``: logits).
        head_output_with_global_average: average the head's output over ``T x H x W``.
    """
    stem_dim_out = round_width(stem_dim_in, width_factor)
    blocks: list[nn.Module] = [
        create_x3d_stem(
            in_channels=input_channel,
            out_channels=stem_dim_out,
            conv_kernel_size=stem_conv_kernel_size,
            conv_stride=stem_conv_stride,
            conv_padding=tuple(size // 2 for size in stem_conv_kernel_size),
            norm=norm,
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
            activation=activation,
        )
    ]

    stage_depths = (1, 2, 5, 3)
    stage_dims = [stem_dim_in]
    for _ in stage_depths[1:]:
        stage_dims.append(round_width(stage_dims[-1], 2.0, divisor=8))

    dim_in = stem_dim_out
    for idx, stage_depth in enumerate(stage_depths):
        dim_out = round_width(stage_dims[idx], width_factor)
        dim_inner = int(bottleneck_factor * dim_out)
        blocks.append(
            create_x3d_res_stage(
                depth=round_repeats(stage_depth, depth_factor),
                dim_in=dim_in,
                dim_inner=dim_inner,
                dim_out=dim_out,
                bottleneck=bottleneck,
                conv_kernel_size=stage_conv_kernel_size[idx],
                conv_stride=(stage_temporal_stride[idx], stage_spatial_stride[idx], stage_spatial_stride[idx]),
                norm=norm,
                norm_eps=norm_eps,
                norm_momentum=norm_momentum,
                se_ratio=se_ratio,
                activation=activation,
                inner_act=inner_act,
            )
        )
        dim_in = dim_out

    total_spatial_stride = stem_conv_stride[1] * math.prod(stage_spatial_stride)
    total_temporal_stride = stem_conv_stride[0] * math.prod(stage_temporal_stride)
    if input_clip_length < total_temporal_stride:
        raise ConfigError(
            f"create_x3d: input_clip_length={input_clip_length} is shorter than the total temporal stride "
            f"{total_temporal_stride}"
        )
    if input_crop_size < total_spatial_stride:
        raise ConfigError(
            f"create_x3d: input_crop_size={input_crop_size} is smaller than the total spatial stride "
            f"{total_spatial_stride}"
        )
    # The head pools the whole final feature map of the nominal input.
    final_size = math.ceil(input_crop_size / total_spatial_stride)
    blocks.append(
        create_x3d_head(
            dim_in=dim_out,
            dim_inner=dim_inner,
            dim_out=head_dim_out,
            num_classes=model_num_class,
            pool_act=head_pool_act,
            pool_kernel_size=(input_clip_length // total_temporal_stride, final_size, final_size),
            norm=norm,
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
            bn_lin5_on=head_bn_lin5_on,
            dropout_rate=dropout_rate,
            activation=head_activation,
            output_with_global_average=head_output_with_global_average,
        )
    )
    return Net(blocks=nn.ModuleList(blocks))


class ProjectedPool(nn.Module):
    """X3D's head pooling: a projection, norm and activation on each side of a pool.

    ::

                                    Conv3d (pre_conv)
                                           ↓
                                 Normalization (pre_norm)
                                           ↓
                                   Activation (pre_act)
                                           ↓
                                        Pool3d
                                           ↓
                                    Conv3d (post_conv)
                                           ↓
                                 Normalization (post_norm)
                                           ↓
                                   Activation (post_act)

    ``pre_conv``, ``pool`` and ``post_conv`` are required; a ``None`` norm or
    activation is skipped.
    """

    def __init__(
        self,
        *,
        pre_conv: nn.Module | None = None,
        pre_norm: nn.Module | None = None,
        pre_act: nn.Module | None = None,
        pool: nn.Module | None = None,
        post_conv: nn.Module | None = None,
        post_norm: nn.Module | None = None,
        post_act: nn.Module | None = None,
    ) -> None:
        super().__init__()
        set_attributes(self, locals())
        missing = [name for name in ("pre_conv", "pool", "post_conv") if getattr(self, name) is None]
        if missing:
            raise ConfigError(f"ProjectedPool: pre_conv, pool and post_conv are required; missing {', '.join(missing)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_conv(x)
        if self.pre_norm is not None:
            x = self.pre_norm(x)
        if self.pre_act is not None:
            x = self.pre_act(x)
        x = self.pool(x)
        x = self.post_conv(x)
        if self.post_norm is not None:
            x = self.post_norm(x)
        if self.post_act is not None:
            x = self.post_act(x)
        return x


def _x3d_spec(name: str, frames: int, crop: int, test_crop: int, sampling_rate: int, **published: Any) -> ModelSpec:
    return ModelSpec(
        family="x3d",
        input=InputSpec.clip(frames, test_crop, min_frames=frames, min_size=crop),
        sampling_rate=sampling_rate,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/kinetics/{name}.pyth",
        classifier="blocks.5.proj",
        notes=(
            f"The head's pool is sized for {frames}x{crop}² clips (the training crop), so smaller inputs are "
            f"refused; the published accuracy (3 crops x 10 clips) and GFLOPs are at the {test_crop}² test crop."
        ),
        **published,
    )


@register_model(_x3d_spec("X3D_XS", 4, 160, 182, 12, params_m=3.79, gflops=0.91, top1=69.12, top5=88.63))
def x3d_xs(**kwargs: Any) -> nn.Module:
    """X3D-XS trained on Kinetics-400."""
    return create_x3d(input_clip_length=4, input_crop_size=160, **kwargs)


@register_model(_x3d_spec("X3D_S", 13, 160, 182, 6, params_m=3.79, gflops=2.96, top1=73.33, top5=91.27))
def x3d_s(**kwargs: Any) -> nn.Module:
    """X3D-S trained on Kinetics-400."""
    return create_x3d(input_clip_length=13, input_crop_size=160, **kwargs)


@register_model(_x3d_spec("X3D_M", 16, 224, 256, 5, params_m=3.79, gflops=6.72, top1=75.94, top5=92.72))
def x3d_m(**kwargs: Any) -> nn.Module:
    """X3D-M trained on Kinetics-400."""
    return create_x3d(input_clip_length=16, input_crop_size=224, **kwargs)


@register_model(_x3d_spec("X3D_L", 16, 312, 356, 5, params_m=6.15, gflops=26.64, top1=77.44, top5=93.31))
def x3d_l(**kwargs: Any) -> nn.Module:
    """X3D-L trained on Kinetics-400."""
    return create_x3d(input_clip_length=16, input_crop_size=312, depth_factor=5.0, **kwargs)
