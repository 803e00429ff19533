"""Kinetics 400/600/700 from the official CSVs, or PyTorchVideo's list/folder layouts.

The official annotations are ``label,youtube_id,time_start,time_end,split``
(Kinetics-400 adds ``is_cc``); the distributed clips are named
``<youtube_id>_<time_start:06d>_<time_end:06d>.mp4`` and sit either in one
flat folder or in one folder per class (class names with spaces or with
underscores). Labels index the sorted class names of the CSV, or of
``classes`` when given (so train, val and test agree even if a split lacks a
class). Annotated clips whose file is missing (common: YouTube takedowns) are
left out, counted in ``dataset.missing_videos`` and logged.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from torch.utils.data import RandomSampler

from vidray import io as vio
from vidray.data.annotations import (
    class_index,
    label_of,
    parse_number,
    read_annotation_text,
    read_csv_rows,
)
from vidray.data.clip_sampling import ClipSampler
from vidray.data.labeled_video_dataset import DATASETS, LabeledVideoDataset
from vidray.data.labeled_video_paths import (
    index_video_files,
    labeled_video_dataset,
    report_missing,
)

OFFICIAL_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def kinetics_clip_name(youtube_id: str, time_start: int, time_end: int) -> str:
    """The file stem of a distributed Kinetics clip."""
    return f"{youtube_id}_{time_start:06d}_{time_end:06d}"


def official_csv_text(data_path: str) -> str | None:
    """The content of ``data_path`` if it is an official Kinetics CSV (read once), else ``None``."""
    if not data_path.lower().endswith(".csv") or vio.is_dir(data_path):
        return None
    text = read_annotation_text(data_path)
    header = text.split("\n", 1)[0]
    return text if all(column in header for column in OFFICIAL_COLUMNS) else None


def read_official_csv(
    csv_path: str, video_root: str, classes: Sequence[str] | None = None, text: str | None = None
) -> tuple[list[tuple[str, dict[str, Any]]], list[str], list[str]]:
    """``(path, info)`` pairs, missing paths and class names from an official Kinetics CSV."""
    rows = list(read_csv_rows(csv_path, OFFICIAL_COLUMNS, text=text))
    class_names = list(classes) if classes is not None else sorted({r["label"] for _, r in rows})
    index = class_index(class_names) if classes is None else {name: i for i, name in enumerate(class_names)}
    files = index_video_files(video_root, class_folders=True)
    pairs, missing = [], []
    for line, row in rows:
        start = parse_number(csv_path, line, "time_start", row["time_start"], float)
        end = parse_number(csv_path, line, "time_end", row["time_end"], float)
        stem = kinetics_clip_name(row["youtube_id"], int(start), int(end))
        label = label_of(csv_path, line, row["label"], index)
        path = files.get(stem)
        if path is None:
            missing.append(vio.join(video_root, stem + ".mp4"))
            continue
        pairs.append((path, {"label": label}))
    return pairs, missing, class_names


@DATASETS.register("kinetics")
def Kinetics(
    data_path: str,
    clip_sampler: ClipSampler,
    video_sampler: Any = RandomSampler,
    transform: Callable | None = None,
    video_path_prefix: str = "",
    decode_audio: bool = True,
    decoder: str = "pyav",
    classes: Sequence[str] | None = None,
    **kwargs: Any,
) -> LabeledVideoDataset:
    """Kinetics clips.

    ``data_path`` is an official CSV (videos in ``video_path_prefix``, flat or
    in class folders), a ``path label`` list file, or a folder of class
    folders (PyTorchVideo's layouts).
    """
    text = official_csv_text(data_path)
    if text is None:
        return labeled_video_dataset(
            data_path, clip_sampler, video_sampler, transform, video_path_prefix, decode_audio, decoder, **kwargs
        )
    root = video_path_prefix or vio.dirname(data_path) or "."
    pairs, missing, class_names = read_official_csv(data_path, root, classes, text)
    report_missing(data_path, missing)
    return LabeledVideoDataset(
        pairs,
        clip_sampler,
        video_sampler,
        transform,
        decode_audio=decode_audio,
        decoder=decoder,
        classes=class_names,
        missing_videos=missing,
        **kwargs,
    )
