import pytest
from media import decoded_indices, indexed_frames
from PIL import Image

from vidray.data import FrameVideo, LabeledVideoDataset, make_clip_sampler
from vidray.data.video import uniform_frame_filter
from vidray.errors import ClipOutOfRangeError, DecodeError, MediaNotFoundError


@pytest.fixture
def frame_folder(tmp_path):
    folder = tmp_path / "video_a"
    folder.mkdir()
    for t, frame in enumerate(indexed_frames(25)):
        Image.fromarray(frame).save(folder / f"frame_{t + 1}.png")
    return folder


def test_frames_are_ordered_naturally_and_clipped_by_time(frame_folder):
    video = FrameVideo.from_directory(str(frame_folder), fps=10)
    assert video.duration == 2.5 and video.name == "video_a"
    clip = video.get_clip(0.8, 1.2)
    assert clip["audio"] is None and clip["frame_indices"] == [8, 9, 10, 11]
    assert decoded_indices(clip["video"]) == [8, 9, 10, 11]  # frame_10 sorts after frame_9


def test_frame_filter_and_threaded_io(frame_folder):
    video = FrameVideo.from_directory(str(frame_folder), fps=10, multithreaded_io=True)
    assert decoded_indices(video.get_clip(0, 2.0, uniform_frame_filter(5))["video"]) == [0, 4, 9, 14, 19]


def test_short_side_resize(frame_folder):
    clip = FrameVideo.from_directory(str(frame_folder), short_side_size=64).get_clip(0, 0.1)
    assert clip["video"].shape == (3, 3, 64, 96)


def test_dataset_reads_frame_folders(frame_folder):
    dataset = LabeledVideoDataset([(str(frame_folder), {"label": 3, "fps": 10})], make_clip_sampler("uniform", 1.0))
    assert len(dataset) == 2 and dataset[1]["label"] == 3
    assert decoded_indices(dataset[1]["video"]) == list(range(10, 20))


def test_errors(tmp_path, frame_folder):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaNotFoundError, match="empty: folder holds no"):
        FrameVideo.from_directory(str(tmp_path / "empty"))
    with pytest.raises(ClipOutOfRangeError, match="outside the video"):
        FrameVideo.from_directory(str(frame_folder), fps=10).get_clip(3.0, 4.0)
    (frame_folder / "frame_3.png").write_bytes(b"garbage")
    with pytest.raises(DecodeError, match="frame_3.png: cannot decode image"):
        FrameVideo.from_directory(str(frame_folder), fps=10).get_clip(0, 0.5)
