"""Residual blocks made of mobile-CPU efficient blocks (PyTorchVideo's ``models.accelerator.mobile_cpu.residual_blocks``)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn
from torch.ao.nn.quantized import FloatFunctional

from vidray.accelerator.efficient_blocks import EfficientBlockBase
from vidray.accelerator.mobile_cpu.activation_functions import build_activation
from vidray.accelerator.mobile_cpu.attention import SqueezeExcitation
from vidray.accelerator.mobile_cpu.convolutions import (
    Conv3d3x3x3DwBnAct,
    Conv3dPwBnAct,
    Conv3dTemporalKernel1BnAct,
)
from vidray.errors import ConfigError
from vidray.layers.utils import round_width


class X3dBottleneckBlock(EfficientBlockBase):
    """X3D's residual bottleneck with optional squeeze-excitation, from efficient blocks.

    ::

                    Input +----------------------+
                    |                            |
                    v                            |
                    conv3d[0] (1x1x1)            |
                    |                            |
                    v                            |
                    batchNorm (optional)         |
                    |                            |
                    v                            |
                    activation[0]                |
                    |                            |
                    v                            |
                    conv3d[1] (3x3x3 dw)         |
                    |                            |
                    v                            |
                    batchNorm (optional)         |
                    |                            |
                    v                            |
                    Squeeze-Excite (optional)    |
                    |                            |
                    v                            |
                    activation[1]                |
                    |                            |
                    v                            |
                    conv3d[2] (1x1x1)            |
                    |                            |
                    v                            |
                    batchNorm (optional)         |
                    |                            |
                    v                            |
                    sum  <-----------------------+
                    |
                    v
                    activation[2]

    The shortcut is projected (strided 1x1x1 conv + BatchNorm) when the block
    changes the channel count or the resolution.

    Args:
        in_channels: input channels of conv3d[0].
        mid_channels: channels of the depthwise conv3d[1].
        out_channels: output channels of conv3d[2].
        use_residual: add the shortcut.
        spatial_stride: spatial stride of conv3d[1].
        se_ratio: if > 0, squeeze-excite after conv3d[1] with
            ``round_width(mid_channels, se_ratio)`` bottleneck channels.
        act_functions: the activation after conv3d[i] (after the sum for
            i = 2), keys of ``supported_act_functions``.
        bias: ``bias[i]`` gives conv3d[i] a bias.
        use_bn: ``use_bn[i]`` adds a BatchNorm after conv3d[i].
        norm_eps: the BatchNorms' epsilon.
        norm_momentum: the BatchNorms' momentum.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        use_residual: bool = True,
        spatial_stride: int = 1,
        se_ratio: float = 0.0625,
        act_functions: tuple[str, str, str] = ("relu", "relu", "relu"),
        bias: tuple[bool, bool, bool] = (False, False, False),
        use_bn: tuple[bool, bool, bool] = (True, True, True),
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        for name, value in (("act_functions", act_functions), ("bias", bias), ("use_bn", use_bn)):
            if len(value) != 3:
                raise ConfigError(f"X3dBottleneckBlock: {name} needs one entry per convolution (3), got {value!r}")
        self._use_residual = use_residual
        self._res_proj = None
        if use_residual:
            self._residual_add_func = FloatFunctional()
            if spatial_stride != 1 or in_channels != out_channels:
                self._res_proj = Conv3dTemporalKernel1BnAct(
                    in_channels,
                    out_channels,
                    bias=False,
                    groups=1,
                    spatial_kernel=1,
                    spatial_stride=spatial_stride,
                    spatial_padding=0,
                    spatial_dilation=1,
                    activation="identity",
                    use_bn=True,
                )

        self._spatial_stride = spatial_stride
        self._mid_channels = mid_channels
        self._out_channels = out_channels
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["conv_0"] = Conv3dPwBnAct(
            in_channels,
            mid_channels,
            bias=bias[0],
            activation=act_functions[0],
            use_bn=use_bn[0],
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
        )
        layers["conv_1"] = Conv3d3x3x3DwBnAct(
            mid_channels,
            spatial_stride=spatial_stride,
            bias=bias[1],
            activation="identity",  # act_functions[1] comes after the SE
            use_bn=use_bn[1],
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
        )
        if se_ratio > 0:
            layers["se"] = SqueezeExcitation(
                num_channels=mid_channels,
                num_channels_reduced=round_width(mid_channels, se_ratio),
                is_3d=True,
            )
        layers["act_func_1"] = build_activation(act_functions[1], "X3dBottleneckBlock")
        layers["conv_2"] = Conv3dPwBnAct(
            mid_channels,
            out_channels,
            bias=bias[2],
            activation="identity",  # act_functions[2] comes after the residual sum
            use_bn=use_bn[2],
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
        )
        self.final_act = build_activation(act_functions[2], "X3dBottleneckBlock")
        self.layers = nn.Sequential(layers)
        self.convert_flag = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(x)
        if self._use_residual:
            if self._res_proj is not None:
                x = self._res_proj(x)
            out = self._residual_add_func.add(x, out)
        return self.final_act(out)

    def convert(
        self,
        input_blob_size: tuple[int, ...],
        convert_for_quantize: bool = False,
        native_conv3d_op_qnnpack: bool = False,
        **kwargs: Any,
    ) -> None:
        """Converts every inner block, each for the size of its own input.

        Args:
            input_blob_size: ``[B, C, T, H, W]`` of the block's input.
            convert_for_quantize: the model will be quantized.
            native_conv3d_op_qnnpack: the target QNNPACK has an int8 Conv3d.
            kwargs: unused target options.
        """
        if self.convert_flag:
            raise ConfigError("X3dBottleneckBlock: already converted, cannot be converted again")
        options = {"convert_for_quantize": convert_for_quantize, "native_conv3d_op_qnnpack": native_conv3d_op_qnnpack}
        batch_size = input_blob_size[0]
        frames, height, width = tuple(input_blob_size[2:])
        if self._res_proj is not None:
            self._res_proj.convert(input_blob_size, **options)
        self.layers.conv_0.convert(input_blob_size, **options)
        self.layers.conv_1.convert((batch_size, self._mid_channels, frames, height, width), **options)
        # conv_1 (3x3 spatial kernel, padding 1) is the only strided layer: what follows sees its output size.
        reduced = (frames, (height - 1) // self._spatial_stride + 1, (width - 1) // self._spatial_stride + 1)
        mid_blob_size = (batch_size, self._mid_channels, *reduced)
        if hasattr(self.layers, "se"):
            self.layers.se.convert(mid_blob_size)
        self.layers.act_func_1.convert(mid_blob_size)
        self.layers.conv_2.convert(mid_blob_size, **options)
        self.final_act.convert((batch_size, self._out_channels, *reduced))
        self.convert_flag = True
