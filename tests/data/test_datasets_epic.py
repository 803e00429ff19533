"""EPIC-KITCHENS-100 narration segments from the official annotation CSVs."""

import csv
import math
from pathlib import Path

import pytest
from media import decoded_indices, write_indexed_video
from torch.utils.data import DataLoader, SequentialSampler

from vidray.data import DATASETS, EpicKitchens100, RandomClipSampler
from vidray.errors import AnnotationError, UnknownLabelError

COLUMNS = ["narration_id", "participant_id", "video_id", "narration_timestamp", "start_timestamp", "stop_timestamp",
           "start_frame", "stop_frame", "narration", "verb", "verb_class", "noun", "noun_class", "all_nouns",
           "all_noun_classes"]
TEST_COLUMNS = ["narration_id", "participant_id", "video_id", "start_timestamp", "stop_timestamp", "start_frame",
                "stop_frame"]
VERBS = ["take", "put", "open"]
NOUNS = ["tap", "cup", "door", "knife"]
FPS = 10
# narration_id, start, stop, verb_class, noun_class
NARRATIONS = [
    ("P01_01_0", "00:00:01.00", "00:00:02.50", 0, 1),
    ("P01_01_1", "00:00:03.00", "00:00:03.90", 2, 2),
    ("P02_03_0", "00:00:00.50", "00:00:01.50", 1, 3),
    ("P03_01_0", "00:00:00.00", "00:00:01.00", 0, 0),  # its video is missing
]


def seconds(timestamp: str) -> float:
    hours, minutes, secs = timestamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(secs)


def row(narration_id, start, stop, verb, noun):
    participant, video_id = narration_id[:3], narration_id.rsplit("_", 1)[0]
    return [narration_id, participant, video_id, start, start, stop, str(round(seconds(start) * 60)),
            str(round(seconds(stop) * 60)), f"{VERBS[verb]} {NOUNS[noun]}", VERBS[verb], str(verb), NOUNS[noun],
            str(noun), f"['{NOUNS[noun]}']", f"[{noun}]"]


def write_csv(path: Path, header: list[str], rows: list[list]) -> str:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def write_classes(path: Path, keys: list[str]) -> None:
    write_csv(path, ["id", "key", "instances", "category"],
              [[i, key, str([key, key + "-up"]), "misc"] for i, key in enumerate(keys)])


@pytest.fixture(scope="module")
def epic(tmp_path_factory):
    root = tmp_path_factory.mktemp("epic")
    write_classes(root / "EPIC_100_verb_classes.csv", VERBS)
    write_classes(root / "EPIC_100_noun_classes.csv", NOUNS)
    write_csv(root / "EPIC_100_train.csv", COLUMNS, [row(*n) for n in NARRATIONS])
    (root / "videos" / "P01" / "videos").mkdir(parents=True)
    write_indexed_video(str(root / "videos" / "P01" / "videos" / "P01_01.MP4"), 40, fps=FPS)  # download layout
    write_indexed_video(str(root / "videos" / "P02_03.mp4"), 40, fps=FPS)  # flat layout
    return root


def make(root, clip_duration=0.5, data_path=None, **kwargs):
    return EpicKitchens100(data_path or str(root / "EPIC_100_train.csv"), RandomClipSampler(clip_duration),
                           SequentialSampler, video_path_prefix=str(root / "videos"), **kwargs)


def segment_frames(narration) -> range:
    """Frames whose time lies in the narration's [start, stop)."""
    _, start, stop, _, _ = narration
    return range(math.ceil(seconds(start) * FPS), math.ceil(seconds(stop) * FPS))


def test_registered_as_epic_kitchens_100():
    assert DATASETS.get("epic_kitchens_100") is EpicKitchens100


def test_each_narration_is_one_sample_with_verb_and_noun_labels(epic):
    dataset = make(epic)
    assert len(dataset) == 3
    samples = [dataset[i] for i in range(3)]
    assert [s["narration_id"] for s in samples] == ["P01_01_0", "P01_01_1", "P02_03_0"]
    assert [s["video_name"] for s in samples] == ["P01_01.MP4", "P01_01.MP4", "P02_03.mp4"]
    assert [(s["verb_label"], s["noun_label"]) for s in samples] == [(0, 1), (2, 2), (1, 3)]
    assert [s["label"] for s in samples] == [0, 2, 1]
    assert dataset.classes == dataset.verb_classes == VERBS and dataset.noun_classes == NOUNS


@pytest.mark.parametrize("target, labels, num_classes", [("noun", [1, 2, 3], 4), ("action", [1, 10, 7], 12)])
def test_target_picks_what_label_holds(epic, target, labels, num_classes):
    dataset = make(epic, target=target)
    assert [dataset[i]["label"] for i in range(3)] == labels
    assert len(dataset.classes) == num_classes
    if target == "action":
        assert dataset.classes[10] == "open door"


def test_missing_videos_are_left_out_and_reported(epic):
    assert make(epic).missing_videos == [str(epic / "videos" / "P03" / "videos" / "P03_01.MP4")]


def test_clips_lie_inside_the_narration_segment(epic):
    dataset = make(epic, clip_duration=0.5, seed=0)
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for index, narration in enumerate(NARRATIONS[:3]):
            frames = decoded_indices(dataset[index]["video"])
            assert len(frames) == 5 and frames == list(range(frames[0], frames[0] + 5))
            assert set(frames) <= set(segment_frames(narration))


def test_clip_longer_than_the_segment_is_cut_at_its_end(epic):
    dataset = make(epic, clip_duration=2.0)
    assert decoded_indices(dataset[1]["video"]) == list(segment_frames(NARRATIONS[1]))  # 0.9 s segment
    frames = decoded_indices(dataset[0]["video"])  # 1.5 s segment
    assert set(frames) <= set(segment_frames(NARRATIONS[0])) and len(frames) == 15


def test_batches_through_a_dataloader(epic):
    batch = next(iter(DataLoader(make(epic, frames_per_clip=4), batch_size=3)))
    assert batch["video"].shape == (3, 3, 4, 32, 48)
    assert batch["verb_label"].tolist() == [0, 2, 1] and batch["noun_label"].tolist() == [1, 2, 3]
    assert batch["narration_id"] == ["P01_01_0", "P01_01_1", "P02_03_0"]


def test_test_timestamps_load_without_labels(epic, tmp_path):
    rows = [row(*NARRATIONS[0])[:3] + [NARRATIONS[0][1], NARRATIONS[0][2], "60", "150"]]
    data_path = write_csv(tmp_path / "EPIC_100_test_timestamps.csv", TEST_COLUMNS, rows)
    sample = make(epic, data_path=data_path, verb_classes_file=str(epic / "EPIC_100_verb_classes.csv"),
                  noun_classes_file=str(epic / "EPIC_100_noun_classes.csv"))[0]
    assert sample["narration_id"] == "P01_01_0"
    assert not {"label", "verb_label", "noun_label"} & set(sample)


def write_bad(epic: Path, tmp_path: Path, bad_row: list) -> str:
    """A train CSV whose third line is ``bad_row``, beside the fixture's class files."""
    for name in ("EPIC_100_verb_classes.csv", "EPIC_100_noun_classes.csv"):
        (tmp_path / name).write_bytes((epic / name).read_bytes())
    return write_csv(tmp_path / "EPIC_100_train.csv", COLUMNS, [row(*NARRATIONS[0]), bad_row])


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({4: "1:02"}, AnnotationError, r"EPIC_100_train\.csv:3: field 'start_timestamp' must be a timestamp"),
        ({5: "00:00:61.00"}, AnnotationError, r"EPIC_100_train\.csv:3: field 'stop_timestamp' must be a timestamp"),
        ({4: "00:00:03.00", 5: "00:00:02.00"}, AnnotationError, r"EPIC_100_train\.csv:3: stop_timestamp .* before"),
        ({10: "7"}, UnknownLabelError, r"EPIC_100_train\.csv:3: unknown verb_class 7 \(expected 0\.\.2\)"),
        ({12: "-1"}, UnknownLabelError, r"EPIC_100_train\.csv:3: unknown noun_class -1"),
        ({10: "take"}, AnnotationError, r"EPIC_100_train\.csv:3: field 'verb_class' must be int"),
    ],
)
def test_malformed_row_names_file_and_line(epic, tmp_path, change, error, message):
    bad = row(*NARRATIONS[1])
    for column, value in change.items():
        bad[column] = value
    with pytest.raises(error, match=message):
        make(epic, data_path=write_bad(epic, tmp_path, bad))


def test_row_with_wrong_column_count_names_file_and_line(epic, tmp_path):
    with pytest.raises(AnnotationError, match=r"EPIC_100_train\.csv:3: expected 15 fields"):
        make(epic, data_path=write_bad(epic, tmp_path, row(*NARRATIONS[1]) + ["extra"]))


def test_class_ids_with_a_gap_are_an_error(epic, tmp_path):
    write_csv(tmp_path / "verbs.csv", ["id", "key", "instances", "category"], [[0, "take", "[]", "x"], [2, "open", "[]", "x"]])
    with pytest.raises(AnnotationError, match=r"verbs\.csv:1: class ids must run 0\.\.1"):
        make(epic, verb_classes_file=str(tmp_path / "verbs.csv"))


def test_unknown_target_is_rejected(epic):
    with pytest.raises(ValueError, match="verb"):
        make(epic, target="verb_noun")
