"""Efficient blocks for mobile CPUs (PyTorchVideo's ``layers.accelerator.mobile_cpu``).

Convolutions, activations, squeeze-excitation, pools, a fully connected
layer and X3D's residual bottleneck, each trainable as is and convertible
with ``convert(input_blob_size)`` into a form PyTorch Mobile (QNNPACK) runs
efficiently, e.g. ``Conv3d`` s unrolled into ``Conv2d`` s.
"""

from vidray.accelerator.mobile_cpu.activation_functions import (
    HardSwish,
    Identity,
    ReLU,
    Swish,
    build_activation,
    supported_act_functions,
)
from vidray.accelerator.mobile_cpu.attention import SqueezeExcitation
from vidray.accelerator.mobile_cpu.convolutions import (
    Conv3d3x1x1BnAct,
    Conv3d3x3x3DwBnAct,
    Conv3d5x1x1BnAct,
    Conv3dPwBnAct,
    Conv3dTemporalKernel1BnAct,
)
from vidray.accelerator.mobile_cpu.fully_connected import FullyConnected
from vidray.accelerator.mobile_cpu.pool import (
    AdaptiveAvgPool2d,
    AdaptiveAvgPool2dOutSize1,
    AdaptiveAvgPool3d,
    AdaptiveAvgPool3dOutSize1,
)
from vidray.accelerator.mobile_cpu.residual_blocks import X3dBottleneckBlock

__all__ = [
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool2dOutSize1",
    "AdaptiveAvgPool3d",
    "AdaptiveAvgPool3dOutSize1",
    "Conv3d3x1x1BnAct",
    "Conv3d3x3x3DwBnAct",
    "Conv3d5x1x1BnAct",
    "Conv3dPwBnAct",
    "Conv3dTemporalKernel1BnAct",
    "FullyConnected",
    "HardSwish",
    "Identity",
    "ReLU",
    "SqueezeExcitation",
    "Swish",
    "X3dBottleneckBlock",
    "build_activation",
    "supported_act_functions",
]
