"""The synthetic dataset: real labelled mp4s whose classes only motion tells apart."""

import numpy as np
import pytest

from vidray.data import EncodedVideo, Kinetics, make_clip_sampler
from vidray.data.synthetic import MOTIONS, SyntheticSpec, render_motion, write_synthetic_dataset


def test_written_in_kinetics_layout_with_audio(synthetic_dataset):
    data = synthetic_dataset
    dataset = Kinetics(data.csv["train"], make_clip_sampler("random", 1.0), video_path_prefix=data.video_dir["train"])
    assert dataset.classes == sorted(data.classes) and dataset.num_videos == 16 and not dataset.missing_videos
    sample = dataset[0]
    assert sample["video"].shape[1:] == (10, 48, 64) and sample["audio"].shape == (16000,)
    assert EncodedVideo.from_path(dataset.labeled_video_paths[0][0]).duration == pytest.approx(2.0, abs=0.1)


def _shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Translation from frame a to frame b by phase correlation."""
    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    corr = np.fft.ifft2(fb * np.conj(fa) / (np.abs(fb * np.conj(fa)) + 1e-9)).real
    dy, dx = np.unravel_index(np.argmax(corr), corr.shape)
    h, w = a.shape
    return (dy - h if dy > h // 2 else dy, dx - w if dx > w // 2 else dx)


def test_motion_identifies_the_class_but_single_frames_do_not():
    rng = np.random.default_rng(0)
    h = w = 64
    translations = [m for m in MOTIONS if m[1] == "translate"][:4]
    # Temporal signal: the frame-to-frame shift recovers each direction exactly.
    for motion in translations:
        frames = render_motion(motion, h, w, 6, rng).astype(np.float32).mean(-1)
        masks = [f - np.median(f) for f in frames]
        dy, dx = _shift(masks[1], masks[2])
        assert (np.sign(dx), np.sign(dy)) == (np.sign(motion[2][0]), np.sign(motion[2][1]))
    # Single frames: a nearest-centroid classifier on held-out frames stays near chance.
    def frames_of(label, n):
        return np.stack([render_motion(MOTIONS[label], h, w, 1, rng)[0].astype(np.float32).ravel() for _ in range(n)])

    train = [frames_of(label, 60) for label in range(4)]
    centroids = np.stack([t.mean(0) for t in train])
    test = [(frames_of(label, 60), label) for label in range(4)]
    correct = sum(int((np.linalg.norm(x[:, None] - centroids[None], axis=-1).argmin(1) == y).sum()) for x, y in test)
    assert correct / 240 < 0.40  # chance is 0.25


def test_spec_validation():
    with pytest.raises(ValueError, match="num_classes"):
        SyntheticSpec(num_classes=1)
    with pytest.raises(ValueError, match="even"):
        SyntheticSpec(height=33)


def test_plain_background_and_fixed_angle_leave_only_colour_position_and_motion_to_differ():
    rng = np.random.default_rng(1)
    videos = [render_motion(MOTIONS[0], 48, 48, 2, rng, background="plain", bar_angle=90.0) for _ in range(3)]
    for frames in videos:
        bar = (frames[0] != 60).any(-1)
        assert (frames[0][~bar] == 60).all()  # one grey everywhere but the bar
        columns = np.flatnonzero(bar.any(0))
        assert len(columns) <= 6  # a vertical bar: a few columns wide, whatever the video
    with pytest.raises(ValueError, match="background"):
        SyntheticSpec(background="stripes")


def test_a_fixed_bar_colour_is_the_same_in_every_video_and_the_spec_is_reused(tmp_path):
    rng = np.random.default_rng(2)
    videos = [render_motion(MOTIONS[1], 48, 48, 2, rng, background="plain", bar_color=(200, 10, 30)) for _ in range(3)]
    for frames in videos:
        bar = (frames[0] != 60).any(-1)
        assert bar.any() and (frames[0][bar] == [200, 10, 30]).all()
    with pytest.raises(ValueError, match="bar_color"):
        SyntheticSpec(bar_color=(300, 0, 0))
    spec = SyntheticSpec(num_classes=2, train_per_class=1, val_per_class=1, height=16, width=16, bar_color=(255, 255, 255))
    write_synthetic_dataset(str(tmp_path), spec)
    first = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.mp4")}
    write_synthetic_dataset(str(tmp_path), spec)  # the JSON spec (a list) still equals the tuple: reused
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.mp4")} == first


def test_a_full_length_vertical_bar_is_a_stripe_through_every_row():
    frames = render_motion(MOTIONS[0], 48, 48, 3, np.random.default_rng(0), background="plain", bar_angle=90.0,
                           bar_length=1.0)
    for frame in frames:  # no vertical position for a model to tell videos apart by
        bar = (frame != 60).any(-1)
        assert (bar.sum(1) == bar.sum(1)[0]).all() and bar.sum(1)[0] >= 2
    with pytest.raises(ValueError, match="bar_length"):
        SyntheticSpec(bar_length=0.0)


def test_the_same_spec_written_twice_gives_the_same_bytes(tmp_path):
    """A dataset is a pure function of its spec: the encoder (x264 without macroblock-tree rate control,
    our own RGB-to-YUV conversion) gives the same file for the same frames, so training data written on
    another day or machine is the same data."""
    import hashlib
    from pathlib import Path

    spec = SyntheticSpec(num_classes=2, train_per_class=64, val_per_class=1, height=48, width=48, seed=3,
                         background="plain", bar_angle=90.0, bar_color=(230, 230, 230), bar_length=1.0)
    digests = []
    for root in (tmp_path / "a", tmp_path / "b"):
        write_synthetic_dataset(str(root), spec)
        files = sorted(root.rglob("*.mp4"))
        digests.append([(str(f.relative_to(root)), hashlib.sha256(Path(f).read_bytes()).hexdigest()) for f in files])
    assert len(digests[0]) == 130 and digests[0] == digests[1]
