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
from vidray.data.datasets import *  # noqa: F403  (the named datasets)
from vidray.data.datasets import __all__ as _dataset_names
from vidray.data.encoded_video import DECODERS, EncodedVideo
from vidray.data.flow import FlowStream, FlowVideo, dequantize_flow
from vidray.data.frame_video import FrameVideo
from vidray.data.imu import IMUData, IMUStream
from vidray.data.labeled_video_dataset import DATASETS, LabeledVideoDataset
from vidray.data.labeled_video_paths import LabeledVideoPaths, labeled_video_dataset
from vidray.data.manifest import Manifest, VideoManifest, read_manifest, write_manifest
from vidray.data.video import ClipWindow, Video

__all__ = [
    "CLIP_SAMPLERS",
    "ClipInfo",
    "ClipInfoList",
    "ClipSampler",
    "ClipWindow",
    "ConstantClipsPerVideoSampler",
    "DATASETS",
    "DECODERS",
    "EncodedVideo",
    "FlowStream",
    "FlowVideo",
    "FrameVideo",
    "IMUData",
    "IMUStream",
    "LabeledVideoDataset",
    "LabeledVideoPaths",
    "Manifest",
    "RandomClipSampler",
    "RandomMultiClipSampler",
    "RandomMultiClipSamplerTruncateFromStart",
    "UniformClipSampler",
    "UniformClipSamplerTruncateFromStart",
    "Video",
    "VideoManifest",
    "collate_skipping_none",
    "dequantize_flow",
    "labeled_video_dataset",
    "make_clip_sampler",
    "read_manifest",
    "write_manifest",
    *_dataset_names,
]
