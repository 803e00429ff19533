"""The same API through a real ``mlflow server`` over HTTP (one server for the module)."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from vidray.tracking import TrackingConfig, load_logged_model, log_model, register_model, start_run


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_run_params_metrics_and_artifacts_over_http(mlflow_server: str) -> None:
    config = TrackingConfig(uri=mlflow_server)
    run = start_run(config, name="http-run", params={"lr": "0.1"}, tags={"vidray.config_hash": "h"}, config_text="a: 1\n")
    worker_copy = pickle.loads(pickle.dumps(run))
    worker_copy.log_metrics([("loss", 1.0, 0), ("loss", 0.5, 1), ("clips_per_s", 30.0, 1)])
    run.log_artifact_bytes(b"png bytes", "evaluation/confusion_matrix.png")
    run.finish()
    data = run.client.get_run(run.run_id)
    assert data.info.status == "FINISHED"
    assert data.data.params == {"lr": "0.1"}
    assert data.data.tags["vidray.config_hash"] == "h"
    assert run.last_step("loss") == 1
    assert sorted(a.path for a in run.client.list_artifacts(run.run_id)) == ["config.yaml", "evaluation"]
    assert run.url == f"{mlflow_server}/#/experiments/{run.experiment_id}/runs/{run.run_id}"


def test_model_logged_and_registered_over_http(mlflow_server: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    example = torch.randn(1, 3, 4)
    run = start_run(TrackingConfig(uri=mlflow_server), name="http-model", params={}, tags={}, config_text=None)
    first = log_model(run, model, example, register_as="http-classifier")
    second = register_model(run, first, "http-classifier")
    assert (first.registered_version, second.registered_version) == (1, 2)
    loaded = load_logged_model(first.registered_uri, tracking_uri=mlflow_server)
    with torch.no_grad():
        torch.testing.assert_close(loaded(example), model(example))
