"""IMUData and IMUStream: CSV time series resampled onto clip windows by linear interpolation.

The Ego4D-style fixture records every 10 ms with ``gyro_x = (t / 10 ms)^2`` and
``gyro_y = -t / 10 ms``, so interpolated values can be worked out by hand: at
12.5 ms, gyro_x lies a quarter of the way from 1 (10 ms) to 4 (20 ms): 1.75.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from vidray.data.frame_video import FrameVideo
from vidray.data.imu import EGO4D_CHANNELS, IMUData, IMUStream
from vidray.data.video import ClipWindow
from vidray.errors import (
    AnnotationError,
    ClipOutOfRangeError,
    ConfigError,
    DecodeError,
    MediaNotFoundError,
)

EGO4D_HEADER = (
    "component_idx,component_timestamp_ms,canonical_timestamp_ms,gyro_x,gyro_y,gyro_z,accl_x,accl_y,accl_z"
)


def ego4d_rows(times_ms: list[float]) -> list[str]:
    # component_timestamp_ms is shifted so that reading the wrong column shows.
    return [f"0,{t + 500},{t},{(t / 10) ** 2},{-t / 10},0.5,1.0,2.0,9.81" for t in times_ms]


def write_csv(path: Path, header: str, rows: list[str]) -> str:
    path.write_text("\n".join([header, *rows]) + "\n")
    return str(path)


@pytest.fixture
def ego4d_csv(tmp_path: Path) -> str:
    """One second of Ego4D-style IMU every 10 ms (101 rows)."""
    return write_csv(tmp_path / "imu.csv", EGO4D_HEADER, ego4d_rows([10.0 * k for k in range(101)]))


def test_ego4d_csv_reads_gyro_then_accl_on_canonical_time(ego4d_csv: str) -> None:
    imu = IMUData.from_csv(ego4d_csv)

    assert imu.channels == list(EGO4D_CHANNELS)
    assert (imu.start_sec, imu.end_sec, imu.num_samples) == (0.0, 1.0, 101)
    assert imu.sample_rate == pytest.approx(100.0)


def test_clip_is_float32_channels_by_time(ego4d_csv: str) -> None:
    clip = IMUData.from_csv(ego4d_csv).get_clip(0.0, 0.5, sample_rate=200)

    assert clip.dtype == torch.float32
    assert clip.shape == (6, 100)


def test_values_between_samples_are_linearly_interpolated(ego4d_csv: str) -> None:
    clip = IMUData.from_csv(ego4d_csv).get_clip(0.0025, 0.0175, sample_rate=200)  # 2.5, 7.5, 12.5 ms

    assert clip[0].tolist() == pytest.approx([0.25, 0.75, 1.75])
    assert clip[1].tolist() == pytest.approx([-0.25, -0.75, -1.25])
    assert clip[5].tolist() == pytest.approx([9.81] * 3)


def test_grid_points_on_recorded_times_return_the_recorded_values(ego4d_csv: str) -> None:
    clip = IMUData.from_csv(ego4d_csv).get_clip(0.0, 0.04, num_samples=4)  # 0, 10, 20, 30 ms

    assert clip[0].tolist() == pytest.approx([0.0, 1.0, 4.0, 9.0])


def test_num_samples_spreads_samples_evenly_over_the_window(ego4d_csv: str) -> None:
    imu = IMUData.from_csv(ego4d_csv)

    times = imu.sample_times(0.1, 0.2, num_samples=4)
    clip = imu.get_clip(0.1, 0.2, num_samples=4)  # 100, 125, 150, 175 ms

    assert times.tolist() == pytest.approx([0.1, 0.125, 0.15, 0.175])
    assert clip[0].tolist() == pytest.approx([100.0, 156.5, 225.0, 306.5])


def test_default_grid_is_the_recordings_own_rate(ego4d_csv: str) -> None:
    clip = IMUData.from_csv(ego4d_csv).get_clip(0.2, 0.25)

    assert clip[1].tolist() == pytest.approx([-20.0, -21.0, -22.0, -23.0, -24.0])


def test_sample_count_covers_the_half_open_window(ego4d_csv: str) -> None:
    imu = IMUData.from_csv(ego4d_csv)

    assert imu.get_clip(0.0, 0.5, sample_rate=30).shape[-1] == 15  # 0, 1/30, ..., 14/30
    assert imu.get_clip(0.0, 0.8, sample_rate=30).shape[-1] == 24  # 0.8 * 30 is 24.000000000000004


def test_time_offset_maps_video_time_to_recording_time(ego4d_csv: str) -> None:
    imu = IMUData.from_csv(ego4d_csv, time_offset_sec=0.5)

    clip = imu.get_clip(0.0, 0.02, sample_rate=100)  # recording 500 and 510 ms

    assert clip[0].tolist() == pytest.approx([2500.0, 2601.0])
    assert (imu.start_sec, imu.end_sec) == (-0.5, 0.5)


def test_clip_past_the_recording_names_file_and_ranges(ego4d_csv: str) -> None:
    imu = IMUData.from_csv(ego4d_csv)

    with pytest.raises(ClipOutOfRangeError, match=rf"{ego4d_csv}: clip \[0.900, 1.100\) s .* covers \[0.000, 1.000\]"):
        imu.get_clip(0.9, 1.1, sample_rate=100)


def test_clip_before_the_recording_is_out_of_range(ego4d_csv: str) -> None:
    imu = IMUData.from_csv(ego4d_csv, time_offset_sec=-0.2)  # recording starts 0.2 s into the video

    with pytest.raises(ClipOutOfRangeError, match=r"covers \[0.200, 1.200\]"):
        imu.get_clip(0.1, 0.3, sample_rate=100)


def test_clip_ending_at_the_last_sample_is_in_range(ego4d_csv: str) -> None:
    clip = IMUData.from_csv(ego4d_csv).get_clip(0.9, 1.0, sample_rate=100)  # last grid point 0.99 s

    assert clip[1, -1].item() == pytest.approx(-99.0)


def test_unsorted_rows_are_sorted_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_csv(tmp_path / "imu.csv", EGO4D_HEADER, ego4d_rows([20.0, 0.0, 30.0, 10.0]))

    with caplog.at_level(logging.WARNING, logger="vidray.data.imu"):
        clip = IMUData.from_csv(path).get_clip(0.0, 0.04, num_samples=4)

    assert clip[0].tolist() == pytest.approx([0.0, 1.0, 4.0, 9.0])
    assert "not in time order" in caplog.text


def test_repeated_timestamps_keep_the_first_sample(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = ego4d_rows([0.0, 10.0, 20.0]) + ["0,510,10,77,0,0,0,0,0"]
    path = write_csv(tmp_path / "imu.csv", EGO4D_HEADER, rows)

    with caplog.at_level(logging.WARNING, logger="vidray.data.imu"):
        imu = IMUData.from_csv(path)

    assert imu.num_samples == 3
    assert imu.get_clip(0.0, 0.02, num_samples=2)[0].tolist() == pytest.approx([0.0, 1.0])
    assert "dropped 1 IMU samples with repeated timestamps" in caplog.text


def test_rows_without_canonical_time_are_dropped(tmp_path: Path) -> None:
    trimmed = ["0,0,,1,1,1,1,1,1", "0,5,NULL,1,1,1,1,1,1"]  # before the canonical video's start
    path = write_csv(tmp_path / "imu.csv", EGO4D_HEADER, trimmed + ego4d_rows([0.0, 10.0, 20.0]))

    imu = IMUData.from_csv(path)

    assert (imu.num_samples, imu.start_sec) == (3, 0.0)


@pytest.mark.parametrize("value", ["nan", "NaN", "", "inf"])
def test_missing_or_non_finite_channel_value_names_file_and_line(tmp_path: Path, value: str) -> None:
    rows = ego4d_rows([0.0, 10.0]) + [f"0,520,20,{value},0,0,0,0,0"] + ego4d_rows([30.0])
    path = write_csv(tmp_path / "imu.csv", EGO4D_HEADER, rows)

    with pytest.raises(AnnotationError, match=rf"{path}:4: field 'gyro_x'"):
        IMUData.from_csv(path)


def test_non_numeric_value_names_file_and_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "imu.csv", EGO4D_HEADER, ego4d_rows([0.0, 10.0]) + ["0,520,20,1,x,0,0,0,0"])

    with pytest.raises(AnnotationError, match=rf"{path}:4: field 'gyro_y' must be float, got 'x'"):
        IMUData.from_csv(path)


def test_short_row_names_file_and_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "imu.csv", EGO4D_HEADER, ego4d_rows([0.0]) + ["0,510,10,1,2"])

    with pytest.raises(AnnotationError, match=rf"{path}:3: expected 9 fields"):
        IMUData.from_csv(path)


def test_csv_in_seconds_with_chosen_channels(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "imu.csv", "time_s,ax,ay,az", ["0.0,0,10,5", "0.1,1,20,5", "0.2,2,40,5"])

    clip = IMUData.from_csv(path, channels=["ay", "ax"]).get_clip(0.05, 0.2, sample_rate=20)  # 50, 100, 150 ms

    torch.testing.assert_close(clip, torch.tensor([[15.0, 20.0, 30.0], [0.5, 1.0, 1.5]]))


def test_time_column_and_unit_given_explicitly(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "imu.csv", "sensor_clock,gx", ["1000,0", "1100,1", "1200,2"])

    imu = IMUData.from_csv(path, time_column="sensor_clock", time_unit="ms", time_offset_sec=1.0)

    assert imu.channels == ["gx"]
    assert imu.get_clip(0.0, 0.2, num_samples=4)[0].tolist() == pytest.approx([0.0, 0.5, 1.0, 1.5])


def test_time_column_without_unit_must_be_told_its_unit(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "imu.csv", "time,gx", ["0,0", "1,1"])

    with pytest.raises(AnnotationError, match=rf"{path}:1: cannot tell the unit of time column 'time'"):
        IMUData.from_csv(path)
    assert IMUData.from_csv(path, time_unit="s").end_sec == 1.0


def test_header_without_time_column_is_rejected(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "imu.csv", "gx,gy", ["0,0", "1,1"])

    with pytest.raises(AnnotationError, match=rf"{path}:1: header \['gx', 'gy'\] has no time column"):
        IMUData.from_csv(path)


def test_missing_channel_column_is_rejected(ego4d_csv: str) -> None:
    with pytest.raises(AnnotationError, match=r":1: header .* lacks channel column\(s\) \['mag_x'\]"):
        IMUData.from_csv(ego4d_csv, channels=["gyro_x", "mag_x"])


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(MediaNotFoundError):
        IMUData.from_csv(str(tmp_path / "absent.csv"))


def test_a_single_timed_sample_cannot_be_interpolated(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "imu.csv", EGO4D_HEADER, ego4d_rows([0.0]))

    with pytest.raises(DecodeError, match=rf"{path}: 1 timed IMU samples; need at least 2"):
        IMUData.from_csv(path)


def test_num_samples_and_sample_rate_are_exclusive(ego4d_csv: str) -> None:
    with pytest.raises(ValueError, match="not both"):
        IMUData.from_csv(ego4d_csv).get_clip(0.0, 0.5, num_samples=10, sample_rate=100)


def test_csv_on_s3(ego4d_csv: str, s3_bucket: str) -> None:
    from vidray import io as vio

    vio.write_bytes(f"{s3_bucket}/imu/v.csv", Path(ego4d_csv).read_bytes())

    clip = IMUData.from_csv(f"{s3_bucket}/imu/v.csv").get_clip(0.0025, 0.0175, sample_rate=200)

    assert clip[0].tolist() == pytest.approx([0.25, 0.75, 1.75])


# ---------------------------------------------------------------- IMUStream
@pytest.fixture
def rgb_video(tmp_path: Path) -> FrameVideo:
    from media import encode_image

    from vidray import io as vio

    for i in range(10):
        image = torch.full((3, 8, 8), 10 * i, dtype=torch.uint8)
        vio.write_bytes(str(tmp_path / "rgb" / f"{i:05d}.png"), encode_image(image))
    return FrameVideo.from_directory(str(tmp_path / "rgb"), fps=10.0)


def window(start: float, end: float) -> ClipWindow:
    return ClipWindow(start, end, ())


def test_stream_adds_imu_clip_per_window(ego4d_csv: str, rgb_video: FrameVideo) -> None:
    stream = IMUStream(sample_rate=100)

    clips = stream.load_clips({"imu_path": ego4d_csv}, rgb_video, [window(0.0, 0.5), window(0.5, 1.0)])

    assert [c["imu"].shape for c in clips] == [(6, 50), (6, 50)]
    assert clips[1]["imu"][1, 0].item() == pytest.approx(-50.0)


def test_stream_default_grid_is_200_hz(ego4d_csv: str, rgb_video: FrameVideo) -> None:
    clips = IMUStream().load_clips({"imu_path": ego4d_csv}, rgb_video, [window(0.0, 0.5)])

    assert clips[0]["imu"].shape == (6, 100)


def test_stream_options_from_info_override_the_streams(ego4d_csv: str, rgb_video: FrameVideo) -> None:
    info = {"imu_path": ego4d_csv, "imu_options": {"time_offset_sec": 0.5, "num_samples": 2, "channels": ["gyro_x"]}}

    clips = IMUStream(sample_rate=100).load_clips(info, rgb_video, [window(0.0, 0.02)])

    torch.testing.assert_close(clips[0]["imu"], torch.tensor([[2500.0, 2601.0]]))


def test_stream_leaves_videos_without_imu_alone(rgb_video: FrameVideo) -> None:
    assert IMUStream().load_clips({"label": 3}, rgb_video, [window(0.0, 0.5), window(0.5, 1.0)]) == [{}, {}]


def test_stream_rejects_unknown_options(ego4d_csv: str, rgb_video: FrameVideo) -> None:
    info = {"imu_path": ego4d_csv, "imu_options": {"offset": 0.5}}

    with pytest.raises(ConfigError, match=r"unknown imu_options \['offset'\]"):
        IMUStream().load_clips(info, rgb_video, [window(0.0, 0.5)])


def test_stream_reuses_the_parsed_csv_for_consecutive_clips(ego4d_csv: str, rgb_video: FrameVideo) -> None:
    stream = IMUStream()
    stream.load_clips({"imu_path": ego4d_csv}, rgb_video, [window(0.0, 0.5)])
    Path(ego4d_csv).unlink()

    assert stream.load_clips({"imu_path": ego4d_csv}, rgb_video, [window(0.5, 1.0)])[0]["imu"].shape == (6, 100)
