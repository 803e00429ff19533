"""The ``vidray`` command, run as a user runs it (a subprocess)."""

import subprocess
import sys


def vidray(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidray.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_lists_the_commands():
    result = vidray("--help")
    assert result.returncode == 0
    for command in ("run", "export", "decode", "synthetic", "probe", "list"):
        assert command in result.stdout


def test_decode_decodes_a_labelled_epoch_from_a_config(tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text(
        "name: tiny\n"
        "data:\n"
        "  batch_size: 4\n"
        "  num_workers: 0\n"
        "  frames_per_clip: 4\n"
        "  clip_sampler: {name: random, args: {clip_duration: 0.5}}\n"
        f"  synthetic: {{root: {tmp_path / 'syn'}, num_classes: 2, train_per_class: 3, val_per_class: 1, height: 32, width: 32, fps: 8, duration: 1.0}}\n"
    )
    result = vidray("decode", "--config", str(config), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "clips decoded     6 from 6 videos" in result.stdout
    assert "uint8 [3, 4, 32, 32]" in result.stdout
    assert "move_left                    3" in result.stdout and "move_right                   3" in result.stdout


def test_bad_config_lists_every_field_and_exits_2(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("data:\n  batch_size: -1\n  decoder: pyavv\n  colour: red\n")
    result = vidray("decode", "--config", str(config))
    assert result.returncode == 2
    assert "3 invalid field(s)" in result.stderr
    assert "data.batch_size" in result.stderr and "data.decoder" in result.stderr and "data.colour: unknown field" in result.stderr


def test_probe_and_list(synthetic_dataset):
    import glob

    path = sorted(glob.glob(f"{synthetic_dataset.video_dir['val']}/*/*.mp4"))[0]
    result = vidray("probe", path)
    assert result.returncode == 0 and "10.000 fps, 20 frames, 64x48" in result.stdout and "16000 Hz" in result.stdout
    listing = vidray("list", "clip_samplers", "random*")
    assert listing.stdout.strip() == "clip_samplers: random, random_multi, random_multi_truncate_from_start"
    assert vidray("list", "nope").returncode == 2
    assert vidray("list", "transforms", "Random*").stdout.startswith("transforms: RandomCrop, RandomHorizontalFlip")
    missing = vidray("probe", "/no/such/file.mp4")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_synthetic_writes_the_self_supervised_variant_and_refuses_a_bad_option(tmp_path):
    import json

    args = ["synthetic", "--root", str(tmp_path), "--num-classes", "2", "--train-per-class", "1", "--val-per-class", "1",
            "--size", "16", "16", "--background", "plain", "--bar-angle", "90", "--bar-color", "230", "230", "230",
            "--bar-length", "1"]
    assert vidray(*args).returncode == 0
    spec = json.loads((tmp_path / "synthetic.json").read_text())
    assert (spec["background"], spec["bar_angle"], spec["bar_color"], spec["bar_length"]) == ("plain", 90.0, [230, 230, 230], 1.0)
    refused = vidray(*args[:-1], "0")
    assert refused.returncode == 2 and "vidray synthetic: bar_length must be in (0, 2]" in refused.stderr
