"""Convolution + BatchNorm + activation efficient blocks for mobile CPUs.

Each block keeps ``conv``, ``bn`` (optional) and ``act`` in an
``nn.Sequential`` named ``kernel`` (PyTorchVideo's state_dict layout).
``convert(input_blob_size)`` fuses the norm into the convolution and, unless
the target runs int8 ``Conv3d`` natively, unrolls the ``Conv3d`` into ``Conv2d`` s
for that input size (see :mod:`~vidray.accelerator.mobile_cpu.conv_helper`).
Activations are named by string (see
:data:`~vidray.accelerator.mobile_cpu.activation_functions.supported_act_functions`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import torch
from torch import nn
from torch.ao.quantization import fuse_modules

from vidray.accelerator.efficient_blocks import EfficientBlockBase
from vidray.accelerator.mobile_cpu.activation_functions import build_activation
from vidray.accelerator.mobile_cpu.conv_helper import (
    _Conv3dTemporalKernel1Decomposed,
    _Conv3dTemporalKernel3Decomposed,
    _Conv3dTemporalKernel5Decomposed,
    _Reshape,
)
from vidray.errors import ConfigError

logger = logging.getLogger(__name__)


class _ConvBnAct(EfficientBlockBase):
    """``kernel = Sequential(conv, [bn], act)`` plus the conversion steps every block shares."""

    def __init__(
        self,
        conv: nn.Conv3d,
        activation: str,
        use_bn: bool,
        norm_eps: float,
        norm_momentum: float,
    ) -> None:
        super().__init__()
        self.act = activation
        kernel: OrderedDict[str, nn.Module] = OrderedDict(conv=conv)
        if use_bn:
            kernel["bn"] = nn.BatchNorm3d(conv.out_channels, eps=norm_eps, momentum=norm_momentum)
        kernel["act"] = build_activation(activation, type(self).__name__)
        self.kernel = nn.Sequential(kernel)
        self.convert_flag = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.kernel(x)

    def _fuse_bn(self) -> None:
        """Starts a conversion: folds the norm's statistics into the convolution (eval mode)."""
        if self.convert_flag:
            raise ConfigError(f"{type(self).__name__}: already converted, cannot be converted again")
        self.kernel.eval()
        if hasattr(self.kernel, "bn"):
            self.kernel = fuse_modules(self.kernel, ["conv", "bn"])

    def _finish_convert(self) -> None:
        self.convert_flag = True
        self.kernel.eval()


class _UnrolledConvBnAct(_ConvBnAct):
    """A block whose conversion unrolls its Conv3d over time into Conv2ds (``decomposed``) for one input size."""

    decomposed: type[nn.Module]

    def convert(self, input_blob_size: tuple[int, ...], **kwargs: Any) -> None:
        """Fuses the norm and replaces the Conv3d with Conv2ds over the frames (the activation stays unfused).

        Args:
            input_blob_size: ``[B, C, T, H, W]`` of the block's input.
            kwargs: passed on to the activation's convert.
        """
        self._fuse_bn()
        self.kernel.conv = self.decomposed(self.kernel.conv, input_blob_size[2:])
        self.kernel.act.convert(input_blob_size, **kwargs)
        self._finish_convert()


class Conv3dPwBnAct(_ConvBnAct):
    """Pointwise (1x1x1) Conv3d + optional BatchNorm + activation; QNNPACK runs it very efficiently.

    ::

                          Input
                            |
                            ↓
                        conv3d (1x1x1)
                            ↓
                        BatchNorm (optional)
                            ↓
                        Activation

    Args:
        in_channels: input channels.
        out_channels: output channels.
        bias: give the convolution a bias.
        activation: a key of ``supported_act_functions``.
        use_bn: add a BatchNorm after the convolution.
        norm_eps: the BatchNorm's epsilon.
        norm_momentum: the BatchNorm's momentum.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bias: bool = False,
        activation: str = "relu",
        use_bn: bool = True,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
    ) -> None:
        conv = nn.Conv3d(in_channels, out_channels, kernel_size=1, bias=bias)
        super().__init__(conv, activation, use_bn, norm_eps, norm_momentum)
        self._in_channels = in_channels
        self._out_channels = out_channels

    def convert(
        self,
        input_blob_size: tuple[int, ...],
        convert_for_quantize: bool = False,
        native_conv3d_op_qnnpack: bool = False,
        **kwargs: Any,
    ) -> None:
        """Fuses the norm (and a ReLU); unless quantizing for a QNNPACK with native int8 Conv3d, runs as a Conv2d.

        A 1x1x1 convolution over ``[B, C, T, H, W]`` is a 1x1 convolution over
        the view ``[B, C, T*H, W]``, so the deployable form is
        reshape -> Conv2d (+ ReLU) -> reshape.

        Args:
            input_blob_size: ``[B, C, T, H, W]`` of the block's input.
            convert_for_quantize: the model will be quantized.
            native_conv3d_op_qnnpack: the target QNNPACK has an int8 Conv3d.
            kwargs: passed on to the activation's convert.
        """
        self._fuse_bn()
        if convert_for_quantize and native_conv3d_op_qnnpack:
            if self.act == "relu":
                self.kernel = fuse_modules(self.kernel, ["conv", "act.act"])
        else:
            batch_size, _, frames, height, width = input_blob_size
            self._input_tensor_reshape_size = (batch_size, self._in_channels, frames * height, width)
            self._output_tensor_size = (batch_size, self._out_channels, frames, height, width)
            conv2d_eq = nn.Conv2d(
                self._in_channels, self._out_channels, kernel_size=1, bias=self.kernel.conv.bias is not None
            )
            state_dict = self.kernel.conv.state_dict()
            state_dict["weight"] = state_dict["weight"].squeeze(2)
            conv2d_eq.load_state_dict(state_dict)
            self.kernel.conv = conv2d_eq
            self.kernel.act.convert(input_blob_size, **kwargs)
            if self.act == "relu":
                self.kernel = fuse_modules(self.kernel, ["conv", "act.act"])
            self.kernel = nn.Sequential(
                _Reshape(self._input_tensor_reshape_size),
                self.kernel,
                _Reshape(self._output_tensor_size),
            )
        self._finish_convert()


class Conv3d3x3x3DwBnAct(_ConvBnAct):
    """Depthwise 3x3x3 Conv3d (padding 1, temporal stride 1) + optional BatchNorm + activation.

    ::

                      Input
                        |
                        ↓
                    conv3d (3x3x3 dw)
                        ↓
                    BatchNorm (optional)
                        ↓
                    Activation

    QNNPACK runs depthwise convolutions best with a 3x3 spatial kernel.

    Args:
        in_channels: channels (input = output, one group per channel).
        spatial_stride: the convolution's spatial stride.
        bias: give the convolution a bias.
        activation: a key of ``supported_act_functions``.
        use_bn: add a BatchNorm after the convolution.
        norm_eps: the BatchNorm's epsilon.
        norm_momentum: the BatchNorm's momentum.
    """

    def __init__(
        self,
        in_channels: int,
        spatial_stride: int = 1,
        bias: bool = False,
        activation: str = "relu",
        use_bn: bool = True,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
    ) -> None:
        conv = nn.Conv3d(
            in_channels,
            in_channels,
            kernel_size=(3, 3, 3),
            stride=(1, spatial_stride, spatial_stride),
            groups=in_channels,
            padding=1,
            bias=bias,
        )
        super().__init__(conv, activation, use_bn, norm_eps, norm_momentum)

    def convert(
        self,
        input_blob_size: tuple[int, ...],
        convert_for_quantize: bool = False,
        native_conv3d_op_qnnpack: bool = False,
        **kwargs: Any,
    ) -> None:
        """Fuses the norm; unless quantizing for a QNNPACK with native int8 Conv3d, unrolls the Conv3d into Conv2ds.

        The activation is not fused: it applies to the sum of the unrolled convolutions.

        Args:
            input_blob_size: ``[B, C, T, H, W]`` of the block's input.
            convert_for_quantize: the model will be quantized.
            native_conv3d_op_qnnpack: the target QNNPACK has an int8 Conv3d.
            kwargs: passed on to the activation's convert.
        """
        self._fuse_bn()
        if not (convert_for_quantize and native_conv3d_op_qnnpack):
            self.kernel.conv = _Conv3dTemporalKernel3Decomposed(self.kernel.conv, input_blob_size[2:])
        self.kernel.act.convert(input_blob_size, **kwargs)
        self._finish_convert()


class Conv3dTemporalKernel1BnAct(_UnrolledConvBnAct):
    """Conv3d of kernel ``1 x k x k`` (no temporal extent) + optional BatchNorm + activation.

    ::

                                  Input
                                    |
                                    ↓
                                conv3d (1xkxk)
                                    ↓
                                BatchNorm (optional)
                                    ↓
                                Activation

    Less efficient in QNNPACK than :class:`Conv3dPwBnAct` for 1x1x1 kernels.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        bias: give the convolution a bias.
        groups: the convolution's groups.
        spatial_kernel: spatial kernel size ``k``.
        spatial_stride: spatial stride.
        spatial_padding: spatial padding.
        spatial_dilation: spatial dilation.
        activation: a key of ``supported_act_functions``.
        use_bn: add a BatchNorm after the convolution.
        norm_eps: the BatchNorm's epsilon.
        norm_momentum: the BatchNorm's momentum.
    """

    decomposed = _Conv3dTemporalKernel1Decomposed

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        bias: bool = False,
        groups: int = 1,
        spatial_kernel: int = 1,
        spatial_stride: int = 1,
        spatial_padding: int = 0,
        spatial_dilation: int = 1,
        activation: str = "relu",
        use_bn: bool = True,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
    ) -> None:
        conv = nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size=(1, spatial_kernel, spatial_kernel),
            padding=(0, spatial_padding, spatial_padding),
            stride=(1, spatial_stride, spatial_stride),
            dilation=(1, spatial_dilation, spatial_dilation),
            groups=groups,
            bias=bias,
        )
        super().__init__(conv, activation, use_bn, norm_eps, norm_momentum)


class _Conv3dTemporalBnAct(_UnrolledConvBnAct):
    """A ``k x 1 x 1`` Conv3d block with padding ``k // 2`` (``k``: ``temporal_kernel``)."""

    temporal_kernel: int
    # The block to suggest for depthwise use, where this one is slow on QNNPACK (None: no warning).
    depthwise_alternative: str | None = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        groups: int = 1,
        bias: bool = False,
        activation: str = "relu",
        use_bn: bool = True,
        norm_eps: float = 1e-5,
        norm_momentum: float = 0.1,
    ) -> None:
        conv = nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size=(self.temporal_kernel, 1, 1),
            groups=groups,
            padding=(self.temporal_kernel // 2, 0, 0),
            bias=bias,
        )
        if groups == out_channels and self.depthwise_alternative is not None:
            logger.warning(
                f"{type(self).__name__} has low efficiency for depthwise conv. "
                f"Consider using {self.depthwise_alternative} instead."
            )
        super().__init__(conv, activation, use_bn, norm_eps, norm_momentum)


class Conv3d3x1x1BnAct(_Conv3dTemporalBnAct):
    """Temporal 3x1x1 Conv3d (padding (1, 0, 0)) + optional BatchNorm + activation.

    ::

                      Input
                        |
                        ↓
                    conv3d (3x1x1)
                        ↓
                    BatchNorm (optional)
                        ↓
                    Activation

    Reasonably efficient in QNNPACK as a regular convolution (``groups=1``).
    QNNPACK has no fast 1x1 depthwise kernel, so depthwise (``groups ==
    out_channels``) is about 1.5x slower in int8 than :class:`Conv3d3x3x3DwBnAct`.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        groups: the convolution's groups.
        bias: give the convolution a bias.
        activation: a key of ``supported_act_functions``.
        use_bn: add a BatchNorm after the convolution.
        norm_eps: the BatchNorm's epsilon.
        norm_momentum: the BatchNorm's momentum.
    """

    temporal_kernel = 3
    decomposed = _Conv3dTemporalKernel3Decomposed
    depthwise_alternative = "Conv3d3x3x3DwBnAct"


class Conv3d5x1x1BnAct(_Conv3dTemporalBnAct):
    """Temporal 5x1x1 Conv3d (padding (2, 0, 0)) + optional BatchNorm + activation.

    ::

                      Input
                        |
                        ↓
                    conv3d (5x1x1)
                        ↓
                    BatchNorm (optional)
                        ↓
                    Activation

    Reasonably efficient in QNNPACK as a regular convolution (``groups=1``).

    Args: as in :class:`Conv3d3x1x1BnAct`.
    """

    temporal_kernel = 5
    decomposed = _Conv3dTemporalKernel5Decomposed
