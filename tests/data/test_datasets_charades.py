"""Charades from its official CSVs and PyTorchVideo's frame lists, with multi-hot targets."""

import csv
from pathlib import Path

import pytest
import torch
from media import decoded_indices, indexed_frames, write_indexed_video
from PIL import Image
from torch.utils.data import DataLoader, SequentialSampler

from vidray.data import DATASETS, Charades, UniformClipSampler
from vidray.errors import AnnotationError, UnknownLabelError

COLUMNS = ["id", "subject", "scene", "quality", "relevance", "verified", "script", "objects", "descriptions",
           "actions", "length"]
CLASSES = ["Holding some clothes", "Putting clothes somewhere", "Taking some clothes from somewhere",
           "Throwing clothes somewhere", "Tidying some clothes"]
ACTIONS = {"AAAAA": "c001 0.00 1.20;c003 2.50 3.00;c004 1.50 1.70", "BBBBB": "", "CCCCC": "c000 0.00 2.00"}
FRAMES = {"AAAAA": 30, "BBBBB": 20}  # CCCCC has no video
FPS = 10


def official_row(video_id: str, actions: str) -> list[str]:
    return [video_id, "HR43", "Kitchen", "6", "7", "Yes", "A person cooks, then eats.", "food;plate",
            "A person is cooking, eating; then leaves.", actions, "3.00"]


def write_csv(path: Path, rows: list[list[str]]) -> str:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def charades(tmp_path_factory):
    root = tmp_path_factory.mktemp("charades")
    (root / "Charades_v1_classes.txt").write_text("".join(f"c{i:03d} {name}\n" for i, name in enumerate(CLASSES)))
    write_csv(root / "Charades_v1_train.csv", [official_row(v, a) for v, a in ACTIONS.items()])
    (root / "videos").mkdir()
    for video_id, num_frames in FRAMES.items():
        write_indexed_video(str(root / "videos" / f"{video_id}.mp4"), num_frames, fps=FPS)
    return root


def make(root, **kwargs):
    kwargs.setdefault("video_path_prefix", str(root / "videos"))
    return Charades(str(root / "Charades_v1_train.csv"), UniformClipSampler(1.0), SequentialSampler, **kwargs)


def multi_hot(*labels: int, num_classes: int = len(CLASSES)) -> list[float]:
    return [1.0 if c in labels else 0.0 for c in range(num_classes)]


def expected_frame_rows(frame_indices: list[int]) -> list[list[float]]:
    """Actions of AAAAA under way at each frame's time, straight from ACTIONS."""
    spans = [(int(c[1:]), float(s), float(e)) for c, s, e in (a.split() for a in ACTIONS["AAAAA"].split(";"))]
    return [multi_hot(*(c for c, s, e in spans if s <= i / FPS <= e)) for i in frame_indices]


def test_registered_as_charades():
    assert DATASETS.get("charades") is Charades and Charades.NUM_CLASSES == 157


def test_classes_come_from_the_classes_file(charades):
    assert make(charades).classes == CLASSES


def test_missing_videos_are_left_out_and_reported(charades):
    dataset = make(charades)
    assert dataset.num_videos == 2
    assert dataset.missing_videos == [str(charades / "videos" / "CCCCC.mp4")]


def test_per_clip_label_is_multi_hot_of_the_overlapping_actions(charades):
    dataset = make(charades)
    samples = [dataset[i] for i in range(len(dataset))]
    assert [(s["video_name"], s["clip_index"]) for s in samples] == [("AAAAA", i) for i in range(3)] + [
        ("BBBBB", i) for i in range(2)
    ]
    assert [s["label"].tolist() for s in samples] == [
        multi_hot(1), multi_hot(1, 4), multi_hot(3), multi_hot(), multi_hot()
    ]
    assert samples[0]["label"].dtype == torch.float32
    assert samples[0]["video_label"].tolist() == multi_hot(1, 3, 4)
    assert samples[3]["video_label"].tolist() == multi_hot()


@pytest.mark.parametrize("frames_per_clip, expected_frames", [(None, list(range(10, 20))), (4, [10, 13, 16, 19])])
def test_per_frame_label_follows_the_decoded_frames(charades, frames_per_clip, expected_frames):
    sample = make(charades, target="per_frame", frames_per_clip=frames_per_clip)[1]  # AAAAA, [1 s, 2 s)
    frames = decoded_indices(sample["video"])
    assert frames == expected_frames
    assert sample["label"].shape == (len(frames), len(CLASSES))
    assert sample["label"].tolist() == expected_frame_rows(frames)


def test_batches_through_a_dataloader(charades):
    batch = next(iter(DataLoader(make(charades, frames_per_clip=4), batch_size=3)))
    assert batch["video"].shape == (3, 3, 4, 32, 48)
    assert batch["label"].shape == batch["video_label"].shape == (3, len(CLASSES))


def test_without_a_classes_file_the_157_class_ids_name_the_classes(charades, tmp_path):
    data_path = write_csv(tmp_path / "train.csv", [official_row("AAAAA", "c156 0.00 0.50")])
    dataset = Charades(data_path, UniformClipSampler(1.0), video_path_prefix=str(charades / "videos"))
    assert dataset.classes[0] == "c000" and len(dataset.classes) == 157
    assert dataset[0]["label"].tolist() == multi_hot(156, num_classes=157)


def test_pytorchvideo_frame_list_with_per_frame_labels(tmp_path):
    frame_labels = [""] * 4 + ["1"] * 4 + ['"1,2"'] * 4 + [""]  # 1.3 s: three 0.4 s clips
    lines = ["original_vido_id video_id frame_id path labels"]
    (tmp_path / "XYZ").mkdir()
    for index, (frame, labels) in enumerate(zip(indexed_frames(13), frame_labels)):
        Image.fromarray(frame).save(tmp_path / "XYZ" / f"XYZ-{index + 1:06d}.png")
        lines.append(f"XYZ 0 {index} XYZ/XYZ-{index + 1:06d}.png {labels}")
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    dataset = Charades(str(tmp_path / "train.csv"), UniformClipSampler(0.4), SequentialSampler,
                       video_path_prefix=str(tmp_path), fps=FPS)
    samples = [dataset[i] for i in range(len(dataset))]
    assert [decoded_indices(s["video"]) for s in samples] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert [s["label"].tolist() for s in samples] == [multi_hot(num_classes=157), multi_hot(1, num_classes=157),
                                                      multi_hot(1, 2, num_classes=157)]
    assert samples[0]["video_name"] == "XYZ"
    assert samples[0]["video_label"].tolist() == multi_hot(1, 2, num_classes=157)


@pytest.mark.parametrize(
    "actions, error, message",
    [
        ("c001 0.00", AnnotationError, r"train\.csv:3: action 'c001 0.00' must be"),
        ("c001 0.00 1.00;c999 0.00 1.00", UnknownLabelError, r"train\.csv:3: unknown label 'c999'"),
        ("c001 zero 1.00", AnnotationError, r"train\.csv:3: field 'actions' must be float"),
    ],
)
def test_malformed_actions_name_file_and_line(charades, tmp_path, actions, error, message):
    data_path = write_csv(tmp_path / "train.csv", [official_row("AAAAA", ""), official_row("BBBBB", actions)])
    with pytest.raises(error, match=message):
        Charades(data_path, UniformClipSampler(1.0), classes_file=str(charades / "Charades_v1_classes.txt"),
                 video_path_prefix=str(charades / "videos"))


def test_row_with_wrong_column_count_names_file_and_line(charades, tmp_path):
    data_path = write_csv(tmp_path / "train.csv", [official_row("AAAAA", ""), official_row("BBBBB", "") + ["extra"]])
    with pytest.raises(AnnotationError, match=r"train\.csv:3: expected 11 fields"):
        Charades(data_path, UniformClipSampler(1.0), video_path_prefix=str(charades / "videos"))


def test_frame_list_label_out_of_range_names_file_and_line(tmp_path):
    (tmp_path / "train.csv").write_text("original_vido_id video_id frame_id path labels\nXYZ 0 0 XYZ/1.png 157\n")
    with pytest.raises(UnknownLabelError, match=r"train\.csv:2: unknown label 157"):
        Charades(str(tmp_path / "train.csv"), UniformClipSampler(1.0))


def test_unknown_target_is_rejected(charades):
    with pytest.raises(ValueError, match="per_clip"):
        make(charades, target="per_video")
