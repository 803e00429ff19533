"""PyTorchVideo's generic dataset layouts: a ``path label`` list file or class folders."""

from __future__ import annotations

import logging
from typing import Any, Callable

from torch.utils.data import RandomSampler

from vidray import io as vio
from vidray.data.annotations import annotation_error, read_lines
from vidray.data.clip_sampling import ClipSampler
from vidray.data.labeled_video_dataset import DATASETS, LabeledVideoDataset
from vidray.errors import MediaNotFoundError

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v")


class LabeledVideoPaths:
    """``(path, {"label": int})`` pairs read from a list file or a folder of class folders."""

    def __init__(self, paths_and_labels: list[tuple[str, dict[str, Any]]], path_prefix: str = "") -> None:
        self._paths_and_labels = paths_and_labels
        self.path_prefix = path_prefix
        self.classes: list[str] | None = None

    @classmethod
    def from_path(cls, data_path: str) -> "LabeledVideoPaths":
        """A ``.csv``/``.txt`` list file or a directory of class folders."""
        if vio.is_dir(data_path):
            return cls.from_directory(data_path)
        if vio.exists(data_path):
            return cls.from_csv(data_path)
        raise MediaNotFoundError(f"{data_path}: neither a list file nor a directory")

    @classmethod
    def from_csv(cls, file_path: str) -> "LabeledVideoPaths":
        """Lines ``<video path> [<integer label>]`` separated by spaces or tabs; a missing
        label is -1 (PyTorchVideo's convention for unlabelled videos)."""
        pairs = []
        for line, text in read_lines(file_path):
            parts = text.rsplit(None, 1)
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                pairs.append((parts[0].rstrip(), {"label": int(parts[1])}))
            elif len(parts) == 2 and not vio.exists(text) and "." not in parts[1]:
                raise annotation_error(file_path, line, f"label must be an integer, got {parts[1]!r}")
            else:
                pairs.append((text, {"label": -1}))
        return cls(pairs)

    @classmethod
    def from_directory(cls, dir_path: str) -> "LabeledVideoPaths":
        """``dir_path/<class name>/<video>``; labels index the sorted class names."""
        classes = [c for c in vio.list_dir(dir_path) if vio.is_dir(vio.join(dir_path, c))]
        if not classes:
            raise MediaNotFoundError(f"{dir_path}: holds no class folders")
        pairs = []
        for label, name in enumerate(classes):
            folder = vio.join(dir_path, name)
            for video in vio.list_dir(folder):
                if video.lower().endswith(VIDEO_EXTENSIONS) or vio.is_dir(vio.join(folder, video)):
                    pairs.append((vio.join(folder, video), {"label": label}))
        result = cls(pairs)
        result.classes = classes
        return result

    def __getitem__(self, index: int) -> tuple[str, dict[str, Any]]:
        path, info = self._paths_and_labels[index]
        return (vio.join(self.path_prefix, path) if self.path_prefix else path), info

    def __len__(self) -> int:
        return len(self._paths_and_labels)


def index_video_files(video_root: str, class_folders: bool = False) -> dict[str, str]:
    """File stem -> path of the videos in ``video_root`` (and, with ``class_folders``, in the
    folders directly below it): one listing per folder instead of a check per annotated
    video. Where a stem has files of several formats, the ``.mp4`` is kept."""
    if not vio.is_dir(video_root):
        raise MediaNotFoundError(f"{video_root}: video folder not found")
    files: dict[str, str] = {}

    def add(folder: str, name: str) -> None:
        stem = name.rsplit(".", 1)[0]
        if stem not in files or name.lower().endswith(".mp4"):
            files[stem] = vio.join(folder, name)

    for name in vio.list_dir(video_root):
        path = vio.join(video_root, name)
        if name.lower().endswith(VIDEO_EXTENSIONS):
            add(video_root, name)
        elif class_folders and vio.is_dir(path):
            for inner in vio.list_dir(path):
                if inner.lower().endswith(VIDEO_EXTENSIONS):
                    add(path, inner)
    return files


def existing_and_missing(
    pairs: list[tuple[str, dict[str, Any]]],
) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """Splits annotated videos into those present on disk and the missing paths."""
    present, missing = [], []
    for path, info in pairs:
        (present.append((path, info)) if vio.exists(path) else missing.append(path))
    return present, missing


@DATASETS.register("labeled_video_dataset")
def labeled_video_dataset(
    data_path: str,
    clip_sampler: ClipSampler,
    video_sampler: Any = RandomSampler,
    transform: Callable | None = None,
    video_path_prefix: str = "",
    decode_audio: bool = True,
    decoder: str = "pyav",
    **kwargs: Any,
) -> LabeledVideoDataset:
    """A dataset from a ``path label`` list file or a directory of class folders."""
    paths = LabeledVideoPaths.from_path(data_path)
    paths.path_prefix = video_path_prefix
    pairs = [paths[i] for i in range(len(paths))]
    if not vio.is_dir(data_path):  # list files may name videos that are gone
        pairs, missing = existing_and_missing(pairs)
        report_missing(data_path, missing)
        kwargs.setdefault("missing_videos", missing)
    kwargs.setdefault("classes", paths.classes)
    return LabeledVideoDataset(
        pairs, clip_sampler, video_sampler, transform, decode_audio=decode_audio, decoder=decoder, **kwargs
    )


def report_missing(name: str, missing: list[str]) -> None:
    if missing:
        logger.warning("%s: %d annotated videos are missing, e.g. %s", name, len(missing), missing[0])

