"""vidray's data layer: decoders, clip samplers, datasets and modalities.

Names follow ``pytorchvideo.data`` so code migrates by changing the import
prefix. Importing this package registers the built-in decoders, samplers and
datasets.
"""

from vidray.data import decoders  # noqa: F401  (registers the decoder backends)
from vidray.data.clip_sampling import (
    CLIP_SAMPLERS,
    ClipInfo,
    ClipInfoList,
    ClipSampler,
    ConstantClipsPerVideoSampler,
    RandomClipSampler,
    RandomMultiClipSampler,
    RandomMultiClipSamplerTruncateFromStart,
    UniformClipSampler,
    UniformClipSamplerTruncateFromStart,
    make_clip_sampler,
)
from vidray.data.collate import collate_skipping_none
from vidray.data.datasets import (
    Ava,
    AvaDataset,
    Charades,
    DomsevFrameDataset,
    DomsevVideoDataset,
    EpicKitchens100,
    Hmdb51,
    Kinetics,
    SSv2,
    Ucf101,
    detection_collate,
)
from vidray.data.encoded_video import DECODERS, EncodedVideo
from vidray.data.frame_video import FrameVideo
from vidray.data.labeled_video_dataset import DATASETS, LabeledVideoDataset
from vidray.data.labeled_video_paths import LabeledVideoPaths, labeled_video_dataset
from vidray.data.video import Video

__all__ = [
    "CLIP_SAMPLERS",
    "ClipInfo",
    "ClipInfoList",
    "ClipSampler",
    "Charades",
    "ConstantClipsPerVideoSampler",
    "DATASETS",
    "DECODERS",
    "EncodedVideo",
    "EpicKitchens100",
    "FrameVideo",
    "Hmdb51",
    "Kinetics",
    "LabeledVideoDataset",
    "LabeledVideoPaths",
    "RandomClipSampler",
    "RandomMultiClipSampler",
    "RandomMultiClipSamplerTruncateFromStart",
    "SSv2",
    "UniformClipSampler",
    "UniformClipSamplerTruncateFromStart",
    "Ucf101",
    "Video",
    "collate_skipping_none",
    "labeled_video_dataset",
    "make_clip_sampler",
]
__all__ += ["Ava", "AvaDataset", "DomsevFrameDataset", "DomsevVideoDataset", "detection_collate"]
