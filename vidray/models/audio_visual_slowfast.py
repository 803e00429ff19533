"""Audiovisual SlowFast: SlowFast with a third, audio pathway fused into the visual ones.

Xiao et al., "Audiovisual SlowFast Networks for Video Recognition", 2020,
https://arxiv.org/abs/2001.08740. Module structure, argument names and defaults
are PyTorchVideo's (``pytorchvideo.models.audio_visual_slowfast``).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from vidray.errors import ConfigError
from vidray.layers.utils import set_attributes
from vidray.models.head import create_res_basic_head
from vidray.models.resnet import create_acoustic_bottleneck_block, create_bottleneck_block
from vidray.models.slowfast import create_slowfast
from vidray.models.stem import create_acoustic_res_basic_stem, create_res_basic_stem


def create_audio_visual_slowfast(
    *,
    # SlowFast configs.
    slowfast_channel_reduction_ratio: tuple[int, int] = (8, 2),
    slowfast_conv_channel_fusion_ratio: int = 2,
    fusion_builder: Callable[[int, int], nn.Module] | None = None,
    # Input clip configs.
    input_channels: tuple[int, int, int] = (3, 3, 1),
    # Model configs.
    model_depth: int = 50,
    model_num_class: int = 400,
    dropout_rate: float = 0.5,
    # Normalization configs.
    norm: Callable = nn.BatchNorm3d,
    # Activation configs.
    activation: Callable = nn.ReLU,
    # Stem configs.
    stem_function: tuple[Callable, Callable, Callable] = (
        create_res_basic_stem,
        create_res_basic_stem,
        create_acoustic_res_basic_stem,
    ),
    stem_dim_outs: tuple[int, int, int] = (64, 8, 32),
    stem_conv_kernel_sizes: tuple[tuple[int, int, int], ...] = ((1, 7, 7), (5, 7, 7), (9, 1, 9)),
    stem_conv_strides: tuple[tuple[int, int, int], ...] = ((1, 2, 2), (1, 2, 2), (1, 1, 1)),
    stem_pool: tuple[Callable | None, ...] = (nn.MaxPool3d, nn.MaxPool3d, None),
    stem_pool_kernel_sizes: tuple[tuple[int, int, int], ...] = ((1, 3, 3), (1, 3, 3), (1, 3, 3)),
    stem_pool_strides: tuple[tuple[int, int, int], ...] = ((1, 2, 2), (1, 2, 2), (1, 1, 1)),
    # Stage configs.
    stage_conv_a_kernel_sizes: tuple[tuple[Any, ...], ...] = (
        ((1, 1, 1), (1, 1, 1), (3, 1, 1), (3, 1, 1)),
        ((3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 1, 1)),
        ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1)),
    ),
    stage_conv_b_kernel_sizes: tuple[tuple[tuple[int, int, int], ...], ...] = (
        ((1, 3, 3), (1, 3, 3), (1, 3, 3), (1, 3, 3)),
        ((1, 3, 3), (1, 3, 3), (1, 3, 3), (1, 3, 3)),
        ((3, 1, 3), (3, 1, 3), (3, 1, 3), (3, 1, 3)),
    ),
    stage_conv_b_num_groups: tuple[tuple[int, ...], ...] = ((1, 1, 1, 1), (1, 1, 1, 1), (1, 1, 1, 1)),
    stage_conv_b_dilations: tuple[tuple[tuple[int, int, int], ...], ...] = (
        ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1)),
        ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1)),
        ((1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 1, 1)),
    ),
    stage_spatial_strides: tuple[tuple[int, ...], ...] = ((1, 2, 2, 2), (1, 2, 2, 2), (1, 2, 2, 2)),
    stage_temporal_strides: tuple[tuple[int, ...], ...] = ((1, 1, 1, 1), (1, 1, 1, 1), (1, 2, 2, 2)),
    bottleneck: tuple[tuple[Callable, ...], ...] = (
        (create_bottleneck_block,) * 4,
        (create_bottleneck_block,) * 4,
        (
            create_acoustic_bottleneck_block,
            create_acoustic_bottleneck_block,
            create_bottleneck_block,
            create_bottleneck_block,
        ),
    ),
    # Head configs.
    head: Callable | None = create_res_basic_head,
    head_pool: Callable | None = nn.AvgPool3d,
    head_pool_kernel_sizes: tuple[tuple[int, int, int], ...] = ((8, 7, 7), (32, 7, 7), (16, 1, 10)),
    head_output_size: tuple[int, int, int] = (1, 1, 1),
    head_activation: Callable | None = None,
    head_output_with_global_average: bool = True,
) -> nn.Module:
    r"""Builds AVSlowFast: Slow, Fast and Audio pathways, the Fast and the Audio one fused into the Slow one.

    ::

                             Slow Input  Fast Input  Audio Input
                                  ↓           ↓            ↓
                                 Stem       Stem         Stem
                                  ↓ ⭠ Fusion- ↓ ⭠ Fusion- ↓
                               Stage 1     Stage 1      Stage 1
                                  ↓ ⭠ Fusion- ↓ ⭠ Fusion- ↓
                                  .            .           .
                                  ↓            ↓           ↓
                               Stage N      Stage N     Stage N
                                  ↓ ⭠ Fusion- ↓ ⭠ Fusion- ↓
                                         ↓
                                       Head

    The model takes ``[slow, fast, audio]``: two ``[B, 3, T, H, W]`` clips and a
    log-mel spectrogram laid out ``[B, 1, T, 1, F]`` (time, a singleton, frequency).
    With the defaults: slow 8 x 224 x 224, fast 32 x 224 x 224 and audio 128 x 1 x 80.

    Args:
        slowfast_channel_reduction_ratio: ``(beta_F, beta_A)``, the inverse channel
            ratios of the Fast and the Audio pathway to the Slow one.
        fusion_builder: ``fusion_builder(fusion_dim_in=..., stage_idx=...)`` returns
            the fusion after the stem and after each stage; ``None`` builds
            :class:`AudioToSlowFastFusionBuilder`'s.
        stem_function: builds each pathway's stem (the audio one:
            ``create_acoustic_res_basic_stem``).
        head: builds the head, as in :func:`~vidray.models.slowfast.create_slowfast`.
        others: as in :func:`~vidray.models.slowfast.create_slowfast`, indexed
            by pathway (slow, fast, audio).

    Returns:
        The AVSlowFast model, a :class:`~vidray.models.net.Net`.
    """
    if len(input_channels) != 3 or len(slowfast_channel_reduction_ratio) != 2:
        raise ConfigError(
            "create_audio_visual_slowfast: input_channels needs 3 entries (slow, fast, audio) and "
            f"slowfast_channel_reduction_ratio 2 (fast, audio); got {len(input_channels)} and "
            f"{len(slowfast_channel_reduction_ratio)}"
        )
    if fusion_builder is None:
        fusion_builder = AudioToSlowFastFusionBuilder(
            slowfast_channel_reduction_ratio=slowfast_channel_reduction_ratio[0],
            slowfast_audio_reduction_ratio=slowfast_channel_reduction_ratio[1],
            conv_fusion_channel_ratio=slowfast_conv_channel_fusion_ratio,
            conv_kernel_size=(7, 1, 1),
            conv_kernel_size_a=(5, 1, 1),
            conv_stride=(4, 1, 1),
            conv_stride_a=((16, 1, 1), (16, 1, 1), (8, 1, 1), (4, 1, 1), (2, 1, 1)),
            norm=norm,
            activation=activation,
        ).create_module

    return create_slowfast(
        slowfast_channel_reduction_ratio=slowfast_channel_reduction_ratio,
        slowfast_conv_channel_fusion_ratio=slowfast_conv_channel_fusion_ratio,
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
        head=head,
        head_pool=head_pool,
        head_pool_kernel_sizes=head_pool_kernel_sizes,
        head_output_size=head_output_size,
        head_activation=head_activation,
        head_output_with_global_average=head_output_with_global_average,
    )


class AudioToSlowFastFusionBuilder:
    """Builds AVSlowFast's lateral connections, as ``fusion_builder`` of :func:`create_audio_visual_slowfast`.

    Fast to Slow as in SlowFast (a strided temporal convolution, concatenated);
    Audio to Slow: the spectrogram features averaged over frequency, then
    ``conv_num_a`` temporal convolutions (the last one strided down to the Slow
    frame rate and widened to the fused Slow channels), added to the Slow features.
    """

    def __init__(
        self,
        slowfast_channel_reduction_ratio: int,
        slowfast_audio_reduction_ratio: int,
        conv_fusion_channel_ratio: float,
        conv_kernel_size: tuple[int, int, int],
        conv_kernel_size_a: tuple[int, int, int],
        conv_stride: tuple[int, int, int] | tuple[tuple[int, int, int], ...],
        conv_stride_a: tuple[int, int, int] | tuple[tuple[int, int, int], ...],
        conv_fusion_channel_interm_dim: int | float = 0.25,
        conv_num_a: int = 2,
        norm: Callable | None = nn.BatchNorm3d,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
        activation: Callable | None = nn.ReLU,
        max_stage_idx: int = 3,
    ) -> None:
        """
        Args:
            slowfast_channel_reduction_ratio: the Fast pathway has ``fusion_dim_in //
                slowfast_channel_reduction_ratio`` channels.
            slowfast_audio_reduction_ratio: the Audio pathway has ``fusion_dim_in //
                slowfast_audio_reduction_ratio`` channels.
            conv_fusion_channel_ratio: the fast-to-slow convolution's output channels relative to its input.
            conv_kernel_size: the fast-to-slow convolution's kernel.
            conv_kernel_size_a: the kernel of the audio convolutions.
            conv_stride: the fast-to-slow stride, one for all stages or one per stage.
            conv_stride_a: the last audio convolution's stride, one for all stages or one per stage.
            conv_fusion_channel_interm_dim: channels between the audio convolutions: an
                int, or a float times the Audio channels.
            conv_num_a: the number of audio convolutions.
            norm: builds the normalization after each convolution (``None``: none).
            norm_eps: the normalization's epsilon.
            norm_momentum: the normalization's momentum.
            activation: builds the activation after each normalization (``None``: none).
            max_stage_idx: stages after this one get no fusion (``nn.Identity``).
        """
        set_attributes(self, locals())

    def create_module(self, fusion_dim_in: int, stage_idx: int) -> nn.Module:
        """The fusion after stage ``stage_idx`` (0: the stem), whose Slow output has ``fusion_dim_in`` channels."""
        if stage_idx > self.max_stage_idx:
            return nn.Identity()
        conv_stride = self.conv_stride[stage_idx] if isinstance(self.conv_stride[0], tuple) else self.conv_stride
        conv_stride_a = (
            self.conv_stride_a[stage_idx] if isinstance(self.conv_stride_a[0], tuple) else self.conv_stride_a
        )
        conv_dim_in = fusion_dim_in // self.slowfast_channel_reduction_ratio
        conv_dim_in_a = fusion_dim_in // self.slowfast_audio_reduction_ratio

        fast_to_slow = [
            nn.Conv3d(
                conv_dim_in,
                int(conv_dim_in * self.conv_fusion_channel_ratio),
                kernel_size=self.conv_kernel_size,
                stride=conv_stride,
                padding=[size // 2 for size in self.conv_kernel_size],
                bias=False,
            ),
            *self._norm_and_activation(conv_dim_in * self.conv_fusion_channel_ratio),
        ]

        if isinstance(self.conv_fusion_channel_interm_dim, int):
            interm_dim = self.conv_fusion_channel_interm_dim
        else:
            interm_dim = int(conv_dim_in_a * self.conv_fusion_channel_interm_dim)
        # The last convolution matches the fused Slow features: their channels and frame rate.
        fused_slow_dim = int(conv_dim_in * self.conv_fusion_channel_ratio + fusion_dim_in)
        audio_to_fastslow = []
        dim_in = conv_dim_in_a
        for idx in range(self.conv_num_a):
            last = idx == self.conv_num_a - 1
            dim_out = fused_slow_dim if last else interm_dim
            audio_to_fastslow.append(
                nn.Conv3d(
                    dim_in,
                    dim_out,
                    kernel_size=self.conv_kernel_size_a,
                    stride=conv_stride_a if last else (1, 1, 1),
                    padding=[size // 2 for size in self.conv_kernel_size_a],
                    bias=False,
                )
            )
            audio_to_fastslow.extend(self._norm_and_activation(dim_out))
            dim_in = dim_out

        return FuseAudioToFastSlow(
            block_fast_to_slow=nn.Sequential(*fast_to_slow),
            block_audio_to_fastslow=nn.Sequential(*audio_to_fastslow),
        )

    def _norm_and_activation(self, num_features: int) -> list[nn.Module]:
        layers = []
        if self.norm is not None:
            layers.append(self.norm(num_features=num_features, eps=self.norm_eps, momentum=self.norm_momentum))
        if self.activation is not None:
            layers.append(self.activation())
        return layers


class FuseAudioToFastSlow(nn.Module):
    """Fuses ``[slow, fast, audio]``: Fast into Slow by concatenation, Audio into the result by addition.

    ::

                   Slow           Fast               Audio
                    ↓              ↓                   ↓
                    ↓      block_fast_to_slow   mean over frequency
                    ↓ ⭠----------- ↓          block_audio_to_fastslow
                  concat           ↓                   ↓
                    ↓ ⭠--------------------------------↓
                   add             ↓                   ↓

    The audio term is ``[B, C, T, 1, 1]`` and broadcasts over the Slow features' space.
    """

    def __init__(self, block_fast_to_slow: nn.Module, block_audio_to_fastslow: nn.Module) -> None:
        """
        Args:
            block_fast_to_slow: matches the Fast features to the Slow frame rate.
            block_audio_to_fastslow: matches the frequency-averaged Audio features to the fused Slow ones.
        """
        super().__init__()
        set_attributes(self, locals())

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        x_s, x_f, x_a = x[0], x[1], x[2]
        fuse = self.block_fast_to_slow(x_f)
        fuse_a = self.block_audio_to_fastslow(torch.mean(x_a, dim=-1, keepdim=True))
        x_s_fuse = torch.cat([x_s, fuse], 1)
        return [fuse_a + x_s_fuse, x_f, x_a]


__all__ = ["AudioToSlowFastFusionBuilder", "FuseAudioToFastSlow", "create_audio_visual_slowfast"]
