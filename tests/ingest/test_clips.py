"""Ray Data ingestion on a real two-node Ray cluster: clips, epochs, splits, skipped videos."""

from __future__ import annotations

import hashlib

import pytest
import ray
from torch.utils.data import SequentialSampler

from vidray.data import DATASETS, VideoManifest, make_clip_sampler, read_manifest, write_manifest
from vidray.errors import DataError
from vidray.ingest.clips import MIN_TASKS_PER_WORKER, clip_dataset, clips_per_task_for
from vidray.ingest.state import create_ingest_state

CROP = [
    {"name": "ApplyTransformToKey", "args": {"key": "video", "transform": [{"name": "CenterCrop", "args": {"size": 32}}]}}
]


@pytest.fixture(scope="module")
def manifest(synthetic_dataset, tmp_path_factory) -> str:
    """The synthetic training split as a manifest, plus one corrupt 'video' listed last."""
    folder = tmp_path_factory.mktemp("manifest")
    train = DATASETS.build(
        "kinetics", data_path=synthetic_dataset.csv["train"], video_path_prefix=synthetic_dataset.video_dir["train"],
        clip_sampler=make_clip_sampler("random", 1.0),
    )
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes(b"\x00not a video" * 100)
    manifest = VideoManifest.from_dataset(train, "synthetic")
    manifest.videos.append((str(corrupt), {"label": 0}))
    path = str(folder / "train.jsonl")
    write_manifest(path, manifest)
    return path


def build(manifest: str, sampler, **kwargs):
    from vidray.config import ComponentConfig
    from vidray.transforms.compose import build_transform

    return DATASETS.build(
        "manifest", data_path=manifest, clip_sampler=sampler, frames_per_clip=4, decode_audio=False, seed=7,
        transform=build_transform([ComponentConfig.model_validate(t) for t in CROP]), **kwargs,
    )


def rows(dataset) -> list[tuple[int, int, int, str]]:
    """(video_index, clip_index, aug_index, pixel hash) of every decoded clip."""
    out = []
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        for i in range(len(batch["video_index"])):
            digest = hashlib.sha1(batch["video"][i].tobytes()).hexdigest()[:12]
            out.append((int(batch["video_index"][i]), int(batch["clip_index"][i]), int(batch["aug_index"][i]), digest))
    return out


def test_clips_are_uint8_and_labelled_and_a_corrupt_video_is_skipped_and_counted(ray_cluster, manifest):
    ray_cluster.connect()
    state = create_ingest_state()
    dataset = build(manifest, make_clip_sampler("random", 1.0))
    clips = clip_dataset(dataset, name="train", state=state, decode_workers=2, clips_per_task=2)
    batch = next(iter(clips.iter_batches(batch_size=4, batch_format="numpy")))
    assert batch["video"].dtype.name == "uint8" and batch["video"].shape[1:] == (3, 4, 32, 32)
    assert set(batch) == {"video", "label", "video_index", "clip_index", "aug_index"}
    seen = rows(clips)
    videos = read_manifest(manifest).videos
    assert sorted(v for v, *_ in seen) == list(range(len(videos) - 1))  # all but the corrupt one, once each
    assert ray.get(state.skipped.remote("train")) >= 1
    (path, reason), *_ = ray.get(state.skip_reasons.remote("train"))
    assert path.endswith("corrupt.mp4") and reason


def test_an_epoch_decodes_the_same_clips_on_every_pass_and_the_next_epoch_others(ray_cluster, manifest):
    ray_cluster.connect()
    state = create_ingest_state()
    clips = clip_dataset(build(manifest, make_clip_sampler("random", 1.0)), name="train", state=state, decode_workers=2)
    first = sorted(rows(clips))
    again = sorted(rows(clips))
    ray.get(state.set_epoch.remote("train", 1))
    next_epoch = sorted(rows(clips))
    assert first == again  # whichever actor decodes a clip, epoch 0 is epoch 0
    assert first != next_epoch  # new random clip positions in epoch 1


def test_evaluation_split_across_workers_scores_every_view_exactly_once(ray_cluster, manifest):
    ray_cluster.connect()
    sampler = make_clip_sampler("constant_clips_per_video", 1.0, 2, augs_per_clip=2)
    dataset = build(manifest, sampler, video_sampler=SequentialSampler)
    clips = clip_dataset(dataset, name="val", epoch=0, decode_workers=2, clips_per_task=3)
    shards = clips.streaming_split(2, equal=False)

    @ray.remote(num_cpus=0)
    def consume(shard) -> list[tuple[int, int, int]]:
        return [
            (int(v), int(c), int(a))
            for batch in shard.iter_batches(batch_size=5, batch_format="numpy")
            for v, c, a in zip(batch["video_index"], batch["clip_index"], batch["aug_index"])
        ]

    views = [view for part in ray.get([consume.remote(shard) for shard in shards]) for view in part]
    readable = len(read_manifest(manifest).videos) - 1
    expected = [(v, c, a) for v in range(readable) for c in range(2) for a in range(2)]
    assert sorted(views) == expected


def test_a_dataset_with_no_clips_is_an_error_before_any_work(ray_cluster, tmp_path):
    ray_cluster.connect()
    only_corrupt = tmp_path / "bad.jsonl"
    (tmp_path / "bad.mp4").write_bytes(b"garbage")
    write_manifest(str(only_corrupt), VideoManifest([(str(tmp_path / "bad.mp4"), {"label": 0})], ["a"]))
    dataset = build(str(only_corrupt), make_clip_sampler("uniform", 1.0))  # duration-dependent: probes the file
    with pytest.raises(DataError, match="no clips"):
        clip_dataset(dataset, name="train")


def test_task_size_follows_decode_time_and_leaves_every_worker_several_tasks(manifest):
    dataset = build(manifest, make_clip_sampler("uniform", 0.5))
    clips = len(dataset)
    assert clips_per_task_for(dataset, decode_workers=1, task_seconds=1e-6) == 1
    # Far more seconds than the epoch holds: capped so each of 3 workers still gets several tasks.
    assert clips_per_task_for(dataset, decode_workers=3, task_seconds=1e4) == clips // (MIN_TASKS_PER_WORKER * 3)
    middle = clips_per_task_for(dataset, decode_workers=1, task_seconds=0.05)
    assert 1 <= middle <= clips // MIN_TASKS_PER_WORKER
