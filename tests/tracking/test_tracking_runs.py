"""Runs in a real sqlite store: params, tags, metrics, artifacts, resuming, and use from other processes."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from vidray.errors import TrackingError
from vidray.tracking import RunHandle, TrackingConfig, flatten_params, resume_run, start_run


def _start(config: TrackingConfig, **overrides) -> RunHandle:
    arguments = {"name": "ignored", "params": {}, "tags": {}, "config_text": None, **overrides}
    return start_run(config, **arguments)


def test_params_round_trip(tracking_config: TrackingConfig) -> None:
    params = flatten_params({"model": {"name": "x3d_xs", "args": {"depths": [1, 2]}}, "lr": 0.1})
    run = _start(tracking_config, params=params)
    assert run.client.get_run(run.run_id).data.params == params


def test_params_beyond_one_batch_are_all_logged(tracking_config: TrackingConfig) -> None:
    params = {f"labels.{i}": f"class_{i}" for i in range(250)}  # MLflow takes 100 params per request
    run = _start(tracking_config, params=params)
    assert run.client.get_run(run.run_id).data.params == params


def test_tags_and_run_name_are_set(tracking_config: TrackingConfig) -> None:
    config = tracking_config.model_copy(update={"run_name": "baseline"})
    run = _start(config, tags={"vidray.config_hash": "abc"})
    data = run.client.get_run(run.run_id)
    assert data.data.tags["vidray.config_hash"] == "abc"
    assert data.info.run_name == "baseline"


def test_config_text_is_stored_as_artifact(tracking_config: TrackingConfig) -> None:
    run = _start(tracking_config, config_text="name: demo\nlr: 0.1\n", config_filename="demo.yaml")
    path = run.client.download_artifacts(run.run_id, "demo.yaml")
    assert Path(path).read_text() == "name: demo\nlr: 0.1\n"


def test_experiment_named_after_the_config_and_reused(store_uri: str) -> None:
    first = _start(TrackingConfig(uri=store_uri), name="reused-experiment")
    second = _start(TrackingConfig(uri=store_uri), name="reused-experiment")
    assert first.experiment_id == second.experiment_id != "0"
    assert first.client.get_experiment(first.experiment_id).name == "reused-experiment"


def test_deleted_experiment_is_an_error_with_the_restore_command(tracking_config: TrackingConfig) -> None:
    run = _start(tracking_config)
    run.client.delete_experiment(run.experiment_id)
    with pytest.raises(TrackingError, match=f"mlflow experiments restore --experiment-id {run.experiment_id}"):
        _start(tracking_config)


def test_child_run_names_its_parent(tracking_config: TrackingConfig) -> None:
    parent = _start(tracking_config)
    child = _start(tracking_config, parent_run_id=parent.run_id)
    assert child.client.get_run(child.run_id).data.tags["mlflow.parentRunId"] == parent.run_id


def test_metric_batches_land_with_their_steps(tracking_config: TrackingConfig) -> None:
    run = _start(tracking_config)
    metrics = [(key, float(step), step) for step in range(1200) for key in ("loss", "lr")]  # > one 1000-metric batch
    run.log_metrics(metrics)
    history = run.client.get_metric_history(run.run_id, "loss")
    assert sorted((m.step, m.value) for m in history) == [(step, float(step)) for step in range(1200)]
    assert run.last_step("lr") == 1199


def test_last_step_of_a_metric_never_logged_is_none(tracking_config: TrackingConfig) -> None:
    assert _start(tracking_config).last_step("val/accuracy") is None


def test_artifact_bytes_are_stored_under_their_path(tracking_config: TrackingConfig) -> None:
    run = _start(tracking_config)
    run.log_artifact_bytes(b"\x89PNG fake", "evaluation/confusion_matrix.png")
    path = run.client.download_artifacts(run.run_id, "evaluation/confusion_matrix.png")
    assert Path(path).read_bytes() == b"\x89PNG fake"


def test_finish_records_the_status(tracking_config: TrackingConfig) -> None:
    run = _start(tracking_config)
    run.finish("FAILED")
    assert run.client.get_run(run.run_id).info.status == "FAILED"
    with pytest.raises(TrackingError, match="status must be one of"):
        run.finish("DONE")


def test_resume_reopens_a_finished_run_keeping_its_history(tracking_config: TrackingConfig) -> None:
    run = _start(tracking_config, params={"lr": "0.1"})
    run.log_metrics([("loss", 1.0, 0), ("loss", 0.5, 10)])
    run.finish()
    resumed = resume_run(run.uri, run.run_id)
    resumed.log_metrics([("loss", 0.25, 11)])
    data = resumed.client.get_run(run.run_id)
    assert data.info.status == "RUNNING"
    assert data.data.params == {"lr": "0.1"}
    assert resumed.last_step("loss") == 11
    assert len(resumed.client.get_metric_history(run.run_id, "loss")) == 3


def test_handle_logs_from_another_process_in_another_directory(tracking_config: TrackingConfig, tmp_path: Path) -> None:
    run = _start(tracking_config)
    (tmp_path / "handle.pkl").write_bytes(pickle.dumps(run))
    worker = (
        "import pickle; run = pickle.load(open('handle.pkl', 'rb'));"
        "run.log_metrics([('clips_per_s', 42.0, 7)])"
    )
    subprocess.run([sys.executable, "-c", worker], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    assert run.last_step("clips_per_s") == 7
    assert not (tmp_path / "mlflow.db").exists()


def test_url_points_at_the_ui_only_for_servers(tracking_config: TrackingConfig) -> None:
    assert _start(tracking_config).url is None
    assert RunHandle("http://mlflow:5000/", "r1", "3").url == "http://mlflow:5000/#/experiments/3/runs/r1"
