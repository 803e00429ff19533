"""AVA v2.2 read from its official annotation files, over movies and PyTorchVideo frame lists."""

import shutil

import pytest
import torch
from media import decoded_indices, indexed_frames, write_image, write_indexed_video
from torch.utils.data import DataLoader, SequentialSampler

from vidray.data import DATASETS, Ava, detection_collate, make_clip_sampler
from vidray.data.datasets.ava import read_label_map
from vidray.errors import AnnotationError, UnknownLabelError

FPS = 10
KEYFRAMES = (2, 4)  # the test movies are 6 s long, annotated at 2, 3 and 4 s

LABELS_CSV = (
    "movieA,0002,0.100,0.200,0.500,0.600,12,0\n"
    "movieA,0002,0.100,0.200,0.500,0.600,80,0\n"  # same box, second action: merged
    "movieA,0002,0.600,0.100,0.900,0.900,11,1\n"
    "movieA,0003,0.100,0.200,0.500,0.600,14,0\n"
    "movieA,0004,0.100,0.200,0.500,0.600,12,0\n"  # excluded below
    "movieB,0003,0.000,0.000,1.000,1.000,17,4\n"
    "movieC,0003,0.200,0.200,0.300,0.300,12,0\n"  # no such movie
)
EXCLUDED_CSV = "movieA,0004\n"
FULL_LABEL_MAP = "".join(
    f'label {{\n  name: "action {i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n' for i in range(1, 81)
)
ACTIVITYNET_LABEL_MAP = (
    'item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\n'
    'item {\n  name: "stand"\n  id: 12\n}\n'
    'item {\n  name: "watch (a person)"\n  id: 80\n}\n'
    'item { name: "sit" id: 11 }\n'  # one-line entries are text proto too
)


@pytest.fixture(scope="module")
def movie_file(tmp_path_factory):
    return write_indexed_video(str(tmp_path_factory.mktemp("src") / "movie.mp4"), 6 * FPS, fps=FPS)


@pytest.fixture
def ava_root(tmp_path, movie_file):
    (tmp_path / "movies").mkdir()
    for name in ("movieA", "movieB"):
        shutil.copy(movie_file, tmp_path / "movies" / f"{name}.mp4")
    (tmp_path / "ava_train_v2.2.csv").write_text(LABELS_CSV)
    (tmp_path / "ava_train_excluded_timestamps_v2.2.csv").write_text(EXCLUDED_CSV)
    (tmp_path / "ava_action_list_v2.2.pbtxt").write_text(FULL_LABEL_MAP)
    (tmp_path / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").write_text(ACTIVITYNET_LABEL_MAP)
    return tmp_path


def ava(root, labels="ava_train_v2.2.csv", **kwargs):
    kwargs.setdefault("keyframe_range", KEYFRAMES)
    kwargs.setdefault("clip_sampler", make_clip_sampler("random", 1.0))
    return Ava(str(root / "movies"), str(root / labels), video_sampler=SequentialSampler, **kwargs)


def by_keyframe(dataset):
    return {(s["video_name"], s["timestamp"]): s for s in dataset}


def test_one_sample_per_keyframe_with_merged_boxes_and_actions(ava_root):
    samples = by_keyframe(ava(ava_root, label_map_file=str(ava_root / "ava_action_list_v2.2.pbtxt")))
    assert sorted(samples) == [("movieA", 2), ("movieA", 3), ("movieA", 4), ("movieB", 3)]
    first = samples[("movieA", 2)]
    assert first["boxes"].dtype == torch.float32
    assert torch.allclose(first["boxes"], torch.tensor([[0.1, 0.2, 0.5, 0.6], [0.6, 0.1, 0.9, 0.9]]))
    assert first["labels"] == [[12, 80], [11]]
    assert first["extra_info"] == [[0.0, 0.0], [1.0]]  # person ids, one per action as in PyTorchVideo
    assert samples[("movieB", 3)]["labels"] == [[17]]
    assert samples[("movieB", 3)]["video_index"] == 1 and samples[("movieA", 3)]["clip_index"] == 3.0


def test_multi_hot_labels_follow_the_label_map_ids(ava_root):
    dataset = ava(ava_root, label_map_file=str(ava_root / "ava_action_list_v2.2.pbtxt"))
    sample = by_keyframe(dataset)[("movieA", 2)]
    assert dataset.class_ids == list(range(1, 81)) and dataset.classes[11] == "action 12"
    multi_hot = sample["multi_hot_labels"]
    assert multi_hot.shape == (2, 80)
    assert multi_hot[0].nonzero().flatten().tolist() == [11, 79] and multi_hot[1].nonzero().flatten().tolist() == [10]


def test_clip_is_centred_on_the_keyframe(ava_root):
    samples = by_keyframe(ava(ava_root, clip_sampler=1.0))
    for timestamp in (2, 3, 4):
        centre = timestamp * FPS
        assert decoded_indices(samples[("movieA", timestamp)]["video"]) == list(range(centre - 5, centre + 5))


def test_excluded_timestamps_are_left_out(ava_root):
    dataset = ava(ava_root, exclusion_file=str(ava_root / "ava_train_excluded_timestamps_v2.2.csv"))
    assert sorted(by_keyframe(dataset)) == [("movieA", 2), ("movieA", 3), ("movieB", 3)]


def test_missing_movies_are_left_out_and_reported(ava_root):
    dataset = ava(ava_root)
    assert dataset.missing_videos == [str(ava_root / "movies" / "movieC")]
    assert "movieC" not in {s["video_name"] for s in dataset}


def test_activitynet_label_map_drops_the_other_ava_actions(ava_root):
    dataset = ava(ava_root, label_map_file=str(ava_root / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"))
    assert dataset.class_ids == [1, 11, 12, 80]
    assert dataset.classes == ["bend/bow (at the waist)", "sit", "stand", "watch (a person)"]
    samples = by_keyframe(dataset)
    assert sorted(samples) == [("movieA", 2), ("movieA", 4)]  # actions 14 and 17 are not among the 60
    assert samples[("movieA", 2)]["multi_hot_labels"].tolist() == [[0, 0, 1, 1], [0, 1, 0, 0]]


def test_label_map_reads_both_distributed_formats(ava_root):
    assert read_label_map(str(ava_root / "ava_action_list_v2.2.pbtxt"))[80] == "action 80"
    assert read_label_map(str(ava_root / "ava_action_list_v2.2_for_activitynet_2019.pbtxt")) == {
        1: "bend/bow (at the waist)", 11: "sit", 12: "stand", 80: "watch (a person)"}


def test_detection_boxes_without_action_are_kept_as_boxes(ava_root):
    (ava_root / "detections.csv").write_text("movieA,0003,0.1,0.1,0.4,0.4,,0.97\n")
    sample = ava(ava_root, "detections.csv")[0]
    assert sample["boxes"].shape == (1, 4) and sample["labels"] == [[]]
    assert sample["multi_hot_labels"].shape == (1, 80) and sample["multi_hot_labels"].sum() == 0


def test_detection_collate_batches_varying_numbers_of_boxes(ava_root):
    loader = DataLoader(ava(ava_root, clip_sampler=1.0), batch_size=4, collate_fn=detection_collate)
    batch = next(iter(loader))
    assert batch["video"].shape == (4, 3, 10, 32, 48)
    assert [b.shape[0] for b in batch["boxes"]] == [2, 1, 1, 1]
    assert batch["labels"][0] == [[12, 80], [11]] and len(batch["multi_hot_labels"]) == 4
    assert batch["timestamp"].tolist() == [2, 3, 4, 3]


def test_pytorchvideo_frame_list_with_official_keyframes(tmp_path):
    """PyTorchVideo's frame folders start at 900 s of the movie, 30 fps; keyframes default to 902..1798."""
    frames = torch.from_numpy(indexed_frames(150)).permute(0, 3, 1, 2)  # 5 s at 30 fps
    lines = ["original_video_id video_id frame_id path labels"]
    for i, frame in enumerate(frames):
        (tmp_path / "frames" / "movieA").mkdir(parents=True, exist_ok=True)
        write_image(tmp_path / "frames" / "movieA" / f"movieA_{i + 1:06d}.png", frame)
        lines.append(f"movieA 0 {i} movieA/movieA_{i + 1:06d}.png \"\"")
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "ava_train_v2.2.csv").write_text(
        "movieA,0901,0.1,0.1,0.2,0.2,1,0\nmovieA,0902,0.1,0.1,0.2,0.2,1,0\nmovieA,1799,0.1,0.1,0.2,0.2,1,0\n"
    )
    dataset = Ava(str(tmp_path / "train.csv"), str(tmp_path / "ava_train_v2.2.csv"), str(tmp_path / "frames"),
                  clip_sampler=make_clip_sampler("random", 1.0))
    assert len(dataset) == 1
    sample = dataset[0]
    assert sample["timestamp"] == 902 and sample["clip_index"] == 2.0
    assert decoded_indices(sample["video"]) == list(range(45, 75))  # PyTorchVideo's own expectation
    assert DATASETS.get("ava") is Ava


@pytest.mark.parametrize(
    "row, error, message",
    [
        ("movieA,0002,0.1,0.2,0.5,0.6,12", AnnotationError, r"expected 8 fields"),
        ("movieA,0002,0.1,0.2,0.5,0.6,12,0,extra", AnnotationError, r"expected 8 fields"),
        ("movieA,0002,0.1,0.2,1.5,0.6,12,0", AnnotationError, r"normalised to \[0, 1\]"),
        ("movieA,0002,-0.1,0.2,0.5,0.6,12,0", AnnotationError, r"normalised to \[0, 1\]"),
        ("movieA,0002,0.5,0.2,0.1,0.6,12,0", AnnotationError, r"x1 <= x2"),
        ("movieA,0002,0.1,0.6,0.5,0.2,12,0", AnnotationError, r"y1 <= y2"),
        ("movieA,two,0.1,0.2,0.5,0.6,12,0", AnnotationError, r"field 'timestamp' must be float"),
        ("movieA,0002,0.1,0.2,0.5,0.6,walk,0", AnnotationError, r"field 'action_id' must be int"),
        ("movieA,0002,0.1,0.2,0.5,0.6,81,0", UnknownLabelError, r"unknown action id 81"),
        ("movieA,0002,0.1,0.2,0.5,0.6,0,0", UnknownLabelError, r"unknown action id 0"),
    ],
)
def test_malformed_label_rows_name_file_and_line(ava_root, row, error, message):
    (ava_root / "bad.csv").write_text("movieA,0002,0.1,0.2,0.5,0.6,12,0\n" + row + "\n")
    with pytest.raises(error, match=r"bad.csv:2: .*" + message):
        ava(ava_root, "bad.csv")


def test_action_outside_a_custom_label_map_and_ava_is_unknown(ava_root):
    (ava_root / "map.pbtxt").write_text('item { name: "stand" id: 12 }\n')
    (ava_root / "bad.csv").write_text("movieA,0002,0.1,0.2,0.5,0.6,12,0\nmovieA,0002,0.1,0.2,0.5,0.6,95,0\n")
    with pytest.raises(UnknownLabelError, match=r"bad.csv:2: unknown action id 95 \(not among the label map's 1 ids\)"):
        ava(ava_root, "bad.csv", label_map_file=str(ava_root / "map.pbtxt"))


@pytest.mark.parametrize(
    "text, message",
    [
        ('item {\n  name: "stand"\n}\n', r":1: entry needs a name and an id"),
        ('item {\n  name: "stand"\n  id: twelve\n}\n', r":3: field 'id' must be int"),
        ('item { name: "a" id: 1 }\nitem {\n  name: "b"\n  id: 1\n}\n', r":4: id 1 already names 'a'"),
        ('item {\n  name: "stand"\n  id: 12\n', r":1: entry is not closed"),
        ('item {\n  name: "stand\n  id: 12\n}\n', r":2: cannot read"),
        ('item {\n  name: stand\n  id: 12\n}\n', r":2: name must be a quoted string"),
        ('items {\n  name: "stand"\n  id: 12\n}\n', r":1: expected an 'item \{' or 'label \{' entry"),
        ('item {\n  name "stand"\n  id: 12\n}\n', r":2: expected :"),
        ('# nothing here\n', r":1: label map holds no entries"),
    ],
)
def test_bad_label_map_entries_name_file_and_line(ava_root, text, message):
    (ava_root / "bad.pbtxt").write_text(text)
    with pytest.raises(AnnotationError, match=r"bad.pbtxt" + message):
        ava(ava_root, label_map_file=str(ava_root / "bad.pbtxt"))


def test_bad_exclusion_and_frame_list_rows_name_file_and_line(ava_root):
    (ava_root / "excluded.csv").write_text("movieA,0002\nmovieA,0003,extra\n")
    with pytest.raises(AnnotationError, match=r"excluded.csv:2: expected 2 fields"):
        ava(ava_root, exclusion_file=str(ava_root / "excluded.csv"))
    (ava_root / "frames.csv").write_text("original_video_id video_id frame_id path labels\nmovieA 0 0 a.jpg\n")
    with pytest.raises(AnnotationError, match=r"frames.csv:2: expected 5 fields"):
        Ava(str(ava_root / "frames.csv"), str(ava_root / "ava_train_v2.2.csv"), clip_sampler=1.0)
