"""HMDB51 from its official split files.

One file per class and split, ``<class>_test_split<N>.txt``, with lines
``<video>.avi <id>``: 1 = training, 2 = testing, 0 = unused. Videos sit in
``<video root>/<class>/<video>.avi``. Labels index the sorted class names.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from torch.utils.data import RandomSampler

from vidray import io as vio
from vidray.data.annotations import annotation_error, read_lines
from vidray.data.clip_sampling import ClipSampler
from vidray.data.labeled_video_dataset import DATASETS, LabeledVideoDataset
from vidray.data.labeled_video_paths import existing_and_missing, report_missing
from vidray.errors import MediaNotFoundError

SPLIT_IDS = {"train": "1", "test": "2", "unused": "0"}
SPLIT_FILE = re.compile(r"^(?P<label>.+)_test_split(?P<split>\d)\.txt$")


def read_splits(split_dir: str, split_id: int, split_type: str, video_root: str) -> tuple[list, list[str]]:
    files, all_classes = {}, set()
    for name in vio.list_dir(split_dir):
        match = SPLIT_FILE.match(name)
        if match:
            all_classes.add(match["label"])  # labels must not depend on which split is read
            if int(match["split"]) == split_id:
                files[match["label"]] = vio.join(split_dir, name)
    if not files:
        raise MediaNotFoundError(f"{split_dir}: no '<class>_test_split{split_id}.txt' files")
    classes = sorted(all_classes)
    wanted = SPLIT_IDS[split_type]
    pairs = []
    for label, name in enumerate(classes):
        if name not in files:
            continue
        for line, text in read_lines(files[name]):
            parts = text.split()
            if len(parts) != 2 or parts[1] not in SPLIT_IDS.values():
                raise annotation_error(files[name], line, f"expected '<video> <0|1|2>', got {text!r}")
            if parts[1] == wanted:
                pairs.append((vio.join(video_root, name, parts[0]), {"label": label}))
    return pairs, classes


@DATASETS.register("hmdb51")
def Hmdb51(
    data_path: str,
    clip_sampler: ClipSampler,
    video_sampler: Any = RandomSampler,
    transform: Callable | None = None,
    video_path_prefix: str = "",
    split_id: int = 1,
    split_type: str = "train",
    decode_audio: bool = True,
    decoder: str = "pyav",
    **kwargs: Any,
) -> LabeledVideoDataset:
    """HMDB51 clips: ``data_path`` is the folder of split files, ``video_path_prefix`` the video folder."""
    if split_type not in SPLIT_IDS or split_id not in (1, 2, 3):
        raise ValueError(
            f"HMDB51 splits are split_id 1-3 and split_type 'train'/'test'/'unused', got {split_id}, {split_type!r}"
        )
    pairs, classes = read_splits(data_path, split_id, split_type, video_path_prefix)
    pairs, missing = existing_and_missing(pairs)
    report_missing(data_path, missing)
    return LabeledVideoDataset(
        pairs, clip_sampler, video_sampler, transform, decode_audio=decode_audio, decoder=decoder,
        classes=classes, missing_videos=missing, **kwargs,
    )
