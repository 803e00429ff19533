"""LabeledVideoDataset as map-style and iterable: every clip exactly once, bad videos skipped."""

import shutil

import pytest
import torch
from media import decoded_indices, write_indexed_video
from torch.utils.data import DataLoader, SequentialSampler, random_split

from vidray.data import LabeledVideoDataset, collate_skipping_none, make_clip_sampler
from vidray.errors import DataError


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Six 3-second videos at 10 fps; labels 0..5."""
    folder = tmp_path_factory.mktemp("videos")
    return [(write_indexed_video(str(folder / f"v{i}.mp4"), 30, fps=10), {"label": i}) for i in range(6)]


def keys(samples):
    return sorted((int(s["video_index"]), int(s["clip_index"]), int(s["aug_index"])) for s in samples)


def unbatch(loader):
    samples = []
    for batch in loader:
        for i in range(len(batch["label"])):
            samples.append({k: batch[k][i] for k in ("video_index", "clip_index", "aug_index", "label")})
    return samples


def test_map_style_length_and_items(videos):
    dataset = LabeledVideoDataset(videos, make_clip_sampler("uniform", 1.0), decode_audio=False)
    assert len(dataset) == 18  # three 1 s clips per 3 s video
    sample = dataset[4]
    assert (sample["video_index"], sample["clip_index"], sample["label"]) == (1, 1, 1)
    assert sample["video_name"] == "v1.mp4" and decoded_indices(sample["video"]) == list(range(10, 20))
    assert dataset[-1]["video_index"] == 5
    with pytest.raises(IndexError, match="out of range"):
        dataset[18]


def test_pytorchvideo_keys_are_present(videos):
    sample = LabeledVideoDataset(videos, make_clip_sampler("random", 1.0))[0]
    assert {"video", "label", "video_name", "video_index", "clip_index", "aug_index"} <= set(sample)
    assert "audio" not in sample  # these files have no audio track


@pytest.mark.parametrize("num_workers", [0, 2])
def test_iteration_yields_every_clip_once(videos, num_workers):
    dataset = LabeledVideoDataset(videos, make_clip_sampler("constant_clips_per_video", 1.0, 2, 2), decode_audio=False)
    samples = unbatch(DataLoader(dataset, batch_size=3, num_workers=num_workers))
    expected = [(v, c, a) for v in range(6) for c in range(2) for a in range(2)]
    assert keys(samples) == expected
    assert all(int(s["label"]) == int(s["video_index"]) for s in samples)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_map_style_with_a_sampler_and_workers(videos, num_workers):
    dataset = LabeledVideoDataset(videos, make_clip_sampler("uniform", 1.0), decode_audio=False)
    loader = DataLoader(dataset.map_style(), batch_size=4, shuffle=True, num_workers=num_workers)
    assert keys(unbatch(loader)) == [(v, c, 0) for v in range(6) for c in range(3)]
    sequential = DataLoader(dataset.map_style(), sampler=SequentialSampler(range(len(dataset))), batch_size=5)
    assert [(int(s["video_index"]), int(s["clip_index"])) for s in unbatch(sequential)][:4] == [(0, 0), (0, 1), (0, 2), (1, 0)]


def test_random_split_partitions_the_clips(videos):
    dataset = LabeledVideoDataset(videos, make_clip_sampler("uniform", 1.0), decode_audio=False)
    train, val = random_split(dataset, [12, 6], generator=torch.Generator().manual_seed(0))
    seen = [(s["video_index"], s["clip_index"]) for part in (train, val) for s in part]
    assert len(seen) == 18 and len(set(seen)) == 18


def test_same_seed_and_epoch_give_the_same_clips_regardless_of_workers(videos):
    def epoch(workers):
        dataset = LabeledVideoDataset(videos, make_clip_sampler("random", 1.0), seed=5, decode_audio=False)
        dataset.set_epoch(3)
        loader = DataLoader(dataset, batch_size=2, num_workers=workers, collate_fn=lambda b: b)
        return sorted((s["video_index"], decoded_indices(s["video"])[0]) for batch in loader for s in batch)

    assert epoch(0) == epoch(2)


def test_a_clips_random_augmentation_depends_on_seed_epoch_and_clip_not_on_the_process_rng(videos):
    def draw(sample):
        sample["draw"] = torch.rand(3)  # what a random transform (crop, jitter, flip) draws
        return sample

    dataset = LabeledVideoDataset(videos, make_clip_sampler("random", 1.0), seed=5, decode_audio=False, transform=draw)
    torch.manual_seed(1)
    first = [dataset.load_clip(v, slot, 2)["draw"] for v, slot in dataset.clip_order(2)]
    torch.manual_seed(2)
    again = [dataset.load_clip(v, slot, 2)["draw"] for v, slot in reversed(dataset.clip_order(2))][::-1]
    next_epoch = [dataset.load_clip(v, slot, 3)["draw"] for v, slot in dataset.clip_order(2)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))  # any order, any process state: the same draws
    assert not any(torch.equal(a, b) for a, b in zip(first, next_epoch))  # a new epoch draws anew
    assert len({tuple(d.tolist()) for d in first}) == len(first)  # and every clip draws its own


def test_epochs_reshuffle_order_and_resample_clips(videos):
    dataset = LabeledVideoDataset(videos, make_clip_sampler("random", 0.5), seed=1, decode_audio=False)
    first = [(s["video_index"], decoded_indices(s["video"])[0]) for s in dataset]
    second = [(s["video_index"], decoded_indices(s["video"])[0]) for s in dataset]
    assert sorted(v for v, _ in first) == sorted(v for v, _ in second) == list(range(6))
    assert first != second


def test_sequential_video_sampler_keeps_file_order(videos):
    dataset = LabeledVideoDataset(videos, make_clip_sampler("random", 1.0), video_sampler=SequentialSampler)
    assert [s["video_index"] for s in dataset] == list(range(6))


def test_frames_per_clip_decodes_only_those_frames(videos):
    dataset = LabeledVideoDataset(videos, make_clip_sampler("uniform", 1.6), frames_per_clip=4, decode_audio=False)
    assert decoded_indices(dataset[0]["video"]) == [0, 5, 10, 15]


def test_random_multi_gives_lists_of_clips(videos):
    sample = LabeledVideoDataset(videos, make_clip_sampler("random_multi", 1.0, 3), decode_audio=False)[0]
    assert isinstance(sample["video"], list) and len(sample["video"]) == 3
    assert all(v.shape == (3, 10, 32, 48) for v in sample["video"])


def test_transform_sees_and_replaces_the_sample(videos):
    def transform(sample):
        sample["video"] = sample["video"].float() / 255
        return sample

    sample = LabeledVideoDataset(videos, make_clip_sampler("random", 1.0), transform=transform)[0]
    assert sample["video"].dtype == torch.float32 and sample["video"].max() <= 1


def test_segment_restricts_clips_to_part_of_the_video(videos):
    path, _ = videos[0]
    dataset = LabeledVideoDataset([(path, {"label": 0, "segment": (1.0, 2.5)})], make_clip_sampler("uniform", 0.5))
    clips = [decoded_indices(s["video"]) for s in dataset]
    assert clips == [list(range(10, 15)), list(range(15, 20)), list(range(20, 25))]
    assert "segment" not in dataset[0]


def test_a_clip_longer_than_its_segment_stops_at_the_segment_end(videos):
    path, _ = videos[0]
    dataset = LabeledVideoDataset([(path, {"segment": (1.0, 1.5)})], make_clip_sampler("random", 2.0))
    assert decoded_indices(dataset[0]["video"]) == list(range(10, 15))


@pytest.mark.parametrize("num_workers", [0, 2])
def test_unreadable_videos_are_skipped_logged_and_counted(videos, tmp_path, caplog, num_workers):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    gone = tmp_path / "gone.mp4"
    shutil.copy(videos[0][0], gone)
    entries = videos[:3] + [(str(broken), {"label": 7}), (str(gone), {"label": 8})]
    dataset = LabeledVideoDataset(entries, make_clip_sampler("random", 1.0), decode_audio=False)
    gone.unlink()
    samples = unbatch(DataLoader(dataset, batch_size=2, num_workers=num_workers))
    assert sorted(int(s["label"]) for s in samples) == [0, 1, 2]
    assert dataset.skipped_samples == 2
    if num_workers == 0:
        assert "skipping" in caplog.text and "broken.mp4" in caplog.text


def test_map_style_skip_returns_none_and_collate_drops_it(videos, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"")
    dataset = LabeledVideoDataset(videos[:2] + [(str(broken), {"label": 9})], make_clip_sampler("random", 1.0))
    assert dataset[2] is None and dataset.skipped_samples == 1
    batch = collate_skipping_none([dataset[0], dataset[2], dataset[1]])
    assert batch["label"].tolist() == [0, 1]


def test_uniform_sampler_on_an_unreadable_video_counts_zero_clips(videos, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"junk")
    dataset = LabeledVideoDataset(videos[:1] + [(str(broken), {"label": 1})], make_clip_sampler("uniform", 1.0))
    assert len(dataset) == 3 and dataset.skipped_samples == 1


def test_empty_video_list_is_an_error():
    with pytest.raises(DataError, match="list of videos is empty"):
        LabeledVideoDataset([], make_clip_sampler("random", 1.0))


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_workers_never_share_a_video_opened_by_the_parent(videos, context):
    dataset = LabeledVideoDataset(videos, make_clip_sampler("uniform", 1.0), video_sampler=SequentialSampler)
    assert dataset[0]["video_index"] == 0  # leaves video 0 open in this process
    # The parent has decoded (and so built its colour converter) before the fork:
    # a worker must not hang on anything it inherited. timeout turns a hang into a failure.
    loader = DataLoader(dataset, batch_size=None, num_workers=2, multiprocessing_context=context, timeout=120)
    clips = sorted((int(s["video_index"]), decoded_indices(s["video"])[0]) for s in loader)
    assert clips == [(v, c * 10) for v in range(6) for c in range(3)]


def test_a_sampler_instance_is_shared_by_all_workers(videos):
    from torch.utils.data import RandomSampler

    dataset = LabeledVideoDataset(videos, make_clip_sampler("constant_clips_per_video", 1.0, 2),
                                  video_sampler=RandomSampler(range(6)), decode_audio=False)
    samples = unbatch(DataLoader(dataset, batch_size=2, num_workers=2))
    assert keys(samples) == [(v, c, 0) for v in range(6) for c in range(2)]


def test_set_epoch_reaches_persistent_workers(videos):
    dataset = LabeledVideoDataset(videos, make_clip_sampler("random", 0.5), seed=3, decode_audio=False)
    loader = DataLoader(dataset, batch_size=None, num_workers=2, persistent_workers=True)

    def epoch(e):
        dataset.video_sampler.set_epoch(e)  # PyTorchVideo's DDP recipe
        return sorted((int(s["video_index"]), decoded_indices(s["video"])[0]) for s in loader)

    first, second, again = epoch(0), epoch(1), epoch(0)
    assert first != second and first == again


def test_a_video_sampler_that_cannot_work_fails_at_construction(videos):
    from torch.utils.data import DistributedSampler

    from vidray.errors import ConfigError

    with pytest.raises(ConfigError, match="video_sampler DistributedSampler cannot be built"):
        LabeledVideoDataset(videos, make_clip_sampler("random", 1.0), video_sampler=DistributedSampler)


def test_an_unreadable_video_is_counted_once_however_many_workers_probe_it(videos, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"junk")
    dataset = LabeledVideoDataset(videos[:2] + [(str(broken), {"label": 2})], make_clip_sampler("uniform", 1.0))
    samples = unbatch(DataLoader(dataset, batch_size=2, num_workers=2))
    assert len(samples) == 6 and dataset.skipped_samples == 1
