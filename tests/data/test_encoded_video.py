"""The PyAV decoder on real mp4 files whose frames show their own index."""

import io

import numpy as np
import pytest
import torch
from media import decoded_indices, write_indexed_video

from vidray.data import EncodedVideo
from vidray.data.video import uniform_frame_filter
from vidray.data.video_writer import write_video
from vidray.errors import (
    ClipOutOfRangeError,
    DecodeError,
    MediaNotFoundError,
    VidrayError,
)


@pytest.fixture(scope="module")
def long_gop_video(tmp_path_factory) -> str:
    """10 s at 30 fps with x264's defaults (long GOP, B-frames) and a tone."""
    path = tmp_path_factory.mktemp("video") / "long_gop.mp4"
    return write_indexed_video(str(path), 300, fps=30, audio=True, audio_sample_rate=8000)


@pytest.fixture(scope="module")
def short_gop_video(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("video") / "short_gop.mp4"
    return write_indexed_video(str(path), 300, fps=30, codec_options={"g": "10", "bf": "0"})


def test_metadata(long_gop_video):
    video = EncodedVideo.from_path(long_gop_video)
    assert video.duration == pytest.approx(10.0, abs=0.05)
    assert video.fps == 30 and video.num_frames == 300
    assert video.name == "long_gop.mp4"


def test_get_clip_returns_exactly_the_frames_in_the_half_open_window(long_gop_video):
    clip = EncodedVideo.from_path(long_gop_video).get_clip(2.0, 3.0)
    assert clip["video"].dtype == torch.uint8 and clip["video"].shape == (3, 30, 32, 48)
    assert decoded_indices(clip["video"]) == list(range(60, 90))


@pytest.mark.parametrize("fixture", ["long_gop_video", "short_gop_video"])
def test_sparse_clip_keeps_uniformly_spaced_frames(fixture, request):
    path = request.getfixturevalue(fixture)
    clip = EncodedVideo.from_path(path, decode_audio=False).get_clip(5.0, 5.0 + 64 / 30, uniform_frame_filter(8))
    expected = [150 + int(p) for p in torch.linspace(0, 63, 8).long()]
    assert decoded_indices(clip["video"]) == expected


CONTAINERS = {
    # mp4 without an edit list: seeks go by decode time and can land after the target.
    "mp4_no_editlist": dict(codec_options={"g": "30", "bf": "3"}, container_options={"use_editlist": "0"}),
    # Xvid-style AVI with packed B-frames: the first frame is shown at pts 1, not 0.
    "avi_mpeg4_bframes": dict(codec="mpeg4", codec_options={"bf": "2", "g": "30"}, container_format="avi"),
    # MPEG-TS: timestamps start late, and a seek lands on the next keyframe.
    "mpegts": dict(codec_options={"g": "16", "bf": "2"}, container_format="mpegts"),
}


@pytest.mark.parametrize("kind", CONTAINERS)
def test_every_frame_of_other_containers_is_exact_and_reached(tmp_path, kind):
    path = write_indexed_video(str(tmp_path / f"v.{kind}"), 90, fps=30, height=64, width=96, **CONTAINERS[kind])
    video = EncodedVideo.from_path(path, decode_audio=False)
    assert video.num_frames == 90
    singles = [decoded_indices(video.get_frames([i])["video"])[0] for i in range(90)]
    assert singles == list(range(90))
    assert decoded_indices(video.get_clip(1.0, 2.0, uniform_frame_filter(5))["video"]) == [30, 37, 44, 51, 59]


def test_get_frames_any_order_with_repeats(long_gop_video):
    frames = EncodedVideo.from_path(long_gop_video).get_frames([299, 0, 150, 151, 3, 150])
    assert decoded_indices(frames["video"]) == [299, 0, 150, 151, 3, 150]


def test_several_clips_in_one_call_match_separate_calls(long_gop_video):
    video = EncodedVideo.from_path(long_gop_video, decode_audio=False)
    windows = [(0.0, 1.0), (0.5, 1.5), (4.0, 5.0), (9.0, 10.0)]
    together = video.get_clips(windows, uniform_frame_filter(4))
    for (start, end), clip in zip(windows, together):
        alone = video.get_clip(start, end, uniform_frame_filter(4))
        assert torch.equal(clip["video"], alone["video"])


def test_short_side_resize_happens_during_decoding(long_gop_video):
    clip = EncodedVideo.from_path(long_gop_video, short_side_size=64).get_clip(1.0, 1.5)
    assert clip["video"].shape == (3, 15, 64, 96)  # 32x48 -> 64x96, PyTorchVideo's rounding
    assert decoded_indices(clip["video"]) == list(range(30, 45))


def test_audio_is_sample_accurate_and_aligned(long_gop_video):
    video = EncodedVideo.from_path(long_gop_video)
    clip = video.get_clip(2.0, 3.5)
    assert clip["audio"].dtype == torch.float32 and clip["audio"].shape == (12000,)
    t = (torch.arange(12000) + 2.0 * 8000) / 8000
    reference = 0.5 * torch.sin(2 * torch.pi * 440 * t)
    # AAC is lossy, but the phase must line up: a misaligned tone would correlate poorly.
    correlation = torch.nn.functional.cosine_similarity(clip["audio"], reference, dim=0)
    assert correlation > 0.95


@pytest.mark.parametrize("start", [0.0, 0.5])
def test_audio_at_the_start_and_at_low_rates_is_not_dropped(long_gop_video, start):
    """8 kHz AAC frames last 128 ms: decoding must start codec frames early, even before time 0."""
    audio = EncodedVideo.from_path(long_gop_video).get_clip(start, start + 0.5)["audio"]
    t = (torch.arange(4000) + start * 8000) / 8000
    reference = 0.5 * torch.sin(2 * torch.pi * 440 * t)
    head = slice(0, 1024)  # one AAC frame: silent if decoding started too late
    assert audio[head].abs().max() > 0.4
    assert torch.nn.functional.cosine_similarity(audio[head], reference[head], dim=0) > 0.98


def test_clips_of_equal_duration_have_equal_audio_lengths(long_gop_video):
    """Rounding each end separately gave 34133 or 34134 samples, and batches failed to stack."""
    video = EncodedVideo.from_path(long_gop_video)
    starts = [0.0137 * k for k in range(1, 40)]
    assert {video.get_clip(s, s + 64 / 30)["audio"].shape[0] for s in starts} == {17067}


def test_audio_resampling_keeps_the_clip_duration(long_gop_video):
    clip = EncodedVideo.from_path(long_gop_video, audio_sample_rate=16000).get_clip(1.0, 2.0)
    assert clip["audio"].shape == (16000,)


def test_no_audio_stream_or_decode_audio_false_gives_none(long_gop_video, short_gop_video):
    assert EncodedVideo.from_path(short_gop_video).get_clip(0, 1)["audio"] is None
    assert EncodedVideo.from_path(long_gop_video, decode_audio=False).get_clip(0, 1)["audio"] is None


def test_from_bytes_and_from_file_decode_the_same(long_gop_video):
    data = open(long_gop_video, "rb").read()
    a = EncodedVideo.from_bytes(data, video_name="v").get_clip(1, 2)["video"]
    b = EncodedVideo.from_file(io.BytesIO(data), video_name="v").get_clip(1, 2)["video"]
    assert torch.equal(a, b) and decoded_indices(a) == list(range(30, 60))


def test_clip_past_the_end_is_truncated_like_pytorchvideo(long_gop_video):
    clip = EncodedVideo.from_path(long_gop_video).get_clip(9.5, 11.0)
    assert decoded_indices(clip["video"]) == list(range(285, 300))


@pytest.mark.parametrize("start,end", [(10.0, 11.0), (-1.0, 0.5), (3.0, 3.0)])
def test_clip_outside_the_video_is_an_error(long_gop_video, start, end):
    with pytest.raises(ClipOutOfRangeError, match="long_gop.*outside the video"):
        EncodedVideo.from_path(long_gop_video).get_clip(start, end)


def test_frame_index_outside_the_video_is_an_error(long_gop_video):
    with pytest.raises(ClipOutOfRangeError, match=r"frame indices \[300\] outside"):
        EncodedVideo.from_path(long_gop_video).get_frames([0, 300])


def test_missing_file(tmp_path):
    with pytest.raises(MediaNotFoundError, match="nope.mp4: no such file"):
        EncodedVideo.from_path(tmp_path / "nope.mp4")


@pytest.mark.parametrize(
    "content", [b"", b"this is a text file, not a video\n" * 10], ids=["empty", "not-a-video"]
)
def test_unreadable_files_raise_decode_error_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(DecodeError, match="bad.mp4: cannot open as a media file"):
        EncodedVideo.from_path(path)


def test_truncated_file_raises_a_vidray_error(long_gop_video, tmp_path):
    data = open(long_gop_video, "rb").read()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(VidrayError, match="truncated.mp4"):
        EncodedVideo.from_path(path).get_clip(8.0, 9.0)


def test_corrupt_payload_raises_a_vidray_error_or_decodes_without_crashing(long_gop_video, tmp_path):
    data = bytearray(open(long_gop_video, "rb").read())
    rng = np.random.default_rng(0)
    for offset in rng.integers(len(data) // 4, len(data), 200):
        data[offset] ^= 0xFF
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(bytes(data))
    try:
        clip = EncodedVideo.from_path(path).get_clip(0, 5)
    except VidrayError as exc:
        assert "corrupt.mp4" in str(exc)
    else:  # FFmpeg conceals some damage; the result must still have the promised layout
        assert clip["video"].dtype == torch.uint8 and clip["video"].shape[:2] == (3, 150)


def test_file_without_video_stream(tmp_path):
    import av

    path = tmp_path / "audio_only.m4a"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(DecodeError, match="audio_only.m4a: has no video stream"):
        EncodedVideo.from_path(path)


def test_unknown_decoder_names_the_close_ones(long_gop_video):
    with pytest.raises(VidrayError, match="unknown decoders entry 'pyavv'; did you mean 'pyav'"):
        EncodedVideo.from_path(long_gop_video, decoder="pyavv")


def test_s3_uri_decodes_like_a_local_path(long_gop_video, s3_bucket):
    import boto3

    bucket = s3_bucket.removeprefix("s3://")
    boto3.client("s3").upload_file(long_gop_video, bucket, "videos/a.mp4")
    video = EncodedVideo.from_path(f"{s3_bucket}/videos/a.mp4")
    assert video.name == "a.mp4"
    assert decoded_indices(video.get_clip(1, 2)["video"]) == list(range(30, 60))
    with pytest.raises(MediaNotFoundError, match="no such S3 object"):
        EncodedVideo.from_path(f"{s3_bucket}/videos/missing.mp4")


def test_write_video_rejects_odd_sizes(tmp_path):
    with pytest.raises(ValueError, match="even height and width"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 31, 32, 3), np.uint8))
