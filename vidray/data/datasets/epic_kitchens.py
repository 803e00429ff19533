"""EPIC-KITCHENS-100 action segments from the official annotation CSVs.

The authors distribute ``EPIC_100_{train,validation}.csv`` (``narration_id,
participant_id, video_id, narration_timestamp, start_timestamp,
stop_timestamp, start_frame, stop_frame, narration, verb, verb_class, noun,
noun_class, all_nouns, all_noun_classes``; timestamps ``HH:MM:SS.ff``),
``EPIC_100_test_timestamps.csv`` (timing columns only) and the class lists
``EPIC_100_{verb,noun}_classes.csv`` (``id, key, instances, category``).
Videos are ``<video_path_prefix>/<participant_id>/videos/<video_id>.MP4`` as
downloaded, or ``<video_path_prefix>/<video_id>.mp4``.

Each narration is one sample source, restricted to its ``[start, stop)``
segment: clips are sampled inside it and a window reaching past the
segment's end is cut there, so no frame comes from outside the action.

Labels: EPIC-100 models have a verb head and a noun head, so every sample
carries ``verb_label`` and ``noun_label`` (ints; they batch into ``[B]``
tensors) and ``narration_id`` (for challenge submissions); ``label`` is the
one named by ``target``: the verb (default), the noun, or the action
``verb * num_nouns + noun``. The test split has no labels, so its samples
carry none of these keys but ``narration_id``.

PyTorchVideo's ``EpicKitchenDataset`` / ``EpicKitchenRecognition`` read
EPIC-55 through manifests of its own making (video info, frame manifests)
rather than the files the authors distribute; they are not reproduced.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator, Sequence

from torch.utils.data import RandomSampler

from vidray import io as vio
from vidray.data.annotations import annotation_error, parse_number, read_csv_rows
from vidray.data.clip_sampling import ClipSampler
from vidray.data.labeled_video_dataset import DATASETS, SEGMENT_KEY, LabeledVideoDataset
from vidray.data.labeled_video_paths import report_missing
from vidray.errors import UnknownLabelError

NARRATION_COLUMNS = ("narration_id", "participant_id", "video_id", "start_timestamp", "stop_timestamp")
LABEL_COLUMNS = ("verb_class", "noun_class")
CLASS_COLUMNS = ("id", "key")
VERB_CLASSES_FILE = "EPIC_100_verb_classes.csv"
NOUN_CLASSES_FILE = "EPIC_100_noun_classes.csv"
TARGETS = ("verb", "noun", "action")
TIMESTAMP = re.compile(r"^(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)$")


def parse_timestamp(uri: str, line: int, field: str, value: str) -> float:
    """Seconds of an ``HH:MM:SS.ff`` timestamp."""
    match = TIMESTAMP.match(value)
    if match is None:
        raise annotation_error(uri, line, f"field {field!r} must be a timestamp HH:MM:SS.ff, got {value!r}")
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])


def read_class_keys(classes_file: str) -> list[str]:
    """Class keys ordered by ``id`` from ``EPIC_100_{verb,noun}_classes.csv``."""
    keys: dict[int, str] = {}
    for line, row in read_csv_rows(classes_file, CLASS_COLUMNS):
        number = parse_number(classes_file, line, "id", row["id"], int)
        if number in keys:
            raise annotation_error(classes_file, line, f"id {number} is given to {keys[number]!r} and {row['key']!r}")
        keys[number] = row["key"]
    if sorted(keys) != list(range(len(keys))):
        raise annotation_error(classes_file, 1, f"class ids must run 0..{len(keys) - 1} without gaps")
    return [keys[i] for i in range(len(keys))]


def class_index(uri: str, line: int, field: str, value: str, classes: Sequence[str]) -> int:
    number = parse_number(uri, line, field, value, int)
    if not 0 <= number < len(classes):
        raise UnknownLabelError(f"{uri}:{line}: unknown {field} {number} (expected 0..{len(classes) - 1})")
    return number


def read_narrations(
    csv_path: str, verbs: Sequence[str], nouns: Sequence[str]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(participant id, video id, info)`` per narration: its segment, id and (if labelled) classes."""
    for line, row in read_csv_rows(csv_path, NARRATION_COLUMNS):
        labelled = [c in row for c in LABEL_COLUMNS]
        if any(labelled) and not all(labelled):
            raise annotation_error(csv_path, 1, f"header has only some of the label columns {list(LABEL_COLUMNS)}")
        start = parse_timestamp(csv_path, line, "start_timestamp", row["start_timestamp"])
        stop = parse_timestamp(csv_path, line, "stop_timestamp", row["stop_timestamp"])
        if stop < start:
            raise annotation_error(
                csv_path, line, f"stop_timestamp {row['stop_timestamp']} is before start_timestamp {row['start_timestamp']}"
            )
        info: dict[str, Any] = {SEGMENT_KEY: (start, stop), "narration_id": row["narration_id"]}
        if all(labelled):
            info["verb_label"] = class_index(csv_path, line, "verb_class", row["verb_class"], verbs)
            info["noun_label"] = class_index(csv_path, line, "noun_class", row["noun_class"], nouns)
        yield row["participant_id"], row["video_id"], info


def video_path_candidates(video_root: str, participant_id: str, video_id: str) -> list[str]:
    """Where a video may be: the download layout first, then a flat folder."""
    nested = [vio.join(video_root, participant_id, "videos", video_id + ext) for ext in (".MP4", ".mp4")]
    return nested + [vio.join(video_root, video_id + ext) for ext in (".MP4", ".mp4")]


class EpicKitchens100Dataset(LabeledVideoDataset):
    """Narration segments as samples; clip windows end at the segment's end at the latest.

    ``classes`` names ``label`` (see ``target``); ``verb_classes`` and
    ``noun_classes`` name ``verb_label`` and ``noun_label``.
    """

    def __init__(self, *args: Any, verb_classes: Sequence[str], noun_classes: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verb_classes = list(verb_classes)
        self.noun_classes = list(noun_classes)


@DATASETS.register("epic_kitchens_100")
def EpicKitchens100(
    data_path: str,
    clip_sampler: ClipSampler,
    video_sampler: Any = RandomSampler,
    transform: Callable | None = None,
    video_path_prefix: str = "",
    decode_audio: bool = False,
    decoder: str = "pyav",
    *,
    target: str = "verb",
    verb_classes_file: str | None = None,
    noun_classes_file: str | None = None,
    **kwargs: Any,
) -> EpicKitchens100Dataset:
    """EPIC-KITCHENS-100 narration clips.

    ``data_path`` is an official annotation CSV; the class lists default to
    the files beside it, the videos to its folder (``video_path_prefix``
    overrides). ``target`` picks what ``label`` holds: ``"verb"``,
    ``"noun"`` or ``"action"``. Other keyword arguments go to
    :class:`LabeledVideoDataset` (``frames_per_clip``, ``seed``, ...).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    folder = vio.dirname(data_path) or "."
    verbs = read_class_keys(verb_classes_file or vio.join(folder, VERB_CLASSES_FILE))
    nouns = read_class_keys(noun_classes_file or vio.join(folder, NOUN_CLASSES_FILE))
    root = video_path_prefix or folder
    located: dict[str, str | None] = {}
    pairs, missing = [], []
    for participant_id, video_id, info in read_narrations(data_path, verbs, nouns):
        if video_id not in located:
            candidates = video_path_candidates(root, participant_id, video_id)
            located[video_id] = next((path for path in candidates if vio.exists(path)), None)
            if located[video_id] is None:
                missing.append(candidates[0])
        if located[video_id] is None:
            continue
        if "verb_label" in info:
            verb, noun = info["verb_label"], info["noun_label"]
            info["label"] = {"verb": verb, "noun": noun, "action": verb * len(nouns) + noun}[target]
        pairs.append((located[video_id], info))
    report_missing(data_path, missing)
    classes = {"verb": verbs, "noun": nouns, "action": [f"{v} {n}" for v in verbs for n in nouns]}[target]
    return EpicKitchens100Dataset(
        pairs,
        clip_sampler,
        video_sampler,
        transform,
        decode_audio=decode_audio,
        decoder=decoder,
        classes=classes,
        missing_videos=missing,
        verb_classes=verbs,
        noun_classes=nouns,
        **kwargs,
    )
