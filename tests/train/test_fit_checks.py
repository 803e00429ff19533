"""Bad input to a training job fails before any cluster work, with the reason named."""

from __future__ import annotations

import socket

import pytest
import torch

from vidray.errors import CheckpointError, ConfigError, DataError, TrackingError
from vidray.models import create_model
from vidray.train import ExperimentConfig, fit
from vidray.train.checkpoints import STATE_FILE
from vidray.train.experiment import load_experiment


def small_job(synthetic_dataset, tmp_path, **overrides) -> dict:
    crop = [{"name": "ApplyTransformToKey", "args": {"key": "video", "transform": [
        {"name": "CenterCrop", "args": {"size": 32}}]}}]
    data = {"dataset": "kinetics", "data_path": synthetic_dataset.csv["train"],
            "video_path_prefix": synthetic_dataset.video_dir["train"], "synthetic": None,
            "frames_per_clip": 4, "decode_audio": False, "transform": crop}
    job = {
        "name": "checks",
        "data": {"train": data, "val": None},
        "model": {"name": "create_x3d", "args": {"input_clip_length": 4, "input_crop_size": 32,
                                                  "width_factor": 1.0, "depth_factor": 1.0}},
        "batch_size": 2,
        "checkpoint": {"storage_path": str(tmp_path / "runs")},
        "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    }
    job.update(overrides)
    return job


def test_an_invalid_config_lists_every_bad_field_at_once(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "epochs: 0\nmodel: {name: x3d_xss}\noptimizer: {name: sgd, args: {lr: -1}}\n"
        "task: {name: classification, args: {label_smoothing: 2}}\nscaling: {num_workers: 0}\ncolour: red\n"
    )
    with pytest.raises(ConfigError) as error:
        load_experiment(str(path))
    message = str(error.value)
    for field in ("epochs", "model", "optimizer", "task", "scaling.num_workers", "colour: unknown field"):
        assert field in message, field
    assert "x3d_xs" in message  # the close name is suggested


def test_set_overrides_dotted_fields_and_reports_bad_ones(tmp_path):
    config, text = load_experiment(None, ["epochs=3", "scaling.num_workers=1", "optimizer.args.lr=0.01"])
    assert (config.epochs, config.scaling.num_workers, config.optimizer.args["lr"]) == (3, 1, 0.01)
    assert "# --set epochs=3" in text
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_experiment(None, ["epochs"])


def test_a_missing_dataset_is_an_error_before_training(synthetic_dataset, tmp_path):
    job = small_job(synthetic_dataset, tmp_path)
    job["data"]["train"]["data_path"] = str(tmp_path / "nowhere.csv")
    with pytest.raises(DataError, match="data.train: .*nowhere.csv"):
        fit(ExperimentConfig.model_validate(job))
    assert not (tmp_path / "mlflow.db").exists()  # no run was created


def test_an_empty_manifest_is_an_error_before_training(synthetic_dataset, tmp_path):
    manifest = tmp_path / "empty.jsonl"
    manifest.write_text('{"vidray_manifest": 1, "classes": ["a", "b"]}\n')
    job = small_job(synthetic_dataset, tmp_path)
    job["data"]["train"].update(dataset="manifest", data_path=str(manifest), video_path_prefix="")
    with pytest.raises(DataError, match="manifest lists no videos"):
        fit(ExperimentConfig.model_validate(job))


def test_an_unreachable_tracking_server_fails_at_start(synthetic_dataset, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    job = small_job(synthetic_dataset, tmp_path, tracking={"uri": f"http://127.0.0.1:{port}"})
    with pytest.raises(TrackingError, match=f"127.0.0.1:{port}"):
        fit(ExperimentConfig.model_validate(job))


def test_more_clips_per_step_than_the_data_holds_is_a_config_error(synthetic_dataset, tmp_path):
    job = small_job(synthetic_dataset, tmp_path, batch_size=16)  # 16 videos over 2 workers
    with pytest.raises(ConfigError, match="batch_size"):
        fit(ExperimentConfig.model_validate(job))


def checkpoint_of(model_name: str, model: torch.nn.Module, folder, epoch: int = 0) -> str:
    folder.mkdir(parents=True)
    state = {"model_name": model_name, "deployable_state": model.state_dict(), "epoch": epoch, "mlflow_run_id": ""}
    torch.save(state, folder / STATE_FILE)
    return str(folder)


def test_a_checkpoint_of_another_model_is_refused_naming_the_mismatch(synthetic_dataset, tmp_path):
    job = small_job(synthetic_dataset, tmp_path)
    other = create_model("create_x3d", num_classes=4, input_clip_length=4, input_crop_size=32)  # widths 2.0 / 2.2
    checkpoint_of("create_x3d", other, tmp_path / "run" / "checkpoint_epoch_0001")
    with pytest.raises(CheckpointError, match="mis-shaped|missing|unexpected"):
        fit(ExperimentConfig.model_validate(job), resume=str(tmp_path / "run"))  # a run folder: its latest checkpoint
    renamed = checkpoint_of("x3d_s", other, tmp_path / "ckpt2")
    with pytest.raises(CheckpointError, match="model 'x3d_s'"):
        fit(ExperimentConfig.model_validate(job), resume=renamed)


def test_resuming_a_finished_run_needs_more_epochs(synthetic_dataset, tmp_path):
    job = small_job(synthetic_dataset, tmp_path, epochs=2)
    model = create_model("create_x3d", num_classes=4, **job["model"]["args"])
    resume = checkpoint_of("create_x3d", model, tmp_path / "done", epoch=1)  # finished epoch 2
    with pytest.raises(ConfigError, match="already finished epoch 2"):
        fit(ExperimentConfig.model_validate(job), resume=resume)
