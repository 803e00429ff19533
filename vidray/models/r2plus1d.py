"""R(2+1)D (Tran, Wang, Torresani, Ray, LeCun, Paluri, CVPR 2018): ResNets with factorised (2+1)D convolutions.

Each 3x3x3 bottleneck convolution becomes a 1x3x3 spatial and a 3x1x1 temporal
convolution with a norm and activation between
(:class:`~vidray.layers.convolutions.Conv2plus1d`): more non-linearity for the
same parameters, and easier optimisation than full 3D kernels.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Sequence

from torch import nn

from vidray.layers.convolutions import create_conv_2plus1d
from vidray.models.head import create_res_basic_head
from vidray.models.net import Net
from vidray.models.registry import PTV_CHECKPOINT_ROOT, InputSpec, ModelSpec, register_model
from vidray.models.resnet import create_bottleneck_block, create_res_stage, stage_depths, stage_dims
from vidray.models.stem import create_res_basic_stem

Size3 = tuple[int, int, int]


def create_2plus1d_bottleneck_block(
    *,
    # Convolution configs.
    dim_in: int,
    dim_inner: int,
    dim_out: int,
    conv_a_kernel_size: Size3 = (1, 1, 1),
    conv_a_stride: Size3 = (1, 1, 1),
    conv_a_padding: Size3 = (0, 0, 0),
    conv_a: Callable[..., nn.Module] = nn.Conv3d,
    conv_b_kernel_size: Size3 = (3, 3, 3),
    conv_b_stride: Size3 = (2, 2, 2),
    conv_b_padding: Size3 = (1, 1, 1),
    conv_b_num_groups: int = 1,
    conv_b_dilation: Size3 = (1, 1, 1),
    conv_b: Callable[..., nn.Module] = create_conv_2plus1d,
    conv_c: Callable[..., nn.Module] = nn.Conv3d,
    # Norm configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
) -> nn.Module:
    """Builds a bottleneck block whose ``conv_b`` is a (2+1)D convolution.

    ::

                                    Conv3d (conv_a)
                                           ↓
                                 Normalization (norm_a)
                                           ↓
                                   Activation (act_a)
                                           ↓
                                  Conv(2+1)d (conv_b)
                                           ↓
                                 Normalization (norm_b)
                                           ↓
                                   Activation (act_b)
                                           ↓
                                    Conv3d (conv_c)
                                           ↓
                                 Normalization (norm_c)

    The (2+1)D convolution's inner norm and activation are ``norm`` and
    ``activation``. As in PyTorchVideo, ``conv_b`` is always
    :func:`~vidray.layers.convolutions.create_conv_2plus1d` (the argument is
    accepted for a uniform bottleneck signature). Other arguments as in
    :func:`~vidray.models.resnet.create_bottleneck_block`.
    """
    return create_bottleneck_block(
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
        conv_b=partial(
            create_conv_2plus1d, norm=norm, norm_eps=norm_eps, norm_momentum=norm_momentum, activation=activation
        ),
        conv_c=conv_c,
        norm=norm,
        norm_eps=norm_eps,
        norm_momentum=norm_momentum,
        activation=activation,
    )


def create_r2plus1d(
    *,
    # Input clip configs.
    input_channel: int = 3,
    # Model configs.
    model_depth: int = 50,
    model_num_class: int = 400,
    dropout_rate: float = 0.0,
    # Normalization configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
    # Stem configs.
    stem_dim_out: int = 64,
    stem_conv_kernel_size: Size3 = (1, 7, 7),
    stem_conv_stride: Size3 = (1, 2, 2),
    # Stage configs.
    stage_conv_a_kernel_size: Sequence[Size3] = ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1)),
    stage_conv_b_kernel_size: Sequence[Size3] = ((3, 3, 3), (3, 3, 3), (3, 3, 3), (3, 3, 3)),
    stage_conv_b_num_groups: Sequence[int] = (1, 1, 1, 1),
    stage_conv_b_dilation: Sequence[Size3] = ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1)),
    stage_spatial_stride: Sequence[int] = (2, 2, 2, 2),
    stage_temporal_stride: Sequence[int] = (1, 1, 2, 2),
    stage_bottleneck: Sequence[Callable[..., nn.Module]] = (
        create_2plus1d_bottleneck_block,
        create_2plus1d_bottleneck_block,
        create_2plus1d_bottleneck_block,
        create_2plus1d_bottleneck_block,
    ),
    # Head configs.
    head_pool: Callable[..., nn.Module] | None = nn.AvgPool3d,
    head_pool_kernel_size: Size3 = (4, 7, 7),
    head_output_size: Size3 = (1, 1, 1),
    head_activation: Callable[..., nn.Module] | None = nn.Softmax,
    head_output_with_global_average: bool = True,
) -> nn.Module:
    """Builds an R(2+1)D network: stem (no pooling), four stages of (2+1)D bottlenecks, head.

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

    As in PyTorchVideo, the head ends with a softmax by default
    (``head_activation=nn.Softmax``): the model returns class probabilities.

    Args:
        input_channel: channels of the input clip.
        model_depth: 50, 101 or 152.
        model_num_class: number of classes.
        dropout_rate: dropout before the classifier.
        norm: builds every normalisation (``None``: none).
        norm_eps: normalisation epsilon of every norm (PyTorchVideo accepted it
            but left the defaults in place; the defaults are the same).
        norm_momentum: normalisation momentum of every norm (likewise).
        activation: builds every activation (``None``: none).
        stem_dim_out: output channels of the stem.
        stem_conv_kernel_size, stem_conv_stride: the stem convolution.
        stage_conv_a_kernel_size, stage_conv_b_kernel_size: per stage kernels.
        stage_conv_b_num_groups, stage_conv_b_dilation: per stage ``conv_b`` groups and dilation.
        stage_spatial_stride, stage_temporal_stride: per stage strides (applied by ``conv_b``).
        stage_bottleneck: per stage bottleneck builders.
        head_pool: builds the head's pooling.
        head_pool_kernel_size: the head pool's kernel (fixes the smallest input).
        head_output_size: output size of an adaptive head pool.
        head_activation: builds the activation after the classifier (``None``: logits).
        head_output_with_global_average: average the head output to ``[B, classes]``.
    """
    depths = stage_depths(model_depth, "create_r2plus1d")
    blocks = [
        create_res_basic_stem(
            in_channels=input_channel,
            out_channels=stem_dim_out,
            conv_kernel_size=stem_conv_kernel_size,
            conv_stride=stem_conv_stride,
            conv_padding=[size // 2 for size in stem_conv_kernel_size],
            pool=None,
            norm=norm,
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
            activation=activation,
        )
    ]

    for idx, (depth, (stage_dim_in, stage_dim_out)) in enumerate(zip(depths, stage_dims(stem_dim_out, len(depths)))):
        blocks.append(
            create_res_stage(
                depth=depth,
                dim_in=stage_dim_in,
                dim_inner=stage_dim_out // 4,
                dim_out=stage_dim_out,
                bottleneck=stage_bottleneck[idx],
                conv_a_kernel_size=stage_conv_a_kernel_size[idx],
                conv_a_stride=[1, 1, 1],
                conv_a_padding=[size // 2 for size in stage_conv_a_kernel_size[idx]],
                conv_b_kernel_size=stage_conv_b_kernel_size[idx],
                conv_b_stride=(stage_temporal_stride[idx], stage_spatial_stride[idx], stage_spatial_stride[idx]),
                conv_b_padding=[size // 2 for size in stage_conv_b_kernel_size[idx]],
                conv_b_num_groups=stage_conv_b_num_groups[idx],
                conv_b_dilation=stage_conv_b_dilation[idx],
                norm=norm,
                norm_eps=norm_eps,
                norm_momentum=norm_momentum,
                activation=activation,
            )
        )

    blocks.append(
        create_res_basic_head(
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


@register_model(
    ModelSpec(
        family="r2plus1d",
        # Temporal stride 4 and the (4, 7, 7) head pool: at least 13 frames and 193 px.
        input=InputSpec.clip(16, 256, min_frames=13, min_size=193),
        sampling_rate=4,
        params_m=28.11,
        gflops=76.45,
        top1=76.01,
        top5=92.23,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/kinetics/R2PLUS1D_16x4_R50.pyth",
        classifier="blocks.5.proj",
        notes="Returns softmax probabilities (PyTorchVideo's head_activation=nn.Softmax), not logits.",
    )
)
def r2plus1d_r50(**kwargs: Any) -> nn.Module:
    """R(2+1)D R50 (16x4, Kinetics-400)."""
    return create_r2plus1d(dropout_rate=0.5, **kwargs)
