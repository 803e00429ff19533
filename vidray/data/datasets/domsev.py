"""DoMSEV (Dataset of Multimodal Semantic Egocentric Videos) with PyTorchVideo's manifests.

Three CSVs with headers describe the data, in PyTorchVideo's format:

* video info: ``video_id,resolution,duration,fps``;
* video data manifest: for frame folders
  ``video_id,location,frame_file_stem,frame_string_length,min_frame_number,max_frame_number,file_extension``
  (frame ``n`` is ``<location>/<stem><n zero-padded>.<ext>``, stem and digits
  together ``frame_string_length`` characters); for encoded videos
  ``video_id,file_path``;
* labels: ``video_id,start_time,stop_time,start_frame,stop_frame,label_id,label_name``,
  contiguous segments of one :class:`LabelType` (environment, activity or
  user attention; ids in :data:`LABEL_TYPE_2_MAP`), frames inclusive.

:class:`DomsevVideoDataset` gives clips with one label id per
``1 / frames_per_second`` seconds of the clip (``"labels"``, PyTorchVideo's
unpacking); :class:`DomsevFrameDataset` gives single frames with the label of
the segment holding them. Videos of the info file without data, or whose
files are missing or short of frames, are left out and listed in
``missing_videos``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from typing import Any, Callable, Sequence, TypeVar

import torch
from torch.utils.data import RandomSampler

from vidray import io as vio
from vidray.data.annotations import annotation_error, parse_number, read_csv_rows
from vidray.data.clip_sampling import ClipInfo, ClipInfoList, ClipSampler
from vidray.data.image import load_image
from vidray.data.labeled_video_dataset import (
    DATASETS,
    DURATION_KEY,
    FPS_KEY,
    FRAME_PATHS_KEY,
    SEGMENT_KEY,
    LabeledVideoDataset,
)
from vidray.data.labeled_video_paths import report_missing
from vidray.data.video import ClipWindow, FrameFilter, Video
from vidray.errors import DataError, UnknownLabelError

logger = logging.getLogger(__name__)

USER_ENVIRONMENT_MAP = {0: "none", 1: "indoor", 2: "nature", 3: "crowded_environment", 4: "urban"}
USER_ACTIVITY_MAP = {
    0: "none", 1: "walking", 2: "running", 3: "standing", 4: "biking", 5: "driving", 6: "playing",
    7: "cooking", 8: "eating", 9: "observing", 10: "in_conversation", 11: "browsing", 12: "shopping",
}
USER_ATTENTION_MAP = {0: "none", 1: "paying_attention", 2: "interacting"}


class LabelType(Enum):
    Environment = 1
    Activity = 2
    UserAttention = 3


LABEL_TYPE_2_MAP = {
    LabelType.Environment: USER_ENVIRONMENT_MAP,
    LabelType.Activity: USER_ACTIVITY_MAP,
    LabelType.UserAttention: USER_ATTENTION_MAP,
}


class VideoDatasetType(Enum):
    Frame = 1
    EncodedVideo = 2


@dataclass
class LabelData:
    """One contiguous label segment of a video."""

    video_id: str
    start_time: float  # seconds
    stop_time: float  # seconds
    start_frame: int  # first frame (inclusive)
    stop_frame: int  # last frame (inclusive)
    label_id: int
    label_name: str


@dataclass
class VideoInfo:
    video_id: str
    resolution: str
    duration: float
    fps: float


@dataclass
class EncodedVideoInfo:
    video_id: str
    file_path: str


@dataclass
class VideoFrameInfo:
    video_id: str
    location: str
    frame_file_stem: str
    frame_string_length: int
    min_frame_number: int
    max_frame_number: int
    file_extension: str


@dataclass
class VideoClipInfo:
    video_id: str
    start_time: float
    stop_time: float


@dataclass
class ImageFrameInfo:
    video_id: str
    frame_id: str
    frame_number: int
    frame_file_path: str


Row = TypeVar("Row")
_FIELD_KINDS = {"str": str, "int": int, "float": float}


def read_dataclass_csv(uri: str, row_type: type[Row]) -> list[tuple[int, Row]]:
    """(line, row) for a headered CSV whose columns are ``row_type``'s fields (values cast to the field types)."""
    fields = dataclasses.fields(row_type)
    rows = []
    for line, raw in read_csv_rows(uri, [f.name for f in fields]):
        values = {f.name: parse_number(uri, line, f.name, raw[f.name], _FIELD_KINDS[f.type]) for f in fields}
        if not values["video_id"]:
            raise annotation_error(uri, line, "empty video_id")
        rows.append((line, row_type(**values)))
    return rows


def _rows_by_video(uri: str, row_type: type[Row]) -> dict[str, tuple[int, Row]]:
    rows: dict[str, tuple[int, Row]] = {}
    for line, row in read_dataclass_csv(uri, row_type):
        if row.video_id in rows:
            raise annotation_error(uri, line, f"video {row.video_id!r} already listed on line {rows[row.video_id][0]}")
        rows[row.video_id] = (line, row)
    return rows


def read_labels(labels_file_path: str, label_type: LabelType | None = None) -> dict[str, list[LabelData]]:
    """Label segments per video, ordered by start time; ids checked against ``label_type``'s map if given."""
    names = LABEL_TYPE_2_MAP[label_type] if label_type is not None else None
    labels: dict[str, list[LabelData]] = {}
    for line, label in read_dataclass_csv(labels_file_path, LabelData):
        if not 0 <= label.start_time <= label.stop_time or not math.isfinite(label.stop_time):
            raise annotation_error(
                labels_file_path, line, f"expected 0 <= start_time <= stop_time, got {label.start_time}, {label.stop_time}"
            )
        if not 0 <= label.start_frame <= label.stop_frame:
            frames = f"{label.start_frame}, {label.stop_frame}"
            raise annotation_error(labels_file_path, line, f"expected 0 <= start_frame <= stop_frame, got {frames}")
        if names is not None and label.label_id not in names:
            raise UnknownLabelError(
                f"{labels_file_path}:{line}: unknown {label_type.name} label id {label.label_id} "
                f"(expected 0..{len(names) - 1})"
            )
        labels.setdefault(label.video_id, []).append(label)
    for segments in labels.values():
        segments.sort(key=lambda s: s.start_time)
    return labels


def frame_file_paths(frames: VideoFrameInfo) -> list[str]:
    """Paths of frames ``min_frame_number..max_frame_number`` (PyTorchVideo's naming)."""
    paths = []
    for number in range(frames.min_frame_number, frames.max_frame_number + 1):
        digits = str(number).zfill(frames.frame_string_length - len(frames.frame_file_stem))
        paths.append(vio.join(frames.location, f"{frames.frame_file_stem}{digits}.{frames.file_extension}"))
    return paths


@dataclass
class _Source:
    path: str
    loading: dict[str, Any]  # LabeledVideoDataset's loading keys
    info: VideoInfo
    frame_numbers: range | None  # file numbers of a frame folder


def _load_sources(
    video_data_manifest_file_path: str, video_info_file_path: str, dataset_type: VideoDatasetType
) -> tuple[dict[str, _Source], list[str]]:
    """Readable videos by id, and the videos of the info file left out (missing, incomplete)."""
    infos = _rows_by_video(video_info_file_path, VideoInfo)
    data_type = VideoFrameInfo if dataset_type == VideoDatasetType.Frame else EncodedVideoInfo
    manifest = _rows_by_video(video_data_manifest_file_path, data_type)
    sources, missing = {}, []
    for video_id, (line, info) in infos.items():
        if not (info.duration > 0 and info.fps > 0):
            reason = f"duration and fps must be positive, got {info.duration}, {info.fps}"
            raise annotation_error(video_info_file_path, line, reason)
        if video_id not in manifest:
            missing.append(video_id)
            continue
        data_line, data = manifest[video_id]
        if isinstance(data, EncodedVideoInfo):
            source = _Source(data.file_path, {DURATION_KEY: info.duration}, info, None)
        else:
            if data.max_frame_number < data.min_frame_number:
                raise annotation_error(video_data_manifest_file_path, data_line, "max_frame_number < min_frame_number")
            paths = frame_file_paths(data)
            if abs(len(paths) - round(info.duration * info.fps)) > info.fps:
                logger.warning("%s: %d frames, but %.1f s at %g fps", data.location, len(paths), info.duration, info.fps)
                missing.append(data.location)
                continue
            numbers = range(data.min_frame_number, data.max_frame_number + 1)
            source = _Source(data.location, {FRAME_PATHS_KEY: paths, FPS_KEY: info.fps}, info, numbers)
        probe = source.loading[FRAME_PATHS_KEY][0] if FRAME_PATHS_KEY in source.loading else source.path
        if not vio.exists(probe):
            missing.append(source.path)
            continue
        sources[video_id] = source
    report_missing(video_info_file_path, missing)
    return sources, missing


def _seconds_to_frame_index(time_in_seconds: float, fps: float, zero_indexed: bool = True) -> int:
    """The frame showing ``time_in_seconds`` (rounding down)."""
    return math.floor(time_in_seconds * fps) + (0 if zero_indexed else 1)


def _get_overlap_for_time_range_pair(
    t1_start: float, t1_stop: float, t2_start: float, t2_stop: float
) -> tuple[float, float] | None:
    """The overlap of two closed time ranges, or ``None``."""
    if t1_start <= t2_stop and t2_start <= t1_stop:
        return max(t1_start, t2_start), min(t1_stop, t2_stop)
    return None


class _WholeSegmentSampler(ClipSampler):
    """The whole sampling window as one clip (each entry is one clip of a PyTorchVideo-style sampler)."""

    def __init__(self) -> None:
        super().__init__(1)

    @property
    def clips_per_video(self) -> int:
        return 1

    def __call__(
        self, last_clip_time: float | Fraction, video_duration: float | Fraction, annotation: dict[str, Any]
    ) -> ClipInfo:
        return ClipInfo(Fraction(0), Fraction(video_duration), 0, 0, True)


PtvClipSampler = Callable[[dict[str, VideoInfo], dict[str, list[LabelData]]], list[VideoClipInfo]]


@DATASETS.register("domsev")
class DomsevVideoDataset(LabeledVideoDataset):
    """DoMSEV clips with per-frame labels.

    Args:
        video_data_manifest_file_path / video_info_file_path / labels_file_path:
            the three manifests (see the module docstring).
        clip_sampler: a vidray :class:`ClipSampler` applied to every video, or
            PyTorchVideo's callable ``(videos, labels) -> [VideoClipInfo]``
            (``videos`` maps ids to :class:`VideoInfo`, which has the
            ``duration`` and ``fps`` a sampler needs, instead of opened videos).
        dataset_type: frame folders or encoded videos.
        frames_per_second: rate at which labels are unpacked (``"labels"``
            holds one id per ``1 / frames_per_second`` s of the clip).
        frame_filter: keeps a subset of each clip's frame indices.
        multithreaded_io: read a clip's frame images with a thread pool.
        label_type: check label ids against this type's map and name the classes.
        kwargs: further :class:`LabeledVideoDataset` arguments.

    Samples hold ``video``, ``video_id``, ``labels`` (int64 [L]),
    ``start_time`` and ``stop_time`` (seconds) besides the usual keys.
    """

    def __init__(
        self,
        video_data_manifest_file_path: str,
        video_info_file_path: str,
        labels_file_path: str,
        clip_sampler: ClipSampler | PtvClipSampler,
        dataset_type: VideoDatasetType = VideoDatasetType.Frame,
        frames_per_second: float = 1,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        frame_filter: Callable[[list[int]], list[int]] | None = None,
        multithreaded_io: bool = False,
        *,
        label_type: LabelType | None = None,
        video_sampler: Any = RandomSampler,
        decoder: str = "pyav",
        **kwargs: Any,
    ) -> None:
        if frames_per_second <= 0:
            raise ValueError(f"frames_per_second must be positive, got {frames_per_second}")
        if frame_filter is not None and kwargs.get("frames_per_clip") is not None:
            raise ValueError("give either frame_filter or frames_per_clip, not both")
        sources, missing = _load_sources(video_data_manifest_file_path, video_info_file_path, dataset_type)
        self._labels_per_video = read_labels(labels_file_path, label_type)
        self._frames_per_second = frames_per_second
        if isinstance(clip_sampler, ClipSampler):
            sampler = clip_sampler
            pairs = [(s.path, {**s.loading, "video_id": v, "video_name": v}) for v, s in sources.items()]
        else:
            sampler = _WholeSegmentSampler()
            pairs = self._clip_entries(clip_sampler, sources)
        decoder_args = dict(kwargs.pop("decoder_args", None) or {})
        if multithreaded_io:
            decoder_args["multithreaded_io"] = True
        names = LABEL_TYPE_2_MAP[label_type] if label_type is not None else None
        super().__init__(
            pairs,
            sampler,
            video_sampler,
            transform,
            decode_audio=kwargs.pop("decode_audio", False),
            decoder=decoder,
            decoder_args=decoder_args,
            classes=[names[i] for i in sorted(names)] if names is not None else None,
            missing_videos=missing,
            **kwargs,
        )
        self._user_frame_filter = frame_filter

    def _clip_entries(self, clip_sampler: PtvClipSampler, sources: dict[str, _Source]) -> list[tuple[str, dict[str, Any]]]:
        """One entry per clip of a PyTorchVideo-style sampler, its window as the entry's segment."""
        videos = {video_id: source.info for video_id, source in sources.items()}
        labels = {video_id: self._labels_per_video.get(video_id, []) for video_id in sources}
        pairs = []
        for clip in clip_sampler(videos, labels):
            if clip.video_id not in sources:
                raise DataError(f"clip_sampler returned a clip of {clip.video_id!r}, which is not among the readable videos")
            if not clip.start_time < clip.stop_time:
                raise DataError(f"clip_sampler returned an empty clip {clip}")
            source = sources[clip.video_id]
            segment = (clip.start_time, clip.stop_time)
            pairs.append((source.path, {**source.loading, "video_id": clip.video_id, "video_name": clip.video_id,
                                        SEGMENT_KEY: segment}))
        return pairs

    def clip_annotation(
        self, info: dict[str, Any], clip: ClipInfo | ClipInfoList, windows: list[ClipWindow], video: Video
    ) -> dict[str, Any]:
        parts = [self._clip_labels(info["video_id"], w.start_sec, w.end_sec) for w in windows]
        if isinstance(clip, ClipInfoList):
            return {key: [part[key] for part in parts] for key in parts[0]}
        return parts[0]

    def frame_filter(
        self, video_index: int, clip: ClipInfo | ClipInfoList, view: int, epoch_key: str
    ) -> FrameFilter | None:
        return self._user_frame_filter or super().frame_filter(video_index, clip, view, epoch_key)

    def _clip_labels(self, video_id: str, start: float | Fraction, stop: float | Fraction) -> dict[str, Any]:
        """PyTorchVideo's unpacking: each overlapping segment repeated once per label frame it covers."""
        start, stop = float(start), float(stop)
        label_ids: list[int] = []
        for segment in self._labels_per_video.get(video_id, []):
            overlap = _get_overlap_for_time_range_pair(start, stop, segment.start_time, segment.stop_time)
            if overlap is not None:
                count = _seconds_to_frame_index(overlap[1], self._frames_per_second) - _seconds_to_frame_index(
                    overlap[0], self._frames_per_second
                )
                label_ids.extend([segment.label_id] * count)
        return {"labels": torch.tensor(label_ids, dtype=torch.long), "start_time": start, "stop_time": stop}


class DomsevFrameDataset(torch.utils.data.Dataset):
    """Single DoMSEV frames (from frame folders) with the label of the segment holding each.

    Frames outside every label segment are left out. Items are
    ``{"frame_id", "video_id", "image": uint8 [3, H, W], "label": int}``, in
    manifest order (shuffle with the DataLoader's sampler). ``multithreaded_io``
    is accepted for PyTorchVideo compatibility; one image needs no threads.
    """

    def __init__(
        self,
        video_data_manifest_file_path: str,
        video_info_file_path: str,
        labels_file_path: str,
        transform: Callable[[dict[str, Any]], Any] | None = None,
        multithreaded_io: bool = False,
        *,
        label_type: LabelType | None = None,
    ) -> None:
        sources, self.missing_videos = _load_sources(
            video_data_manifest_file_path, video_info_file_path, VideoDatasetType.Frame
        )
        labels = read_labels(labels_file_path, label_type)
        self._frames: list[tuple[ImageFrameInfo, int]] = []
        unlabeled = 0
        for video_id, source in sources.items():
            segments = labels.get(video_id, [])
            for number, path in zip(source.frame_numbers, source.loading[FRAME_PATHS_KEY]):
                label = _frame_label(number, segments)
                if label is None:
                    unlabeled += 1
                    continue
                frame_id = vio.basename(path).rsplit(".", 1)[0]
                self._frames.append((ImageFrameInfo(video_id, frame_id, number, path), label))
        if unlabeled:
            logger.info("%s: %d frames lie outside every label segment and are left out", labels_file_path, unlabeled)
        if not self._frames:
            raise DataError(f"DomsevFrameDataset: no labelled frames ({len(self.missing_videos)} videos missing)")
        self._transform = transform

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> dict[str, Any]:
        frame, label = self._frames[index]
        data = {"frame_id": frame.frame_id, "video_id": frame.video_id, "image": load_image(frame.frame_file_path),
                "label": label}
        return self._transform(data) if self._transform is not None else data


def _frame_label(number: int, segments: Sequence[LabelData]) -> int | None:
    """The label of the last segment holding frame ``number`` (PyTorchVideo's rule)."""
    label = None
    for segment in segments:
        if segment.start_frame <= number <= segment.stop_frame:
            label = segment.label_id
    return label


