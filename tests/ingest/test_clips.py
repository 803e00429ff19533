"""Ray Data ingestion on a real two-node Ray cluster: clips, epochs, shards, order, skipped videos."""

from __future__ import annotations

import hashlib

import pytest
import ray
from torch.utils.data import SequentialSampler

from vidray.data import DATASETS, VideoManifest, make_clip_sampler, read_manifest, write_manifest
from vidray.errors import DataError
from vidray.ingest.clips import MIN_TASKS_PER_WORKER, ClipSource, clip_dataset, clips_per_task_for
from vidray.ingest.state import create_ingest_state

# The module's first test starts the cluster's worker processes (torch imports): slow on a loaded machine.
pytestmark = pytest.mark.timeout(600)

CROP = [  # a random crop: its draws must belong to the clip, not to the process that decodes it
    {"name": "ApplyTransformToKey", "args": {"key": "video", "transform": [
        {"name": "RandomResizedCrop", "args": {"target_height": 32, "target_width": 32, "scale": [0.5, 1.0],
                                               "aspect_ratio": [0.75, 1.33]}}]}}
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
    clips = clip_dataset(dataset, name="train", state=state, decode_workers=2, clips_per_task=2)  # epoch 0
    batches = list(clips.iter_batches(batch_size=4, batch_format="numpy"))  # one whole pass: no executor left behind
    assert all(b["video"].dtype.name == "uint8" and b["video"].shape[1:] == (3, 4, 32, 32) for b in batches)
    assert set(batches[0]) == {"video", "label", "video_index", "clip_index", "aug_index"}
    seen = [int(v) for b in batches for v in b["video_index"]]
    videos = read_manifest(manifest).videos
    assert sorted(seen) == list(range(len(videos) - 1))  # all but the corrupt one, once each
    assert ray.get(state.skipped.remote("train")) >= 1
    (path, reason), *_ = ray.get(state.skip_reasons.remote("train"))
    assert path.endswith("corrupt.mp4") and reason


def test_an_epoch_decodes_the_same_clips_on_every_pass_and_the_next_epoch_others(ray_cluster, manifest):
    ray_cluster.connect()
    source = ClipSource.create(build(manifest, make_clip_sampler("random", 1.0)), name="train", decode_workers=2)
    first = rows(source.epoch(0))
    again = rows(source.epoch(0))
    next_epoch = rows(source.epoch(1))
    assert first == again  # whichever task decodes a clip, epoch 0 is epoch 0, in the same order
    assert sorted(first) != sorted(next_epoch)  # new random clip positions in epoch 1


def test_a_shard_holds_the_same_clips_in_the_same_order_whatever_the_task_size_and_concurrency(ray_cluster, manifest):
    ray_cluster.connect()
    dataset = build(manifest, make_clip_sampler("random", 1.0))
    shards = {}
    for clips_per_task, decode_workers in ((1, 2), (3, 1), (5, 2)):  # 1-clip tasks finish in any order
        source = ClipSource.create(dataset, name="train", decode_workers=decode_workers, clips_per_task=clips_per_task)
        shards[clips_per_task] = [rows(source.epoch(2, rank=rank, world_size=2, equal=True)) for rank in (0, 1)]
    assert shards[1] == shards[3] == shards[5]
    order = dataset.clip_order(2)
    readable = len(read_manifest(manifest).videos) - 1
    for rank, shard in enumerate(shards[1]):  # every other clip of the epoch's order, from the rank on
        expected = [order[i][0] for i in range(rank, (len(order) // 2) * 2, 2) if order[i][0] < readable]
        assert [video for video, *_ in shard] == expected


def test_evaluation_shards_score_every_view_exactly_once(ray_cluster, manifest):
    ray_cluster.connect()
    sampler = make_clip_sampler("constant_clips_per_video", 1.0, 2, augs_per_clip=2)
    dataset = build(manifest, sampler, video_sampler=SequentialSampler)
    source = ClipSource.create(dataset, name="val", decode_workers=2, clips_per_task=3)

    @ray.remote(num_cpus=0)
    def consume(rank: int) -> list[tuple[int, int, int]]:  # as a training worker does: its shard, in its process
        return [
            (int(v), int(c), int(a))
            for batch in source.epoch(0, rank=rank, world_size=3).iter_batches(batch_size=5, batch_format="numpy")
            for v, c, a in zip(batch["video_index"], batch["clip_index"], batch["aug_index"])
        ]

    views = [view for part in ray.get([consume.remote(rank) for rank in range(3)]) for view in part]
    readable = len(read_manifest(manifest).videos) - 1
    expected = [(v, c, a) for v in range(readable) for c in range(2) for a in range(2)]
    assert sorted(views) == expected


def test_shards_of_equal_size_drop_the_remainder_and_bad_ranks_are_refused(ray_cluster, manifest):
    ray_cluster.connect()
    source = ClipSource.create(build(manifest, make_clip_sampler("random", 1.0)), name="train", clips_per_task=2)
    counts = [len(source.shard_numbers(rank, 3, equal=True)) for rank in range(3)]
    assert counts == [source.num_clips // 3] * 3
    assert sum(len(source.shard_numbers(rank, 3)) for rank in range(3)) == source.num_clips
    with pytest.raises(ValueError, match="rank must be in"):
        source.epoch(0, rank=2, world_size=2)


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
