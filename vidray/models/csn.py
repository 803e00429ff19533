"""Channel-Separated Convolutional Networks (Tran, Wang, Torresani, Feiszli, ICCV 2019).

CSN is a ResNet whose 3x3x3 bottleneck convolutions are depthwise
(``stage_conv_b_width_per_group=1``): channel interactions happen only in the
1x1x1 convolutions, which cuts parameters and FLOPs at equal accuracy.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from vidray.models.head import create_res_basic_head
from vidray.models.net import Net
from vidray.models.registry import PTV_CHECKPOINT_ROOT, InputSpec, ModelSpec, register_model
from vidray.models.resnet import create_bottleneck_block, create_res_stage, stage_depths, stage_dims
from vidray.models.stem import create_res_basic_stem

Size3 = tuple[int, int, int]


def create_csn(
    *,
    # Input clip configs.
    input_channel: int = 3,
    # Model configs.
    model_depth: int = 50,
    model_num_class: int = 400,
    dropout_rate: float = 0,
    # Normalization configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
    # Stem configs.
    stem_dim_out: int = 64,
    stem_conv_kernel_size: Size3 = (3, 7, 7),
    stem_conv_stride: Size3 = (1, 2, 2),
    stem_pool: Callable[..., nn.Module] | None = None,
    stem_pool_kernel_size: Size3 = (1, 3, 3),
    stem_pool_stride: Size3 = (1, 2, 2),
    # Stage configs.
    stage_conv_a_kernel_size: Size3 = (1, 1, 1),
    stage_conv_b_kernel_size: Size3 = (3, 3, 3),
    stage_conv_b_width_per_group: int = 1,
    stage_spatial_stride: tuple[int, ...] = (1, 2, 2, 2),
    stage_temporal_stride: tuple[int, ...] = (1, 2, 2, 2),
    bottleneck: Callable[..., nn.Module] = create_bottleneck_block,
    bottleneck_ratio: int = 4,
    # Head configs.
    head_pool: Callable[..., nn.Module] | None = nn.AvgPool3d,
    head_pool_kernel_size: Size3 = (1, 7, 7),
    head_output_size: Size3 = (1, 1, 1),
    head_activation: Callable[..., nn.Module] | None = None,
    head_output_with_global_average: bool = True,
) -> nn.Module:
    """Builds a CSN: stem, four residual stages with channel-separated ``conv_b``, head.

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

    Unlike :func:`~vidray.models.resnet.create_resnet`, every stage but the
    first strides in time and space through ``conv_b``.

    Args:
        input_channel: channels of the input clip.
        model_depth: 50, 101 or 152.
        model_num_class: number of classes.
        dropout_rate: dropout before the classifier.
        norm: builds every normalisation (``None``: none).
        activation: builds every activation (``None``: none).
        stem_dim_out: output channels of the stem.
        stem_conv_kernel_size, stem_conv_stride: the stem convolution.
        stem_pool: builds the stem's pooling (``None``: none).
        stem_pool_kernel_size, stem_pool_stride: the stem pooling.
        stage_conv_a_kernel_size: ``conv_a``'s kernel in every block.
        stage_conv_b_kernel_size: ``conv_b``'s kernel in every block.
        stage_conv_b_width_per_group: channels per group of ``conv_b`` (1: depthwise).
        stage_spatial_stride, stage_temporal_stride: per stage strides.
        bottleneck: builds the bottlenecks.
        bottleneck_ratio: ratio of a block's output channels to its inner channels.
        head_pool: builds the head's pooling.
        head_pool_kernel_size: the head pool's kernel (fixes the smallest input).
        head_output_size: output size of an adaptive head pool.
        head_activation: builds the activation after the classifier (``None``: logits).
        head_output_with_global_average: average the head output to ``[B, classes]``.
    """
    depths = stage_depths(model_depth, "create_csn")
    blocks = [
        create_res_basic_stem(
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

    for idx, (depth, (stage_dim_in, stage_dim_out)) in enumerate(zip(depths, stage_dims(stem_dim_out, len(depths)))):
        stage_dim_inner = stage_dim_out // bottleneck_ratio
        blocks.append(
            create_res_stage(
                depth=depth,
                dim_in=stage_dim_in,
                dim_inner=stage_dim_inner,
                dim_out=stage_dim_out,
                bottleneck=bottleneck,
                conv_a_kernel_size=stage_conv_a_kernel_size,
                conv_a_stride=(1, 1, 1),
                conv_a_padding=[size // 2 for size in stage_conv_a_kernel_size],
                conv_b_kernel_size=stage_conv_b_kernel_size,
                conv_b_stride=(stage_temporal_stride[idx], stage_spatial_stride[idx], stage_spatial_stride[idx]),
                conv_b_padding=[size // 2 for size in stage_conv_b_kernel_size],
                conv_b_num_groups=stage_dim_inner // stage_conv_b_width_per_group,
                conv_b_dilation=(1, 1, 1),
                norm=norm,
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
        family="csn",
        # Temporal stride 8 and the (4, 7, 7) head pool: at least 25 frames and 193 px.
        input=InputSpec.clip(32, 256, min_frames=25, min_size=193),
        sampling_rate=2,
        params_m=22.21,
        gflops=75.62,
        top1=77.00,
        top5=92.90,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/kinetics/CSN_32x2_R101.pyth",
        classifier="blocks.5.proj",
    )
)
def csn_r101(**kwargs: Any) -> nn.Module:
    """CSN R101 (32x2, Kinetics-400): the depthwise (ir-CSN) ResNet-101."""
    return create_csn(model_depth=101, stem_pool=nn.MaxPool3d, head_pool_kernel_size=(4, 7, 7), **kwargs)
