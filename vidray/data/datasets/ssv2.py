"""Something-Something v2 from its official JSON files, or PyTorchVideo's frame lists.

The authors distribute ``something-something-v2-labels.json`` (class name ->
index as a string) and ``something-something-v2-{train,validation}.json``
(a list of ``{"id", "label", "template", "placeholders"}``). A video's class
is its template without brackets (``"Holding [something] next to
[something]"`` -> ``"Holding something next to something"``). Videos are
``<video_path_prefix>/<id>.webm`` as distributed (other extensions, e.g.
re-encoded ``.mp4``, through ``video_extensions``) or frame folders
``<video_path_prefix>/<id>/``; PyTorchVideo's space-separated frame list
(``original_vido_id video_id frame_id path labels``, given as
``video_path_label_file``) names the frames explicitly. The test split
(``something-something-v2-test.json``, ids only) loads without labels.

Sampling follows PyTorchVideo: every sample covers the *whole* video; the
clip sampler only decides how many samples a video gives (``clip_index`` /
``aug_index``). ``frames_per_clip`` frames are taken one per equal segment of
the video, the middle frame of each, or a random one with
``rand_sample_frames`` (training); the random choice is a pure function of
``(seed, epoch, video, clip)`` like every other clip choice in vidray.
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from fractions import Fraction
from typing import Any, Callable, Sequence

from torch.utils.data import RandomSampler

from vidray import io as vio
from vidray.data.annotations import (
    annotation_error,
    label_of,
    parse_number,
    read_annotation_text,
    read_csv_rows,
)
from vidray.data.clip_sampling import (
    ClipInfo,
    ClipInfoList,
    ClipSampler,
    ConstantClipsPerVideoSampler,
)
from vidray.data.labeled_video_dataset import (
    DATASETS,
    FRAME_PATHS_KEY,
    LabeledVideoDataset,
)
from vidray.data.labeled_video_paths import report_missing
from vidray.errors import AnnotationError

FRAME_LIST_COLUMNS = ("original_vido_id", "video_id", "frame_id", "path", "labels")  # PyTorchVideo's spelling
DEFAULT_VIDEO_EXTENSIONS = (".webm", ".mp4")


def segment_frame_positions(num_frames: int, frames_per_clip: int, rng: random.Random | None = None) -> list[int]:
    """One position per equal segment of ``range(num_frames)``: the middle, or a random one given ``rng``.

    PyTorchVideo's (and TSN's) SSv2 sampling: segment ``i`` spans
    ``round(i * s) .. round((i + 1) * s)`` with ``s = (num_frames - 1) / frames_per_clip``.
    """
    size = (num_frames - 1) / frames_per_clip
    positions = []
    for i in range(frames_per_clip):
        start, end = round(size * i), round(size * (i + 1))
        positions.append(rng.randint(start, end) if rng is not None else (start + end) // 2)
    return positions


def read_json_entries(uri: str) -> list[tuple[int, Any, Any]]:
    """``(line, key, value)`` for each entry of a top-level JSON object (``key`` = position for a list).

    Entries are decoded one by one so that an error can name the line of the
    entry at fault.
    """
    text = read_annotation_text(uri)
    decoder = json.JSONDecoder()
    space = re.compile(r"\s*")

    def line_at(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    def decode(pos: int) -> tuple[Any, int]:
        try:
            return decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise AnnotationError(f"{uri}:{exc.lineno}: invalid JSON ({exc.msg})") from None

    def expect(pos: int, chars: str) -> int:
        pos = space.match(text, pos).end()
        if pos >= len(text) or text[pos] not in chars:
            found = repr(text[pos]) if pos < len(text) else "the end of the file"
            raise annotation_error(uri, line_at(pos), f"invalid JSON: expected one of {chars!r}, found {found}")
        return pos

    pos = expect(0, "[{")
    is_object, closing = text[pos] == "{", "}" if text[pos] == "{" else "]"
    pos = space.match(text, pos + 1).end()
    entries: list[tuple[int, Any, Any]] = []
    if text.startswith(closing, pos):
        return entries
    while True:
        pos = space.match(text, pos).end()
        line = line_at(pos)
        if is_object:
            key, pos = decode(expect(pos, '"'))
            pos = expect(pos, ":") + 1
        else:
            key = len(entries)
        value, pos = decode(space.match(text, pos).end())
        entries.append((line, key, value))
        pos = expect(pos, "," + closing)
        if text[pos] == closing:
            return entries
        pos += 1


def read_label_names(label_name_file: str) -> list[str]:
    """Class names ordered by their index in ``something-something-v2-labels.json``."""
    by_index: dict[int, str] = {}
    for line, name, index in read_json_entries(label_name_file):
        number = parse_number(label_name_file, line, name, str(index), int)
        if number in by_index:
            raise annotation_error(label_name_file, line, f"index {number} is given to {by_index[number]!r} and {name!r}")
        by_index[number] = name
    if sorted(by_index) != list(range(len(by_index))):
        raise annotation_error(label_name_file, 1, f"class indices must run 0..{len(by_index) - 1} without gaps")
    return [by_index[i] for i in range(len(by_index))]


def template_class(template: str) -> str:
    """The class name of a template: its text without the brackets around placeholders."""
    return template.replace("[", "").replace("]", "")


def read_video_labels(video_label_file: str, classes: Sequence[str]) -> list[tuple[str, int | None]]:
    """``(video id, label)`` in file order; labels are ``None`` for the unlabelled test split (no templates)."""
    index = {name: i for i, name in enumerate(classes)}
    entries = read_json_entries(video_label_file)
    labelled = bool(entries) and isinstance(entries[0][2], dict) and "template" in entries[0][2]
    videos = []
    for line, _, record in entries:
        if not isinstance(record, dict) or not isinstance(record.get("id"), (str, int)):
            raise annotation_error(video_label_file, line, f'expected an object with an "id", got {record!r:.80}')
        if labelled != ("template" in record):
            state = "lacks" if labelled else "has"
            raise annotation_error(
                video_label_file, line, f'video {record["id"]} {state} a "template", unlike the first video of the file'
            )
        label = label_of(video_label_file, line, template_class(record["template"]), index) if labelled else None
        videos.append((str(record["id"]), label))
    return videos


def read_frame_list(video_path_label_file: str, prefix: str) -> dict[str, list[str]]:
    """Video id -> frame paths (in file order) from PyTorchVideo's space-separated frame list."""
    frames: dict[str, list[str]] = defaultdict(list)
    for _, row in read_csv_rows(video_path_label_file, FRAME_LIST_COLUMNS, delimiter=" "):
        frames[row["original_vido_id"]].append(vio.join(prefix, row["path"]) if prefix else row["path"])
    return frames


def find_videos(video_root: str, video_ids: Sequence[str], extensions: Sequence[str]) -> dict[str, str]:
    """Video id -> path of ``<id><ext>`` (first extension found) or of a frame folder ``<id>/``.

    The folder is listed once instead of checking every id, which matters on S3.
    """
    names = set(vio.list_dir(video_root))
    found = {}
    for video_id in video_ids:
        name = next((video_id + ext for ext in extensions if video_id + ext in names), None)
        if name is None and video_id in names:
            name = video_id
        if name is not None:
            found[video_id] = vio.join(video_root, name)
    return found


@DATASETS.register("ssv2")
class SSv2(LabeledVideoDataset):
    """Something-Something v2 samples: ``video`` (the whole video, ``frames_per_clip`` frames),
    ``label`` (class index), ``video_name`` (the id), ``video_index``, ``clip_index``, ``aug_index``.

    Args (PyTorchVideo's, in its order):
        label_name_file: ``something-something-v2-labels.json``.
        video_label_file: ``something-something-v2-{train,validation,test}.json``.
        video_path_label_file: PyTorchVideo's frame list; ``None`` for videos
            or frame folders named by id in ``video_path_prefix``.
        clip_sampler: only sets how many samples each video gives (each covers
            the whole video); default one.
        video_sampler, transform: as in :class:`LabeledVideoDataset`.
        video_path_prefix: the video folder (default: the annotation folder),
            or the prefix of the frame list's paths.
        frames_per_clip: frames per sample, one per equal segment; ``None``
            keeps every frame.
        rand_sample_frames: a random frame of each segment instead of the middle one.

    vidray additions: ``video_extensions`` (tried in order), ``decode_audio``
    (SSv2 videos have no sound), ``decoder``, and the keyword arguments of
    :class:`LabeledVideoDataset` (``seed``, ``decoder_args``, ...).
    """

    def __init__(
        self,
        label_name_file: str,
        video_label_file: str,
        video_path_label_file: str | None = None,
        clip_sampler: ClipSampler | None = None,
        video_sampler: Any = RandomSampler,
        transform: Callable | None = None,
        video_path_prefix: str = "",
        frames_per_clip: int | None = None,
        rand_sample_frames: bool = False,
        *,
        video_extensions: Sequence[str] = DEFAULT_VIDEO_EXTENSIONS,
        decode_audio: bool = False,
        decoder: str = "pyav",
        **kwargs: Any,
    ) -> None:
        if frames_per_clip is not None and frames_per_clip < 1:
            raise ValueError(f"frames_per_clip must be >= 1, got {frames_per_clip}")
        classes = read_label_names(label_name_file)
        videos = read_video_labels(video_label_file, classes)
        if video_path_label_file is not None:
            frame_lists = read_frame_list(video_path_label_file, video_path_prefix)
            sources = {vid: {FRAME_PATHS_KEY: frame_lists[vid]} for vid, _ in videos if vid in frame_lists}
            paths = {vid: vio.dirname(info[FRAME_PATHS_KEY][0]) for vid, info in sources.items()}
            expected = {vid: vio.join(video_path_prefix, vid) if video_path_prefix else vid for vid, _ in videos}
        else:
            root = video_path_prefix or vio.dirname(video_label_file) or "."
            paths = find_videos(root, [vid for vid, _ in videos], video_extensions)
            sources = {vid: {} for vid in paths}
            expected = {vid: vio.join(root, vid + video_extensions[0]) for vid, _ in videos}
        pairs, missing = [], []
        for vid, label in videos:
            if vid not in paths:
                missing.append(expected[vid])
                continue
            info = {**sources[vid], "video_name": vid}
            if label is not None:
                info["label"] = label
            pairs.append((paths[vid], info))
        report_missing(video_label_file, missing)
        super().__init__(
            pairs,
            # The sampler's windows are ignored; by default one sample per video.
            clip_sampler if clip_sampler is not None else ConstantClipsPerVideoSampler(Fraction(1), 1),
            video_sampler,
            transform,
            decode_audio=decode_audio,
            decoder=decoder,
            classes=classes,
            missing_videos=missing,
            **kwargs,
        )
        self._frames_per_clip = frames_per_clip
        self._rand_sample_frames = rand_sample_frames

    def clip_windows(
        self, video_index: int, clip: ClipInfo | ClipInfoList, offset: float, length: float
    ) -> list[tuple[Any, Any]]:
        """The whole video for every clip, whatever the sampled window (PyTorchVideo's SSv2 semantics)."""
        count = len(clip.clip_index) if isinstance(clip, ClipInfoList) else 1
        return [(offset, offset + length)] * count

    def frame_filter(
        self, video_index: int, clip: ClipInfo | ClipInfoList, view: int, epoch_key: str
    ) -> Callable[[list[int]], list[int]] | None:
        """One frame per equal segment: the middle one, or a random one with ``rand_sample_frames``.

        Augmented views of one clip (``aug_index``) share its frames.
        """
        if self._frames_per_clip is None:
            return None
        clip_index = clip.clip_index[view] if isinstance(clip, ClipInfoList) else clip.clip_index
        rng = random.Random(f"{epoch_key}:{video_index}:{clip_index}:{view}") if self._rand_sample_frames else None
        count = self._frames_per_clip

        def keep(indices: list[int]) -> list[int]:
            return [indices[p] for p in segment_frame_positions(len(indices), count, rng)]

        return keep
