"""``vidray prepare``: a dataset transcoded on a real Ray cluster into a training form."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import av
import pytest
import torch

from vidray import io as vio
from vidray.cli import main as vidray_main
from vidray.data import DATASETS, EncodedVideo, VideoManifest, make_clip_sampler, read_manifest, write_manifest
from vidray.errors import ConfigError, DataError
from vidray.ingest.prepare import PrepareConfig, output_paths, prepare_dataset
from vidray.ingest.transcode import partial_path

FORM = {"short_side": 32, "fps": 15.0, "keyframe_interval": 4}  # the 48x64, 10 fps, 2 s sources become 32x42 at 15 fps


def _one_video_per_class(synthetic_dataset) -> VideoManifest:
    dataset = DATASETS.build(
        "kinetics",
        data_path=synthetic_dataset.csv["train"],
        video_path_prefix=synthetic_dataset.video_dir["train"],
        clip_sampler=make_clip_sampler("random", clip_duration=1.0),
    )
    first: dict[int, tuple[str, dict]] = {}
    for path, info in dataset.labeled_video_paths:
        first.setdefault(info["label"], (path, info))
    videos = [first[label] for label in sorted(first)]
    videos[1] = (videos[1][0], {**videos[1][1], "segment": [0.5, 1.5]})  # an annotation that must survive
    return VideoManifest(videos, dataset.classes, "kinetics")


def _write_source(tmp_path, manifest: VideoManifest, name: str = "source.jsonl") -> str:
    path = str(tmp_path / name)
    write_manifest(path, manifest)
    return path


def _keyframe_indices(path: str) -> list[int]:
    with av.open(path) as container:
        return [i for i, frame in enumerate(container.decode(video=0)) if frame.key_frame]


@pytest.fixture(scope="module")
def source(synthetic_dataset) -> VideoManifest:
    return _one_video_per_class(synthetic_dataset)


@pytest.fixture(scope="module")
def prepared(ray_cluster, source, tmp_path_factory):
    ray_cluster.connect()
    tmp = tmp_path_factory.mktemp("prepare")
    config = PrepareConfig(manifest=_write_source(tmp, source), output=str(tmp / "out"), **FORM)
    return config, prepare_dataset(config, progress=False)


def test_every_video_is_prepared(prepared, source):
    _, summary = prepared
    assert (summary.videos, summary.prepared, summary.skipped, summary.failed) == (len(source), len(source), 0, [])


def test_outputs_have_the_short_side_frame_rate_and_keyframe_interval(prepared):
    _, summary = prepared
    for path, _ in read_manifest(summary.manifest).videos:
        with av.open(path) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.height, stream.codec_context.width) == (32, 42)
            assert stream.average_rate == 15 and stream.frames == 30  # 2 s at a constant 15 fps
            assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert _keyframe_indices(path) == list(range(0, 30, 4))


def test_outputs_keep_the_audio_track(prepared):
    _, summary = prepared
    for path, _ in read_manifest(summary.manifest).videos:
        with av.open(path) as container:
            audio = container.streams.audio[0]
            assert audio.codec_context.name == "aac" and audio.codec_context.sample_rate == 16000
            assert float(audio.duration * audio.time_base) == pytest.approx(2.0, abs=0.1)


def test_output_tree_mirrors_the_sources(prepared, source):
    config, summary = prepared
    expected = {f"{vio.basename(vio.dirname(p))}/{os.path.splitext(vio.basename(p))[0]}.mp4" for p, _ in source.videos}
    found = {
        os.path.relpath(os.path.join(folder, name), config.output)
        for folder, _, names in os.walk(config.output)
        for name in names
        if name.endswith(".mp4")
    }
    assert found == expected


def test_manifest_keeps_labels_classes_and_annotations(prepared, source):
    _, summary = prepared
    manifest = read_manifest(summary.manifest)
    assert manifest.classes == source.classes
    assert [info["label"] for _, info in manifest.videos] == [info["label"] for _, info in source.videos]
    assert manifest.videos[1][1]["segment"] == [0.5, 1.5]
    assert all(info["duration"] == pytest.approx(2.0) for _, info in manifest.videos)
    assert manifest.extra["prepared"]["short_side"] == 32


def test_manifest_paths_are_relative_so_the_folder_can_move(prepared, tmp_path):
    config, _ = prepared
    moved = shutil.copytree(config.output, tmp_path / "moved")
    manifest = read_manifest(str(moved / "manifest.jsonl"))
    assert all(path.startswith(str(moved)) and os.path.exists(path) for path, _ in manifest.videos)


def test_prepared_dataset_decodes_through_the_manifest_dataset(prepared, source):
    torch.set_num_threads(1)
    _, summary = prepared
    dataset = DATASETS.build(
        "manifest", data_path=summary.manifest, clip_sampler=make_clip_sampler("random", clip_duration=1.0),
        frames_per_clip=4, seed=0,
    )
    samples = list(dataset)
    assert sorted(s["label"] for s in samples) == sorted(info["label"] for _, info in source.videos)
    assert all(s["video"].shape == (3, 4, 32, 42) and s["video"].dtype == torch.uint8 for s in samples)
    assert all(s["audio"].shape == (16000,) for s in samples)


def test_prepared_video_shows_what_the_source_showed_at_the_same_time(prepared, source):
    _, summary = prepared
    original, new = source.videos[0][0], read_manifest(summary.manifest).videos[0][0]

    def frame_at(path: str, seconds: float) -> torch.Tensor:
        with EncodedVideo.from_path(path, decode_audio=False, short_side_size=32) as video:
            return video.get_clip(seconds, seconds + 0.05)["video"][:, 0].float()

    shown = frame_at(original, 1.0)
    difference = {t: float((shown - frame_at(new, t)).abs().mean()) for t in (0.8, 0.9, 1.0, 1.1, 1.2)}
    assert min(difference, key=difference.get) == 1.0, difference


def test_prepared_audio_lines_up_with_the_source(prepared, source):
    _, summary = prepared
    waves = []
    for path in (source.videos[0][0], read_manifest(summary.manifest).videos[0][0]):
        with EncodedVideo.from_path(path, decode_video=False) as video:
            waves.append(video.get_audio(0.5, 1.5))
    assert torch.corrcoef(torch.stack(waves))[0, 1] > 0.99  # a tone: a shift of a few samples decorrelates it


def test_rerun_redoes_only_a_missing_file_and_ignores_a_partial_one(ray_cluster, source, tmp_path):
    ray_cluster.connect()
    config = PrepareConfig(manifest=_write_source(tmp_path, source), output=str(tmp_path / "out"), **FORM)
    prepare_dataset(config, progress=False)
    lost = read_manifest(str(tmp_path / "out" / "manifest.jsonl")).videos[2][0]
    os.remove(lost)
    with open(partial_path(lost), "wb") as partial:  # what a run killed mid-write leaves
        partial.write(b"\x00\x00\x00\x18ftypmp42" + os.urandom(500))
    summary = prepare_dataset(config, progress=False)
    assert (summary.prepared, summary.skipped, summary.failed) == (1, len(source) - 1, [])
    assert not os.path.exists(partial_path(lost))
    assert _keyframe_indices(lost) == list(range(0, 30, 4))
    assert len(read_manifest(summary.manifest)) == len(source)


def test_corrupt_video_is_skipped_counted_and_left_out(ray_cluster, source, tmp_path):
    ray_cluster.connect()
    videos = []
    for path, info in source.videos[:3]:
        copy = tmp_path / "src" / vio.basename(vio.dirname(path)) / vio.basename(path)
        copy.parent.mkdir(parents=True)
        shutil.copy(path, copy)
        videos.append((str(copy), info))
    broken = videos[1][0]
    with open(broken, "r+b") as file:
        file.write(os.urandom(4096))  # garbage over the header
    manifest = VideoManifest(videos, source.classes)
    config = PrepareConfig(manifest=_write_source(tmp_path, manifest), output=str(tmp_path / "out"), **FORM)
    summary = prepare_dataset(config, progress=False)
    assert (summary.prepared, summary.skipped) == (2, 0)
    assert [path for path, _ in summary.failed] == [broken] and summary.failed[0][1]
    labels = [info["label"] for _, info in read_manifest(summary.manifest).videos]
    assert labels == [videos[0][1]["label"], videos[2][1]["label"]]


def test_nothing_prepared_is_an_error(ray_cluster, tmp_path):
    ray_cluster.connect()
    missing = VideoManifest([(str(tmp_path / "gone.mp4"), {"label": 0})], ["a"])
    config = PrepareConfig(manifest=_write_source(tmp_path, missing), output=str(tmp_path / "out"), **FORM)
    with pytest.raises(DataError, match="gone.mp4: no such file"):
        prepare_dataset(config, progress=False)


@pytest.mark.parametrize(
    "fields, bad",
    [
        ({"output": "out", "short_side": 0}, ["manifest", "neither", "short_side"]),
        ({"output": "o", "manifest": "m", "data": {}, "keyframe_interval": 0}, ["and data", "keyframe_interval"]),
        ({"manifest": "m.jsonl", "short_side": -2, "preset": "quick"}, ["output", "short_side", "preset"]),
    ],
)
def test_bad_config_lists_every_bad_field(fields, bad):
    from vidray.config import load_config

    with pytest.raises(ConfigError) as error:
        load_config(fields, PrepareConfig)
    for text in bad:
        assert text in str(error.value)


def test_other_settings_for_a_prepared_output_are_refused(prepared):
    config, _ = prepared
    other = config.model_copy(update={"short_side": 64})
    with pytest.raises(ConfigError, match="short_side: 32 -> 64"):
        prepare_dataset(other, progress=False)


def test_output_paths_mirror_below_the_common_folder():
    sources = ["/d/train/a/x.avi", "/d/train/b/y.mp4", "/d/train/b/z.mkv"]
    assert output_paths(sources) == {sources[0]: "a/x.mp4", sources[1]: "b/y.mp4", sources[2]: "b/z.mp4"}
    assert output_paths(["s3://b/k/v.webm"]) == {"s3://b/k/v.webm": "v.mp4"}
    with pytest.raises(DataError, match="x.mp4 and .*x.avi would both be prepared as x.mp4"):
        output_paths(["/d/a/x.avi", "/d/a/x.mp4"])


def test_s3_output(ray_cluster, source, s3_bucket, tmp_path):
    ray_cluster.connect()
    keys = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    config = PrepareConfig(
        manifest=_write_source(tmp_path, VideoManifest(source.videos[:2], source.classes)),
        output=f"{s3_bucket}/prepared", env_vars={key: os.environ[key] for key in keys}, **FORM,
    )
    summary = prepare_dataset(config, progress=False)
    assert (summary.prepared, summary.failed) == (2, []) and summary.manifest == f"{s3_bucket}/prepared/manifest.jsonl"
    manifest = read_manifest(summary.manifest)
    assert all(path.startswith(f"{s3_bucket}/prepared/") for path, _ in manifest.videos)
    with EncodedVideo.from_path(manifest.videos[0][0]) as video:
        assert video.fps == 15 and video.get_clip(0.0, 0.5)["video"].shape[-2:] == (32, 42)
    assert prepare_dataset(config, progress=False).skipped == 2


def test_cli_prepares_a_data_layer_dataset_from_a_config(ray_cluster, synthetic_dataset, tmp_path, capsys):
    ray_cluster.connect()
    config = tmp_path / "prepare.yaml"
    config.write_text(
        "data:\n"
        "  dataset: kinetics\n"
        f"  data_path: {synthetic_dataset.csv['val']}\n"
        f"  video_path_prefix: {synthetic_dataset.video_dir['val']}\n"
        f"output: {tmp_path / 'val'}\n"
        "short_side: 24\n"
    )
    assert vidray_main(["prepare", "--config", str(config), "--fps", "10", "--no-audio", "--no-progress"]) == 0
    assert "prepared    8" in capsys.readouterr().out
    manifest = read_manifest(str(tmp_path / "val" / "manifest.jsonl"))
    assert manifest.classes == sorted(synthetic_dataset.classes) and len(manifest) == 8  # Kinetics sorts names
    with av.open(manifest.videos[0][0]) as container:
        assert not container.streams.audio and container.streams.video[0].codec_context.height == 24


def test_cli_help_documents_prepare():
    result = subprocess.run([sys.executable, "-m", "vidray.cli", "prepare", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for option in ("--manifest", "--output", "--short-side", "--fps", "--keyframe-interval", "--crf", "--preset",
                   "--no-audio", "--num-cpus-per-task", "--max-in-flight", "--address", "Resumable", "env_vars"):
        assert option in result.stdout
