"""The platform end to end on a real two-node Ray cluster: Ray Data -> Ray Train -> MLflow.

Two jobs run once per module and several tests read their record:

* a temporal model (small X3D), run in-process with ``fit``: it must learn the
  motion classes far above chance and log its evaluation and model (a worker
  killed mid-run is tested in ``test_reproducibility.py``);
* a single-frame model (C2D-style: the same X3D with temporal kernels of 1),
  submitted with ``ray job submit``, checkpointing to S3 (moto's server on
  loopback), then submitted again with ``--resume`` for one more epoch: both
  jobs must succeed and leave one continuous run, its metrics and model in
  MLflow, and the model must stay near chance, since single frames carry no
  class information in the synthetic data.

The temporal model trains on the session's ``motion_dataset`` (a stripe moving right or
left), the control on a smaller copy of it (a quarter of the training videos).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(900)  # the module's two training jobs run in its fixtures
# 3 epochs of the 1024 training videos, evaluations after epochs 2 and 3.
EPOCHS = 3
EVAL_EVERY = 2
CONTROL_EPOCHS = 2  # the single-frame control cannot learn the classes at any length; it runs shorter
CONTROL_BUCKET = "vidray-control-runs"
CONTROL_TRAIN_PER_CLASS = 128
NO_AGENT = "No available agent to submit job, please try again later"  # Ray's job API, before any job exists
AGENT_WAIT_S = 300


def experiment(root: Path, synthetic: dict, name: str, temporal: bool) -> dict:
    epochs = EPOCHS if temporal else CONTROL_EPOCHS - 1  # the control's last epoch is a resumed job
    crop = [{"name": "ApplyTransformToKey", "args": {"key": "video", "transform": [
        {"name": "ShortSideScale", "args": {"size": 32}}, {"name": "CenterCrop", "args": {"size": 32}}]}}]
    model_args = {"input_clip_length": 8, "input_crop_size": 32, "width_factor": 1.0, "depth_factor": 1.0, "dropout_rate": 0.5}
    if not temporal:
        model_args.update(stem_conv_kernel_size=[1, 3, 3], stage_conv_kernel_size=[[1, 3, 3]] * 4)
    data = {"frames_per_clip": 8, "decode_audio": False, "transform": crop, "synthetic": synthetic}
    return {
        "name": name,
        "data": {
            "train": {**data, "split": "train", "clip_sampler": {"name": "random", "args": {"clip_duration": 1.6}}},
            "val": {**data, "split": "val",
                    "clip_sampler": {"name": "constant_clips_per_video", "args": {"clip_duration": 1.6, "clips_per_video": 2}}},
        },
        "model": {"name": "create_x3d", "args": model_args},
        "optimizer": {"name": "adamw", "args": {"lr": 0.003, "weight_decay": 0.05}},
        "scheduler": {"name": "constant", "args": {"warmup_epochs": 0.25}},
        "epochs": epochs,
        "eval_every_n_epochs": EVAL_EVERY,
        "batch_size": 8,  # per worker: 64 optimizer steps of 16 clips per epoch
        "scaling": {"num_workers": 2},
        "ingest": {"decode_workers": 1, "object_store_memory_mb": 256},
        "checkpoint": {"storage_path": str(root / "runs") if temporal else f"s3://{CONTROL_BUCKET}/runs",
                       "max_failures": 2},
        "tracking": {"uri": f"sqlite:///{root / 'mlflow.db'}"},
        # The control's jobs end with `vidray run`'s deploy step (fp32: a quick check of the wiring).
        "deploy": None if temporal else {"quantize": "fp32", "eval_clips": 8},
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("platform")  # MLflow store and checkpoints of both jobs


@pytest.fixture(scope="module")
def control_dataset(workspace, motion_dataset) -> dict:
    from vidray.data.synthetic import SyntheticSpec, write_synthetic_dataset

    fields = {**motion_dataset, "root": str(workspace / "control-data"), "train_per_class": CONTROL_TRAIN_PER_CLASS}
    write_synthetic_dataset(fields["root"], SyntheticSpec(**{k: v for k, v in fields.items() if k != "root"}))
    return fields


@pytest.fixture(scope="module")
def temporal_run(ray_cluster, workspace, motion_dataset):
    from vidray.train import ExperimentConfig, fit

    ray_cluster.connect()
    return fit(ExperimentConfig.model_validate(experiment(workspace, motion_dataset, "temporal", temporal=True)))


@pytest.fixture(scope="module")
def submitted_run(ray_cluster, workspace, control_dataset, s3_endpoint):
    """The control, submitted as a Ray job for its first epoch, then resumed from its S3
    checkpoint by a second job for the last one; returns both jobs' outcomes."""
    import boto3

    boto3.client("s3").create_bucket(Bucket=CONTROL_BUCKET)
    config_file = workspace / "c2d.yaml"
    config_file.write_text(yaml.safe_dump(experiment(workspace, control_dataset, "single-frame", temporal=False)))
    first = submit(ray_cluster, "--config", str(config_file))
    if first.returncode != 0:
        return first, None, workspace
    (run,) = client(workspace).search_runs([client(workspace).get_experiment_by_name("single-frame").experiment_id])
    resumed = submit(ray_cluster, "--config", str(config_file), "--set", f"epochs={CONTROL_EPOCHS}",
                     "--resume", run.data.tags["vidray.checkpoint"])
    return first, resumed, workspace


def submit(ray_cluster, *args: str) -> subprocess.CompletedProcess:
    """``ray job submit`` of experiments.train; the job reaches moto's S3 through the env vars.

    Ray's job API gives up on a submission when it cannot reach the head node's job agent within its
    fixed 10 s (a loaded machine): it answers 500 "No available agent to submit job, please try again
    later" before creating any job. That answer, and only that, is retried until the API accepts the
    job (at most AGENT_WAIT_S); any other outcome is returned as it is.
    """
    aws = {k: os.environ[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    command = [str(Path(sys.executable).parent / "ray"), "job", "submit", "--address", ray_cluster.dashboard_url,
               "--working-dir", str(REPO), "--runtime-env-json", json.dumps({"env_vars": aws}),
               "--", "python", "-m", "experiments.train", *args]
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
        if done.returncode == 0 or NO_AGENT not in done.stderr or time.monotonic() > deadline:
            return done
        time.sleep(5)


def client(workspace: Path):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")


def test_temporal_model_learns_far_above_chance(temporal_run, workspace):
    assert temporal_run.metrics["val/top1"] >= 0.75, temporal_run.metrics  # chance is 0.5
    assert temporal_run.metrics["epoch"] == EPOCHS
    steps = [m.step for m in client(workspace).get_metric_history(temporal_run.run_id, "val/top1")]
    assert sorted(steps) == sorted({*range(EVAL_EVERY, EPOCHS + 1, EVAL_EVERY), EPOCHS})  # and after the last epoch


def test_confusion_matrix_and_pickle_free_model_are_in_the_run(temporal_run, workspace):
    import torch

    from vidray.tracking import load_logged_model

    result = temporal_run
    artifacts = [a.path for a in client(workspace).list_artifacts(result.run_id, "evaluation")]
    assert "evaluation/confusion_matrix.png" in artifacts
    model = load_logged_model(result.model_uri, tracking_uri=result.tracking_uri)
    assert model(torch.zeros(3, 3, 8, 32, 32)).shape == (3, 2)


@pytest.fixture(scope="module")
def exported(temporal_run, workspace) -> dict:
    """``vidray export`` of the trained temporal model: int8, calibrated on 16 training clips, evaluated
    on all 512 validation clips (256 videos x 2) eager and as a program; returns its bundle record."""
    from vidray.cli import main

    folder = workspace / "temporal-int8"
    assert main(["export", "--model-uri", temporal_run.model_uri, "--tracking-uri", temporal_run.tracking_uri,
                 "--output", str(folder)]) == 0
    return json.loads((folder / "bundle.json").read_text())


def test_the_int8_program_of_the_trained_model_loses_at_most_one_point_of_top1(exported, temporal_run, workspace):
    evaluation = exported["metadata"]["evaluation"]
    print(f"\nint8 program vs eager fp32 on {evaluation['clips']} validation clips: {evaluation}")
    assert evaluation["clips"] == 512 and evaluation["split"] == "val"
    assert evaluation["top1_eager"] >= 0.75  # the trained model, not chance (0.5)
    assert evaluation["top1_drop"] <= 0.01
    assert exported["metadata"]["delegation"]["work_fraction"] >= 0.95
    assert exported["metadata"]["model"] == temporal_run.model_uri
    assert exported["metadata"]["calibration"]["batches"] == 16 and len(exported["metadata"]["calibration"]["sha256"]) == 64


def test_the_program_is_logged_beside_the_model_and_registered_with_its_figures(exported, temporal_run, workspace):
    mlflow = client(workspace)
    (version,) = mlflow.search_model_versions("name = 'temporal-int8-xnnpack'")
    assert version.run_id == temporal_run.run_id
    tags = version.tags
    assert tags["vidray.deploy.sha256"] == exported["sha256"]
    assert int(tags["vidray.deploy.size_bytes"]) == exported["size_bytes"]
    assert float(tags["vidray.deploy.top1_int8"]) == pytest.approx(exported["metadata"]["evaluation"]["top1_int8"], abs=1e-4)
    assert "vidray.deploy.top1_drop" in tags and tags["vidray.deploy.source_model"] == temporal_run.model_uri
    folder = f"deploy/temporal-int8-xnnpack-{exported['sha256'][:12]}"
    assert {a.path for a in mlflow.list_artifacts(temporal_run.run_id, folder)} == {f"{folder}/program.pte",
                                                                                     f"{folder}/bundle.json"}
    assert mlflow.get_run(temporal_run.run_id).info.status == "FINISHED"  # the training run's record is untouched


def test_ray_job_submit_records_run_metrics_and_model_in_mlflow(submitted_run):
    first, resumed, workspace = submitted_run
    for job in (first, resumed):
        assert job is not None and job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert "succeeded" in (job.stdout + job.stderr).lower()
    mlflow = client(workspace)
    experiment = mlflow.get_experiment_by_name("single-frame")
    (run,) = mlflow.search_runs([experiment.experiment_id])  # the resumed job continued the same run
    assert run.info.status == "FINISHED"
    assert run.data.metrics["epoch"] == CONTROL_EPOCHS and "val/top1" in run.data.metrics
    assert run.data.params["model.name"] == "create_x3d"
    assert mlflow.search_logged_models([experiment.experiment_id])
    versions = mlflow.search_model_versions("name = 'single-frame-fp32-xnnpack'")  # the config's deploy: section
    assert len(versions) == 2 and {v.run_id for v in versions} == {run.info.run_id}  # one per job
    assert all(v.tags["vidray.deploy.quantize"] == "fp32" for v in versions)


def test_a_finished_run_resumes_from_its_s3_checkpoint_for_more_epochs(submitted_run):
    import boto3

    first, resumed, workspace = submitted_run
    assert resumed is not None and resumed.returncode == 0, (resumed or first).stderr[-3000:]
    mlflow = client(workspace)
    (run,) = mlflow.search_runs([mlflow.get_experiment_by_name("single-frame").experiment_id])
    for key in ("epoch", "epoch/train_loss"):
        assert sorted(m.step for m in mlflow.get_metric_history(run.info.run_id, key)) == [1, 2], key
    steps_per_epoch = CONTROL_TRAIN_PER_CLASS * 2 // (2 * 8)  # 2 classes; 2 workers x batch 8
    steps = [m.step for m in mlflow.get_metric_history(run.info.run_id, "train/loss")]
    assert sorted(steps) == list(range(1, CONTROL_EPOCHS * steps_per_epoch + 1))  # the step count continued
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=CONTROL_BUCKET)["Contents"]]
    first_run = run.data.tags["vidray.ray_run"].removesuffix("-resumed")
    assert f"runs/{first_run}/checkpoint_epoch_0001/state.pt" in keys
    assert f"runs/{first_run}-resumed/checkpoint_epoch_0002/state.pt" in keys
    assert run.data.tags["vidray.checkpoint"] == f"s3://{CONTROL_BUCKET}/runs/{first_run}-resumed/checkpoint_epoch_0002"


def test_exporting_runs_uri_of_a_resumed_run_takes_its_newest_model(submitted_run):
    from vidray.jobs.export import logged_source

    _, _, workspace = submitted_run
    mlflow = client(workspace)
    experiment = mlflow.get_experiment_by_name("single-frame")
    (run,) = mlflow.search_runs([experiment.experiment_id])
    models = mlflow.search_logged_models([experiment.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'",
                                         order_by=[{"field_name": "creation_timestamp_ms", "ascending": False}])
    assert len(models) == 2  # one per job: the first and the resumed one
    source = logged_source(f"runs:/{run.info.run_id}", f"sqlite:///{workspace / 'mlflow.db'}")
    assert source.model_uri == f"models:/{models[0].model_id}" and source.run_id == run.info.run_id


def test_single_frame_model_stays_near_chance(submitted_run):
    _, _, workspace = submitted_run
    mlflow = client(workspace)
    (run,) = mlflow.search_runs([mlflow.get_experiment_by_name("single-frame").experiment_id])
    assert run.data.metrics["val/top1"] <= 0.65  # chance is 0.5
