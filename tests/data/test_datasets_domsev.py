"""DoMSEV read from PyTorchVideo's manifests, over encoded videos and frame folders."""

import shutil

import pytest
import torch
from media import decoded_indices, indexed_frames, write_image, write_indexed_video
from torch.utils.data import SequentialSampler

from vidray.data import (
    DATASETS,
    DomsevFrameDataset,
    DomsevVideoDataset,
    UniformClipSampler,
)
from vidray.data.datasets.domsev import LabelType, VideoClipInfo, VideoDatasetType
from vidray.errors import AnnotationError, UnknownLabelError

FPS = 10
SECONDS = 4  # every test video: 40 frames, 4 s

VIDEO_INFO = "video_id,resolution,duration,fps\nv1,48x32,4.0,10\nv2,48x32,4.0,10\nv3,48x32,4.0,10\n"
LABELS = (
    "video_id,start_time,stop_time,start_frame,stop_frame,label_id,label_name\n"
    "v1,2.0,4.0,21,40,2,running\n"  # out of order on purpose
    "v1,0.0,2.0,1,20,1,walking\n"
    "v2,0.0,4.0,1,40,7,cooking\n"
)


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    return write_indexed_video(str(tmp_path_factory.mktemp("src") / "video.mp4"), SECONDS * FPS, fps=FPS)


@pytest.fixture
def encoded(tmp_path, video_file):
    """v1 and v2 encoded; v3 listed in the info file without video data."""
    for name in ("v1", "v2"):
        shutil.copy(video_file, tmp_path / f"{name}.mp4")
    (tmp_path / "video_info.csv").write_text(VIDEO_INFO)
    (tmp_path / "labels.csv").write_text(LABELS)
    (tmp_path / "manifest.csv").write_text(f"video_id,file_path\nv1,{tmp_path / 'v1.mp4'}\nv2,{tmp_path / 'v2.mp4'}\n")
    return tmp_path


def write_frame_folder(folder, num_frames):
    folder.mkdir(parents=True)
    for i, frame in enumerate(torch.from_numpy(indexed_frames(num_frames)).permute(0, 3, 1, 2)):
        write_image(folder / f"frame_{i + 1:04d}.png", frame)  # numbered 1..N


@pytest.fixture
def frames(tmp_path):
    """v1 and v2 as frame folders ``frame_0001.png`` ...; v3's folder is 2 s short."""
    rows = ["video_id,location,frame_file_stem,frame_string_length,min_frame_number,max_frame_number,file_extension"]
    for name, count in (("v1", 40), ("v2", 40), ("v3", 20)):
        write_frame_folder(tmp_path / name, count)
        rows.append(f"{name},{tmp_path / name},frame_,10,1,{count},png")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "video_info.csv").write_text(VIDEO_INFO)
    (tmp_path / "labels.csv").write_text(LABELS)
    return tmp_path


def domsev(root, clip_sampler, dataset_type=VideoDatasetType.EncodedVideo, **kwargs):
    return DomsevVideoDataset(str(root / "manifest.csv"), str(root / "video_info.csv"), str(root / "labels.csv"),
                              clip_sampler, dataset_type, video_sampler=SequentialSampler, **kwargs)


def pytorchvideo_sampler(videos, labels):
    assert sorted(videos) == ["v1", "v2"] and videos["v1"].duration == 4.0 and len(labels["v1"]) == 2
    return [VideoClipInfo("v1", 0.5, 2.5), VideoClipInfo("v2", 1.0, 3.0)]


def test_pytorchvideo_clip_sampler_gives_one_sample_per_clip(encoded):
    dataset = domsev(encoded, pytorchvideo_sampler, frames_per_second=FPS)
    assert len(dataset) == 2
    first, second = dataset[0], dataset[1]
    assert (first["video_id"], first["start_time"], first["stop_time"]) == ("v1", 0.5, 2.5)
    assert decoded_indices(first["video"]) == list(range(5, 25))
    assert first["labels"].tolist() == [1] * 15 + [2] * 5  # one label per frame, segments sorted by time
    assert second["video_id"] == "v2" and decoded_indices(second["video"]) == list(range(10, 30))
    assert second["labels"].tolist() == [7] * 20


def test_labels_are_unpacked_at_frames_per_second(encoded):
    dataset = domsev(encoded, pytorchvideo_sampler)  # PyTorchVideo's default: 1 label per second
    # PyTorchVideo floors the overlap bounds: [0.5, 2.5) s covers label frames 0 and 1, both walking.
    assert dataset[0]["labels"].tolist() == [1, 1]
    assert dataset[1]["labels"].tolist() == [7, 7]


def test_vidray_clip_sampler_over_every_video(encoded):
    dataset = domsev(encoded, UniformClipSampler(2.0), frames_per_second=FPS)
    samples = list(dataset)
    assert [(s["video_id"], s["start_time"], s["stop_time"]) for s in samples] == [
        ("v1", 0.0, 2.0), ("v1", 2.0, 4.0), ("v2", 0.0, 2.0), ("v2", 2.0, 4.0)]
    assert samples[1]["labels"].tolist() == [2] * 20
    assert decoded_indices(samples[1]["video"]) == list(range(20, 40))


def test_videos_without_data_are_left_out_and_reported(encoded):
    (encoded / "v2.mp4").unlink()
    dataset = domsev(encoded, UniformClipSampler(2.0))
    assert dataset.missing_videos == [str(encoded / "v2.mp4"), "v3"]
    assert {s["video_id"] for s in dataset} == {"v1"}


def test_frame_folders_decode_the_clip_frames(frames):
    dataset = domsev(frames, UniformClipSampler(1.0), VideoDatasetType.Frame, frames_per_second=FPS,
                     label_type=LabelType.Activity)
    assert dataset.missing_videos == [str(frames / "v3")]  # 20 frames where the info says 4 s at 10 fps
    assert dataset.classes[7] == "cooking"
    sample = dataset[2]
    assert sample["video_id"] == "v1" and sample["start_time"] == 2.0
    assert decoded_indices(sample["video"]) == list(range(20, 30))
    assert sample["labels"].tolist() == [2] * 10
    assert DATASETS.get("domsev") is DomsevVideoDataset


def test_frame_dataset_labels_each_frame_by_its_segment(frames):
    (frames / "labels.csv").write_text(
        "video_id,start_time,stop_time,start_frame,stop_frame,label_id,label_name\n"
        "v1,0.0,2.0,1,20,1,walking\nv1,2.0,3.0,21,30,2,running\n"  # frames 31..40 and all of v2 unlabelled
    )
    dataset = DomsevFrameDataset(str(frames / "manifest.csv"), str(frames / "video_info.csv"), str(frames / "labels.csv"))
    assert len(dataset) == 30
    first, last = dataset[0], dataset[29]
    assert (first["frame_id"], first["label"], first["image"].shape) == ("frame_0001", 1, (3, 32, 48))
    assert (last["frame_id"], last["label"]) == ("frame_0030", 2)
    assert decoded_indices(last["image"].unsqueeze(1)) == [29]


@pytest.mark.parametrize(
    "row, error, message",
    [
        ("v1,0.0,2.0,1,20,1", AnnotationError, r"labels.csv:3: expected 7 fields"),
        ("v1,zero,2.0,1,20,1,walking", AnnotationError, r"labels.csv:3: field 'start_time' must be float"),
        ("v1,3.0,2.0,1,20,1,walking", AnnotationError, r"labels.csv:3: expected 0 <= start_time <= stop_time"),
        ("v1,0.0,2.0,20,1,1,walking", AnnotationError, r"labels.csv:3: expected 0 <= start_frame <= stop_frame"),
        ("v1,0.0,2.0,1,20,13,flying", UnknownLabelError, r"labels.csv:3: unknown Activity label id 13"),
    ],
)
def test_malformed_label_rows_name_file_and_line(encoded, row, error, message):
    (encoded / "labels.csv").write_text(LABELS.split("\n", 1)[0] + "\nv1,0.0,2.0,1,20,1,walking\n" + row + "\n")
    with pytest.raises(error, match=message):
        domsev(encoded, UniformClipSampler(2.0), label_type=LabelType.Activity)


def test_malformed_manifests_name_file_and_line(encoded):
    (encoded / "video_info.csv").write_text(VIDEO_INFO + "v1,48x32,4.0,10\n")
    with pytest.raises(AnnotationError, match=r"video_info.csv:5: video 'v1' already listed on line 2"):
        domsev(encoded, UniformClipSampler(2.0))
    (encoded / "video_info.csv").write_text("video_id,resolution,duration,fps\nv1,48x32,-4.0,10\n")
    with pytest.raises(AnnotationError, match=r"video_info.csv:2: duration and fps must be positive"):
        domsev(encoded, UniformClipSampler(2.0))
    (encoded / "video_info.csv").write_text("video_id,duration,fps\nv1,4.0,10\n")
    with pytest.raises(AnnotationError, match=r"video_info.csv:1: header .* lacks column\(s\) \['resolution'\]"):
        domsev(encoded, UniformClipSampler(2.0))
