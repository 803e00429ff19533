"""Video, audio and detection transforms, under PyTorchVideo's names.

``from pytorchvideo.transforms import X`` becomes ``from vidray.transforms import X``.
Videos are ``[C, T, H, W]`` clips or ``[B, C, T, H, W]`` batches (uint8 or
float, CPU or CUDA); random transforms draw once per clip, so every frame and
the clip's boxes get the same crop, flip or colour change. Every transform is
registered in :data:`TRANSFORMS`, so a config can name it (see
:func:`build_transform`).
"""

from vidray.transforms.audio import (
    FrequencyMasking,
    LogMelSpectrogram,
    MelSpectrogram,
    Resample,
    TimeMasking,
)
from vidray.transforms.augmix import AugMix
from vidray.transforms.base import VideoTransform
from vidray.transforms.boxes import ApplyTransformToVideoAndBoxes
from vidray.transforms.compose import TRANSFORMS, Compose, build_transform
from vidray.transforms.mix import CutMix, MixUp, MixVideo
from vidray.transforms.multiview import (
    MultiViewTest,
    ViewAggregator,
    aggregate_views,
    multiview_test,
)
from vidray.transforms.rand_augment import RandAugment
from vidray.transforms.ssl import ApplyTransformToKeyOnList, ColorJitterVideoSSl, RepeatandConverttoList
from vidray.transforms.transforms import (
    ApplyTransformToKey,
    CenterCrop,
    ConvertFloatToUint8,
    ConvertUint8ToFloat,
    Div255,
    MoveChannelFront,
    MoveChannelRear,
    Normalize,
    OpSampler,
    Permute,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomShortSideScale,
    RandomShortSideScaleCrop,
    RemoveKey,
    ShortSideScale,
    TemporalJitter,
    UniformCropVideo,
    UniformTemporalSubsample,
    UniformTemporalSubsampleRepeated,
)
from vidray.transforms.transforms_factory import create_video_transform

__all__ = [
    "ApplyTransformToKey",
    "ApplyTransformToKeyOnList",
    "ApplyTransformToVideoAndBoxes",
    "AugMix",
    "CenterCrop",
    "ColorJitterVideoSSl",
    "Compose",
    "ConvertFloatToUint8",
    "ConvertUint8ToFloat",
    "CutMix",
    "Div255",
    "FrequencyMasking",
    "LogMelSpectrogram",
    "MelSpectrogram",
    "MixUp",
    "MixVideo",
    "MoveChannelFront",
    "MoveChannelRear",
    "MultiViewTest",
    "Normalize",
    "OpSampler",
    "Permute",
    "RandAugment",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomShortSideScale",
    "RandomShortSideScaleCrop",
    "RemoveKey",
    "RepeatandConverttoList",
    "Resample",
    "ShortSideScale",
    "TRANSFORMS",
    "TemporalJitter",
    "TimeMasking",
    "UniformCropVideo",
    "UniformTemporalSubsample",
    "UniformTemporalSubsampleRepeated",
    "VideoTransform",
    "ViewAggregator",
    "aggregate_views",
    "build_transform",
    "create_video_transform",
    "multiview_test",
]
