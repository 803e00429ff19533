"""Manifests: a dataset's videos and labels as one JSON-lines file.

A manifest is what the platform moves around: the output of ``vidray prepare``,
the input of a job on another cluster, the thing whose hash tags a run. Any
dataset of the data layer can be written as one (:func:`write_manifest`), and
the ``manifest`` dataset reads it back with any clip sampler and transform.

Format (UTF-8, one JSON object per line)::

    {"vidray_manifest": 1, "classes": ["move_right", ...], "source": "kinetics"}
    {"path": "s3://bucket/train/move_right/abc.mp4", "label": 0}
    {"path": "/data/ucf/v_X_g01_c01.avi", "label": 3, "segment": [1.5, 4.0]}

The first line is the header (``classes`` may be ``null``); each further line
is one video: its ``path`` (local, or ``s3://``; relative paths are relative to
the manifest's folder) and its annotation dict, copied into every sample (keys
such as ``segment`` and ``duration`` steer loading, see
:mod:`vidray.data.labeled_video_dataset`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from torch.utils.data import RandomSampler

from vidray import io as vio
from vidray.data.clip_sampling import ClipSampler
from vidray.data.labeled_video_dataset import DATASETS, LabeledVideoDataset
from vidray.errors import AnnotationError, DataError

FORMAT_KEY = "vidray_manifest"
FORMAT_VERSION = 1


@dataclass
class VideoManifest:
    """The videos of a dataset: ``(path, info)`` pairs and the class names."""

    videos: list[tuple[str, dict[str, Any]]]
    classes: list[str] | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # other header fields, kept on rewrite

    @classmethod
    def from_dataset(cls, dataset: LabeledVideoDataset, source: str = "") -> "VideoManifest":
        """The videos a dataset reads (missing files are not part of it)."""
        return cls(dataset.labeled_video_paths, dataset.classes, source or type(dataset).__name__)

    def to_text(self) -> str:
        header = {FORMAT_KEY: FORMAT_VERSION, "classes": self.classes, "source": self.source, **self.extra}
        lines = [json.dumps(header)]
        for path, info in self.videos:
            lines.append(json.dumps({"path": path, **_jsonable(info, path)}))
        return "\n".join(lines) + "\n"

    def sha256(self) -> str:
        """Content hash: identical videos, labels and classes give the same hash (run tags use it)."""
        return hashlib.sha256(self.to_text().encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.videos)


def write_manifest(uri: str | os.PathLike[str], manifest: VideoManifest) -> str:
    """Writes ``manifest`` atomically to ``uri`` (local path or ``s3://``); returns its hash."""
    vio.write_bytes(uri, manifest.to_text().encode())
    return manifest.sha256()


def read_manifest(uri: str | os.PathLike[str], video_path_prefix: str = "") -> VideoManifest:
    """Reads a manifest; a bad line is an :class:`AnnotationError` naming file and line.

    Relative paths are resolved against ``video_path_prefix``, else the manifest's folder.
    """
    uri = str(uri)
    try:
        text = vio.read_text(uri)
    except FileNotFoundError:
        raise DataError(f"{uri}: manifest not found") from None
    lines = text.splitlines()
    header = _parse_line(uri, 1, lines[0]) if lines else None
    if header is None or header.get(FORMAT_KEY) != FORMAT_VERSION:
        raise AnnotationError(f"{uri}:1: not a vidray manifest (expected a header with {FORMAT_KEY!r}: {FORMAT_VERSION})")
    classes = header.get("classes")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise AnnotationError(f"{uri}:1: 'classes' must be a list of names or null")
    base = video_path_prefix or vio.dirname(uri)
    videos = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        row = _parse_line(uri, number, line)
        path = row.pop("path", None)
        if not isinstance(path, str) or not path:
            raise AnnotationError(f"{uri}:{number}: field 'path' is missing or not a string")
        label = row.get("label")
        if classes is not None and isinstance(label, int) and not 0 <= label < len(classes):
            raise AnnotationError(f"{uri}:{number}: label {label} out of range for {len(classes)} classes")
        videos.append((path if vio.is_s3(path) or os.path.isabs(path) else vio.join(base, path), row))
    if not videos:
        raise DataError(f"{uri}: manifest lists no videos")
    extra = {k: v for k, v in header.items() if k not in (FORMAT_KEY, "classes", "source")}
    return VideoManifest(videos, classes, str(header.get("source", "")), extra)


@DATASETS.register("manifest")
def Manifest(
    data_path: str,
    clip_sampler: ClipSampler,
    video_sampler: Any = RandomSampler,
    transform: Callable | None = None,
    video_path_prefix: str = "",
    decode_audio: bool = True,
    decoder: str = "pyav",
    *,
    classes: Sequence[str] | None = None,
    **kwargs: Any,
) -> LabeledVideoDataset:
    """The videos of a manifest file (see the module docstring), e.g. written by ``vidray prepare``.

    ``video_path_prefix`` is prepended to relative paths instead of the
    manifest's folder; ``classes`` overrides the header's class names.
    """
    manifest = read_manifest(data_path, video_path_prefix)
    return LabeledVideoDataset(
        manifest.videos,
        clip_sampler,
        video_sampler,
        transform,
        decode_audio=decode_audio,
        decoder=decoder,
        classes=classes if classes is not None else manifest.classes,
        **kwargs,
    )


def _parse_line(uri: str, number: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"{uri}:{number}: invalid JSON: {exc.msg}") from None
    if not isinstance(row, dict):
        raise AnnotationError(f"{uri}:{number}: expected a JSON object, got {type(row).__name__}")
    return row


def _jsonable(info: dict[str, Any], path: str) -> dict[str, Any]:
    """``info`` with tuples as lists; anything JSON cannot hold is an error naming the video."""
    try:
        return json.loads(json.dumps(info, default=_tensor_to_list))
    except TypeError as exc:
        raise DataError(f"{path}: annotation cannot be written to a manifest: {exc}") from None


def _tensor_to_list(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
