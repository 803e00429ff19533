"""Same seed, same metrics, on the real two-node Ray cluster (2 Ray Train workers, gloo on CPU).

One small config (a small X3D with dropout on 128 synthetic videos with random crops, 4 epochs,
evaluation after each) is trained three times in this module:

* twice uninterrupted: every per-step loss and every final metric must be equal, bit for bit;
* once with a training worker SIGKILLed after the first committed checkpoint: Ray Train
  restarts the worker group from that checkpoint, and the run must finish with the same
  per-step losses and final metrics as the uninterrupted ones, each metric logged once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(900)
EPOCHS = 4  # the kill comes after the first: three epochs (~10 s) are left to interrupt
TIMING_METRICS = ("clips_per_s", "seconds")  # wall-clock measurements: the only metrics allowed to differ


def experiment(root: Path, name: str) -> dict:
    crop = [{"name": "ApplyTransformToKey", "args": {"key": "video", "transform": [
        {"name": "ShortSideScale", "args": {"size": 32}}, {"name": "CenterCrop", "args": {"size": 32}}]}}]
    augment = [{"name": "ApplyTransformToKey", "args": {"key": "video", "transform": [  # random draws per clip
        {"name": "RandomResizedCrop", "args": {"target_height": 32, "target_width": 32, "scale": [0.6, 1.0],
                                               "aspect_ratio": [0.8, 1.25]}}]}}]
    synthetic = {"root": str(root / "data"), "num_classes": 2, "train_per_class": 64, "val_per_class": 16,
                 "height": 48, "width": 48, "fps": 15.0, "duration": 2.0, "seed": 5}
    data = {"frames_per_clip": 8, "decode_audio": False, "synthetic": synthetic}
    return {
        "name": name,
        "seed": 11,
        "data": {
            "train": {**data, "split": "train", "transform": augment,
                      "clip_sampler": {"name": "random", "args": {"clip_duration": 1.6}}},
            "val": {**data, "split": "val", "transform": crop,
                    "clip_sampler": {"name": "constant_clips_per_video", "args": {"clip_duration": 1.6, "clips_per_video": 2}}},
        },
        "model": {"name": "create_x3d", "args": {"input_clip_length": 8, "input_crop_size": 32, "width_factor": 1.0,
                                                  "depth_factor": 1.0, "dropout_rate": 0.5}},
        "optimizer": {"name": "adamw", "args": {"lr": 0.003, "weight_decay": 0.05}},
        "scheduler": {"name": "cosine", "args": {"warmup_epochs": 0.5}},
        "epochs": EPOCHS,
        "batch_size": 2,  # per worker: 32 optimizer steps of 4 clips per epoch
        "scaling": {"num_workers": 2},
        "ingest": {"decode_workers": 2, "object_store_memory_mb": 128},
        "checkpoint": {"storage_path": str(root / "runs"), "max_failures": 2},
        "tracking": {"uri": f"sqlite:///{root / 'mlflow.db'}", "experiment": name},
    }


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reproducibility")


def client(workspace: Path):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")


def train(workspace: Path, name: str, kill_after_first_checkpoint: bool = False):
    """Runs ``fit`` on the experiment (in a thread when a worker is to be killed); returns its
    result and the killed worker's pid."""
    from vidray.train import ExperimentConfig, fit

    config = ExperimentConfig.model_validate(experiment(workspace, name))
    if not kill_after_first_checkpoint:
        return fit(config), None
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = fit(config)
        except BaseException as exc:  # re-raised in the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    killed = kill_a_training_worker_after_first_checkpoint(workspace, name, thread)
    thread.join(timeout=900)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"], killed


def kill_a_training_worker_after_first_checkpoint(workspace: Path, name: str, training: threading.Thread) -> int:
    """SIGKILLs one Ray Train worker once the first checkpoint is committed (rank 0 logs an
    epoch to MLflow only after Ray Train persisted its checkpoint). Fails the test if training
    ends first: then nothing was interrupted."""
    from ray.util.state import list_actors

    while not epochs_logged(workspace, name):
        if not training.is_alive():
            pytest.fail(f"{name}: training ended before its first checkpoint was logged; nothing was killed")
        time.sleep(0.1)
    workers = list_actors(filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")])
    pid = workers[-1].pid
    os.kill(pid, signal.SIGKILL)
    return pid


def epochs_logged(workspace: Path, name: str) -> int:
    if not (workspace / "mlflow.db").exists():
        return 0
    mlflow = client(workspace)
    found = mlflow.get_experiment_by_name(name)
    runs = mlflow.search_runs([found.experiment_id]) if found else []
    return max((int(m.step) for m in mlflow.get_metric_history(runs[0].info.run_id, "epoch")), default=0) if runs else 0


def record(workspace: Path, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Every metric of a run but the timings, as its (step, value) history."""
    mlflow = client(workspace)
    keys = [key for key in mlflow.get_run(run_id).data.metrics if not key.endswith(TIMING_METRICS)]
    return {key: sorted((m.step, m.value) for m in mlflow.get_metric_history(run_id, key)) for key in keys}


@pytest.fixture(scope="module")
def runs(ray_cluster, workspace):
    ray_cluster.connect()
    first, _ = train(workspace, "first")
    second, _ = train(workspace, "second")
    killed, pid = train(workspace, "killed", kill_after_first_checkpoint=True)
    return {"first": first, "second": second, "killed": killed}, pid


def test_the_same_seed_gives_the_same_per_step_losses_and_final_metrics(runs, workspace):
    results, _ = runs
    first, second = record(workspace, results["first"].run_id), record(workspace, results["second"].run_id)
    assert len(first["train/loss"]) == EPOCHS * 32
    assert first["train/loss"] == second["train/loss"]  # exactly: not approximately
    assert first == second
    assert {"val/top1", "epoch/train_loss", "train/lr"} <= set(first)


def test_a_run_resumed_after_a_killed_worker_ends_as_the_uninterrupted_one(runs, workspace):
    results, pid = runs
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the worker really died
    run = client(workspace).get_run(results["killed"].run_id)
    assert run.info.status == "FINISHED" and int(run.data.tags["vidray.restored_from_epoch"]) >= 1
    assert record(workspace, results["killed"].run_id) == record(workspace, results["first"].run_id)


def test_every_metric_is_logged_exactly_once_across_the_restart(runs, workspace):
    results, _ = runs
    mlflow = client(workspace)
    run_id = results["killed"].run_id
    for key in ("epoch", "epoch/train_loss", "epoch/decode_errors", "val/top1"):
        assert sorted(m.step for m in mlflow.get_metric_history(run_id, key)) == list(range(1, EPOCHS + 1)), key
    steps = [m.step for m in mlflow.get_metric_history(run_id, "train/loss")]
    assert sorted(steps) == list(range(1, results["killed"].metrics["global_step"] + 1))
