"""The final model, logged pickle-free and optionally registered by name.

The model is exported with ``torch.export`` and stored in MLflow's ``pt2``
format: the graph as JSON and the weights as raw bytes, loadable without vidray
and without unpickling any Python object (the archive's sample inputs are a
tensors-only ``torch.save`` record, which MLflow checks before loading). The batch dimension is exported dynamic, so the
loaded model takes any batch size; the other dimensions keep the example's
sizes. The signature records the input tensor(s) and the logits, with ``-1`` for
the batch.

Single-tensor models also get MLflow's JSON input example and the ``pyfunc``
flavor (``mlflow models serve``). Multi-pathway models (SlowFast: a list of
tensors) are exported as taking the pathways as positional tensors; MLflow
cannot store such an example, so it is written as ``input_example.npz`` in the
model folder, and :func:`load_logged_model` gives back a module taking the list.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import os
import tempfile
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from vidray.errors import TrackingError
from vidray.tracking.runs import RunHandle
from vidray.tracking.store import (
    TrackingConfig,
    resolve_tracking_uri,
    scoped_environ,
    tracking_client,
    tracking_errors,
)

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

INPUT_KIND_KEY = "vidray_input"  # MLmodel metadata: "tensor" or "pathways"
PATHWAYS_EXAMPLE_FILE = "input_example.npz"
REGISTERED_RUN_TAG = "vidray.run_id"


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    """Where a logged model lives, and its registered name and version if it was registered."""

    model_uri: str
    model_id: str
    artifact_uri: str
    registered_name: str | None = None
    registered_version: int | None = None

    @property
    def registered_uri(self) -> str | None:
        """``models:/<name>/<version>`` of the registered version, if any."""
        if self.registered_name is None:
            return None
        return f"models:/{self.registered_name}/{self.registered_version}"


def log_model(
    run: RunHandle,
    model: torch.nn.Module,
    example_input: torch.Tensor | Sequence[torch.Tensor],
    *,
    name: str = "model",
    register_as: str | None = None,
    metadata: Mapping[str, Any] = {},
) -> ModelRecord:
    """Logs ``model`` to ``run`` pickle-free, with signature and input example; ``register_as`` adds a version.

    ``example_input`` is one batch of the model's input (a list for multi-pathway
    models); a batch of one is repeated to two, because ``torch.export`` would fix
    a batch size of 1. The model is copied to the CPU in eval mode first; the
    caller's model is not changed. A failure leaves the run, existing registered
    versions and the (``FAILED``) logged-model record in place.
    """
    import mlflow.pytorch
    import torch
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import Model, ModelSignature
    from mlflow.types import Schema

    pathways = isinstance(example_input, (list, tuple))
    examples = [_batch_of_two(tensor) for tensor in (example_input if pathways else [example_input])]
    exportable = copy.deepcopy(model).cpu().eval()
    if pathways:
        from vidray.models.pathways import MAX_PATHWAYS, PathwaysAsArguments

        if not 1 <= len(examples) <= MAX_PATHWAYS:
            raise TrackingError(f"model {name!r}: 1 to {MAX_PATHWAYS} pathways can be logged, got {len(examples)}")
        exportable = PathwaysAsArguments(exportable)
    with torch.no_grad():
        output = exportable(*examples)
    if not isinstance(output, torch.Tensor):
        raise TrackingError(f"model {name!r}: forward must return one tensor to be logged, got {type(output).__name__}")
    signature = ModelSignature(
        inputs=Schema([_tensor_spec(t, f"pathway_{i}" if pathways else None) for i, t in enumerate(examples)]),
        outputs=Schema([_tensor_spec(output, None)]),
    )
    model_metadata = {INPUT_KIND_KEY: "pathways" if pathways else "tensor", **metadata}
    if getattr(model, "model_name", None):
        model_metadata.setdefault("vidray_model", model.model_name)

    client = run.client
    with run.errors(f"creating logged model {name!r}"):
        logged = client.create_logged_model(run.experiment_id, name=name, source_run_id=run.run_id)
    try:
        with tempfile.TemporaryDirectory(prefix="vidray-model-") as tmp:
            local = os.path.join(tmp, "model")
            try:
                with _working_directory(tmp):
                    mlflow.pytorch.save_model(
                        exportable,
                        local,
                        serialization_format="pt2",
                        signature=signature,
                        # MLflow stores a numpy example (JSON); tensors are only used for the export.
                        input_example=tuple(examples) if pathways else examples[0].numpy(),
                        pip_requirements=[f"torch=={_public_version(torch.__version__)}"],
                        metadata=model_metadata,
                        mlflow_model=Model(
                            artifact_path=logged.artifact_location,
                            run_id=run.run_id,
                            model_uuid=logged.model_id,
                            model_id=logged.model_id,
                        ),
                    )
            except Exception as exc:  # torch.export rejects e.g. data-dependent control flow
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise TrackingError(
                    f"model {name!r} cannot be saved pickle-free with torch.export: {first_line}"
                ) from exc
            if pathways:
                _save_pathways_example(os.path.join(local, PATHWAYS_EXAMPLE_FILE), examples)
            with run.errors(f"uploading model {name!r}"):
                client.log_model_artifacts(logged.model_id, local)
        with run.errors(f"finalizing model {name!r}"):
            client.log_outputs(run.run_id, [LoggedModelOutput(logged.model_id, step=0)])
            client.finalize_logged_model(logged.model_id, "READY")
    except BaseException:
        _mark_failed(run, logged.model_id)
        raise
    record = ModelRecord(f"models:/{logged.model_id}", logged.model_id, logged.artifact_location)
    logger.info("logged model %s (run %s)", record.model_uri, run.run_id)
    return record if register_as is None else register_model(run, record, register_as)


def register_model(run: RunHandle, record: ModelRecord, name: str) -> ModelRecord:
    """Adds ``record`` as a new version of registered model ``name`` (created if missing), tagged with the run.

    Registration only ever adds: existing versions are never changed, and if it
    fails the logged model stays and can be registered again.
    """
    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    client = run.client
    with run.errors(f"registering {record.model_uri} as a new version of {name!r} (the logged model is kept)"):
        ensure_registered_model(client, name)
        version = client.create_model_version(
            name,
            # The files' location, not models:/<id>: MLflow resolves that with its global tracking URI.
            source=record.artifact_uri,
            run_id=run.run_id,
            tags={REGISTERED_RUN_TAG: run.run_id},
            model_id=record.model_id,
        )
        # Links the logged model to its versions in the UI, as mlflow.register_model does.
        links = json.loads(client.get_logged_model(record.model_id).tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
        links.append({"name": name, "version": version.version})
        client.set_logged_model_tags(record.model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(links)})
    logger.info("registered %s as %s version %s", record.model_uri, name, version.version)
    return dataclasses.replace(record, registered_name=name, registered_version=int(version.version))


def ensure_registered_model(client: Any, name: str) -> None:
    """Creates registered model ``name`` unless it exists (two jobs may race to create it: both succeed)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ALREADY_EXISTS, RESOURCE_ALREADY_EXISTS, ErrorCode

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code not in (ErrorCode.Name(RESOURCE_ALREADY_EXISTS), ErrorCode.Name(ALREADY_EXISTS)):
            raise


@dataclasses.dataclass(frozen=True)
class LoggedModel:
    """A model logged by :func:`log_model`, loaded: the module and what its MLmodel file records."""

    module: torch.nn.Module
    metadata: dict[str, Any]  # the ``metadata`` given to log_model (model name, classes, mean, std, ...)
    input_shapes: tuple[tuple[int, ...], ...]  # per input, without the batch dimension
    run_id: str | None  # the run that logged it


def load_logged_model(model_uri: str, *, tracking_uri: str | None = None) -> torch.nn.Module:
    """Loads a model logged by :func:`log_model` (``models:/<id>`` or ``models:/<name>/<version>``).

    ``tracking_uri`` defaults as in :class:`TrackingConfig` (``$MLFLOW_TRACKING_URI``,
    else the sqlite store in the working directory). Only pickle-free (``pt2``)
    models are loaded, and MLflow checks the archive holds no pickled objects. The
    result is an exported graph module: call it, do not train it (``eval()`` is not
    supported on it).
    """
    return read_logged_model(model_uri, tracking_uri=tracking_uri).module


def read_logged_model(model_uri: str, *, tracking_uri: str | None = None) -> LoggedModel:
    """:func:`load_logged_model` with the record around the module: metadata, input shapes, source run."""
    import mlflow.artifacts
    import mlflow.pytorch
    from mlflow.models import Model

    uri = tracking_uri or resolve_tracking_uri(TrackingConfig())
    with tempfile.TemporaryDirectory(prefix="vidray-model-") as tmp:
        with tracking_errors(f"loading model {model_uri} from {uri}"):
            source = _artifact_location(tracking_client(uri), model_uri)
            with scoped_environ(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false"):  # the library does not print
                local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp, tracking_uri=uri)
            mlmodel = Model.load(local)
            flavor = mlmodel.flavors.get("pytorch")
            if flavor is None or not os.path.isfile(os.path.join(local, flavor["model_data"], "model.pt2")):
                raise TrackingError(
                    f"model {model_uri}: not a pickle-free (pt2) PyTorch model; vidray does not unpickle models"
                )
            # "false" makes MLflow verify that the archive holds no pickled objects before loading it.
            with scoped_environ(MLFLOW_ALLOW_PICKLE_DESERIALIZATION="false"):
                program = mlflow.pytorch.load_model(local)
    metadata = dict(mlmodel.metadata or {})
    if metadata.get(INPUT_KIND_KEY) == "pathways":
        from vidray.models.pathways import PathwaysAsList

        program = PathwaysAsList(program)
    inputs = mlmodel.get_input_schema()
    shapes = tuple(tuple(int(size) for size in spec.shape[1:]) for spec in inputs.inputs) if inputs else ()
    return LoggedModel(program, metadata, shapes, mlmodel.run_id)


@contextlib.contextmanager
def _working_directory(folder: str) -> Iterator[None]:
    """Runs in ``folder``: MLflow parses requirements relative to the working directory,
    which a Ray job may no longer have (its runtime-env copy can be cleaned up once
    the training workers exit)."""
    try:
        previous: str | None = os.getcwd()
    except FileNotFoundError:
        previous = None
    os.chdir(folder)
    try:
        yield
    finally:
        if previous is not None and os.path.isdir(previous):
            os.chdir(previous)


def _artifact_location(client: Any, model_uri: str) -> str:
    """Where a ``models:/`` URI's files are, looked up with ``client`` (MLflow's own lookup uses the global URI)."""
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    if not model_uri.startswith("models:"):
        return model_uri
    ids = get_model_name_and_version(client, model_uri)
    if len(ids) == 1:
        return client.get_logged_model(ids[0]).artifact_location
    return client.get_model_version_download_uri(*ids)


def _batch_of_two(tensor: torch.Tensor) -> torch.Tensor:
    import torch

    if tensor.ndim == 0:
        raise TrackingError("example input must be batched ([B, ...]); got a scalar tensor")
    tensor = tensor.detach().cpu()
    return torch.cat([tensor, tensor]) if tensor.shape[0] == 1 else tensor


def _tensor_spec(tensor: torch.Tensor, name: str | None) -> Any:
    from mlflow.types import TensorSpec

    return TensorSpec(tensor.detach().cpu().numpy().dtype, (-1, *tensor.shape[1:]), name=name)


def _public_version(version: str) -> str:
    """``2.14.1+cu130`` -> ``2.14.1``: pip requirements name the release, not the local build."""
    return version.split("+", 1)[0]


def _save_pathways_example(path: str, examples: list[torch.Tensor]) -> None:
    import numpy as np

    arrays = {f"pathway_{i}": tensor.numpy() for i, tensor in enumerate(examples)}
    with open(path, "wb") as file:  # plain .npy records: loadable with allow_pickle=False
        np.savez(file, **arrays)


def _mark_failed(run: RunHandle, model_id: str) -> None:
    try:
        with run.errors(f"marking logged model {model_id} FAILED"):
            run.client.finalize_logged_model(model_id, "FAILED")
    except TrackingError as exc:
        logger.warning("%s", exc)
