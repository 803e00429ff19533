"""Resolving a pretrained encoder's source (a folder, an MLflow run or registered model) on the driver."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from vidray.errors import CheckpointError, TrackingError
from vidray.train.checkpoints import STATE_FILE
from vidray.train.config import ExperimentConfig
from vidray.train.pretrained import checkpoint_of, pin_pretrained_encoder


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, str, Path]:
    """A sqlite store with a finished pretraining run (its checkpoint tagged) registered as version 1."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("ssl"), run_name="pretrain")
    folder = tmp_path / "runs" / "pretrain" / "checkpoint_epoch_0002"
    folder.mkdir(parents=True)
    torch.save({"deployable_state": {}, "epoch": 1, "mlflow_run_id": run.info.run_id}, folder / STATE_FILE)
    (folder.parent / "checkpoint_manager_snapshot.json").write_text("{}")  # Ray Train writes one beside them
    client.set_tag(run.info.run_id, "vidray.checkpoint", str(folder))
    client.create_registered_model("encoder")
    client.create_model_version("encoder", source=str(folder), run_id=run.info.run_id)
    client.set_registered_model_alias("encoder", "best", "1")
    return uri, run.info.run_id, folder


def probe_config(uri: str, source: str) -> ExperimentConfig:
    return ExperimentConfig.model_validate({
        "task": {"name": "classification", "args": {"encoder_checkpoint": source, "freeze_encoder": True}},
        "tracking": {"uri": uri},
    })


@pytest.mark.parametrize("source", ["runs:/{run}", "runs:/{run}/model", "models:/encoder/1", "models:/encoder@best"])
def test_mlflow_sources_resolve_to_the_runs_final_checkpoint(store, source):
    uri, run_id, folder = store
    assert checkpoint_of(source.format(run=run_id), uri) == str(folder)


def test_the_config_is_pinned_to_one_checkpoint_folder_and_the_run_lineage_tagged(store):
    uri, run_id, folder = store
    config, tags = pin_pretrained_encoder(probe_config(uri, "models:/encoder/1"))
    assert config.task.args == {"encoder_checkpoint": str(folder), "freeze_encoder": True}
    assert tags == {"vidray.pretrained_model": "models:/encoder/1", "vidray.encoder_checkpoint": str(folder),
                    "vidray.pretraining_run": run_id}
    run_folder = str(folder.parent)  # a run folder: its newest checkpoint is pinned
    config, tags = pin_pretrained_encoder(probe_config(uri, run_folder))
    assert config.task.args["encoder_checkpoint"] == str(folder) and "vidray.pretrained_model" not in tags


def test_a_config_without_an_encoder_is_left_alone(store):
    config = ExperimentConfig()
    assert pin_pretrained_encoder(config) == (config, {})


def test_a_run_that_never_finished_is_refused_naming_the_source(store):
    uri, _, _ = store
    client = MlflowClient(uri)
    crashed = client.create_run(client.get_experiment_by_name("ssl").experiment_id)
    with pytest.raises(CheckpointError, match=rf"runs:/{crashed.info.run_id}: run .* has no vidray.checkpoint tag"):
        checkpoint_of(f"runs:/{crashed.info.run_id}", uri)


def test_an_unknown_model_version_is_refused_naming_the_source(store):
    uri, _, _ = store
    with pytest.raises(TrackingError, match="models:/encoder/7"):
        checkpoint_of("models:/encoder/7", uri)
