"""The final model: logged pickle-free, loaded back, registered; against a real sqlite store."""

from __future__ import annotations

import io
import json
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path

import mlflow.pytorch
import numpy as np
import pytest
import torch
from mlflow.models import Model
from torch import nn

from vidray.errors import TrackingError
from vidray.tracking import (
    ModelRecord,
    RunHandle,
    TrackingConfig,
    load_logged_model,
    log_model,
    register_model,
    start_run,
)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


class TinyVideoNet(nn.Module):
    """A conv-pool-linear classifier on [B, 3, T, H, W]: seconds to export, unlike a zoo model."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm3d(4)
        self.head = nn.Linear(4, 5)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.head(self.bn(self.conv(video)).mean(dim=(2, 3, 4)))


class TwoPathwayNet(nn.Module):
    """Takes a list [slow, fast], like SlowFast."""

    def __init__(self) -> None:
        super().__init__()
        self.slow = nn.Linear(6, 3)
        self.fast = nn.Linear(4, 3)

    def forward(self, pathways: list[torch.Tensor]) -> torch.Tensor:
        return self.slow(pathways[0].flatten(1)) + self.fast(pathways[1].flatten(1))


class DataDependentNet(nn.Module):
    """Branches on tensor values, which torch.export cannot capture."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x) if x.sum() > 0 else -self.head(x)


@dataclass
class Logged:
    run: RunHandle
    record: ModelRecord
    model: nn.Module
    example: torch.Tensor

    @property
    def folder(self) -> Path:
        return Path(self.run.client.get_logged_model(self.record.model_id).artifact_location)


def _run(store_uri: str, experiment: str) -> RunHandle:
    return start_run(TrackingConfig(uri=store_uri, experiment=experiment), name="", params={}, tags={}, config_text=None)


@pytest.fixture(scope="module")
def logged(store_uri: str) -> Logged:
    """The tiny model logged once for the module; tests inspect it without changing it."""
    torch.manual_seed(0)
    model = TinyVideoNet().eval()
    example = torch.randn(1, 3, 2, 8, 8)
    run = _run(store_uri, "tiny")
    return Logged(run, log_model(run, model, example), model, example)


def test_loaded_model_gives_the_same_outputs(logged: Logged) -> None:
    loaded = load_logged_model(logged.record.model_uri, tracking_uri=logged.run.uri)
    with torch.no_grad():
        torch.testing.assert_close(loaded(logged.example), logged.model(logged.example))


def test_loaded_model_takes_any_batch_size(logged: Logged) -> None:
    loaded = load_logged_model(logged.record.model_uri, tracking_uri=logged.run.uri)
    batch = torch.randn(3, 3, 2, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch), logged.model(batch))


def test_signature_describes_input_and_logits(logged: Logged) -> None:
    signature = Model.load(logged.folder).signature
    [video], [logits] = signature.inputs.inputs, signature.outputs.inputs
    assert (video.type, video.shape) == (np.dtype("float32"), (-1, 3, 2, 8, 8))
    assert (logits.type, logits.shape) == (np.dtype("float32"), (-1, 5))


def test_input_example_is_stored(logged: Logged) -> None:
    info = Model.load(logged.folder).saved_input_example_info
    example = json.loads((logged.folder / info["artifact_path"]).read_text())
    assert np.asarray(example).shape == (2, 3, 2, 8, 8)  # the batch of one, repeated for a dynamic batch


def test_no_pickle_of_the_module_is_written(logged: Logged) -> None:
    files = [path for path in logged.folder.rglob("*") if path.is_file()]
    assert {path.name for path in files} >= {"MLmodel", "model.pt2"}
    assert not any(path.suffix in (".pth", ".pkl") or path.name == "pickle_module_info.txt" for path in files)
    referenced = set()
    for path in files:
        if zipfile.is_zipfile(path):
            referenced |= _pickled_globals(path.read_bytes())
    assert referenced, "expected the archive's sample inputs to be a (tensor-only) pickle"
    # Only tensor-rebuilding globals (the archive's sample inputs): nothing that rebuilds a module.
    assert referenced <= {"torch._utils _rebuild_tensor_v2", "torch FloatStorage", "collections OrderedDict"}


def test_registering_twice_adds_versions_one_and_two(logged: Logged) -> None:
    first = register_model(logged.run, logged.record, "tiny-classifier")
    second = register_model(logged.run, logged.record, "tiny-classifier")
    assert (first.registered_version, second.registered_version) == (1, 2)
    versions = logged.run.client.search_model_versions("name='tiny-classifier'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert all(v.tags["vidray.run_id"] == logged.run.run_id for v in versions)
    links = logged.run.client.get_logged_model(logged.record.model_id).tags["mlflow.modelVersions"]
    assert ("tiny-classifier", 2) in [(link["name"], int(link["version"])) for link in json.loads(links)]


def test_registered_version_loads_by_name(logged: Logged) -> None:
    record = register_model(logged.run, logged.record, "tiny-by-name")
    loaded = load_logged_model(record.registered_uri, tracking_uri=logged.run.uri)
    with torch.no_grad():
        torch.testing.assert_close(loaded(logged.example), logged.model(logged.example))


def test_failed_export_keeps_run_and_registered_versions(logged: Logged) -> None:
    kept = register_model(logged.run, logged.record, "kept-classifier")
    with pytest.raises(TrackingError, match="cannot be saved pickle-free"):
        log_model(logged.run, DataDependentNet(), torch.randn(2, 4), register_as="kept-classifier")
    client = logged.run.client
    assert [int(v.version) for v in client.search_model_versions("name='kept-classifier'")] == [kept.registered_version]
    assert client.get_run(logged.run.run_id).info.lifecycle_stage == "active"
    statuses = [m.status for m in client.search_logged_models(experiment_ids=[logged.run.experiment_id])]
    assert sorted(str(status) for status in statuses) == ["FAILED", "READY"]


def test_multi_pathway_model_round_trips_with_a_list(store_uri: str) -> None:
    model = TwoPathwayNet().eval()
    example = [torch.randn(1, 6), torch.randn(1, 4)]
    run = _run(store_uri, "pathways")
    record = log_model(run, model, example)
    loaded = load_logged_model(record.model_uri, tracking_uri=run.uri)
    batch = [torch.randn(3, 6), torch.randn(3, 4)]
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch), model(batch))
    folder = Path(run.client.get_logged_model(record.model_id).artifact_location)
    with np.load(folder / "input_example.npz", allow_pickle=False) as stored:
        assert [stored[name].shape for name in ("pathway_0", "pathway_1")] == [(2, 6), (2, 4)]


def test_pickled_models_are_refused(tmp_path: Path) -> None:
    mlflow.pytorch.save_model(
        nn.Linear(2, 2), str(tmp_path / "pickled"), serialization_format="pickle", pip_requirements=["torch"]
    )
    with pytest.raises(TrackingError, match="not a pickle-free"):
        load_logged_model(str(tmp_path / "pickled"), tracking_uri=f"sqlite:///{tmp_path}/unused.db")


def test_zoo_model_round_trips(store_uri: str) -> None:
    from vidray.models import create_model

    model = create_model("x3d_xs", num_classes=4).eval()
    example = torch.randn(1, 3, 4, 160, 160)  # the smallest input x3d_xs accepts
    run = _run(store_uri, "zoo")
    record = log_model(run, model, example)
    loaded = load_logged_model(record.model_uri, tracking_uri=run.uri)
    with torch.no_grad():
        torch.testing.assert_close(loaded(example), model(example), rtol=1e-4, atol=1e-5)
    assert Model.load(Path(run.client.get_logged_model(record.model_id).artifact_location)).metadata == {
        "vidray_input": "tensor",
        "vidray_model": "x3d_xs",
    }


def _pickled_globals(archive: bytes) -> set[str]:
    """``module name`` of every global the pickles inside a zip archive (or nested archives) reference."""
    found = set()
    with zipfile.ZipFile(io.BytesIO(archive)) as outer:
        for name in outer.namelist():
            data = outer.read(name)
            if zipfile.is_zipfile(io.BytesIO(data)):
                found |= _pickled_globals(data)
            elif name.endswith(".pkl"):
                strings: list[str] = []
                for opcode, arg, _ in pickletools.genops(data):
                    if isinstance(arg, str):
                        strings.append(arg)
                    if opcode.name in ("GLOBAL", "INST"):
                        found.add(arg.replace("\n", " "))
                    elif opcode.name == "STACK_GLOBAL":
                        found.add(f"{strings[-2]} {strings[-1]}")
    return found
