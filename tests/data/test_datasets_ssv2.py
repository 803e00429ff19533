"""Something-Something v2 from its official JSON files and PyTorchVideo's frame lists."""

import json
from pathlib import Path

import pytest
import torch
from media import decoded_indices, indexed_frames, write_indexed_video
from PIL import Image
from torch.utils.data import DataLoader, SequentialSampler

from vidray.data import DATASETS, ConstantClipsPerVideoSampler, SSv2, UniformClipSampler
from vidray.errors import AnnotationError, UnknownLabelError

LABELS = {
    "Approaching something with your camera": "0",
    "Holding something next to something": "1",
    "Putting something on a surface": "2",
}
RECORDS = [
    {"id": "101", "label": "holding potato next to vicks vaporub bottle",
     "template": "Holding [something] next to [something]", "placeholders": ["potato", "vicks vaporub bottle"]},
    {"id": "102", "label": "putting a cup on a table",
     "template": "Putting [something] on a surface", "placeholders": ["a cup"]},
    {"id": "103", "label": "approaching a door with your camera",
     "template": "Approaching [something] with your camera", "placeholders": ["a door"]},
]
FRAMES = {"101": 20, "102": 30}  # 103 has no video


def write_records(path: Path, records: list) -> str:
    """A JSON list with one record per line: record k sits on line k + 2."""
    path.write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    return str(path)


def write_frame_folder(folder: Path, num_frames: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for index, frame in enumerate(indexed_frames(num_frames)):
        paths.append(folder / f"{folder.name}_{index + 1:06d}.png")
        Image.fromarray(frame).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def ssv2(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssv2")
    (root / "labels.json").write_text(json.dumps(LABELS, indent=4))
    write_records(root / "train.json", RECORDS)
    (root / "videos").mkdir()
    for video_id, num_frames in FRAMES.items():
        write_indexed_video(str(root / "videos" / f"{video_id}.mp4"), num_frames, fps=10)
    return root


def make(ssv2, **kwargs):
    kwargs.setdefault("video_path_prefix", str(ssv2 / "videos"))
    return SSv2(str(ssv2 / "labels.json"), str(ssv2 / "train.json"), video_sampler=SequentialSampler, **kwargs)


def test_registered_as_ssv2():
    assert DATASETS.get("ssv2") is SSv2


def test_label_is_the_template_without_brackets(ssv2):
    dataset = make(ssv2, frames_per_clip=4)
    assert dataset.classes == list(LABELS)
    samples = [dataset[i] for i in range(len(dataset))]
    assert [(s["video_name"], s["label"]) for s in samples] == [("101", 1), ("102", 2)]
    assert [s["video_index"] for s in samples] == [0, 1]


def test_missing_videos_are_left_out_and_reported(ssv2):
    dataset = make(ssv2)
    assert dataset.num_videos == 2
    assert dataset.missing_videos == [str(ssv2 / "videos" / "103.webm")]


def test_frames_are_the_middle_of_equal_segments_of_the_whole_video(ssv2):
    dataset = make(ssv2, frames_per_clip=4)
    assert decoded_indices(dataset[0]["video"]) == [2, 7, 12, 16]  # segments of 19/4 frames
    assert decoded_indices(dataset[1]["video"]) == [3, 10, 18, 25]  # segments of 29/4 frames


def test_without_frames_per_clip_every_frame_is_kept(ssv2):
    assert decoded_indices(make(ssv2)[0]["video"]) == list(range(20))


def test_clip_sampler_sets_the_number_of_samples_not_their_frames(ssv2):
    dataset = make(ssv2, clip_sampler=UniformClipSampler(1.0), frames_per_clip=4)
    assert len(dataset) == 5  # 2 s and 3 s videos
    first = [dataset[i] for i in range(2)]
    assert [s["clip_index"] for s in first] == [0, 1]
    assert all(decoded_indices(s["video"]) == [2, 7, 12, 16] for s in first)


def test_random_frames_stay_in_their_segment_and_follow_seed_and_epoch(ssv2):
    dataset = make(ssv2, frames_per_clip=4, rand_sample_frames=True, seed=3)
    segments = [(0, 5), (5, 10), (10, 14), (14, 19)]
    seen = set()
    for epoch in range(6):
        dataset.set_epoch(epoch)
        indices = decoded_indices(dataset[0]["video"])
        assert all(lo <= i <= hi for i, (lo, hi) in zip(indices, segments))
        assert decoded_indices(dataset[0]["video"]) == indices
        seen.add(tuple(indices))
    assert len(seen) > 1


def test_augmented_views_of_a_clip_share_its_random_frames(ssv2):
    sampler = ConstantClipsPerVideoSampler(1.0, clips_per_video=1, augs_per_clip=2)
    dataset = make(ssv2, clip_sampler=sampler, frames_per_clip=4, rand_sample_frames=True)
    views = [dataset[0], dataset[1]]
    assert [v["aug_index"] for v in views] == [0, 1]
    assert torch.equal(views[0]["video"], views[1]["video"])


def test_batches_through_a_dataloader(ssv2):
    batch = next(iter(DataLoader(make(ssv2, frames_per_clip=4), batch_size=2)))
    assert batch["video"].shape == (2, 3, 4, 32, 48)
    assert batch["label"].tolist() == [1, 2]


def test_webm_is_preferred_and_extensions_are_configurable(ssv2, tmp_path):
    (tmp_path / "101.webm").write_bytes(b"not decoded here")
    write_indexed_video(str(tmp_path / "101.mp4"), 10, fps=10)
    default = make(ssv2, video_path_prefix=str(tmp_path))
    assert [p for p, _ in default.labeled_video_paths] == [str(tmp_path / "101.webm")]
    mp4 = make(ssv2, video_path_prefix=str(tmp_path), video_extensions=(".mp4",))
    assert [p for p, _ in mp4.labeled_video_paths] == [str(tmp_path / "101.mp4")]


def test_frame_folders_named_by_id(ssv2, tmp_path):
    write_frame_folder(tmp_path / "102", 12)
    dataset = make(ssv2, video_path_prefix=str(tmp_path), frames_per_clip=3)
    sample = dataset[0]
    assert (sample["video_name"], sample["label"]) == ("102", 2)
    assert decoded_indices(sample["video"]) == [2, 5, 9]  # segments of 11/3 frames


def test_pytorchvideo_frame_list(ssv2, tmp_path):
    lines = ["original_vido_id video_id frame_id path labels"]
    for video_index, video_id in enumerate(["102", "101"]):
        for frame, path in enumerate(write_frame_folder(tmp_path / video_id, 8)):
            lines.append(f'{video_id} {video_index} {frame} {video_id}/{path.name} ""')
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    dataset = SSv2(
        str(ssv2 / "labels.json"), str(ssv2 / "train.json"), str(tmp_path / "train.csv"),
        ConstantClipsPerVideoSampler(1.0, 1), SequentialSampler, video_path_prefix=str(tmp_path),
    )
    samples = [dataset[0], dataset[1]]
    assert [(s["video_name"], s["label"]) for s in samples] == [("101", 1), ("102", 2)]  # order of train.json
    assert decoded_indices(samples[0]["video"]) == list(range(8))
    assert dataset.missing_videos == [str(tmp_path / "103")]


def test_unlabelled_test_split_has_no_label(ssv2, tmp_path):
    test_json = write_records(tmp_path / "test.json", [{"id": "102"}])
    dataset = SSv2(str(ssv2 / "labels.json"), test_json, video_path_prefix=str(ssv2 / "videos"), frames_per_clip=2)
    sample = dataset[0]
    assert sample["video_name"] == "102" and "label" not in sample


def test_unknown_template_names_file_and_line(ssv2, tmp_path):
    records = [RECORDS[0], {**RECORDS[1], "template": "Juggling [something]"}]
    path = write_records(tmp_path / "train.json", records)
    with pytest.raises(UnknownLabelError, match=r"train\.json:3: unknown label 'Juggling something'"):
        SSv2(str(ssv2 / "labels.json"), path, video_path_prefix=str(ssv2 / "videos"))


def test_record_without_template_in_a_labelled_file_is_an_error(ssv2, tmp_path):
    path = write_records(tmp_path / "train.json", [RECORDS[0], {"id": "102"}])
    with pytest.raises(AnnotationError, match=r"train\.json:3: .*template"):
        SSv2(str(ssv2 / "labels.json"), path, video_path_prefix=str(ssv2 / "videos"))


def test_invalid_json_names_file_and_line(ssv2, tmp_path):
    path = tmp_path / "train.json"
    path.write_text('[\n{"id": "101", "template": "Holding [something] next to [something]"},\n{"id": 102,,}\n]\n')
    with pytest.raises(AnnotationError, match=r"train\.json:3: invalid JSON"):
        SSv2(str(ssv2 / "labels.json"), str(path), video_path_prefix=str(ssv2 / "videos"))


def test_label_file_with_a_non_integer_index_names_file_and_line(ssv2, tmp_path):
    path = tmp_path / "labels.json"
    path.write_text('{\n"Approaching something with your camera": "0",\n"Holding something next to something": "one"\n}')
    with pytest.raises(AnnotationError, match=r"labels\.json:3: .*must be int"):
        SSv2(str(path), str(ssv2 / "train.json"), video_path_prefix=str(ssv2 / "videos"))


def test_frame_list_row_with_wrong_column_count_names_file_and_line(ssv2, tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('original_vido_id video_id frame_id path labels\n101 0 0 101/a.png ""\n101 0 1 101/b.png\n')
    with pytest.raises(AnnotationError, match=r"train\.csv:3: expected 5 fields"):
        SSv2(str(ssv2 / "labels.json"), str(ssv2 / "train.json"), str(path))
