"""Clip samplers keep PyTorchVideo's semantics and are reproducible."""

import random
from fractions import Fraction

import pytest

from vidray.data import ClipInfoList, make_clip_sampler
from vidray.errors import RegistryError


def windows(clips):
    return [(float(c.clip_start_sec), float(c.clip_end_sec)) for c in clips]


def test_uniform_tiles_the_video_and_drops_the_partial_tail():
    clips = make_clip_sampler("uniform", 2.0).sample_all(7.0)
    assert windows(clips) == [(0, 2), (2, 4), (4, 6)]
    assert [c.clip_index for c in clips] == [0, 1, 2] and clips[-1].is_last_clip


def test_uniform_float_durations_are_exact():
    assert windows(make_clip_sampler("uniform", 0.4).sample_all(1.2)) == [(0, 0.4), (0.4, 0.8), (0.8, 1.2)]
    assert len(make_clip_sampler("uniform", 8 * 8 / 30).sample_all(64 / 30 * 3)) == 3


def test_uniform_with_stride_overlaps():
    clips = make_clip_sampler("uniform", 2.0, 1.0).sample_all(4.0)
    assert windows(clips) == [(0, 2), (1, 3), (2, 4)]


def test_uniform_backpad_last_moves_the_last_clip_back_to_the_end():
    clip, stride = Fraction(32, 30), Fraction(16, 30)
    clips = make_clip_sampler("uniform", clip, stride, True).sample_all(Fraction(39, 30))
    assert [(c.clip_start_sec * 30, c.clip_end_sec * 30) for c in clips] == [(0, 32), (7, 39)]


def test_uniform_rejects_stride_longer_than_the_clip():
    with pytest.raises(ValueError, match="stride must be > 0 and <= clip_duration"):
        make_clip_sampler("uniform", 1.0, 2.0)


def test_random_clip_lies_inside_the_video_and_is_seeded():
    sampler = make_clip_sampler("random", 2.0)
    starts = {float(sampler.sample_all(10.0, rng=random.Random(s))[0].clip_start_sec) for s in range(50)}
    assert len(starts) == 50 and all(0 <= s <= 8.0 for s in starts)
    assert sampler.sample_all(10.0, rng=random.Random(3)) == sampler.sample_all(10.0, rng=random.Random(3))
    seeded = [make_clip_sampler("random", 2.0, seed=7)(0, 10.0, {}) for _ in range(2)]
    assert seeded[0] == seeded[1]


def test_random_clip_of_a_short_video_starts_at_zero():
    clip = make_clip_sampler("random", 5.0).sample_all(3.0)[0]
    assert clip.clip_start_sec == 0 and clip.clip_end_sec == 5


def test_constant_clips_per_video_spacing_and_augmentations():
    clips = make_clip_sampler("constant_clips_per_video", 2.0, 3, 2).sample_all(11.0)
    assert [(float(c.clip_start_sec), c.clip_index, c.aug_index) for c in clips] == [
        (0.0, 0, 0), (0.0, 0, 1), (3.0, 1, 0), (3.0, 1, 1), (6.0, 2, 0), (6.0, 2, 1)
    ]
    assert [c.is_last_clip for c in clips] == [False] * 5 + [True]


def test_random_multi_returns_one_sample_of_several_clips():
    clips = make_clip_sampler("random_multi", 1.0, 3).sample_all(10.0, rng=random.Random(0))
    assert len(clips) == 1 and isinstance(clips[0], ClipInfoList)
    assert len(clips[0].clip_start_sec) == 3 and len(set(clips[0].clip_start_sec)) == 3


def test_stateful_protocol_matches_pytorchvideo():
    sampler = make_clip_sampler("uniform", 1.0)
    first = sampler(0.0, 2.5, {})
    second = sampler(first.clip_end_sec, 2.5, {})
    assert (first.clip_index, first.is_last_clip, second.clip_index, second.is_last_clip) == (0, False, 1, True)


def test_sample_all_leaves_the_sampler_state_alone():
    sampler = make_clip_sampler("uniform", 1.0)
    sampler(0.0, 5.0, {})
    sampler.sample_all(5.0)
    assert sampler(1.0, 5.0, {}).clip_index == 1


def test_fixed_clip_counts_are_known_without_durations():
    assert make_clip_sampler("random", 1.0).clips_per_video == 1
    assert make_clip_sampler("constant_clips_per_video", 1.0, 10, 3).clips_per_video == 30
    assert make_clip_sampler("uniform", 1.0).clips_per_video is None


def test_truncating_samplers_use_only_the_start_of_the_video():
    clips = make_clip_sampler("uniform_truncate_from_start", 1.0, truncation_duration=3.0).sample_all(10.0)
    assert windows(clips) == [(0, 1), (1, 2), (2, 3)]


@pytest.mark.parametrize("args", [("random", 0), ("random", -1.0), ("constant_clips_per_video", 1.0, 0)])
def test_bad_arguments_are_errors(args):
    with pytest.raises(ValueError):
        make_clip_sampler(*args)


def test_unknown_sampler_name():
    with pytest.raises(RegistryError, match="did you mean 'uniform'"):
        make_clip_sampler("unifrom", 1.0)
