"""X3D from mobile-CPU efficient blocks (PyTorchVideo's ``models.accelerator.mobile_cpu.efficient_x3d``).

X3D's layers (:mod:`vidray.models.x3d` at XS/S/M widths, plus a norm on
every projected shortcut) assembled from :mod:`vidray.accelerator.mobile_cpu`
blocks: it trains as is, and its blocks' ``convert(input_blob_size)`` turn it
into a form PyTorch Mobile runs fast (Conv3d unrolled into Conv2d, norms
fused). State_dict keys are PyTorchVideo's, so its
``efficient_x3d_*_original_form.pyth`` checkpoints load.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from vidray.accelerator.mobile_cpu.activation_functions import build_activation
from vidray.accelerator.mobile_cpu.convolutions import Conv3d5x1x1BnAct, Conv3dPwBnAct, Conv3dTemporalKernel1BnAct
from vidray.accelerator.mobile_cpu.fully_connected import FullyConnected
from vidray.accelerator.mobile_cpu.pool import AdaptiveAvgPool3dOutSize1
from vidray.accelerator.mobile_cpu.residual_blocks import X3dBottleneckBlock
from vidray.errors import ConfigError
from vidray.models.registry import PTV_CHECKPOINT_ROOT, InputSpec, ModelSpec, register_model

EXPANSIONS = ("XS", "S", "M", "L")

# (attribute, input channels, bottleneck channels, output channels, depth for XS/S/M, depth for L)
_STAGES = (
    ("s2", 24, 54, 24, 3, 5),
    ("s3", 24, 108, 48, 5, 10),
    ("s4", 48, 216, 96, 11, 25),
    ("s5", 96, 432, 192, 7, 15),
)


class EfficientX3d(nn.Module):
    """X3D for classification from efficient blocks.

    ::

                                 Input [B, 3, T, H, W]
                                           ↓
                   s1: conv 1x3x3 (stride 2) → conv 5x1x1 dw + BN
                                           ↓
                  s2 ... s5: X3dBottleneckBlocks (first one strided)
                                           ↓
            head: conv 1x1x1 + BN + ReLU → global pool → conv 1x1x1 + ReLU
                                           ↓
                            dropout → projection → activation
                                           ↓
                               mean over T, H, W (eval)

    In training the projection's output is returned unaveraged and without the
    head activation (flattened); in eval the activation is applied at every
    position and the positions are averaged.

    Args:
        num_classes: classes of the classifier.
        dropout: dropout rate before the projection (0: none).
        expansion: ``"XS"``, ``"S"``, ``"M"`` or ``"L"``; only ``"L"`` is deeper
            (the others differ in their input clip, not in their layers).
        head_act: the activation after the projection, a key of
            ``supported_act_functions``.
        enable_head: add the head; without it the model returns s5's features.
    """

    def __init__(
        self,
        num_classes: int = 400,
        dropout: float = 0.5,
        expansion: str = "XS",
        head_act: str = "identity",
        enable_head: bool = True,
    ) -> None:
        super().__init__()
        if expansion not in EXPANSIONS:
            raise ConfigError(f"EfficientX3d: expansion must be one of {EXPANSIONS}, got {expansion!r}")
        self.s1 = nn.Sequential(
            OrderedDict(
                pathway0_stem_conv_xy=Conv3dTemporalKernel1BnAct(
                    3,
                    24,
                    bias=False,
                    groups=1,
                    spatial_kernel=3,
                    spatial_stride=2,
                    spatial_padding=1,
                    activation="identity",
                    use_bn=False,
                ),
                pathway0_stem_conv=Conv3d5x1x1BnAct(24, 24, bias=False, groups=24, use_bn=True),
            )
        )
        for name, dim_in, dim_inner, dim_out, depth, depth_l in _STAGES:
            blocks = OrderedDict(
                (
                    f"pathway0_res{i}",
                    X3dBottleneckBlock(
                        in_channels=dim_in if i == 0 else dim_out,
                        mid_channels=dim_inner,
                        out_channels=dim_out,
                        use_residual=True,
                        spatial_stride=2 if i == 0 else 1,
                        se_ratio=0.0625 if i % 2 == 0 else 0,
                        act_functions=("relu", "swish", "relu"),
                        use_bn=(True, True, True),
                    ),
                )
                for i in range(depth_l if expansion == "L" else depth)
            )
            setattr(self, name, nn.Sequential(blocks))
        self.enable_head = enable_head
        if enable_head:
            self.head = nn.Sequential(
                OrderedDict(
                    conv_5=Conv3dPwBnAct(in_channels=192, out_channels=432, bias=False, use_bn=True),
                    avg_pool=AdaptiveAvgPool3dOutSize1(),
                    lin_5=Conv3dPwBnAct(in_channels=432, out_channels=2048, bias=False, use_bn=False),
                )
            )
            if dropout > 0:
                self.dropout = nn.Dropout(dropout)
            self.projection = FullyConnected(2048, num_classes, bias=True)
            self.act = build_activation(head_act, "EfficientX3d head_act")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.s1(x)
        x = self.s2(x)
        x = self.s3(x)
        x = self.s4(x)
        x = self.s5(x)
        if self.enable_head:
            x = self.head(x)
            x = x.permute((0, 2, 3, 4, 1))  # [B, C, T, H, W] -> [B, T, H, W, C] for the projection
            if hasattr(self, "dropout"):
                x = self.dropout(x)
            x = self.projection(x)
            if not self.training:  # fully convolutional inference
                x = self.act(x)
                x = x.mean([1, 2, 3])
            x = x.view(x.shape[0], -1)
        return x


def create_x3d(
    *,
    num_classes: int = 400,
    dropout: float = 0.5,
    expansion: str = "XS",
    head_act: str = "identity",
    enable_head: bool = True,
) -> nn.Module:
    """Builds an :class:`EfficientX3d` (same arguments).

    Args:
        num_classes: classes of the classifier.
        dropout: dropout rate before the projection (0: none).
        expansion: ``"XS"``, ``"S"``, ``"M"`` or ``"L"``.
        head_act: the activation after the projection: ``"relu"``, ``"swish"``,
            ``"hswish"`` or ``"identity"``.
        enable_head: add the classification head.
    """
    return EfficientX3d(
        num_classes=num_classes,
        dropout=dropout,
        expansion=expansion,
        head_act=head_act,
        enable_head=enable_head,
    )


_NOTES = (
    "X3D-{} from mobile-CPU efficient blocks; convert() gives the deployable form for one input size. "
    "Sampling rate as X3D-{}'s recipe. Published: 10-clip accuracy, {} ms fp32 per 1 s clip on a Samsung S8. "
    "The checkpoint is a bare state_dict (no 'model_state')."
)


@register_model(
    ModelSpec(
        family="efficient_x3d",
        input=InputSpec.clip(4, 160),
        sampling_rate=12,
        num_classes_arg="num_classes",
        params_m=3.8,
        top1=68.5,
        top5=88.0,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/kinetics/efficient_x3d_xs_original_form.pyth",
        classifier="projection.model",
        source="PyTorchVideo accelerator model zoo",
        notes=_NOTES.format("XS", "XS", 233),
    )
)
def efficient_x3d_xs(**kwargs: Any) -> nn.Module:
    """X3D-XS for mobile CPUs, trained on Kinetics-400."""
    return create_x3d(expansion="XS", **kwargs)


@register_model(
    ModelSpec(
        family="efficient_x3d",
        input=InputSpec.clip(13, 160),
        sampling_rate=6,
        num_classes_arg="num_classes",
        params_m=3.8,
        top1=73.0,
        top5=90.6,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/kinetics/efficient_x3d_s_original_form.pyth",
        classifier="projection.model",
        source="PyTorchVideo accelerator model zoo",
        notes=_NOTES.format("S", "S", 764),
    )
)
def efficient_x3d_s(**kwargs: Any) -> nn.Module:
    """X3D-S for mobile CPUs, trained on Kinetics-400."""
    return create_x3d(expansion="S", **kwargs)
