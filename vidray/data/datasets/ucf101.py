"""UCF101 from its official split files (``ucfTrainTestlist``).

``classInd.txt`` holds ``<1-based index> <ClassName>``; ``trainlist0N.txt``
holds ``<Class>/<video>.avi <1-based label>`` and ``testlist0N.txt`` only
``<Class>/<video>.avi`` (the label comes from the class folder). Labels are
0-based in vidray, as everywhere in PyTorch.
"""

from __future__ import annotations

from typing import Any, Callable

from torch.utils.data import RandomSampler

from vidray import io as vio
from vidray.data.annotations import annotation_error, label_of, parse_number, read_lines
from vidray.data.clip_sampling import ClipSampler
from vidray.data.labeled_video_dataset import DATASETS, LabeledVideoDataset
from vidray.data.labeled_video_paths import (
    existing_and_missing,
    labeled_video_dataset,
    report_missing,
)

SPLIT_FILES = {"train": "trainlist0{}.txt", "test": "testlist0{}.txt"}


def read_class_index(path: str) -> list[str]:
    """Class names ordered by their 1-based index in ``classInd.txt``."""
    entries = {}
    for line, text in read_lines(path):
        number, _, name = text.partition(" ")
        entries[parse_number(path, line, "class index", number, int)] = name.strip()
    if sorted(entries) != list(range(1, len(entries) + 1)):
        raise annotation_error(path, 1, f"class indices must run 1..{len(entries)}, got {sorted(entries)[:5]}...")
    return [entries[i] for i in range(1, len(entries) + 1)]


def read_split(split_file: str, classes: list[str], video_root: str) -> list[tuple[str, dict[str, Any]]]:
    index = {name: i for i, name in enumerate(classes)}
    pairs = []
    for line, text in read_lines(split_file):
        parts = text.split()
        relative = parts[0]
        folder = relative.split("/", 1)[0]
        label = label_of(split_file, line, folder, index)
        if len(parts) > 1:
            given = parse_number(split_file, line, "label", parts[1], int) - 1
            if given != label:
                raise annotation_error(
                    split_file, line, f"label {given + 1} ({classes[given] if 0 <= given < len(classes) else '?'}) "
                    f"contradicts the class folder {folder!r} ({label + 1})"
                )
        pairs.append((vio.join(video_root, relative), {"label": label}))
    return pairs


@DATASETS.register("ucf101")
def Ucf101(
    data_path: str,
    clip_sampler: ClipSampler,
    video_sampler: Any = RandomSampler,
    transform: Callable | None = None,
    video_path_prefix: str = "",
    decode_audio: bool = True,
    decoder: str = "pyav",
    split_id: int = 1,
    split_type: str = "train",
    **kwargs: Any,
) -> LabeledVideoDataset:
    """UCF101 clips (PyTorchVideo's arguments in its order, then the official split's).

    ``data_path`` is the official annotation folder (with ``classInd.txt``;
    ``split_id`` 1-3 and ``split_type`` "train"/"test" pick the list), one of
    its split files, or PyTorchVideo's list file / class-folder layout.
    ``video_path_prefix`` is the ``UCF-101`` video folder.
    """
    if split_type not in SPLIT_FILES or split_id not in (1, 2, 3):
        raise ValueError(f"UCF101 splits are split_id 1-3 and split_type 'train'/'test', got {split_id}, {split_type!r}")
    if vio.is_dir(data_path) and vio.exists(vio.join(data_path, "classInd.txt")):
        annotation_dir, split_file = data_path, vio.join(data_path, SPLIT_FILES[split_type].format(split_id))
    elif vio.basename(data_path).startswith(("trainlist", "testlist")):
        annotation_dir, split_file = vio.dirname(data_path) or ".", data_path
    else:
        return labeled_video_dataset(
            data_path, clip_sampler, video_sampler, transform, video_path_prefix, decode_audio, decoder, **kwargs
        )
    classes = read_class_index(vio.join(annotation_dir, "classInd.txt"))
    pairs, missing = existing_and_missing(read_split(split_file, classes, video_path_prefix))
    report_missing(split_file, missing)
    return LabeledVideoDataset(
        pairs, clip_sampler, video_sampler, transform, decode_audio=decode_audio, decoder=decoder,
        classes=classes, missing_videos=missing, **kwargs,
    )
