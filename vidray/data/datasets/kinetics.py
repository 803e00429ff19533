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
from vidray.data.annotations import class_index, label_of, parse_number, read_annotation_text, read_csv_rows
from vidray.data.clip_sampling import ClipSampler
from vidray.data.labeled_video_dataset import DATASETS, LabeledVideoDataset
from vidray.data.labeled_video_paths import VIDEO_EXTENSIONS, labeled_video_dataset, report_missing
from vidray.errors import MediaNotFoundError

OFFICIAL_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def kinetics_clip_name(youtube_id: str, time_start: int, time_end: int) -> str:
    """The file stem of a distributed Kinetics clip."""
    return f"{youtube_id}_{time_start:06d}_{time_end:06d}"


def is_official_csv(data_path: str) -> bool:
    if not data_path.lower().endswith(".csv") or vio.is_dir(data_path):
        return False
    header = read_annotation_text(data_path).split("\n", 1)[0]
    return all(column in header for column in OFFICIAL_COLUMNS)


def read_official_csv(
    csv_path: str, video_root: str, classes: Sequence[str] | None = None
) -> tuple[list[tuple[str, dict[str, Any]]], list[str], list[str]]:
    """``(path, info)`` pairs, missing paths and class names from an official Kinetics CSV."""
    rows = list(read_csv_rows(csv_path, OFFICIAL_COLUMNS))
    class_names = list(classes) if classes is not None else sorted({r["label"] for _, r in rows})
    index = class_index(class_names) if classes is None else {name: i for i, name in enumerate(class_names)}
    files = _index_video_files(video_root)
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


def _index_video_files(video_root: str) -> dict[str, str]:
    """File stem -> path for clips in ``video_root`` and its class folders (one listing, no stat per row)."""
    if not vio.is_dir(video_root):
        raise MediaNotFoundError(f"{video_root}: Kinetics video folder not found")
    files: dict[str, str] = {}
    for name in vio.list_dir(video_root):
        path = vio.join(video_root, name)
        if name.lower().endswith(VIDEO_EXTENSIONS):
            files[name.rsplit(".", 1)[0]] = path
        elif vio.is_dir(path):
            for inner in vio.list_dir(path):
                if inner.lower().endswith(VIDEO_EXTENSIONS):
                    files.setdefault(inner.rsplit(".", 1)[0], vio.join(path, inner))
    return files


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
    if not is_official_csv(data_path):
        return labeled_video_dataset(
            data_path, clip_sampler, video_sampler, transform, video_path_prefix, decode_audio, decoder, **kwargs
        )
    root = video_path_prefix or vio.dirname(data_path) or "."
    pairs, missing, class_names = read_official_csv(data_path, root, classes)
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
