"""``vidray export`` of zoo models: a bundle evaluated on real clips, registered in MLflow; failures register nothing.

The export of a model trained by ``vidray run`` (its int8 accuracy against fp32
on the shared validation set) is tested where that model is trained:
``tests/train/test_platform.py``.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from vidray.cli import main

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default calibration data and bundles go under the working directory
    return tmp_path


def client(workdir):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")


def test_a_zoo_model_becomes_a_registered_bundle_evaluated_on_real_clips(workdir, capsys):
    """fp32, a third of int8's export time; the int8 path (calibration, top-1 drop) is tested on the
    trained model in tests/train/test_platform.py."""
    from vidray.deploy import load_program
    from vidray.tracking.deployments import download_bundle

    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    assert main(["export", "--hub", "efficient_x3d_xs", "--quantize", "fp32", "--eval-clips", "6",
                 "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert "registered                 models:/efficient_x3d_xs-fp32-xnnpack/1" in out
    version = client(workdir).get_model_version("efficient_x3d_xs-fp32-xnnpack", "1")
    tags = version.tags
    assert tags["vidray.deploy.quantize"] == "fp32" and tags["vidray.deploy.source_model"] == "zoo:efficient_x3d_xs"
    assert float(tags["vidray.deploy.work_fraction"]) >= 0.95
    folder = download_bundle("models:/efficient_x3d_xs-fp32-xnnpack/1", str(workdir / "pulled"), tracking_uri=uri)
    record = json.loads((workdir / "pulled" / "efficient_x3d_xs-fp32-xnnpack-v1" / "bundle.json").read_text())
    assert record["sha256"] == tags["vidray.deploy.sha256"] and record["size_bytes"] == int(tags["vidray.deploy.size_bytes"])
    evaluation = record["metadata"]["evaluation"]
    assert evaluation["clips"] == 6 and "top1_drop" not in evaluation  # the zoo model's classes are not the data's
    assert evaluation["max_abs_difference"] <= 1e-4  # the program computes what the model computes
    assert record["metadata"]["calibration"] is None  # fp32: nothing was calibrated
    program = load_program(folder)  # pickle-free: two files, the program checked against its sha256
    import torch

    (scores,) = program(torch.zeros(program.inputs[0].shape))
    assert scores.shape == (1, 400)


def test_a_model_that_cannot_be_exported_fails_naming_the_operator_and_registers_nothing(workdir):
    from torch import nn

    from vidray.deploy.config import DeployConfig
    from vidray.errors import DeployError
    from vidray.jobs.export import export_model, zoo_source
    from vidray.tracking import TrackingConfig

    dilated = nn.Sequential(nn.Conv3d(3, 8, 3, padding=2, dilation=2), nn.AdaptiveAvgPool3d(1), nn.Flatten())
    source = dataclasses.replace(zoo_source("x3d_xs"), module=dilated, name="dilated")
    with pytest.raises(DeployError, match=r"node 'conv3d'.*dilated conv3d"):
        export_model(source, DeployConfig(calibration_batches=1),
                     tracking=TrackingConfig(uri=f"sqlite:///{workdir / 'mlflow.db'}"))
    assert not (workdir / "vidray-deploy").exists()
    assert not (workdir / "mlflow.db").exists() or client(workdir).search_registered_models() == []


def test_bad_options_are_refused_before_any_work(workdir, capsys):
    assert main(["export", "--hub", "create_x3d"]) == 2
    assert "not a zoo name" in capsys.readouterr().err
    assert main(["export", "--hub", "slow_r50_detection"]) == 2
    assert "a detection model (it takes boxes too)" in capsys.readouterr().err
    assert main(["export", "--model-uri", "s3://bucket/model"]) == 2
    assert "expected models:/NAME/VERSION" in capsys.readouterr().err
    assert main(["export", "--model-uri", "models:/m/1", "--checkpoint", "x.pyth"]) == 2
    assert "--checkpoint goes with --hub" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "--hub", "x3d_s", "--quantize", "int4"])


def tiny_source(name: str = "tiny"):
    """x3d_xs's input spec and data, a one-layer model: an export in a second."""
    from torch import nn

    from vidray.jobs.export import zoo_source

    torch_model = nn.Sequential(nn.Conv3d(3, 8, 1), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(8, 400)).eval()
    return dataclasses.replace(zoo_source("x3d_xs"), module=torch_model, name=name)


def test_exporting_the_same_model_again_keeps_the_first_bundle_locally_and_in_the_run(workdir):
    from vidray.deploy.config import DeployConfig
    from vidray.jobs.export import export_model
    from vidray.tracking import TrackingConfig

    tracking = TrackingConfig(uri=f"sqlite:///{workdir / 'mlflow.db'}")
    source = tiny_source()
    first = export_model(source, DeployConfig(quantize="fp32", eval_clips=1), tracking=tracking)
    again = export_model(dataclasses.replace(source, run_id=first.run_id), DeployConfig(quantize="fp32", eval_clips=1),
                         tracking=tracking)
    assert again.bundle.sha256 == first.bundle.sha256  # the same program ...
    assert again.folder == first.folder + "-2"  # ... saved beside the first, which is untouched
    assert json.loads(open(f"{first.folder}/bundle.json").read())["sha256"] == first.bundle.sha256
    assert again.artifact_uri != first.artifact_uri and again.artifact_uri.endswith("-2")
    assert [first.registered, again.registered] == ["tiny-fp32-xnnpack/1", "tiny-fp32-xnnpack/2"]
    artifacts = {a.path for a in client(workdir).list_artifacts(first.run_id, "deploy")}
    assert len(artifacts) == 2, artifacts


def test_a_fine_tuned_checkpoint_builds_the_zoo_model_with_its_own_class_count(tmp_path):
    import torch

    from vidray.jobs.export import zoo_source
    from vidray.models import create_model

    fine_tuned = create_model("x3d_xs", num_classes=7)
    torch.save({"model_state": fine_tuned.state_dict()}, tmp_path / "fine_tuned.pyth")
    source = zoo_source("x3d_xs", checkpoint=str(tmp_path / "fine_tuned.pyth"))
    for name, tensor in fine_tuned.state_dict().items():  # every weight is the checkpoint's: no random classifier
        torch.testing.assert_close(source.module.state_dict()[name], tensor, msg=name)
    with torch.no_grad():
        assert source.module.eval()(torch.zeros(1, 3, 4, 160, 160)).shape == (1, 7)
