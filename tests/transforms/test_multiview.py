import math
from fractions import Fraction

import pytest
import torch
from torch.utils.data import SequentialSampler

from vidray.data import Kinetics
from vidray.errors import ConfigError, DataError, LayoutError
from vidray.transforms import functional as VF
from vidray.transforms.multiview import ViewAggregator, aggregate_views, multiview_test
from vidray.transforms.transforms import ShortSideScale, UniformTemporalSubsample

MEAN, STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
PROTOCOL = {"clip_duration": 0.8, "num_clips": 2, "num_crops": 3, "num_samples": 4, "crop_size": 32, "min_size": 40}


def val_dataset(data, transform):
    test = multiview_test(**PROTOCOL)
    return Kinetics(
        data.csv["val"],
        test.clip_sampler,
        video_sampler=SequentialSampler,
        transform=transform,
        video_path_prefix=data.video_dir["val"],
        decode_audio=False,
    )


@pytest.fixture(scope="module")
def raw_samples(synthetic_dataset):
    """Every view of the synthetic val videos (48x64, 2 s), decoded but not transformed."""
    return list(val_dataset(synthetic_dataset, transform=None))


def test_each_video_yields_every_crop_of_every_clip(synthetic_dataset):
    test = multiview_test(**PROTOCOL)
    dataset = val_dataset(synthetic_dataset, test.transform)
    samples = list(dataset)
    assert test.views_per_video == 6 and len(samples) == len(dataset) == dataset.num_videos * 6
    for video_index in range(dataset.num_videos):
        views = {(s["clip_index"], s["aug_index"]) for s in samples if s["video_index"] == video_index}
        assert views == {(clip, crop) for clip in range(2) for crop in range(3)}
    assert {tuple(s["video"].shape) for s in samples} == {(3, 4, 32, 32)}
    assert {s["video"].dtype for s in samples} == {torch.float32}


def test_sampler_covers_the_video_from_start_to_end():
    sampler = multiview_test(clip_duration=0.8, num_clips=10, num_crops=3).clip_sampler
    clips = sampler.sample_all(Fraction(2))
    assert len(clips) == 30 and clips[-1].is_last_clip and not any(c.is_last_clip for c in clips[:-1])
    spacing = (Fraction(2) - Fraction(4, 5)) / 9  # (duration - clip) / (num_clips - 1)
    for clip in clips:
        assert clip.clip_start_sec == clip.clip_index * spacing
        assert clip.clip_end_sec - clip.clip_start_sec == Fraction(4, 5)
    assert clips[0].clip_start_sec == 0 and clips[-1].clip_end_sec == 2
    assert [c.aug_index for c in clips[:6]] == [0, 1, 2, 0, 1, 2]
    starts = sorted({c.clip_start_sec for c in clips})
    assert all(b - a <= Fraction(4, 5) for a, b in zip(starts, starts[1:]))  # no gap between clips


def test_pytorchvideo_spacing_on_request():
    sampler = multiview_test(clip_duration=0.8, num_clips=10, num_crops=1, span_video=False).clip_sampler
    clips = sampler.sample_all(Fraction(2))
    spacing = (Fraction(2) - Fraction(4, 5)) / 10  # PyTorchVideo/SlowFast default: / num_clips
    assert [c.clip_start_sec for c in clips] == [k * spacing for k in range(10)]


def test_one_spanning_clip_is_centred():
    clips = multiview_test(clip_duration=0.8, num_clips=1, num_crops=1).clip_sampler.sample_all(Fraction(2))
    assert [(c.clip_start_sec, c.clip_end_sec) for c in clips] == [(Fraction(3, 5), Fraction(7, 5))]


def test_video_shorter_than_a_clip_gives_every_view_from_its_start():
    clips = multiview_test(clip_duration=3.0, num_clips=4, num_crops=1).clip_sampler.sample_all(Fraction(2))
    assert len(clips) == 4 and {c.clip_start_sec for c in clips} == {0}


def test_three_crops_are_left_centre_right_of_the_scaled_frame(raw_samples):
    transform = multiview_test(**PROTOCOL).transform
    views = [s for s in raw_samples if s["video_index"] == 0 and s["clip_index"] == 1]
    crops = []
    for view in views:
        scaled = ShortSideScale(40)(UniformTemporalSubsample(4)(view["video"]))
        height, width = scaled.shape[-2:]
        assert (height, width) == (40, 53)  # landscape: crops move along the width
        left = {0: 0, 1: math.ceil((width - 32) / 2), 2: width - 32}[view["aug_index"]]
        top = math.ceil((height - 32) / 2)
        expected = VF.normalize(scaled[..., top : top + 32, left : left + 32], MEAN, STD)
        out = transform(dict(view))["video"]
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
        crops.append(out)
    assert sorted(v["aug_index"] for v in views) == [0, 1, 2]
    assert not torch.equal(crops[0], crops[1]) and not torch.equal(crops[1], crops[2])


def test_one_crop_is_the_centre_crop():
    video = torch.randint(0, 256, (3, 6, 48, 64), dtype=torch.uint8)
    test = multiview_test(1.0, num_clips=1, num_crops=1, num_samples=6, crop_size=32, min_size=48)
    out = test.transform({"video": video, "aug_index": 0})["video"]
    torch.testing.assert_close(out, VF.normalize(video[..., 8:40, 16:48], MEAN, STD), rtol=0, atol=1e-6)
    assert test.views_per_video == 1


def test_three_crops_of_a_portrait_frame_are_top_centre_bottom():
    video = torch.randint(0, 256, (3, 2, 64, 48), dtype=torch.uint8)
    transform = multiview_test(1.0, num_samples=2, crop_size=48, min_size=48).transform
    for aug_index, top in ((0, 0), (1, 8), (2, 16)):
        out = transform({"video": video, "aug_index": aug_index})["video"]
        torch.testing.assert_close(out, VF.normalize(video[..., top : top + 48, :], MEAN, STD), rtol=0, atol=1e-6)


def test_bad_protocol_parameters_are_all_reported_in_one_config_error():
    with pytest.raises(ConfigError, match="multiview_test") as info:
        multiview_test(1.0, num_clips=0, num_crops=2, crop_size=256, min_size=224)
    for parameter in ("num_clips", "num_crops", "crop_size"):
        assert parameter in str(info.value)


# ---------------------------------------------------------------- aggregation
SCORES = torch.tensor(
    [[2.0, 0.0, -1.0], [0.5, 0.5, 0.5], [-1.0, 3.0, 0.0], [1.0, 1.0, 4.0], [0.0, -2.0, 2.0], [3.0, 1.0, 1.0]]
)
VIDEO_INDEX = torch.tensor([7, 2, 7, 2, 5, 7])


def test_mean_softmax_is_the_mean_of_each_videos_view_probabilities():
    ids, scores = aggregate_views(SCORES, VIDEO_INDEX)
    probs = SCORES.exp() / SCORES.exp().sum(dim=1, keepdim=True)
    expected = torch.stack([(probs[1] + probs[3]) / 2, probs[4], (probs[0] + probs[2] + probs[5]) / 3])
    assert ids.tolist() == [2, 5, 7]
    torch.testing.assert_close(scores, expected)
    torch.testing.assert_close(scores.sum(dim=1), torch.ones(3))


def test_mean_logits_is_the_mean_of_each_videos_view_logits():
    ids, scores = aggregate_views(SCORES, VIDEO_INDEX, method="mean_logits")
    expected = torch.stack([(SCORES[1] + SCORES[3]) / 2, SCORES[4], (SCORES[0] + SCORES[2] + SCORES[5]) / 3])
    assert ids.tolist() == [2, 5, 7]
    torch.testing.assert_close(scores, expected)


def test_max_softmax_is_each_classes_highest_view_probability():
    _, scores = aggregate_views(SCORES, VIDEO_INDEX, method="max_softmax")
    probs = SCORES.softmax(dim=1)
    torch.testing.assert_close(scores[2], torch.stack([probs[0], probs[2], probs[5]]).amax(dim=0))


@pytest.mark.parametrize("method", ["mean_softmax", "mean_logits", "max_softmax"])
def test_shuffled_views_give_the_same_video_scores(method):
    order = torch.randperm(len(VIDEO_INDEX), generator=torch.Generator().manual_seed(0))
    ids, scores = aggregate_views(SCORES, VIDEO_INDEX, method)
    shuffled_ids, shuffled_scores = aggregate_views(SCORES[order], VIDEO_INDEX[order], method)
    assert torch.equal(ids, shuffled_ids)
    torch.testing.assert_close(shuffled_scores, scores, rtol=0, atol=1e-7)


@pytest.mark.parametrize("method", ["mean_softmax", "mean_logits", "max_softmax"])
def test_aggregator_over_batches_equals_one_shot(method):
    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(9000, 10, generator=generator)  # enough views to be folded in before compute()
    video_index = torch.arange(3000).repeat_interleave(3)[torch.randperm(9000, generator=generator)]
    aggregator = ViewAggregator(method)
    for batch in torch.arange(9000).chunk(3):
        aggregator.update(scores[batch], video_index[batch])
    ids, expected = aggregate_views(scores, video_index, method)
    streamed_ids, streamed = aggregator.compute(expected_views=3, num_videos=3000)
    assert torch.equal(streamed_ids, ids)
    torch.testing.assert_close(streamed, expected, rtol=0, atol=1e-7)


def test_aggregators_of_several_workers_merge_into_the_one_shot_result():
    scores, video_index = torch.randn(12, 5), torch.tensor([0, 1, 2, 3] * 3)
    workers = [ViewAggregator(), ViewAggregator(), ViewAggregator()]
    for rank, worker in enumerate(workers):
        worker.update(scores[rank::3], video_index[rank::3])
    merged = ViewAggregator()
    for worker in workers:
        merged.merge(worker)
    ids, expected = aggregate_views(scores, video_index)
    assert torch.equal(merged.num_views, torch.tensor([3, 3, 3, 3]))
    torch.testing.assert_close(merged.compute(expected_views=3)[1], expected, rtol=0, atol=1e-7)


def test_missing_and_extra_views_are_reported_by_video():
    aggregator = ViewAggregator()
    aggregator.update(SCORES, VIDEO_INDEX)  # video 2: 2 views, 5: 1, 7: 3
    assert aggregator.video_ids.tolist() == [2, 5, 7] and aggregator.num_views.tolist() == [2, 1, 3]
    with pytest.raises(DataError, match=r"2 videos do not have 3 views.*2 \(2\), 5 \(1\)"):
        aggregator.compute(expected_views=3)
    with pytest.raises(DataError, match=r"5 of 8 videos have no views: 0, 1, 3, 4, 6"):
        aggregator.compute(num_videos=8)
    aggregator.update(SCORES[:1], torch.tensor([7]))
    with pytest.raises(DataError, match=r"7 \(4\)"):
        aggregator.compute(expected_views=3)


def test_dataset_views_aggregate_into_one_prediction_per_video(synthetic_dataset):
    test = multiview_test(**PROTOCOL)
    dataset = val_dataset(synthetic_dataset, test.transform)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 32 * 32, 4))
    aggregator = ViewAggregator()
    with torch.no_grad():
        for batch in torch.utils.data.DataLoader(dataset, batch_size=5):
            aggregator.update(model(batch["video"]), batch["video_index"])
    ids, probs = aggregator.compute(expected_views=test.views_per_video, num_videos=dataset.num_videos)
    assert ids.tolist() == list(range(dataset.num_videos)) and probs.shape == (dataset.num_videos, 4)


def test_bad_scores_raise_layout_errors():
    with pytest.raises(LayoutError, match=r"scores \[N, K\]"):
        aggregate_views(torch.zeros(4), torch.arange(4))
    with pytest.raises(LayoutError, match="video_index"):
        aggregate_views(torch.zeros(4, 3), torch.arange(3))
    aggregator = ViewAggregator()
    aggregator.update(torch.zeros(2, 3), [0, 1])
    with pytest.raises(LayoutError, match="5 classes, earlier ones had 3"):
        aggregator.update(torch.zeros(2, 5), [0, 1])
    with pytest.raises(ConfigError, match="method"):
        ViewAggregator("vote")
    with pytest.raises(DataError, match="no views"):
        ViewAggregator().compute()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_aggregation_matches_cpu():
    scores, video_index = torch.randn(60, 7), torch.arange(20).repeat(3)
    for method in ("mean_softmax", "mean_logits", "max_softmax"):
        ids, expected = aggregate_views(scores, video_index, method)
        cuda_ids, cuda_scores = aggregate_views(scores.cuda(), video_index.cuda(), method)
        assert torch.equal(cuda_ids.cpu(), ids)
        torch.testing.assert_close(cuda_scores.cpu(), expected)
