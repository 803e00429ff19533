"""AVA v2.2 (spatio-temporal action detection) from the files Google distributes.

Annotations (``ava_v2.2.zip``):

* ``ava_{train,val}_v2.2.csv``: ``video_id,timestamp,x1,y1,x2,y2,action_id,person_id``
  without header; one row per (person box, action) at keyframes one second
  apart (902..1798 s of each movie); boxes normalised to [0, 1]. Rows of the
  same box at the same keyframe merge into one box with several actions.
  Person-detection files in the same layout (empty ``action_id``, a score in
  the last column) give boxes without actions.
* ``ava_action_list_v2.2.pbtxt`` / ``..._for_activitynet_2019.pbtxt``: the
  label map, ``label { name: "..." label_id: 1 label_type: ... }`` or
  ``item { name: "..." id: 1 }`` entries (parsed here, no protobuf needed).
  Actions of AVA's 80 that the map leaves out (the 60-class protocol) are
  dropped, as in PyTorchVideo; any other id is an error.
* ``ava_{train,val}_excluded_timestamps_v2.2.csv``: ``video_id,timestamp``
  keyframes to leave out.

Videos are either the official movies (``<video_id>.mkv/.mp4/.webm``, movie
time) or frame folders cut from 15:00 at 30 fps, listed by PyTorchVideo's
``frame_lists/{train,val}.csv`` (``original_video_id video_id frame_id path
labels``) or found as ``<video_id>/`` folders.

One sample per keyframe (PyTorchVideo's layout): a clip of the clip sampler's
duration centred on the keyframe, ``"boxes"`` float [N, 4] ``x1, y1, x2, y2``
normalised to [0, 1] (as in the CSV and PyTorchVideo, so they stay valid
after resizing), ``"labels"`` a list of action ids per box,
``"multi_hot_labels"`` float [N, num_classes] (columns follow
``dataset.class_ids``), ``"extra_info"`` the last CSV column per box and
action (person ids, or detection scores), ``"timestamp"`` the keyframe in
movie seconds and ``"video_name"`` the AVA video id. ``"clip_index"`` is the
keyframe in seconds of the video source and ``"video_index"`` the movie's
index, as in PyTorchVideo. Batch with :func:`detection_collate`.
"""

from __future__ import annotations

import logging
import math
import re
from fractions import Fraction
from typing import Any, Callable, Collection, Iterator, Sequence

import torch
from torch.utils.data import RandomSampler, default_collate

from vidray import io as vio
from vidray.data.annotations import (
    annotation_error,
    parse_number,
    read_annotation_text,
    read_lines,
)
from vidray.data.clip_sampling import ClipInfo, ClipInfoList, ClipSampler
from vidray.data.labeled_video_dataset import (
    DATASETS,
    FPS_KEY,
    FRAME_PATHS_KEY,
    LabeledVideoDataset,
)
from vidray.data.labeled_video_paths import VIDEO_EXTENSIONS, report_missing
from vidray.data.video import ClipWindow, Video
from vidray.errors import AnnotationError, MediaNotFoundError, UnknownLabelError

logger = logging.getLogger(__name__)

AVA_NUM_ACTIONS = 80  # action ids 1..80; the ActivityNet 2019 protocol evaluates 60 of them
AVA_KEYFRAME_RANGE = (902, 1798)  # annotated keyframes, seconds of the movie
AVA_FRAMES_FPS = 30  # frame folders of PyTorchVideo / SlowFast
AVA_FRAMES_START_SEC = 900  # frame folders start at 15:00 of the movie
LABEL_COLUMNS = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "person_id")
# Per-box entries: variable length per sample, batched as lists by detection_collate.
BOX_KEYS = ("boxes", "labels", "multi_hot_labels", "extra_info")


# ---------------------------------------------------------------------- label map (text proto)
_PBTXT_TOKEN = re.compile(r'\s*(?:(#.*)|("(?:[^"\\]|\\.)*")|([{}:])|([^\s{}:"#]+))')


def _pbtxt_tokens(uri: str, text: str) -> Iterator[tuple[int, str, str]]:
    """(line, kind, value) with kind ``"string"``, ``"punct"`` or ``"word"``; comments dropped."""
    for number, line in enumerate(text.splitlines(), start=1):
        line, pos = line.rstrip(), 0
        while pos < len(line):
            match = _PBTXT_TOKEN.match(line, pos)
            if match is None:
                raise annotation_error(uri, number, f"cannot read {line[pos:].strip()!r} (unterminated string?)")
            pos = match.end()
            comment, string, punct, word = match.groups()
            if string is not None:
                yield number, "string", re.sub(r"\\(.)", r"\1", string[1:-1])
            elif punct is not None:
                yield number, "punct", punct
            elif word is not None:
                yield number, "word", word


def read_label_map(label_map_file: str) -> dict[int, str]:
    """Action id -> name from an AVA ``.pbtxt`` label map, ordered by id.

    Entries are ``label { name: "..." label_id: N ... }`` (the full 80-action
    list) or ``item { name: "..." id: N }`` (the ActivityNet 2019 list).
    """
    tokens = list(_pbtxt_tokens(label_map_file, read_annotation_text(label_map_file)))
    entries: dict[int, str] = {}
    pos = 0

    def take(expected_kind: str | None = None, expected: str | None = None, context: int = 0) -> tuple[int, str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise annotation_error(label_map_file, context, f"entry is not closed: expected {expected or 'a field'}")
        token = tokens[pos]
        if (expected_kind and token[1] != expected_kind) or (expected and token[2] != expected):
            raise annotation_error(label_map_file, token[0], f"expected {expected or expected_kind}, got {token[2]!r}")
        pos += 1
        return token

    while pos < len(tokens):
        line, kind, block = take()
        if kind != "word" or block not in ("item", "label"):
            raise annotation_error(label_map_file, line, f"expected an 'item {{' or 'label {{' entry, got {block!r}")
        if pos < len(tokens) and tokens[pos][2] == ":":
            pos += 1
        take("punct", "{", line)
        fields: dict[str, tuple[int, str, str]] = {}
        while True:
            field_line, field_kind, field = take(context=line)
            if field_kind == "punct" and field == "}":
                break
            if field_kind != "word":
                raise annotation_error(label_map_file, field_line, f"expected a field name, got {field!r}")
            take("punct", ":", field_line)
            value = take(context=field_line)
            if value[1] == "punct":
                raise annotation_error(label_map_file, value[0], f"field {field!r} has no value")
            if field in fields:
                raise annotation_error(label_map_file, field_line, f"field {field!r} repeated in one entry")
            fields[field] = value
        entries.update([_label_map_entry(label_map_file, line, fields, entries)])
    if not entries:
        raise AnnotationError(f"{label_map_file}:1: label map holds no entries")
    return dict(sorted(entries.items()))


def _label_map_entry(
    uri: str, line: int, fields: dict[str, tuple[int, str, str]], known: dict[int, str]
) -> tuple[int, str]:
    id_field = fields.get("id") or fields.get("label_id")
    name_field = fields.get("name") or fields.get("display_name")
    if id_field is None or name_field is None:
        raise annotation_error(uri, line, f"entry needs a name and an id (or label_id), got fields {sorted(fields)}")
    if name_field[1] != "string":
        raise annotation_error(uri, name_field[0], f"name must be a quoted string, got {name_field[2]!r}")
    class_id = parse_number(uri, id_field[0], "id", id_field[2], int)
    if class_id < 1:
        raise annotation_error(uri, id_field[0], f"action ids start at 1, got {class_id}")
    if class_id in known:
        raise annotation_error(uri, id_field[0], f"id {class_id} already names {known[class_id]!r}")
    return class_id, name_field[2]


# ---------------------------------------------------------------------- CSV annotations
def read_excluded_timestamps(exclusion_file: str) -> set[tuple[str, float]]:
    """``(video_id, timestamp)`` keyframes listed in an ``*_excluded_timestamps_v2.2.csv``."""
    excluded = set()
    for line, text in read_lines(exclusion_file):
        fields = [f.strip() for f in text.split(",")]
        if len(fields) != 2 or not fields[0]:
            raise annotation_error(exclusion_file, line, f"expected 2 fields video_id,timestamp, got {fields}")
        excluded.add((fields[0], parse_number(exclusion_file, line, "timestamp", fields[1], float)))
    return excluded


def read_labels_csv(
    frame_labels_file: str,
    label_map: dict[int, str] | None = None,
    keyframe_range: tuple[float, float] = AVA_KEYFRAME_RANGE,
    excluded: Collection[tuple[str, float]] = frozenset(),
) -> dict[str, dict[float, dict[str, list]]]:
    """``video_id -> timestamp -> {"boxes", "labels", "extra_info"}`` with rows of one box merged.

    Keyframes outside ``keyframe_range`` (inclusive) or in ``excluded`` are left
    out; an action the label map lacks is dropped when it is one of AVA's
    actions and an error otherwise.
    """
    keyframes: dict[str, dict[float, dict[tuple[float, ...], tuple[list, list]]]] = {}
    dropped = {"range": 0, "excluded": 0, "action": 0}
    for line, text in read_lines(frame_labels_file):
        video_id, timestamp, box, action, extra = _parse_label_row(frame_labels_file, line, text)
        if not keyframe_range[0] <= timestamp <= keyframe_range[1]:
            dropped["range"] += 1
            continue
        if (video_id, timestamp) in excluded:
            dropped["excluded"] += 1
            continue
        if action is not None and not _known_action(frame_labels_file, line, action, label_map):
            dropped["action"] += 1
            continue
        boxes = keyframes.setdefault(video_id, {}).setdefault(timestamp, {})
        actions, extras = boxes.setdefault(box, ([], []))
        if action is not None:
            actions.append(action)
            extras.append(extra)
    if any(dropped.values()):
        logger.info(
            "%s: left out %d rows outside keyframes %s, %d at excluded timestamps, %d of actions not in the label map",
            frame_labels_file, dropped["range"], keyframe_range, dropped["excluded"], dropped["action"],
        )
    return {
        video_id: {
            timestamp: {
                "boxes": [list(box) for box in boxes],
                "labels": [actions for actions, _ in boxes.values()],
                "extra_info": [extras for _, extras in boxes.values()],
            }
            for timestamp, boxes in by_time.items()
        }
        for video_id, by_time in keyframes.items()
    }


def _parse_label_row(uri: str, line: int, text: str) -> tuple[str, float, tuple[float, ...], int | None, float]:
    fields = [f.strip() for f in text.split(",")]
    if len(fields) != len(LABEL_COLUMNS):
        expected = f"{len(LABEL_COLUMNS)} fields {','.join(LABEL_COLUMNS)}"
        raise annotation_error(uri, line, f"expected {expected}, got {len(fields)}: {text!r}")
    video_id = fields[0]
    if not video_id:
        raise annotation_error(uri, line, "empty video_id")
    timestamp = parse_number(uri, line, "timestamp", fields[1], float)
    if not math.isfinite(timestamp):
        raise annotation_error(uri, line, f"timestamp must be a finite number of seconds, got {fields[1]!r}")
    box = tuple(parse_number(uri, line, name, value, float) for name, value in zip(LABEL_COLUMNS[2:6], fields[2:6]))
    x1, y1, x2, y2 = box
    if not all(0.0 <= v <= 1.0 for v in box):
        raise annotation_error(uri, line, f"box {list(box)} must be normalised to [0, 1]")
    if x2 < x1 or y2 < y1:
        raise annotation_error(uri, line, f"box {list(box)} must have x1 <= x2 and y1 <= y2")
    action = parse_number(uri, line, "action_id", fields[6], int) if fields[6] else None
    extra = parse_number(uri, line, "person_id", fields[7], float)
    return video_id, timestamp, box, action, extra


def _known_action(uri: str, line: int, action: int, label_map: dict[int, str] | None) -> bool:
    """True to keep the action, False to drop an AVA action the label map leaves out."""
    if label_map is not None and action in label_map:
        return True
    if 1 <= action <= AVA_NUM_ACTIONS:
        return label_map is None
    listed = f"the label map's {len(label_map)} ids" if label_map is not None else f"AVA's 1..{AVA_NUM_ACTIONS}"
    raise UnknownLabelError(f"{uri}:{line}: unknown action id {action} (not among {listed})")


def read_frame_lists(frame_paths_file: str, video_path_prefix: str = "") -> dict[str, list[str]]:
    """``original_video_id -> frame paths`` ordered by ``frame_id`` from PyTorchVideo's
    ``frame_lists/*.csv`` (a header line, then ``original_video_id video_id frame_id path labels``)."""
    frames: dict[str, dict[int, str]] = {}
    for index, (line, text) in enumerate(read_lines(frame_paths_file)):
        fields = text.split()
        if index == 0 and len(fields) == 5 and not fields[2].lstrip("-").isdigit():
            continue  # the header
        if len(fields) != 5:
            raise annotation_error(
                frame_paths_file, line, f"expected 5 fields 'original_video_id video_id frame_id path labels', got {fields}"
            )
        frame_id = parse_number(frame_paths_file, line, "frame_id", fields[2], int)
        path = vio.join(video_path_prefix, fields[3]) if video_path_prefix else fields[3]
        frames.setdefault(fields[0], {})[frame_id] = path
    return {video_id: [by_id[i] for i in sorted(by_id)] for video_id, by_id in frames.items()}


# ---------------------------------------------------------------------- clip sampling
class TimeStampClipSampler(ClipSampler):
    """One clip per keyframe, centred on it (PyTorchVideo's sampler for AVA).

    Only the duration of the wrapped ``clip_sampler`` is used. The keyframe
    comes from ``annotation["clip_index"]``, in seconds of the video source.
    """

    def __init__(self, clip_sampler: ClipSampler | float | Fraction) -> None:
        duration = clip_sampler.clip_duration if isinstance(clip_sampler, ClipSampler) else clip_sampler
        super().__init__(duration)
        self.clip_sampler = clip_sampler

    @property
    def clips_per_video(self) -> int:
        return 1

    def __call__(
        self, last_clip_time: float | Fraction, video_duration: float | Fraction, annotation: dict[str, Any]
    ) -> ClipInfo:
        clip_start = Fraction(annotation["clip_index"]) - self.clip_duration / 2
        return ClipInfo(clip_start, clip_start + self.clip_duration, 0, 0, True)


# ---------------------------------------------------------------------- dataset
class AvaDataset(LabeledVideoDataset):
    """A :class:`LabeledVideoDataset` of AVA keyframes that adds box tensors to each sample.

    ``class_ids`` are the action ids in the order of the ``multi_hot_labels``
    columns; ``classes`` their names when a label map was given.
    """

    def __init__(self, *args: Any, class_ids: Sequence[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.class_ids = list(class_ids)
        self._column = {class_id: column for column, class_id in enumerate(self.class_ids)}

    def clip_annotation(
        self, info: dict[str, Any], clip: ClipInfo | ClipInfoList, windows: list[ClipWindow], video: Video
    ) -> dict[str, Any]:
        boxes = torch.tensor(info["boxes"], dtype=torch.float32).reshape(-1, 4)
        multi_hot = torch.zeros(len(info["labels"]), len(self.class_ids), dtype=torch.float32)
        for row, actions in enumerate(info["labels"]):
            multi_hot[row, [self._column[a] for a in actions]] = 1.0
        # Fresh lists, so a transform that edits a sample leaves the dataset's annotations alone.
        return {
            "boxes": boxes,
            "labels": [list(actions) for actions in info["labels"]],
            "multi_hot_labels": multi_hot,
            "extra_info": [list(extra) for extra in info["extra_info"]],
        }


def detection_collate(batch: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Batches AVA samples: per-box entries (``BOX_KEYS``) as lists, the rest with ``default_collate``.

    Samples skipped by map-style access (``None``) are dropped.
    """
    kept = [sample for sample in batch if sample is not None]
    if not kept:
        return None
    collated = default_collate([{k: v for k, v in s.items() if k not in BOX_KEYS} for s in kept])
    for key in BOX_KEYS:
        if key in kept[0]:
            collated[key] = [sample[key] for sample in kept]
    return collated


def _video_sources(
    frame_paths_file: str, is_folder: bool, video_path_prefix: str, fps: float, video_start_sec: float | None
) -> dict[str, tuple[str, dict[str, Any], float]]:
    """``video_id -> (path, loading info, video start in movie seconds)``.

    A folder holds movies (``<video_id>.mkv`` ...) and/or frame folders
    (``<video_id>/``); a file is PyTorchVideo's frame list.
    """
    frames_start = AVA_FRAMES_START_SEC if video_start_sec is None else video_start_sec
    sources: dict[str, tuple[str, dict[str, Any], float]] = {}
    if is_folder:
        for name in vio.list_dir(frame_paths_file):
            path = vio.join(frame_paths_file, name)
            stem, dot, ext = name.rpartition(".")
            if dot and ("." + ext.lower()) in VIDEO_EXTENSIONS:
                sources[stem] = (path, {}, 0.0 if video_start_sec is None else video_start_sec)
            elif vio.is_dir(path):
                sources.setdefault(name, (path, {FPS_KEY: fps}, frames_start))
        return sources
    if not vio.exists(frame_paths_file):
        raise MediaNotFoundError(f"{frame_paths_file}: neither an AVA frame list nor a folder of videos")
    for video_id, paths in read_frame_lists(frame_paths_file, video_path_prefix).items():
        sources[video_id] = (vio.dirname(paths[0]), {FRAME_PATHS_KEY: paths, FPS_KEY: fps}, frames_start)
    return sources


def keyframe_entries(
    labels: dict[str, dict[float, dict[str, list]]],
    frame_paths_file: str,
    video_path_prefix: str = "",
    fps: float = AVA_FRAMES_FPS,
    video_start_sec: float | None = None,
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """One ``(video path, info)`` per annotated keyframe of a readable video, and the missing videos."""
    is_folder = vio.is_dir(frame_paths_file)
    sources = _video_sources(frame_paths_file, is_folder, video_path_prefix, fps, video_start_sec)
    pairs, missing = [], []
    for video_index, video_id in enumerate(sorted(labels)):
        source = sources.get(video_id)
        if source is None:
            missing.append(vio.join(frame_paths_file, video_id) if is_folder else video_id)
            continue
        path, loading, start_sec = source
        if FRAME_PATHS_KEY in loading and not vio.exists(loading[FRAME_PATHS_KEY][0]):
            missing.append(path)
            continue
        for timestamp, keyframe in sorted(labels[video_id].items()):
            info = {**loading, **keyframe, "clip_index": timestamp - start_sec, "video_index": video_index,
                    "video_name": video_id, "timestamp": int(timestamp) if timestamp.is_integer() else timestamp}
            pairs.append((path, info))
    return pairs, missing


@DATASETS.register("ava")
def Ava(
    frame_paths_file: str,
    frame_labels_file: str,
    video_path_prefix: str = "",
    label_map_file: str | None = None,
    clip_sampler: ClipSampler | float | None = None,
    video_sampler: Any = RandomSampler,
    transform: Callable | None = None,
    *,
    exclusion_file: str | None = None,
    keyframe_range: tuple[float, float] = AVA_KEYFRAME_RANGE,
    video_start_sec: float | None = None,
    fps: float = AVA_FRAMES_FPS,
    decoder: str = "pyav",
    **kwargs: Any,
) -> AvaDataset:
    """AVA keyframes with their person boxes and actions (PyTorchVideo's arguments first).

    Args:
        frame_paths_file: PyTorchVideo's frame list (frame paths relative to
            ``video_path_prefix``), or a folder of the official movies
            (``<video_id>.mkv/.mp4/.webm``) or of ``<video_id>/`` frame folders.
        frame_labels_file: ``ava_{train,val}_v2.2.csv`` (or a detection file
            in the same layout).
        label_map_file: ``.pbtxt`` label map; its ids become the
            ``multi_hot_labels`` columns (else AVA's 80 actions).
        clip_sampler: a clip sampler whose duration is used, or that duration
            in seconds; the clip is centred on the keyframe.
        exclusion_file: ``ava_*_excluded_timestamps_v2.2.csv``.
        keyframe_range: first and last annotated keyframe (movie seconds);
            rows outside are left out.
        video_start_sec: movie time of a source's first frame (default 0 for
            movies, 900 for frame folders).
        fps: frame rate of frame folders.
        kwargs: further :class:`LabeledVideoDataset` arguments.
    """
    if clip_sampler is None:
        raise ValueError("Ava needs a clip_sampler (or a clip duration in seconds) for the clips around keyframes")
    label_map = read_label_map(label_map_file) if label_map_file is not None else None
    excluded = read_excluded_timestamps(exclusion_file) if exclusion_file is not None else set()
    labels = read_labels_csv(frame_labels_file, label_map, keyframe_range, excluded)
    pairs, missing = keyframe_entries(labels, frame_paths_file, video_path_prefix, fps, video_start_sec)
    report_missing(frame_labels_file, missing)
    class_ids = list(label_map) if label_map is not None else list(range(1, AVA_NUM_ACTIONS + 1))
    return AvaDataset(
        pairs,
        TimeStampClipSampler(clip_sampler),
        video_sampler,
        transform,
        decode_audio=kwargs.pop("decode_audio", False),
        decoder=decoder,
        classes=list(label_map.values()) if label_map is not None else None,
        missing_videos=missing,
        class_ids=class_ids,
        **kwargs,
    )


class AvaLabeledVideoFramePaths:
    """PyTorchVideo's AVA reader, kept for code that calls it directly."""

    AVA_VALID_FRAMES = list(range(AVA_KEYFRAME_RANGE[0], AVA_KEYFRAME_RANGE[1] + 1))
    FPS = AVA_FRAMES_FPS
    AVA_VIDEO_START_SEC = AVA_FRAMES_START_SEC

    @staticmethod
    def read_label_map(label_map_file: str) -> tuple[dict[int, str], set[int]]:
        label_map = read_label_map(label_map_file)
        return label_map, set(label_map)

    @staticmethod
    def load_image_lists(frame_paths_file: str, video_path_prefix: str) -> tuple[list[list[str]], list[str], dict[str, int]]:
        frames = read_frame_lists(frame_paths_file, video_path_prefix)
        names = list(frames)
        return [frames[n] for n in names], names, {n: i for i, n in enumerate(names)}

    @classmethod
    def from_csv(
        cls, frame_paths_file: str, frame_labels_file: str, video_path_prefix: str, label_map_file: str | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """``(frame folder, keyframe annotation)`` pairs as PyTorchVideo builds them."""
        label_map = read_label_map(label_map_file) if label_map_file is not None else None
        labels = read_labels_csv(frame_labels_file, label_map)
        return keyframe_entries(labels, frame_paths_file, video_path_prefix)[0]
