"""Every decoder backend returns what the PyAV backend returns, on real mp4 files.

The files' frames show their own index (``media.py``), so each check compares
which frames came back, not only how many. A backend whose library is not
installed is skipped in the comparisons; its clear error is checked instead.
"""

import io
import subprocess
import sys
from fractions import Fraction
from types import ModuleType

import av
import numpy as np
import pytest
import torch
from media import decoded_indices, indexed_frames, write_indexed_video

from vidray.data import DECODERS, EncodedVideo
from vidray.data.decoders import MissingDependencyError
from vidray.data.video import uniform_frame_filter
from vidray.errors import DecodeError, VidrayError

# decoder name -> the pip package (and module) it needs
BACKENDS = {"torchcodec": "torchcodec", "torchvision": "torchcodec", "decord": "decord"}

WINDOWS = [(0.0, 1.0), (0.5, 1.7), (1.0, 99.0), (2.0, 2.04)]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, str]:
    """Three GOP structures and frame rates, written once."""
    folder = tmp_path_factory.mktemp("backends")
    return {
        # x264's defaults: long GOP with B-frames; an 8 kHz tone.
        "long_gop": write_indexed_video(
            str(folder / "long_gop.mp4"), 90, fps=30, height=48, width=64, audio=True, audio_sample_rate=8000
        ),
        # A keyframe every 12 frames with 3 B-frames: clips start mid-GOP; a 16 kHz tone.
        "short_gop": write_indexed_video(
            str(folder / "short_gop.mp4"), 100, fps=25, height=48, width=64, audio=True,
            audio_sample_rate=16000, codec_options={"g": "12", "bf": "3"},
        ),
        # NTSC's 30000/1001 fps: frame times are not whole milliseconds; no audio.
        "ntsc": write_indexed_video(
            str(folder / "ntsc.mp4"), 75, fps=30000 / 1001, height=48, width=64, codec_options={"g": "10"}
        ),
    }


@pytest.fixture(params=list(BACKENDS))
def backend(request, videos) -> str:
    """A backend name whose library works here; the others are skipped, after checking their error."""
    name = request.param
    try:
        EncodedVideo.from_path(videos["long_gop"], decoder=name).close()
    except MissingDependencyError as exc:
        assert f"pip install {BACKENDS[name]}" in str(exc) or "FFmpeg" in str(exc)
        pytest.skip(f"decoder {name!r} is not usable here: {exc}")
    return name


def open_both(path: str, backend: str, **kwargs) -> tuple[EncodedVideo, EncodedVideo]:
    return EncodedVideo.from_path(path, **kwargs), EncodedVideo.from_path(path, decoder=backend, **kwargs)


# ---------------------------------------------------------------------- registration
def test_torchvision_name_selects_the_torchcodec_backend():
    assert DECODERS.get("torchvision") is DECODERS.get("torchcodec")


def test_every_backend_is_registered_without_importing_its_library():
    code = (
        "import sys, vidray.data as d; "
        "print(sorted(d.DECODERS.list()), [m for m in ('torchcodec', 'decord') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['decord', 'pyav', 'torchcodec', 'torchvision'] []"


@pytest.mark.parametrize("name", list(BACKENDS))
def test_missing_library_names_the_package_to_install(name, videos, monkeypatch):
    package = BACKENDS[name]
    monkeypatch.setitem(sys.modules, package, None)  # makes ``import`` fail as if uninstalled
    with pytest.raises(MissingDependencyError, match=rf"needs the '{package}' package: pip install {package}") as error:
        EncodedVideo.from_path(videos["long_gop"], decoder=name)
    assert isinstance(error.value, VidrayError) and isinstance(error.value, ImportError)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_missing_library_closes_the_file(name, videos, monkeypatch):
    monkeypatch.setitem(sys.modules, BACKENDS[name], None)
    file = io.BytesIO(open(videos["long_gop"], "rb").read())
    with pytest.raises(MissingDependencyError):
        EncodedVideo.from_file(file, decoder=name)
    assert file.closed


def test_torchcodec_without_ffmpeg_libraries_says_what_to_install(videos, monkeypatch):
    torchcodec = ModuleType("torchcodec")
    torchcodec.ffmpeg_major_version = None  # what torchcodec reports when no FFmpeg library loads
    monkeypatch.setitem(sys.modules, "torchcodec", torchcodec)
    with pytest.raises(MissingDependencyError, match="cannot load FFmpeg's shared libraries"):
        EncodedVideo.from_path(videos["long_gop"], decoder="torchcodec")


# ---------------------------------------------------------------------- same results as PyAV
@pytest.mark.parametrize("video", ["long_gop", "short_gop", "ntsc"])
def test_metadata_matches_pyav(backend, videos, video):
    reference, other = open_both(videos[video], backend)
    assert (other.duration, other.fps, other.num_frames) == (reference.duration, reference.fps, reference.num_frames)
    assert other.audio_sample_rate == reference.audio_sample_rate


@pytest.mark.parametrize("video", ["long_gop", "short_gop", "ntsc"])
@pytest.mark.parametrize("window", WINDOWS, ids=[f"{s}-{e}" for s, e in WINDOWS])
def test_get_clip_returns_the_frames_pyav_returns(backend, videos, video, window):
    reference, other = open_both(videos[video], backend)
    expected, clip = reference.get_clip(*window), other.get_clip(*window)
    assert clip["video"].dtype == torch.uint8 and clip["video"].shape == expected["video"].shape
    assert decoded_indices(clip["video"]) == decoded_indices(expected["video"])


@pytest.mark.parametrize("video", ["long_gop", "short_gop"])
@pytest.mark.parametrize("window", WINDOWS, ids=[f"{s}-{e}" for s, e in WINDOWS])
def test_get_clip_audio_has_pyavs_length(backend, videos, video, window):
    reference, other = open_both(videos[video], backend)
    expected, audio = reference.get_clip(*window)["audio"], other.get_clip(*window)["audio"]
    assert audio.dtype == torch.float32 and audio.dim() == 1
    assert audio.shape == expected.shape


def tone(rate: int, first: int, count: int) -> torch.Tensor:
    """Samples ``first ...`` of the 440 Hz tone that ``write_indexed_video`` writes."""
    t = torch.arange(first, first + count, dtype=torch.float64) / rate
    return (0.5 * torch.sin(2 * torch.pi * 440 * t)).float()


@pytest.mark.parametrize("window", [(0.5, 1.7), (1.0, 3.5), (2.0, 2.04)], ids=str)
def test_get_clip_audio_is_the_written_tone(backend, videos, window):
    # Away from the file's first and last AAC frames, where the encoder itself distorts.
    audio = EncodedVideo.from_path(videos["short_gop"], decoder=backend).get_clip(*window)["audio"]
    expected = tone(16000, round(window[0] * 16000), audio.shape[0])
    torch.testing.assert_close(audio, expected, atol=2e-3, rtol=0)  # AAC is lossy


def test_resampled_audio_has_pyavs_length(backend, videos):
    reference, other = open_both(videos["short_gop"], backend, audio_sample_rate=11025)
    expected, audio = reference.get_clip(0.3, 1.3)["audio"], other.get_clip(0.3, 1.3)["audio"]
    assert other.audio_sample_rate == 11025
    assert abs(audio.shape[0] - expected.shape[0]) <= 1  # resamplers may round the last sample differently


@pytest.mark.parametrize("video", ["long_gop", "short_gop", "ntsc"])
def test_get_frames_in_any_order_with_repeats_matches_pyav(backend, videos, video):
    reference, other = open_both(videos[video], backend)
    last = reference.num_frames - 1
    indices = [last, 0, 40, 41, 3, 40, last]
    frames = other.get_frames(indices)
    assert frames["frame_indices"] == indices
    assert decoded_indices(frames["video"]) == decoded_indices(reference.get_frames(indices)["video"]) == indices


def test_frame_filter_keeps_the_frames_pyav_keeps(backend, videos):
    reference, other = open_both(videos["long_gop"], backend, decode_audio=False)
    window = (0.4, 0.4 + 32 / 30)
    expected = reference.get_clip(*window, uniform_frame_filter(8))["video"]
    assert decoded_indices(other.get_clip(*window, uniform_frame_filter(8))["video"]) == decoded_indices(expected)


def test_short_side_size_gives_pyavs_frame_size(backend, videos):
    reference, other = open_both(videos["short_gop"], backend, short_side_size=24)
    expected, clip = reference.get_clip(1.0, 2.0)["video"], other.get_clip(1.0, 2.0)["video"]
    assert clip.shape == expected.shape == (3, 25, 24, 32)
    assert other.frame_size == (24, 32)
    assert decoded_indices(clip) == decoded_indices(expected) == list(range(25, 50))


def test_fraction_boundaries_select_pyavs_frames(backend, videos):
    reference, other = open_both(videos["ntsc"], backend)
    window = (Fraction(1001, 1000), Fraction(2002, 1000))
    expected = decoded_indices(reference.get_clip(*window)["video"])
    assert decoded_indices(other.get_clip(*window)["video"]) == expected == list(range(30, 60))


# ---------------------------------------------------------------------- sources and streams
def test_from_bytes_decodes_like_from_path(backend, videos):
    data = open(videos["short_gop"], "rb").read()
    from_bytes = EncodedVideo.from_bytes(data, decoder=backend).get_clip(1.0, 1.5)
    from_path = EncodedVideo.from_path(videos["short_gop"], decoder=backend).get_clip(1.0, 1.5)
    assert torch.equal(from_bytes["video"], from_path["video"])
    assert torch.equal(from_bytes["audio"], from_path["audio"])


def test_video_without_audio_stream_gives_no_audio(backend, videos):
    video = EncodedVideo.from_path(videos["ntsc"], decoder=backend)
    assert video.get_clip(0.0, 0.5)["audio"] is None and video.audio_sample_rate is None


def test_decode_audio_false_gives_no_audio(backend, videos):
    clip = EncodedVideo.from_path(videos["long_gop"], decoder=backend, decode_audio=False).get_clip(0.0, 0.5)
    assert clip["audio"] is None and decoded_indices(clip["video"]) == list(range(15))


def test_decode_video_false_gives_audio_only(backend, videos):
    reference, other = open_both(videos["long_gop"], backend, decode_video=False)
    clip = other.get_clip(0.5, 1.0)
    assert clip["video"] is None and clip["audio"].shape == reference.get_clip(0.5, 1.0)["audio"].shape
    with pytest.raises(DecodeError, match="decode_video=False"):
        other.get_frames([0])


def test_audio_only_file_decodes_like_pyav(backend, tmp_path):
    path = str(tmp_path / "tone.m4a")
    samples = tone(8000, 0, 16000).numpy()[None]
    with av.open(path, "w") as container:
        stream = container.add_stream("aac", rate=8000, layout="mono")
        for offset in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, offset:offset + 1024]), "fltp", "mono")
            frame.sample_rate, frame.pts = 8000, offset
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    reference, other = open_both(path, backend, decode_video=False)
    assert other.duration == reference.duration
    audio = other.get_clip(0.5, 1.5)["audio"]
    assert audio.shape == reference.get_clip(0.5, 1.5)["audio"].shape
    torch.testing.assert_close(audio, tone(8000, 4000, 8000), atol=2e-3, rtol=0)
    with pytest.raises(DecodeError, match="has no video stream"):
        EncodedVideo.from_path(path, decoder=backend)


def test_corrupt_file_raises_decode_error_naming_it(backend, tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"not a video" * 100)
    with pytest.raises(DecodeError, match="broken.mp4"):
        EncodedVideo.from_path(str(path), decoder=backend)


# ---------------------------------------------------------------------- variable frame rate
def test_decord_matches_pyav_on_dropped_frames(videos, tmp_path):
    """Frames missing from a 30 fps timeline: both map every grid index to the same frame."""
    try:
        EncodedVideo.from_path(videos["long_gop"], decoder="decord").close()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    path = str(tmp_path / "dropped.mp4")
    images = indexed_frames(120, 48, 64)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 30)
        for t in range(120):
            if t % 5 == 3 or 40 <= t < 47:  # every fifth frame and a 7-frame gap are missing
                continue
            frame = av.VideoFrame.from_ndarray(images[t], format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 30)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    reference, other = open_both(path, "decord")
    assert other.num_frames == reference.num_frames
    every = list(range(reference.num_frames))
    assert decoded_indices(other.get_frames(every)["video"]) == decoded_indices(reference.get_frames(every)["video"])
