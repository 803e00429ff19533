"""Building blocks shared by the model families, under PyTorchVideo's ``layers`` names."""

from vidray.layers.attention import Mlp, MultiScaleAttention, MultiScaleBlock
from vidray.layers.batch_norm import NaiveSyncBatchNorm1d, NaiveSyncBatchNorm2d, NaiveSyncBatchNorm3d
from vidray.layers.convolutions import Conv2plus1d, ConvReduce3D, create_conv_2plus1d
from vidray.layers.drop_path import DropPath, drop_path
from vidray.layers.fusion import ConcatFusion, ReduceFusion, TemporalConcatFusion, make_fusion_layer
from vidray.layers.mlp import make_multilayer_perceptron
from vidray.layers.nonlocal_net import NonLocal, create_nonlocal
from vidray.layers.positional_encoding import PositionalEncoding, SpatioTemporalClsPositionalEncoding
from vidray.layers.squeeze_excitation import (
    SqueezeAndExcitationLayer2D,
    SqueezeExcitation,
    create_audio_2d_squeeze_excitation_block,
)
from vidray.layers.swish import Swish

__all__ = [
    "ConcatFusion", "Conv2plus1d", "ConvReduce3D", "DropPath", "Mlp", "MultiScaleAttention", "MultiScaleBlock",
    "NaiveSyncBatchNorm1d", "NaiveSyncBatchNorm2d", "NaiveSyncBatchNorm3d", "NonLocal", "PositionalEncoding",
    "ReduceFusion", "SpatioTemporalClsPositionalEncoding", "SqueezeAndExcitationLayer2D", "SqueezeExcitation",
    "Swish", "TemporalConcatFusion", "create_audio_2d_squeeze_excitation_block", "create_conv_2plus1d",
    "create_nonlocal", "drop_path", "make_fusion_layer", "make_multilayer_perceptron",
]  # fmt: skip
