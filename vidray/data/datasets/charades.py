"""Charades from its official CSVs, or PyTorchVideo's frame lists.

The authors distribute ``Charades_v1_{train,test}.csv`` (columns ``id,
subject, scene, quality, relevance, verified, script, objects, descriptions,
actions, length``) with ``actions`` such as ``"c092 11.90 21.20;c147 0.00
12.60"`` (class id, start and end in seconds; empty for videos without
actions), and ``Charades_v1_classes.txt`` with lines ``c000 Holding some
clothes``. Videos are ``<video_path_prefix>/<id>.mp4``. PyTorchVideo read
frame folders through a space-separated list ``original_vido_id video_id
frame_id path labels`` (``labels``: the frame's class indices, ``"1,5"``);
that format is read too, its frames shown at ``fps``.

Charades is multi-label, so targets are multi-hot float vectors over the
classes (for ``BCEWithLogitsLoss``) rather than PyTorchVideo's lists of
per-frame label lists, which a ``DataLoader`` cannot batch:

* ``label``: the actions overlapping the clip window (``target="per_clip"``),
  or one row per decoded frame, ``[T, num_classes]``, of the actions under
  way at that frame's time (``target="per_frame"``);
* ``video_label``: every action of the video (PyTorchVideo's key).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable, NamedTuple

import torch
from torch.utils.data import RandomSampler

from vidray import io as vio
from vidray.data.annotations import (
    annotation_error,
    label_of,
    parse_number,
    read_csv_rows,
    read_lines,
)
from vidray.data.clip_sampling import ClipInfo, ClipInfoList, ClipSampler
from vidray.data.labeled_video_dataset import (
    DATASETS,
    FPS_KEY,
    FRAME_PATHS_KEY,
    LabeledVideoDataset,
)
from vidray.data.labeled_video_paths import index_video_files, report_missing
from vidray.data.video import TIME_EPS, ClipWindow, Video
from vidray.errors import UnknownLabelError

NUM_CLASSES = 157
CLASSES_FILE = "Charades_v1_classes.txt"
OFFICIAL_COLUMNS = ("id", "actions")
FRAME_LIST_COLUMNS = ("original_vido_id", "video_id", "frame_id", "path", "labels")  # PyTorchVideo's spelling
TARGETS = ("per_clip", "per_frame")


class Action(NamedTuple):
    """One annotated action: a class index under way from ``start_sec`` to ``end_sec`` (both included)."""

    label: int
    start_sec: float
    end_sec: float


def read_class_names(classes_file: str) -> tuple[list[str], dict[str, int]]:
    """Class names in file order and class id (``c000``) -> index."""
    names: list[str] = []
    index: dict[str, int] = {}
    for line, text in read_lines(classes_file):
        class_id, _, name = text.partition(" ")
        if not name.strip():
            raise annotation_error(classes_file, line, f"expected '<class id> <class name>', got {text!r}")
        if class_id in index:
            raise annotation_error(classes_file, line, f"class id {class_id!r} is listed twice")
        index[class_id] = len(names)
        names.append(name.strip())
    return names, index


def parse_actions(csv_path: str, line: int, text: str, index: dict[str, int]) -> list[Action]:
    """The ``actions`` field: ``"<class id> <start> <end>"`` entries separated by ``;``."""
    actions = []
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        parts = entry.split()
        if len(parts) != 3:
            raise annotation_error(csv_path, line, f"action {entry!r} must be '<class id> <start sec> <end sec>'")
        start = parse_number(csv_path, line, "actions", parts[1], float)
        end = parse_number(csv_path, line, "actions", parts[2], float)
        actions.append(Action(label_of(csv_path, line, parts[0], index), start, end))
    return actions


def read_official_csv(csv_path: str, index: dict[str, int]) -> list[tuple[str, list[Action]]]:
    """``(video id, actions)`` per row of ``Charades_v1_{train,test}.csv``."""
    videos, seen = [], {}
    for line, row in read_csv_rows(csv_path, OFFICIAL_COLUMNS):
        if row["id"] in seen:
            raise annotation_error(csv_path, line, f"video {row['id']!r} is already listed on line {seen[row['id']]}")
        seen[row["id"]] = line
        videos.append((row["id"], parse_actions(csv_path, line, row["actions"], index)))
    return videos


def frame_runs(frame_labels: list[list[int]], fps: float) -> list[Action]:
    """Per-frame label lists as actions, one per run of consecutive frames (frame ``i`` shown at ``i / fps``)."""
    actions = []
    run_starts: dict[int, int] = {}
    for i, labels in enumerate([*frame_labels, []]):
        for label in [c for c in run_starts if c not in labels]:
            actions.append(Action(label, run_starts.pop(label) / fps, (i - 1) / fps))
        for label in labels:
            run_starts.setdefault(label, i)
    return actions


def read_frame_list(
    list_path: str, prefix: str, num_classes: int, fps: float
) -> list[tuple[str, list[str], list[Action]]]:
    """``(video id, frame paths, actions)`` from PyTorchVideo's frame list, videos in order of appearance."""
    frames: dict[str, list[str]] = defaultdict(list)
    labels: dict[str, list[list[int]]] = defaultdict(list)
    for line, row in read_csv_rows(list_path, FRAME_LIST_COLUMNS, delimiter=" "):
        video_id = row["original_vido_id"]
        frames[video_id].append(vio.join(prefix, row["path"]) if prefix else row["path"])
        text = row["labels"].replace('"', "")
        frame_labels = [parse_number(list_path, line, "labels", x, int) for x in text.split(",")] if text else []
        unknown = [c for c in frame_labels if not 0 <= c < num_classes]
        if unknown:
            raise UnknownLabelError(f"{list_path}:{line}: unknown label {unknown[0]} (expected 0..{num_classes - 1})")
        labels[video_id].append(frame_labels)
    return [(vid, frames[vid], frame_runs(labels[vid], fps)) for vid in frames]


def is_official_csv(data_path: str) -> bool:
    """Whether the header is the official comma-separated one (else PyTorchVideo's frame list)."""
    with vio.open_binary(data_path) as file:  # the header only: frame lists run to millions of lines
        header = file.readline().decode("utf-8-sig", errors="replace")
    return all(column in (h.strip() for h in header.split(",")) for column in OFFICIAL_COLUMNS)


@DATASETS.register("charades")
class Charades(LabeledVideoDataset):
    """Charades clips with multi-hot targets: ``video``, ``label``, ``video_label``,
    ``video_name`` (the video id), ``video_index``, ``clip_index``, ``aug_index``.

    Args (PyTorchVideo's, in its order):
        data_path: ``Charades_v1_{train,test}.csv`` or PyTorchVideo's frame list.
        clip_sampler, video_sampler, transform: as in :class:`LabeledVideoDataset`.
        video_path_prefix: the video folder (default: the CSV's folder), or the
            prefix of the frame list's paths.
        frames_per_clip: decode this many evenly spaced frames per clip.

    vidray additions:
        classes_file: ``Charades_v1_classes.txt`` (default: next to
            ``data_path`` if there; without one, the 157 ids ``c000``..``c156``
            name the classes).
        target: ``"per_clip"`` (``[num_classes]``) or ``"per_frame"`` (``[T, num_classes]``).
        fps: frame rate of the frame list's frames (PyTorchVideo assumed 30;
            the official ``Charades_v1_rgb`` frames are 24).
        decode_audio, decoder, and the keyword arguments of :class:`LabeledVideoDataset`.
    """

    NUM_CLASSES = NUM_CLASSES

    def __init__(
        self,
        data_path: str,
        clip_sampler: ClipSampler,
        video_sampler: Any = RandomSampler,
        transform: Callable | None = None,
        video_path_prefix: str = "",
        frames_per_clip: int | None = None,
        *,
        classes_file: str | None = None,
        target: str = "per_clip",
        fps: float = 30.0,
        decode_audio: bool = False,
        decoder: str = "pyav",
        **kwargs: Any,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        classes, index = _class_names(data_path, classes_file)
        actions: dict[str, list[Action]] = {}
        pairs, missing = [], []
        if is_official_csv(data_path):
            root = video_path_prefix or vio.dirname(data_path) or "."
            files = index_video_files(root)
            for video_id, video_actions in read_official_csv(data_path, index):
                if video_id not in files:
                    missing.append(vio.join(root, video_id + ".mp4"))
                    continue
                actions[video_id] = video_actions
                pairs.append((files[video_id], {"video_name": video_id}))
        else:
            for video_id, frame_paths, video_actions in read_frame_list(
                data_path, video_path_prefix, len(classes), float(fps)
            ):
                actions[video_id] = video_actions
                info = {FRAME_PATHS_KEY: frame_paths, FPS_KEY: float(fps), "video_name": video_id}
                pairs.append((vio.dirname(frame_paths[0]), info))
        report_missing(data_path, missing)
        super().__init__(
            pairs,
            clip_sampler,
            video_sampler,
            transform,
            decode_audio=decode_audio,
            decoder=decoder,
            frames_per_clip=frames_per_clip,
            classes=classes,
            missing_videos=missing,
            **kwargs,
        )
        self._actions = actions
        self._target = target

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def clip_annotation(
        self, info: dict[str, Any], clip: ClipInfo | ClipInfoList, windows: list[ClipWindow], video: Video
    ) -> dict[str, Any]:
        actions = self._actions[info["video_name"]]
        targets = [self._clip_target(actions, window, video.fps) for window in windows]
        label: Any = targets if isinstance(clip, ClipInfoList) else targets[0]
        return {"label": label, "video_label": self._multi_hot(actions)}

    def _clip_target(self, actions: list[Action], window: ClipWindow, fps: float) -> torch.Tensor:
        if self._target == "per_clip":
            # With the tolerance clip_frame_indices uses, so that a boundary computed
            # in floating point agrees with the frames the window holds.
            start, end = float(window.start_sec), float(window.end_sec)
            return self._multi_hot(a for a in actions if a.start_sec < end - TIME_EPS and a.end_sec >= start - TIME_EPS)
        target = torch.zeros(len(window.frame_indices), self.num_classes)
        for row, frame in enumerate(window.frame_indices):
            time = frame / fps
            for action in actions:
                if action.start_sec <= time <= action.end_sec:
                    target[row, action.label] = 1.0
        return target

    def _multi_hot(self, actions: Iterable[Action]) -> torch.Tensor:
        target = torch.zeros(self.num_classes)
        for action in actions:
            target[action.label] = 1.0
        return target


def _class_names(data_path: str, classes_file: str | None) -> tuple[list[str], dict[str, int]]:
    if classes_file is None:
        beside = vio.join(vio.dirname(data_path) or ".", CLASSES_FILE)
        classes_file = beside if vio.exists(beside) else None
    if classes_file is not None:
        return read_class_names(classes_file)
    ids = [f"c{i:03d}" for i in range(NUM_CLASSES)]
    return ids, {class_id: i for i, class_id in enumerate(ids)}
