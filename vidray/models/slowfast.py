"""SlowFast networks: a slow, wide pathway and a fast, thin one, fused fast-to-slow after every stage.

Feichtenhofer et al., "SlowFast networks for video recognition", ICCV 2019,
https://arxiv.org/abs/1812.03982. Module structure, argument names and defaults
are PyTorchVideo's (``pytorchvideo.models.slowfast``), so its model-zoo
checkpoints load with ``strict=True``. The zoo entries are registered here.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.layers.utils import set_attributes
from vidray.models.head import create_res_basic_head, create_res_roi_pooling_head
from vidray.models.net import DetectionBBoxNetwork, MultiPathWayWithFuse, Net
from vidray.models.registry import PTV_CHECKPOINT_ROOT, InputSpec, ModelSpec, pathway, register_model
from vidray.models.resnet import create_bottleneck_block, create_res_stage, stage_depths, stage_dims, stage_paddings
from vidray.models.stem import create_res_basic_stem

_MODEL_STAGE_DEPTH = {
    18: (1, 1, 1, 1),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}

_PER_PATHWAY_AND_STAGE_ARGS = (
    "stage_conv_a_kernel_sizes",
    "stage_conv_b_kernel_sizes",
    "stage_conv_b_num_groups",
    "stage_conv_b_dilations",
    "stage_spatial_strides",
    "stage_temporal_strides",
    "bottleneck",
)


def create_slowfast(
    *,
    # SlowFast configs.
    slowfast_channel_reduction_ratio: tuple[int, ...] | int = (8,),
    slowfast_conv_channel_fusion_ratio: int = 2,
    slowfast_fusion_conv_kernel_size: tuple[int, int, int] = (7, 1, 1),
    slowfast_fusion_conv_stride: tuple[int, int, int] = (4, 1, 1),
    fusion_builder: Callable[[int, int], nn.Module] | None = None,
    # Input clip configs.
    input_channels: tuple[int, ...] = (3, 3),
    # Model configs.
    model_depth: int = 50,
    model_num_class: int = 400,
    dropout_rate: float = 0.5,
    # Normalization configs.
    norm: Callable = nn.BatchNorm3d,
    # Activation configs.
    activation: Callable = nn.ReLU,
    # Stem configs.
    stem_function: tuple[Callable, ...] = (create_res_basic_stem, create_res_basic_stem),
    stem_dim_outs: tuple[int, ...] = (64, 8),
    stem_conv_kernel_sizes: tuple[tuple[int, int, int], ...] = ((1, 7, 7), (5, 7, 7)),
    stem_conv_strides: tuple[tuple[int, int, int], ...] = ((1, 2, 2), (1, 2, 2)),
    stem_pool: Callable | tuple[Callable | None, ...] = (nn.MaxPool3d, nn.MaxPool3d),
    stem_pool_kernel_sizes: tuple[tuple[int, int, int], ...] = ((1, 3, 3), (1, 3, 3)),
    stem_pool_strides: tuple[tuple[int, int, int], ...] = ((1, 2, 2), (1, 2, 2)),
    # Stage configs.
    stage_conv_a_kernel_sizes: tuple[tuple[Any, ...], ...] = (
        ((1, 1, 1), (1, 1, 1), (3, 1, 1), (3, 1, 1)),
        ((3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 1, 1)),
    ),
    stage_conv_b_kernel_sizes: tuple[tuple[tuple[int, int, int], ...], ...] = (
        ((1, 3, 3), (1, 3, 3), (1, 3, 3), (1, 3, 3)),
        ((1, 3, 3), (1, 3, 3), (1, 3, 3), (1, 3, 3)),
    ),
    stage_conv_b_num_groups: tuple[tuple[int, ...], ...] = ((1, 1, 1, 1), (1, 1, 1, 1)),
    stage_conv_b_dilations: tuple[tuple[tuple[int, int, int], ...], ...] = (
        ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1)),
        ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1)),
    ),
    stage_spatial_strides: tuple[tuple[int, ...], ...] = ((1, 2, 2, 2), (1, 2, 2, 2)),
    stage_temporal_strides: tuple[tuple[int, ...], ...] = ((1, 1, 1, 1), (1, 1, 1, 1)),
    bottleneck: Callable | tuple[tuple[Callable, ...], ...] = (
        (create_bottleneck_block,) * 4,
        (create_bottleneck_block,) * 4,
    ),
    # Head configs.
    head: Callable | None = create_res_basic_head,
    head_pool: Callable | None = nn.AvgPool3d,
    head_pool_kernel_sizes: tuple[tuple[int, int, int], ...] = ((8, 7, 7), (32, 7, 7)),
    head_output_size: tuple[int, int, int] = (1, 1, 1),
    head_activation: Callable | None = None,
    head_output_with_global_average: bool = True,
) -> nn.Module:
    r"""Builds SlowFast for video recognition: a Slow pathway at a low frame rate for spatial
    semantics and a thin Fast pathway at a high frame rate for motion, the Fast one fused
    into the Slow one after the stem and every stage but the last.

    ::

                             Slow Input  Fast Input
                                  ↓           ↓
                                 Stem       Stem
                                  ↓ ⭠ Fusion- ↓
                               Stage 1     Stage 1
                                  ↓ ⭠ Fusion- ↓
                                  .           .
                                  ↓           ↓
                               Stage N     Stage N
                                  ↓ ⭠ Fusion- ↓
                                         ↓
                                       Head

    The model takes a list of tensors, one ``[B, C, T, H, W]`` per pathway (slow
    first); ``blocks`` are the fused stem, the four fused stages, a
    :class:`PoolConcatPathway` and the head. Arguments named ``stem_*`` are
    indexed by pathway, ``stage_*`` and ``bottleneck`` by pathway then stage.

    Args:
        slowfast_channel_reduction_ratio: the inverse of the channel ratio
            :math:`\beta` of each extra pathway to the Slow one (one entry per
            pathway after the first).
        slowfast_conv_channel_fusion_ratio: channels of a fusion's output relative to its input.
        slowfast_fusion_conv_kernel_size: kernel of the default fast-to-slow fusion
            convolution (superseded by ``fusion_builder``).
        slowfast_fusion_conv_stride: stride of that convolution; its temporal entry is
            the frame-rate ratio :math:`\alpha` (superseded by ``fusion_builder``).
        fusion_builder: ``fusion_builder(fusion_dim_in=..., stage_idx=...)`` returns the
            fusion module after the stem (``stage_idx`` 0) and after each stage;
            ``None`` builds :class:`FastToSlowFusionBuilder`'s.
        input_channels: the input channels of each pathway.
        model_depth: the ResNet depth: 18, 50, 101 or 152.
        model_num_class: the number of classes.
        dropout_rate: the head's dropout rate.
        norm: builds the normalization layers (``num_features``, ``eps``, ``momentum``).
        activation: builds the activation layers (no arguments).
        stem_function: builds each pathway's stem, e.g. ``create_res_basic_stem``.
        stem_dim_outs: each stem's output channels.
        stem_conv_kernel_sizes: each stem's convolution kernel.
        stem_conv_strides: each stem's convolution stride.
        stem_pool: each stem's pooling layer (one callable for all pathways, or ``None``).
        stem_pool_kernel_sizes: each stem's pooling kernel.
        stem_pool_strides: each stem's pooling stride.
        stage_conv_a_kernel_sizes: conv_a kernel per stage; an entry may be a list of
            kernels, one per block of that stage.
        stage_conv_b_kernel_sizes: conv_b kernel per stage.
        stage_conv_b_num_groups: conv_b groups per stage (1 for ResNet, more for ResNeXt).
        stage_conv_b_dilations: conv_b dilation per stage.
        stage_spatial_strides: spatial stride per stage.
        stage_temporal_strides: temporal stride per stage.
        bottleneck: builds the residual blocks, e.g. ``create_bottleneck_block`` (one
            callable for all, or per pathway and stage).
        head: builds the head from ``in_features``, ``out_features`` and the
            ``head_*`` arguments; ``None`` ends the model with the pooled features.
        head_pool: ``nn.AvgPool3d`` (kernels ``head_pool_kernel_sizes``),
            ``nn.AdaptiveAvgPool3d`` (output size ``head_output_size[pathway]``) or
            ``None``; pools each pathway before their concatenation.
        head_pool_kernel_sizes: each pathway's ``nn.AvgPool3d`` kernel.
        head_output_size: the head's output size.
        head_activation: builds the head's final activation (``None``: logits).
        head_output_with_global_average: average the head's output over space and time.

    Returns:
        The SlowFast model, a :class:`~vidray.models.net.Net`.
    """
    num_pathway = len(input_channels)
    depths = stage_depths(model_depth, "create_slowfast", _MODEL_STAGE_DEPTH)
    if isinstance(slowfast_channel_reduction_ratio, int):
        slowfast_channel_reduction_ratio = (slowfast_channel_reduction_ratio,)
    if callable(stem_pool):
        stem_pool = (stem_pool,) * num_pathway
    if callable(bottleneck):
        bottleneck = ((bottleneck,) * len(depths),) * num_pathway
    _check_pathway_args(
        num_pathway,
        len(depths),
        slowfast_channel_reduction_ratio=slowfast_channel_reduction_ratio,
        head_pool_kernel_sizes=head_pool_kernel_sizes if head_pool is nn.AvgPool3d else None,
        stem_function=stem_function,
        stem_dim_outs=stem_dim_outs,
        stem_conv_kernel_sizes=stem_conv_kernel_sizes,
        stem_conv_strides=stem_conv_strides,
        stem_pool=stem_pool,
        stem_pool_kernel_sizes=stem_pool_kernel_sizes,
        stem_pool_strides=stem_pool_strides,
        stage_conv_a_kernel_sizes=stage_conv_a_kernel_sizes,
        stage_conv_b_kernel_sizes=stage_conv_b_kernel_sizes,
        stage_conv_b_num_groups=stage_conv_b_num_groups,
        stage_conv_b_dilations=stage_conv_b_dilations,
        stage_spatial_strides=stage_spatial_strides,
        stage_temporal_strides=stage_temporal_strides,
        bottleneck=bottleneck,
    )
    if fusion_builder is None:
        fusion_builder = FastToSlowFusionBuilder(
            slowfast_channel_reduction_ratio=slowfast_channel_reduction_ratio[0],
            conv_fusion_channel_ratio=slowfast_conv_channel_fusion_ratio,
            conv_kernel_size=slowfast_fusion_conv_kernel_size,
            conv_stride=slowfast_fusion_conv_stride,
            norm=norm,
            activation=activation,
            max_stage_idx=len(depths) - 1,
        ).create_module

    stems = [
        stem_function[idx](
            in_channels=input_channels[idx],
            out_channels=stem_dim_outs[idx],
            conv_kernel_size=stem_conv_kernel_sizes[idx],
            conv_stride=stem_conv_strides[idx],
            conv_padding=[size // 2 for size in stem_conv_kernel_sizes[idx]],
            pool=stem_pool[idx],
            pool_kernel_size=stem_pool_kernel_sizes[idx],
            pool_stride=stem_pool_strides[idx],
            pool_padding=[size // 2 for size in stem_pool_kernel_sizes[idx]],
            norm=norm,
            activation=activation,
        )
        for idx in range(num_pathway)
    ]
    # The first block gets a fresh output list, so the caller's input list keeps its tensors.
    blocks = [
        MultiPathWayWithFuse(
            multipathway_blocks=nn.ModuleList(stems),
            multipathway_fusion=fusion_builder(fusion_dim_in=stem_dim_outs[0], stage_idx=0),
            inplace=False,
        )
    ]

    dims = stage_dims(stem_dim_outs[0], len(depths))
    for idx, (depth, (stage_dim_in, stage_dim_out)) in enumerate(zip(depths, dims)):
        # The Slow pathway also receives the fused Fast features: its input is wider.
        fused_dim = stage_dim_in * slowfast_conv_channel_fusion_ratio // slowfast_channel_reduction_ratio[0]
        dims_in = [stage_dim_in + fused_dim]
        dims_inner = [stage_dim_out // 4]
        dims_out = [stage_dim_out]
        for ratio in slowfast_channel_reduction_ratio:
            dims_in.append(stage_dim_in // ratio)
            dims_inner.append(stage_dim_out // 4 // ratio)
            dims_out.append(stage_dim_out // ratio)

        stage = []
        for pathway_idx in range(num_pathway):
            conv_a_kernel = stage_conv_a_kernel_sizes[pathway_idx][idx]
            conv_b_kernel = stage_conv_b_kernel_sizes[pathway_idx][idx]
            conv_b_dilation = stage_conv_b_dilations[pathway_idx][idx]
            conv_a_padding, conv_b_padding = stage_paddings(conv_a_kernel, conv_b_kernel, conv_b_dilation)
            spatial_stride = stage_spatial_strides[pathway_idx][idx]
            stage.append(
                create_res_stage(
                    depth=depth,
                    dim_in=dims_in[pathway_idx],
                    dim_inner=dims_inner[pathway_idx],
                    dim_out=dims_out[pathway_idx],
                    bottleneck=bottleneck[pathway_idx][idx],
                    conv_a_kernel_size=conv_a_kernel,
                    conv_a_stride=(stage_temporal_strides[pathway_idx][idx], 1, 1),
                    conv_a_padding=conv_a_padding,
                    conv_b_kernel_size=conv_b_kernel,
                    conv_b_stride=(1, spatial_stride, spatial_stride),
                    conv_b_padding=conv_b_padding,
                    conv_b_num_groups=stage_conv_b_num_groups[pathway_idx][idx],
                    conv_b_dilation=conv_b_dilation,
                    norm=norm,
                    activation=activation,
                )
            )
        blocks.append(
            MultiPathWayWithFuse(
                multipathway_blocks=nn.ModuleList(stage),
                multipathway_fusion=fusion_builder(fusion_dim_in=stage_dim_out, stage_idx=idx + 1),
            )
        )

    if head_pool is None:
        pool = None
    elif head_pool is nn.AdaptiveAvgPool3d:
        pool = nn.ModuleList([head_pool(head_output_size[idx]) for idx in range(num_pathway)])
    elif head_pool is nn.AvgPool3d:
        pool = nn.ModuleList(
            [
                head_pool(kernel_size=head_pool_kernel_sizes[idx], stride=(1, 1, 1), padding=(0, 0, 0))
                for idx in range(num_pathway)
            ]
        )
    else:
        raise ConfigError(
            f"create_slowfast: head_pool must be nn.AvgPool3d, nn.AdaptiveAvgPool3d or None; got {head_pool!r}"
        )
    blocks.append(PoolConcatPathway(retain_list=False, pool=pool))

    if head is not None:
        blocks.append(
            head(
                in_features=_head_in_features(stage_dim_out, slowfast_channel_reduction_ratio),
                out_features=model_num_class,
                pool=None,
                output_size=head_output_size,
                dropout_rate=dropout_rate,
                activation=head_activation,
                output_with_global_average=head_output_with_global_average,
            )
        )
    return Net(blocks=nn.ModuleList(blocks))


def create_slowfast_with_roi_head(
    *,
    # SlowFast configs.
    slowfast_channel_reduction_ratio: tuple[int, ...] | int = (8,),
    slowfast_conv_channel_fusion_ratio: int = 2,
    slowfast_fusion_conv_kernel_size: tuple[int, int, int] = (7, 1, 1),
    slowfast_fusion_conv_stride: tuple[int, int, int] = (4, 1, 1),
    fusion_builder: Callable[[int, int], nn.Module] | None = None,
    # Input clip configs.
    input_channels: tuple[int, ...] = (3, 3),
    # Model configs.
    model_depth: int = 50,
    model_num_class: int = 80,
    dropout_rate: float = 0.5,
    # Normalization configs.
    norm: Callable = nn.BatchNorm3d,
    # Activation configs.
    activation: Callable = nn.ReLU,
    # Stem configs.
    stem_function: tuple[Callable, ...] = (create_res_basic_stem, create_res_basic_stem),
    stem_dim_outs: tuple[int, ...] = (64, 8),
    stem_conv_kernel_sizes: tuple[tuple[int, int, int], ...] = ((1, 7, 7), (5, 7, 7)),
    stem_conv_strides: tuple[tuple[int, int, int], ...] = ((1, 2, 2), (1, 2, 2)),
    stem_pool: Callable | tuple[Callable | None, ...] = (nn.MaxPool3d, nn.MaxPool3d),
    stem_pool_kernel_sizes: tuple[tuple[int, int, int], ...] = ((1, 3, 3), (1, 3, 3)),
    stem_pool_strides: tuple[tuple[int, int, int], ...] = ((1, 2, 2), (1, 2, 2)),
    # Stage configs.
    stage_conv_a_kernel_sizes: tuple[tuple[Any, ...], ...] = (
        ((1, 1, 1), (1, 1, 1), (3, 1, 1), (3, 1, 1)),
        ((3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 1, 1)),
    ),
    stage_conv_b_kernel_sizes: tuple[tuple[tuple[int, int, int], ...], ...] = (
        ((1, 3, 3), (1, 3, 3), (1, 3, 3), (1, 3, 3)),
        ((1, 3, 3), (1, 3, 3), (1, 3, 3), (1, 3, 3)),
    ),
    stage_conv_b_num_groups: tuple[tuple[int, ...], ...] = ((1, 1, 1, 1), (1, 1, 1, 1)),
    stage_conv_b_dilations: tuple[tuple[tuple[int, int, int], ...], ...] = (
        ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 2, 2)),
        ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 2, 2)),
    ),
    stage_spatial_strides: tuple[tuple[int, ...], ...] = ((1, 2, 2, 1), (1, 2, 2, 1)),
    stage_temporal_strides: tuple[tuple[int, ...], ...] = ((1, 1, 1, 1), (1, 1, 1, 1)),
    bottleneck: Callable | tuple[tuple[Callable, ...], ...] = (
        (create_bottleneck_block,) * 4,
        (create_bottleneck_block,) * 4,
    ),
    # Head configs.
    head: Callable = create_res_roi_pooling_head,
    head_pool: Callable | None = nn.AvgPool3d,
    head_pool_kernel_sizes: tuple[tuple[int, int, int], ...] = ((8, 1, 1), (32, 1, 1)),
    head_output_size: tuple[int, int, int] = (1, 1, 1),
    head_activation: Callable | None = nn.Sigmoid,
    head_output_with_global_average: bool = False,
    head_spatial_resolution: tuple[int, int] = (7, 7),
    head_spatial_scale: float = 1.0 / 16.0,
    head_sampling_ratio: int = 0,
) -> nn.Module:
    r"""Builds SlowFast for spatio-temporal action detection (AVA): the backbone of
    :func:`create_slowfast`, pooled over time only, and an RoIAlign head over the boxes.

    ::

                        Slow Input  Fast Input         Bounding Box Input
                            ↓           ↓                      ↓
                           Stem       Stem                     ↓
                            ↓ ⭠ Fusion- ↓                      ↓
                          Stage 1     Stage 1                  ↓
                            ↓ ⭠ Fusion- ↓                      ↓
                            .           .                      ↓
                            ↓           ↓                      ↓
                          Stage N     Stage N                  ↓
                            ↓ ⭠ Fusion- ↓                      ↓
                                    ↓                          ↓
                                    ↓----------> Head <--------↓

    The last stage is dilated instead of strided, so the features keep 1/16 of
    the input's resolution (``head_spatial_scale``). The model is called as
    ``model([slow, fast], boxes)`` with ``boxes`` ``[N, 5]`` rows ``(batch_index, x1,
    y1, x2, y2)`` in input pixels, and returns ``[N, model_num_class]``.

    Args:
        head: builds the detection head from the ``in_features``/``out_features``,
            ``resolution``, ``spatial_scale``, ``sampling_ratio`` and ``head_*``
            arguments of :func:`~vidray.models.head.create_res_roi_pooling_head`.
        head_spatial_resolution: ``(h, w)`` of the RoIAlign output.
        head_spatial_scale: scales the boxes to the feature map.
        head_sampling_ratio: RoIAlign samples per output bin (0: adaptive).
        others: as in :func:`create_slowfast`.

    Returns:
        The detection model, a :class:`~vidray.models.net.DetectionBBoxNetwork`.
    """
    model = create_slowfast(
        slowfast_channel_reduction_ratio=slowfast_channel_reduction_ratio,
        slowfast_conv_channel_fusion_ratio=slowfast_conv_channel_fusion_ratio,
        slowfast_fusion_conv_kernel_size=slowfast_fusion_conv_kernel_size,
        slowfast_fusion_conv_stride=slowfast_fusion_conv_stride,
        fusion_builder=fusion_builder,
        input_channels=input_channels,
        model_depth=model_depth,
        model_num_class=model_num_class,
        dropout_rate=dropout_rate,
        norm=norm,
        activation=activation,
        stem_function=stem_function,
        stem_dim_outs=stem_dim_outs,
        stem_conv_kernel_sizes=stem_conv_kernel_sizes,
        stem_conv_strides=stem_conv_strides,
        stem_pool=stem_pool,
        stem_pool_kernel_sizes=stem_pool_kernel_sizes,
        stem_pool_strides=stem_pool_strides,
        stage_conv_a_kernel_sizes=stage_conv_a_kernel_sizes,
        stage_conv_b_kernel_sizes=stage_conv_b_kernel_sizes,
        stage_conv_b_num_groups=stage_conv_b_num_groups,
        stage_conv_b_dilations=stage_conv_b_dilations,
        stage_spatial_strides=stage_spatial_strides,
        stage_temporal_strides=stage_temporal_strides,
        bottleneck=bottleneck,
        head=None,
        head_pool=head_pool,
        head_pool_kernel_sizes=head_pool_kernel_sizes,
    )
    if isinstance(slowfast_channel_reduction_ratio, int):
        slowfast_channel_reduction_ratio = (slowfast_channel_reduction_ratio,)
    num_stages = len(stage_depths(model_depth, "create_slowfast_with_roi_head", _MODEL_STAGE_DEPTH))
    last_stage_dim = stage_dims(stem_dim_outs[0], num_stages)[-1][1]
    detection_head = head(
        in_features=_head_in_features(last_stage_dim, slowfast_channel_reduction_ratio),
        out_features=model_num_class,
        pool=None,
        output_size=head_output_size,
        dropout_rate=dropout_rate,
        activation=head_activation,
        output_with_global_average=head_output_with_global_average,
        resolution=head_spatial_resolution,
        spatial_scale=head_spatial_scale,
        sampling_ratio=head_sampling_ratio,
    )
    return DetectionBBoxNetwork(model, detection_head)


class PoolConcatPathway(nn.Module):
    """Pools each pathway (optionally) and concatenates them along the channels.

    ``None`` entries of the input (a pathway that was dropped) are skipped.
    """

    def __init__(self, retain_list: bool = False, pool: nn.ModuleList | None = None, dim: int = 1) -> None:
        """
        Args:
            retain_list: return the concatenation wrapped in a one-element list.
            pool: one pooling module (or ``None``) per pathway, applied before concatenating.
            dim: the dimension to concatenate along.
        """
        super().__init__()
        set_attributes(self, locals())

    def forward(self, x: list[torch.Tensor | None]) -> torch.Tensor | list[torch.Tensor]:
        if self.pool is not None and len(x) != len(self.pool):
            raise LayoutError(f"PoolConcatPathway: got {len(x)} pathways for {len(self.pool)} pooling modules")
        output = []
        for idx, tensor in enumerate(x):
            if tensor is None:
                continue
            if self.pool is not None and self.pool[idx] is not None:
                tensor = self.pool[idx](tensor)
            output.append(tensor)
        joined = torch.cat(output, self.dim)
        return [joined] if self.retain_list else joined


class FastToSlowFusionBuilder:
    """Builds the fast-to-slow lateral connection of each stage, as ``fusion_builder`` of :func:`create_slowfast`.

    A strided temporal convolution brings the Fast features to the Slow frame
    rate; its output is concatenated to the Slow features (see :class:`FuseFastToSlow`).
    """

    def __init__(
        self,
        slowfast_channel_reduction_ratio: int,
        conv_fusion_channel_ratio: float,
        conv_kernel_size: tuple[int, int, int],
        conv_stride: tuple[int, int, int],
        norm: Callable | None = nn.BatchNorm3d,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
        activation: Callable | None = nn.ReLU,
        max_stage_idx: int = 3,
    ) -> None:
        """
        Args:
            slowfast_channel_reduction_ratio: the Fast pathway has ``fusion_dim_in //
                slowfast_channel_reduction_ratio`` channels, the convolution's input.
            conv_fusion_channel_ratio: the convolution's output channels relative to its input.
            conv_kernel_size: the convolution's kernel.
            conv_stride: the convolution's stride (temporal: the frame-rate ratio alpha).
            norm: builds the normalization after the convolution (``None``: none).
            norm_eps: the normalization's epsilon.
            norm_momentum: the normalization's momentum.
            activation: builds the activation after it (``None``: none).
            max_stage_idx: stages after this one get no fusion (``nn.Identity``).
        """
        set_attributes(self, locals())

    def create_module(self, fusion_dim_in: int, stage_idx: int) -> nn.Module:
        """The fusion after stage ``stage_idx`` (0: the stem), whose Slow output has ``fusion_dim_in`` channels."""
        if stage_idx > self.max_stage_idx:
            return nn.Identity()
        conv_dim_in = fusion_dim_in // self.slowfast_channel_reduction_ratio
        conv_fast_to_slow = nn.Conv3d(
            conv_dim_in,
            int(conv_dim_in * self.conv_fusion_channel_ratio),
            kernel_size=self.conv_kernel_size,
            stride=self.conv_stride,
            padding=[size // 2 for size in self.conv_kernel_size],
            bias=False,
        )
        norm = (
            None
            if self.norm is None
            else self.norm(
                num_features=conv_dim_in * self.conv_fusion_channel_ratio,
                eps=self.norm_eps,
                momentum=self.norm_momentum,
            )
        )
        activation = None if self.activation is None else self.activation()
        return FuseFastToSlow(conv_fast_to_slow=conv_fast_to_slow, norm=norm, activation=activation)


class FuseFastToSlow(nn.Module):
    """Fuses the Fast pathway into the Slow one: ``[slow, fast] -> [cat(slow, conv(fast)), fast]``.

    ::

                       Slow        Fast
                        ↓           ↓
                        ↓     conv_fast_to_slow
                        ↓         norm
                        ↓       activation
                        ↓ ⭠-------- ↓
                      concat        ↓
    """

    def __init__(
        self,
        conv_fast_to_slow: nn.Module,
        norm: nn.Module | None = None,
        activation: nn.Module | None = None,
    ) -> None:
        """
        Args:
            conv_fast_to_slow: the strided convolution matching the Fast features to the Slow frame rate.
            norm: the normalization after it (``None``: none).
            activation: the activation after that (``None``: none).
        """
        super().__init__()
        set_attributes(self, locals())

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        x_s, x_f = x[0], x[1]
        fuse = self.conv_fast_to_slow(x_f)
        if self.norm is not None:
            fuse = self.norm(fuse)
        if self.activation is not None:
            fuse = self.activation(fuse)
        return [torch.cat([x_s, fuse], 1), x_f]


def _head_in_features(slow_dim: int, reduction_ratios: Sequence[int]) -> int:
    """Channels of the concatenated pathways: the Slow ones and each thinner pathway's share."""
    return slow_dim + sum(slow_dim // ratio for ratio in reduction_ratios)


def _check_pathway_args(num_pathway: int, num_stages: int, **args: Sequence[Any] | None) -> None:
    """Checks that per-pathway (and per-stage) arguments have one entry each, listing every mismatch."""
    problems = []
    ratios = args.pop("slowfast_channel_reduction_ratio")
    if len(ratios) != num_pathway - 1:
        problems.append(
            f"slowfast_channel_reduction_ratio has {len(ratios)} entries, expected {num_pathway - 1} "
            "(one per pathway after the first)"
        )
    for name, value in args.items():
        if value is None:
            continue
        if len(value) != num_pathway:
            problems.append(f"{name} has {len(value)} entries, expected {num_pathway} (one per pathway)")
        elif name in _PER_PATHWAY_AND_STAGE_ARGS:
            for idx, per_stage in enumerate(value):
                if len(per_stage) != num_stages:
                    problems.append(f"{name}[{idx}] has {len(per_stage)} entries, expected {num_stages} (per stage)")
    if problems:
        raise ConfigError(f"create_slowfast with {num_pathway} input pathways: " + "; ".join(problems))


def _slowfast_input(slow_frames: int, size: int, *, alpha: int = 4, min_size: int = 1) -> InputSpec:
    """Slow ``[3, T/alpha, H, W]`` and fast ``[3, T, H, W]`` pathways.

    The head's temporal pooling kernel equals the default frame counts, so they are also the least.
    """
    fast_frames = slow_frames * alpha
    return InputSpec(
        (
            pathway(slow_frames, size, min_frames=slow_frames, min_size=min_size, name="slow"),
            pathway(fast_frames, size, min_frames=fast_frames, min_size=min_size, name="fast"),
        )
    )


# The classifiers' (T, 7, 7) average pools need a 7x7 map at stride 32: H, W >= 193.
_CLASSIFIER_MIN_SIZE = 193
_KINETICS_NOTES = (
    "Input: {fast} frames at stride 2 (sampling_rate), short side scaled and center-cropped to 256 "
    "(PyTorchVideo's TorchHub tutorial) for the fast pathway; the slow one takes every 4th of them "
    "(alpha = 4): the table's {slow}x8, {slow} frames at stride 8."
)


@register_model(
    ModelSpec(
        family="slowfast",
        input=_slowfast_input(8, 256, min_size=_CLASSIFIER_MIN_SIZE),
        sampling_rate=2,
        params_m=34.57,
        gflops=65.71,
        top1=76.94,
        top5=92.69,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/kinetics/SLOWFAST_8x8_R50.pyth",
        classifier="blocks.6.proj",
        notes=_KINETICS_NOTES.format(slow=8, fast=32),
    )
)
def slowfast_r50(**kwargs: Any) -> nn.Module:
    """SlowFast R50, 8x8, trained on Kinetics-400."""
    return create_slowfast(model_depth=50, slowfast_fusion_conv_kernel_size=(7, 1, 1), **kwargs)


@register_model(
    ModelSpec(
        family="slowfast",
        input=_slowfast_input(8, 256, min_size=_CLASSIFIER_MIN_SIZE),
        sampling_rate=2,
        params_m=62.83,
        gflops=127.20,
        top1=77.90,
        top5=93.27,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/kinetics/SLOWFAST_8x8_R101.pyth",
        classifier="blocks.6.proj",
        notes=_KINETICS_NOTES.format(slow=8, fast=32),
    )
)
def slowfast_r101(**kwargs: Any) -> nn.Module:
    """SlowFast R101, 8x8, trained on Kinetics-400."""
    return create_slowfast(model_depth=101, slowfast_fusion_conv_kernel_size=(5, 1, 1), **kwargs)


@register_model(
    ModelSpec(
        family="slowfast",
        input=_slowfast_input(16, 256, min_size=_CLASSIFIER_MIN_SIZE),
        sampling_rate=2,
        params_m=53.77,
        gflops=215.61,
        top1=78.70,
        top5=93.61,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/kinetics/SLOWFAST_16x8_R101_50_50.pyth",
        classifier="blocks.6.proj",
        notes=_KINETICS_NOTES.format(slow=16, fast=64),
    )
)
def slowfast_16x8_r101_50_50(**kwargs: Any) -> nn.Module:
    """SlowFast R101_50_50, 16x8, trained on Kinetics-400: only 6 of res4's 23 blocks have temporal kernels."""
    temporal_then_flat = ((3, 1, 1),) * 6 + ((1, 1, 1),) * (23 - 6)
    stage_conv_a_kernel_sizes = (
        ((1, 1, 1), (1, 1, 1), temporal_then_flat, (3, 1, 1)),
        ((3, 1, 1), (3, 1, 1), temporal_then_flat, (3, 1, 1)),
    )
    return create_slowfast(
        model_depth=101,
        slowfast_fusion_conv_kernel_size=(5, 1, 1),
        stage_conv_a_kernel_sizes=stage_conv_a_kernel_sizes,
        head_pool_kernel_sizes=((16, 7, 7), (64, 7, 7)),
        **kwargs,
    )


@register_model(
    ModelSpec(
        family="slowfast",
        input=_slowfast_input(8, 256),
        sampling_rate=2,
        num_classes=80,
        dataset="AVA v2.2",
        task="detection",
        params_m=33.82,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/ava/SLOWFAST_8x8_R50_DETECTION.pyth",
        classifier="detection_head.proj",
        notes=(
            "Action detection: call model([slow, fast], boxes) with boxes [N, 5] = (batch_index, x1, y1, x2, y2) "
            "in input pixels; returns [N, 80] sigmoid scores. 24.67 frame mAP on AVA v2.2 (Kinetics-400 "
            "pretraining). Input: 32 frames at stride 2 (sampling_rate), short side scaled to 256 "
            "(PyTorchVideo's detection tutorial) for the fast pathway; the slow one takes every 4th of them "
            "(alpha = 4): the table's 8x8. The AVA table prints 33.82 M parameters; the architecture whose "
            "checkpoint it links has 33,828,888."
        ),
    )
)
def slowfast_r50_detection(**kwargs: Any) -> nn.Module:
    """SlowFast R50, 8x8, pretrained on Kinetics-400 and fine-tuned for AVA action detection."""
    return create_slowfast_with_roi_head(**kwargs)


__all__ = [
    "FastToSlowFusionBuilder",
    "FuseFastToSlow",
    "PoolConcatPathway",
    "create_slowfast",
    "create_slowfast_with_roi_head",
    "slowfast_16x8_r101_50_50",
    "slowfast_r101",
    "slowfast_r50",
    "slowfast_r50_detection",
]
