"""Self-supervised pretraining and its evaluation end to end on the real two-node Ray cluster.

The shipped synthetic recipes run through the experiments/ entrypoints (in this
process, joined to the test cluster): SimCLR pretraining on 2 Ray Train workers
(negatives gathered across them), which registers its encoder in MLflow; then
the linear probe of that registered encoder, and the same probe of a randomly
initialised encoder of the same architecture. The pretrained encoder must beat
the random one by a clear margin: the synthetic classes differ only in which
way a bar moves, which nothing told the pretraining.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(900)
CONFIGS = Path(__file__).resolve().parents[2] / "experiments" / "configs"
ENCODER = "simclr-x3d-synthetic-encoder"  # the recipe's tracking.register_model
EXPERIMENT = "ssl_x3d_synthetic"  # the recipes' tracking.experiment
MARGIN = 0.15  # probe top-1 of the pretrained encoder over the random one (chance is 0.5)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, motion_dataset) -> Path:
    root = tmp_path_factory.mktemp("ssl")
    (root / "data.json").write_text(json.dumps(motion_dataset))  # the recipes' data variant, 1024 + 64 videos
    return root


def overrides(workspace: Path, run_name: str, splits: tuple[str, ...]) -> list[str]:
    args = [f"data.{split}.synthetic={(workspace / 'data.json').read_text()}" for split in splits]
    args += [f"tracking.uri=sqlite:///{workspace / 'mlflow.db'}", f"tracking.run_name={run_name}",
             f"checkpoint.storage_path={workspace / 'runs'}"]
    return [item for arg in args for item in ("--set", arg)]


def client(workspace: Path):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")


def run_named(workspace: Path, name: str):
    mlflow = client(workspace)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    (run,) = mlflow.search_runs([experiment.experiment_id], filter_string=f"attributes.run_name = '{name}'")
    return run


@pytest.fixture(scope="module")
def pretrained(ray_cluster, workspace):
    """SimCLR pretraining with the shipped recipe: 3 epochs (96 steps of 32 videos, 64 clips)."""
    from experiments import train

    ray_cluster.connect()
    code = train.main(["--config", str(CONFIGS / "simclr_x3d_synthetic.yaml"), *overrides(workspace, "pretrain", ("train",))])
    assert code == 0
    return run_named(workspace, "pretrain")


@pytest.fixture(scope="module")
def probes(ray_cluster, workspace, pretrained):
    """The shipped linear probe (4 epochs) of the registered encoder, and of a random encoder."""
    from experiments import linear_probe

    config = ["--config", str(CONFIGS / "probe_x3d_synthetic.yaml")]
    for name, source in (("probe-pretrained", ["--pretrained", f"models:/{ENCODER}/1"]), ("probe-random", [])):
        assert linear_probe.main([*config, *source, *overrides(workspace, name, ("train", "val"))]) == 0
    return run_named(workspace, "probe-pretrained"), run_named(workspace, "probe-random")


def test_simclr_pretrains_on_two_workers_and_registers_its_encoder(pretrained, workspace):
    mlflow = client(workspace)
    assert pretrained.info.status == "FINISHED"
    assert pretrained.data.tags["vidray.task"] == "simclr" and pretrained.data.params["scaling.num_workers"] == "2"
    losses = [m.value for m in sorted(mlflow.get_metric_history(pretrained.info.run_id, "train/loss"), key=lambda m: m.step)]
    assert len(losses) == 96
    assert sum(losses[-16:]) / 16 < sum(losses[:16]) / 16  # NT-Xent falls from its chance level log(63)
    version = mlflow.get_model_version(ENCODER, "1")
    assert version.run_id == pretrained.info.run_id


def test_the_linear_probe_of_the_pretrained_encoder_beats_a_random_encoder(probes):
    pretrained, random = probes
    top1, baseline = pretrained.data.metrics["val/top1"], random.data.metrics["val/top1"]
    print(f"\nlinear probe val/top1: SimCLR encoder {top1:.3f}, random encoder {baseline:.3f} (chance 0.5)")
    assert top1 >= baseline + MARGIN, (top1, baseline)


def test_the_probe_run_is_linked_to_the_pretraining_run_and_left_the_encoder_frozen(probes, pretrained):
    import torch

    from vidray.train.checkpoints import read_state

    probe, _ = probes
    tags = probe.data.tags
    assert tags["vidray.pretraining_run"] == pretrained.info.run_id
    assert tags["vidray.pretrained_model"] == f"models:/{ENCODER}/1"
    assert tags["vidray.encoder_checkpoint"] == pretrained.data.tags["vidray.checkpoint"]
    encoder = read_state(pretrained.data.tags["vidray.checkpoint"])["deployable_state"]
    classifier = read_state(probe.data.tags["vidray.checkpoint"])["deployable_state"]
    assert set(classifier) - set(encoder) == {"blocks.5.proj.weight", "blocks.5.proj.bias"}
    for name, tensor in encoder.items():  # every encoder weight and batch-norm statistic unchanged
        torch.testing.assert_close(classifier[name], tensor, msg=name)


def test_moco_trains_on_two_workers_with_its_cosine_momentum(ray_cluster, synthetic_dataset, tmp_path):
    """MoCo through fit (queue, shuffle-BN across the workers, momentum encoder): 1 epoch, 2 steps of 8 videos.
    BYOL moves its target through the same engine hook (MomentumMethod); its step is tested in-process."""
    import torch
    from mlflow import MlflowClient

    from vidray.tracking import load_logged_model
    from vidray.train import ExperimentConfig, fit

    ray_cluster.connect()
    views = {"name": "ApplyTransformToKeyOnList", "args": {"key": "video", "transform": [
        {"name": "RandomResizedCrop", "args": {"target_height": 32, "target_width": 32, "scale": [0.5, 1.0],
                                               "aspect_ratio": [0.75, 1.33]}}]}}
    config = ExperimentConfig.model_validate({
        "name": "moco-smoke",
        "data": {"train": {"dataset": "kinetics", "data_path": synthetic_dataset.csv["train"],
                           "video_path_prefix": synthetic_dataset.video_dir["train"], "synthetic": None,
                           "clip_sampler": {"name": "random_multi", "args": {"clip_duration": 1.0, "num_clips": 2}},
                           "frames_per_clip": 4, "decode_audio": False, "transform": [views]},
                 "val": None},
        "model": {"name": "create_x3d", "args": {"input_clip_length": 4, "input_crop_size": 32, "width_factor": 1.0,
                                                  "depth_factor": 1.0, "dropout_rate": 0.0}},
        "task": {"name": "moco", "args": {"mlp_dims": [64, 32], "queue_size": 64, "momentum": 0.9,
                                          "momentum_schedule": "cosine"}},
        "epochs": 1, "batch_size": 4, "scaling": {"num_workers": 2}, "ingest": {"decode_workers": 1},
        "checkpoint": {"storage_path": str(tmp_path / "runs")},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    })
    result = fit(config)
    history = sorted(MlflowClient(result.tracking_uri).get_metric_history(result.run_id, "train/momentum"),
                     key=lambda m: m.step)
    assert [m.step for m in history] == [1, 2]
    assert [m.value for m in history] == pytest.approx([0.95, 1.0])  # 0.9 -> 1 on a half cosine over 2 steps
    encoder = load_logged_model(result.model_uri, tracking_uri=result.tracking_uri)
    assert encoder(torch.zeros(2, 3, 4, 32, 32)).shape == (2, 2048)  # the saved model is the encoder
