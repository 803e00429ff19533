"""FlowVideo and FlowStream: pre-computed x/y flow images addressed on the RGB frame grid.

Flow field ``i`` is written with x value ``10 + 3 i`` and y value ``250 - 3 i``
and RGB frame ``i`` with value ``10 i``, so every test reads back exactly
which field and frame a clip holds.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from media import encode_image
from torch.utils.data import SequentialSampler

from vidray import io as vio
from vidray.data.clip_sampling import RandomMultiClipSampler, UniformClipSampler
from vidray.data.flow import (
    FlowStream,
    FlowVideo,
    dequantize_flow,
    find_flow_frames,
    quantize_flow,
)
from vidray.data.frame_video import FrameVideo
from vidray.data.imu import IMUStream
from vidray.data.labeled_video_dataset import LabeledVideoDataset
from vidray.data.video import uniform_frame_filter
from vidray.errors import ClipOutOfRangeError, DecodeError, MediaNotFoundError

HEIGHT, WIDTH = 12, 16
FPS = 10.0


def x_value(field: int) -> int:
    return 10 + 3 * field


def y_value(field: int) -> int:
    return 250 - 3 * field


def gray_image(value: int, ext: str) -> bytes:
    image = torch.full((1, HEIGHT, WIDTH), value, dtype=torch.uint8)
    return encode_image(image, ext)


def flow_names(layout: str, field: int, ext: str) -> tuple[str, str]:
    """(x name, y name) of one field, relative to the video's flow folder."""
    number = field + 1  # extractors count from 1
    return {
        "denseflow": (f"flow_x_{number:05d}.{ext}", f"flow_y_{number:05d}.{ext}"),
        "i3d": (f"x_{number:05d}.{ext}", f"y_{number:05d}.{ext}"),
        "xy_dirs": (f"x/{number:05d}.{ext}", f"y/{number:05d}.{ext}"),
        "uv_dirs": (f"u/frame{number:06d}.{ext}", f"v/frame{number:06d}.{ext}"),
        "unpadded": (f"flow_x_{number}.{ext}", f"flow_y_{number}.{ext}"),
    }[layout]


def write_flow(folder: Path, num_fields: int, layout: str = "denseflow", ext: str = "png") -> Path:
    for field in range(num_fields):
        for name, value in zip(flow_names(layout, field, ext), (x_value(field), y_value(field))):
            vio.write_bytes(str(folder / name), gray_image(value, ext))
    return folder


def write_rgb(folder: Path, num_frames: int) -> Path:
    for i in range(num_frames):
        image = torch.full((3, HEIGHT, WIDTH), 10 * i, dtype=torch.uint8)
        vio.write_bytes(str(folder / f"img_{i + 1:05d}.png"), encode_image(image))
    return folder


def fields_shown(flow: torch.Tensor) -> list[int]:
    """The field index each time step of a uint8 [2, T, H, W] clip shows (from its x channel)."""
    return [round((int(v) - 10) / 3) for v in flow[0, :, HEIGHT // 2, WIDTH // 2]]


def frames_shown(video: torch.Tensor) -> list[int]:
    return [int(v) // 10 for v in video[0, :, HEIGHT // 2, WIDTH // 2]]


@pytest.mark.parametrize("layout", ["denseflow", "i3d", "xy_dirs", "uv_dirs"])
def test_each_layout_is_detected_and_read_in_order(tmp_path: Path, layout: str) -> None:
    flow = FlowVideo.from_directory(str(write_flow(tmp_path / "v", 6, layout)), fps=FPS)

    clip = flow.get_frames(range(6))

    assert flow.num_flow_fields == 6
    assert fields_shown(clip["flow"]) == [0, 1, 2, 3, 4, 5]
    assert clip["flow"][1, :, 0, 0].tolist() == [y_value(i) for i in range(6)]


def test_denseflow_folder_ignores_rgb_frames_beside_the_flow(tmp_path: Path) -> None:
    folder = write_rgb(write_flow(tmp_path / "v", 4), 5)

    x_paths, y_paths = find_flow_frames(str(folder))

    assert [Path(p).name for p in x_paths] == [f"flow_x_{i:05d}.png" for i in range(1, 5)]
    assert [Path(p).name for p in y_paths] == [f"flow_y_{i:05d}.png" for i in range(1, 5)]


def test_unpadded_numbers_sort_naturally(tmp_path: Path) -> None:
    flow = FlowVideo.from_directory(str(write_flow(tmp_path / "v", 12, "unpadded")), fps=FPS)

    assert fields_shown(flow.get_frames(range(12))["flow"]) == list(range(12))


def test_clip_is_uint8_two_by_t_by_h_by_w_with_x_then_y(tmp_path: Path) -> None:
    flow = FlowVideo.from_directory(str(write_flow(tmp_path / "v", 9)), fps=FPS)

    clip = flow.get_clip(0.2, 0.5)

    assert clip["flow"].dtype == torch.uint8
    assert clip["flow"].shape == (2, 3, HEIGHT, WIDTH)
    assert (clip["flow"][0] == torch.tensor([x_value(i) for i in (2, 3, 4)]).view(3, 1, 1)).all()
    assert (clip["flow"][1] == torch.tensor([y_value(i) for i in (2, 3, 4)]).view(3, 1, 1)).all()


def test_jpeg_flow_frames_decode_to_their_values(tmp_path: Path) -> None:
    flow = FlowVideo.from_directory(str(write_flow(tmp_path / "v", 5, "i3d", ext="jpg")), fps=FPS)

    clip = flow.get_frames(range(5))["flow"].int()

    expected_x = torch.tensor([x_value(i) for i in range(5)]).view(5, 1, 1)
    assert (clip[0] - expected_x).abs().max() <= 1


@pytest.mark.parametrize("window", [(0.0, 0.5), (0.3, 0.8), (0.5, 1.0), (0.9, 1.0), (0.75, 1.4)])
def test_flow_clip_holds_the_rgb_clips_frames_with_the_last_clamped(tmp_path: Path, window: tuple) -> None:
    rgb = FrameVideo.from_directory(str(write_rgb(tmp_path / "rgb", 10)), fps=FPS)
    flow = FlowVideo.from_directory(str(write_flow(tmp_path / "flow", 9)), fps=FPS)

    rgb_clip, flow_clip = rgb.get_clip(*window), flow.get_clip(*window)

    assert flow_clip["frame_indices"] == rgb_clip["frame_indices"]
    assert flow_clip["flow_indices"] == [min(i, 8) for i in rgb_clip["frame_indices"]]
    assert fields_shown(flow_clip["flow"]) == [min(i, 8) for i in frames_shown(rgb_clip["video"])]


def test_flow_duration_is_the_rgb_videos(tmp_path: Path) -> None:
    flow = FlowVideo.from_directory(str(write_flow(tmp_path / "flow", 9)), fps=FPS)

    assert (flow.num_frames, flow.num_flow_fields, flow.duration) == (10, 9, 1.0)


def test_last_rgb_frame_repeats_the_last_field(tmp_path: Path) -> None:
    flow = FlowVideo.from_directory(str(write_flow(tmp_path / "flow", 9)), fps=FPS)

    clip = flow.get_frames([7, 8, 9])

    assert clip["flow_indices"] == [7, 8, 8]
    assert fields_shown(clip["flow"]) == [7, 8, 8]


def test_frame_filter_picks_the_same_frames_as_for_rgb(tmp_path: Path) -> None:
    rgb = FrameVideo.from_directory(str(write_rgb(tmp_path / "rgb", 20)), fps=FPS)
    flow = FlowVideo.from_directory(str(write_flow(tmp_path / "flow", 19)), fps=FPS)
    keep = uniform_frame_filter(4)

    rgb_clip, flow_clip = rgb.get_clip(1.0, 2.0, keep), flow.get_clip(1.0, 2.0, keep)

    assert flow_clip["frame_indices"] == rgb_clip["frame_indices"] == [10, 13, 16, 19]
    assert fields_shown(flow_clip["flow"]) == [10, 13, 16, 18]


def test_one_field_per_frame_needs_no_clamping(tmp_path: Path) -> None:
    flow = FlowVideo.from_directory(str(write_flow(tmp_path / "flow", 10)), fps=FPS, num_video_frames=10)

    assert flow.get_clip(0.5, 1.0)["flow_indices"] == [5, 6, 7, 8, 9]


def test_flow_of_a_different_video_length_is_rejected(tmp_path: Path) -> None:
    folder = write_flow(tmp_path / "flow", 9)

    with pytest.raises(DecodeError, match=r"9 flow fields do not match a video of 20 frames; expected 19"):
        FlowVideo.from_directory(str(folder), fps=FPS, num_video_frames=20)


def test_clip_past_the_video_end_is_out_of_range(tmp_path: Path) -> None:
    flow = FlowVideo.from_directory(str(write_flow(tmp_path / "flow", 9)), fps=FPS)

    with pytest.raises(ClipOutOfRangeError, match="outside the video"):
        flow.get_clip(1.0, 1.5)


def test_folder_without_flow_frames_is_not_found(tmp_path: Path) -> None:
    folder = write_rgb(tmp_path / "rgb_only", 3)

    with pytest.raises(MediaNotFoundError, match=f"{folder}: folder holds no optical-flow frames; expected flow_x"):
        FlowVideo.from_directory(str(folder))


def test_missing_folder_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError, match="no such directory"):
        FlowVideo.from_directory(str(tmp_path / "absent"))


def test_unequal_x_and_y_counts_name_the_folder_and_counts(tmp_path: Path) -> None:
    folder = write_flow(tmp_path / "v", 9)
    (folder / "flow_y_00009.png").unlink()

    with pytest.raises(DecodeError, match=f"{folder}: 9 x flow frames but 8 y flow frames"):
        FlowVideo.from_directory(str(folder))


def test_unequal_counts_in_component_folders_are_rejected(tmp_path: Path) -> None:
    folder = write_flow(tmp_path / "v", 5, "xy_dirs")
    (folder / "x" / "00005.png").unlink()

    with pytest.raises(DecodeError, match="4 x flow frames but 5 y flow frames"):
        FlowVideo.from_directory(str(folder))


def test_x_and_y_frames_with_different_numbers_are_rejected(tmp_path: Path) -> None:
    folder = write_flow(tmp_path / "v", 3)
    (folder / "flow_y_00003.png").rename(folder / "flow_y_00004.png")

    with pytest.raises(DecodeError, match="flow_x_00003.png vs flow_y_00004.png"):
        FlowVideo.from_directory(str(folder))


def test_component_folders_given_separately(tmp_path: Path) -> None:
    write_flow(tmp_path / "tvl1", 4, "uv_dirs")

    flow = FlowVideo.from_directories(str(tmp_path / "tvl1" / "u"), str(tmp_path / "tvl1" / "v"), fps=FPS)

    assert fields_shown(flow.get_frames(range(4))["flow"]) == [0, 1, 2, 3]


def test_short_side_size_resizes_fields(tmp_path: Path) -> None:
    flow = FlowVideo.from_directory(str(write_flow(tmp_path / "v", 4)), fps=FPS, short_side_size=6)

    assert flow.get_clip(0.0, 0.3)["flow"].shape == (2, 3, 6, 8)


def test_multithreaded_io_reads_the_same_clip(tmp_path: Path) -> None:
    folder = str(write_flow(tmp_path / "v", 8))
    plain = FlowVideo.from_directory(folder, fps=FPS).get_clip(0.1, 0.9)["flow"]

    threaded = FlowVideo.from_directory(folder, fps=FPS, multithreaded_io=True).get_clip(0.1, 0.9)["flow"]

    assert torch.equal(plain, threaded)


def test_dequantize_maps_0_255_onto_minus_bound_bound() -> None:
    flow = torch.tensor([0, 51, 255], dtype=torch.uint8)

    assert dequantize_flow(flow).tolist() == pytest.approx([-20.0, -12.0, 20.0])
    assert dequantize_flow(flow, bound=10.0).tolist() == pytest.approx([-10.0, -6.0, 10.0])


def test_quantize_rounds_and_clips_like_denseflow() -> None:
    flow = torch.tensor([-25.0, -20.0, 0.0, 1.0, 20.0, 30.0])

    assert quantize_flow(flow).tolist() == [0, 0, 128, 134, 255, 255]
    assert dequantize_flow(quantize_flow(flow)).tolist() == pytest.approx(
        [-20.0, -20.0, 0.0784, 1.0196, 20.0, 20.0], abs=1e-3
    )


def test_flow_folder_on_s3(tmp_path: Path, s3_bucket: str) -> None:
    for field in range(3):
        for name, value in zip(flow_names("denseflow", field, "png"), (x_value(field), y_value(field))):
            vio.write_bytes(f"{s3_bucket}/flow/v/{name}", gray_image(value, "png"))

    flow = FlowVideo.from_directory(f"{s3_bucket}/flow/v", fps=FPS)

    assert fields_shown(flow.get_frames([0, 1, 2, 3])["flow"]) == [0, 1, 2, 2]


# ---------------------------------------------------------------- LabeledVideoDataset streams
def write_imu(path: Path, duration_ms: int) -> Path:
    """Ego4D-style IMU at 200 Hz whose gyro_x is the time in ms."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["component_idx", "component_timestamp_ms", "canonical_timestamp_ms",
                         "gyro_x", "gyro_y", "gyro_z", "accl_x", "accl_y", "accl_z"])
        for t in range(0, duration_ms + 1, 5):
            writer.writerow([0, t, t, t, 0, 0, 0, 0, 9.81])
    return path


@pytest.fixture
def streamed_video(tmp_path: Path) -> tuple[str, dict]:
    """A 2 s RGB frame folder at 10 fps with its flow (19 fields) and 2 s of IMU."""
    rgb = write_rgb(tmp_path / "rgb", 20)
    flow = write_flow(tmp_path / "flow", 19)
    imu = write_imu(tmp_path / "imu.csv", 2000)
    return str(rgb), {"label": 1, "fps": FPS, "flow_path": str(flow), "imu_path": str(imu)}


def test_dataset_samples_gain_flow_aligned_with_video(streamed_video: tuple[str, dict]) -> None:
    dataset = LabeledVideoDataset([streamed_video], UniformClipSampler(0.5), SequentialSampler,
                               streams=[FlowStream(), IMUStream()])

    samples = [dataset[i] for i in range(len(dataset))]

    assert [frames_shown(s["video"]) for s in samples][-1] == [15, 16, 17, 18, 19]
    for sample in samples:
        assert sample["flow"].shape == (2, 5, HEIGHT, WIDTH)
        assert fields_shown(sample["flow"]) == [min(i, 18) for i in frames_shown(sample["video"])]


def test_dataset_samples_gain_imu_over_the_clip_window(streamed_video: tuple[str, dict]) -> None:
    dataset = LabeledVideoDataset([streamed_video], UniformClipSampler(0.5), SequentialSampler,
                               streams=[FlowStream(), IMUStream(sample_rate=100)])

    sample = dataset[1]  # [0.5, 1.0) s

    assert sample["imu"].shape == (6, 50)
    assert sample["imu"][0].tolist() == pytest.approx([500.0 + 10 * k for k in range(50)])


def test_stream_info_keys_stay_out_of_samples(streamed_video: tuple[str, dict]) -> None:
    dataset = LabeledVideoDataset([streamed_video], UniformClipSampler(0.5), SequentialSampler,
                               streams=[FlowStream(), IMUStream()])

    sample = dataset[0]

    assert sample["label"] == 1
    assert not {"flow_path", "imu_path", "imu_options"} & set(sample)


def test_frames_per_clip_selects_the_same_flow_frames(streamed_video: tuple[str, dict]) -> None:
    dataset = LabeledVideoDataset([streamed_video], UniformClipSampler(1.0), SequentialSampler,
                               frames_per_clip=4, streams=[FlowStream(), IMUStream()])

    sample = dataset[1]  # [1.0, 2.0) s

    assert frames_shown(sample["video"]) == [10, 13, 16, 19]
    assert fields_shown(sample["flow"]) == [10, 13, 16, 18]


def test_multi_clip_samples_get_one_flow_and_imu_clip_per_view(streamed_video: tuple[str, dict]) -> None:
    dataset = LabeledVideoDataset([streamed_video], RandomMultiClipSampler(0.5, num_clips=2), SequentialSampler,
                               seed=0, streams=[FlowStream(), IMUStream()])

    sample = dataset[0]

    assert len(sample["flow"]) == len(sample["imu"]) == len(sample["video"]) == 2
    for video, flow in zip(sample["video"], sample["flow"]):
        assert fields_shown(flow) == [min(i, 18) for i in frames_shown(video)]


def test_videos_without_stream_paths_get_no_stream_keys(tmp_path: Path) -> None:
    rgb = write_rgb(tmp_path / "rgb", 10)
    dataset = LabeledVideoDataset([(str(rgb), {"fps": FPS})], UniformClipSampler(0.5), SequentialSampler,
                               streams=[FlowStream(), IMUStream()])

    assert not {"flow", "imu"} & set(dataset[0])


def test_unreadable_flow_skips_the_sample(tmp_path: Path) -> None:
    rgb = write_rgb(tmp_path / "rgb", 10)
    info = {"fps": FPS, "flow_path": str(write_flow(tmp_path / "flow", 4))}  # flow of another video
    dataset = LabeledVideoDataset([(str(rgb), info)], UniformClipSampler(0.5), SequentialSampler,
                               streams=[FlowStream()])

    assert dataset[0] is None
    assert dataset.skipped_samples == 1
