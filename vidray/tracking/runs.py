"""Runs: created on the driver before any cluster work, logged to from Ray workers.

A :class:`RunHandle` is three strings (tracking URI, run id, experiment id), so
it pickles into Ray tasks; each process builds its own ``MlflowClient`` for the
explicit URI and never touches MLflow's global (fluent) state. Logging from rank
0 only is the caller's job.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ContextManager, Mapping, Sequence
from urllib.parse import urlparse

from vidray.errors import TrackingError
from vidray.tracking.store import (
    TrackingConfig,
    check_tracking,
    resolve_artifact_location,
    resolve_tracking_uri,
    tracking_client,
    tracking_errors,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")
PARENT_RUN_TAG = "mlflow.parentRunId"


@dataclass(frozen=True)
class RunHandle:
    """An MLflow run addressed by URI and id; cheap to pickle and use from any process."""

    uri: str
    run_id: str
    experiment_id: str

    def __getstate__(self) -> dict[str, str]:
        return {"uri": self.uri, "run_id": self.run_id, "experiment_id": self.experiment_id}

    def __setstate__(self, state: dict[str, str]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    @cached_property
    def client(self) -> MlflowClient:
        """This process's MLflow client for :attr:`uri` (built on first use, not pickled)."""
        return tracking_client(self.uri)

    @property
    def url(self) -> str | None:
        """The run's page in the MLflow UI when the store is a server; ``None`` for local stores."""
        if urlparse(self.uri).scheme not in ("http", "https"):
            return None
        return f"{self.uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{self.run_id}"

    def log_metrics(self, metrics: Sequence[tuple[str, float, int]]) -> None:
        """Logs ``(key, value, step)`` triples in as few requests as MLflow's batch limits allow."""
        from mlflow.entities import Metric
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        timestamp = int(time.time() * 1000)
        entries = [Metric(key, float(value), timestamp, int(step)) for key, value, step in metrics]
        with self.errors(f"logging {len(entries)} metric value(s)"):
            for start in range(0, len(entries), MAX_METRICS_PER_BATCH):
                self.client.log_batch(self.run_id, metrics=entries[start:start + MAX_METRICS_PER_BATCH])

    def last_step(self, key: str) -> int | None:
        """The largest step logged for metric ``key`` (``None`` if never logged): where a resumed job continues."""
        with self.errors(f"reading the history of metric {key!r}"):
            history = self.client.get_metric_history(self.run_id, key)
        return max((metric.step for metric in history), default=None)

    def log_artifact_bytes(self, data: bytes, artifact_file: str) -> None:
        """Stores ``data`` as the artifact ``artifact_file`` (e.g. ``"evaluation/confusion_matrix.png"``)."""
        folder, name = os.path.split(artifact_file)
        if not name:
            raise TrackingError(f"MLflow run {self.run_id}: artifact file {artifact_file!r} has no file name")
        with tempfile.TemporaryDirectory(prefix="vidray-artifact-") as tmp:
            path = os.path.join(tmp, name)
            with open(path, "wb") as file:
                file.write(data)
            with self.errors(f"storing artifact {artifact_file}"):
                self.client.log_artifact(self.run_id, path, artifact_path=folder or None)

    def log_text(self, text: str, artifact_file: str) -> None:
        """Stores ``text`` as the artifact ``artifact_file`` (e.g. the experiment's config file)."""
        with self.errors(f"storing artifact {artifact_file}"):
            self.client.log_text(self.run_id, text, artifact_file)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Sets (or overwrites) run tags; values are truncated to MLflow's limit."""
        from mlflow.entities import RunTag
        from mlflow.utils.validation import MAX_PARAMS_TAGS_PER_BATCH, MAX_TAG_VAL_LENGTH

        entries = [RunTag(key, str(value)[:MAX_TAG_VAL_LENGTH]) for key, value in tags.items()]
        with self.errors(f"setting {len(entries)} tag(s)"):
            for start in range(0, len(entries), MAX_PARAMS_TAGS_PER_BATCH):
                self.client.log_batch(self.run_id, tags=entries[start:start + MAX_PARAMS_TAGS_PER_BATCH])

    def finish(self, status: str = "FINISHED") -> None:
        """Ends the run as ``FINISHED``, ``FAILED`` or ``KILLED``; everything logged stays."""
        if status not in RUN_STATUSES:
            raise TrackingError(f"run {self.run_id}: status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        with self.errors(f"ending the run as {status}"):
            self.client.set_terminated(self.run_id, status)

    def errors(self, what: str) -> ContextManager[None]:
        """A block whose MLflow, network and file failures become a :class:`TrackingError` naming this run."""
        return tracking_errors(f"MLflow run {self.run_id} at {self.uri}: {what}")


def start_run(
    config: TrackingConfig,
    *,
    name: str,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    config_text: str | None,
    config_filename: str = "config.yaml",
    parent_run_id: str | None = None,
) -> RunHandle:
    """Checks the store, then creates a run in the experiment ``config.experiment or name``.

    The experiment is created (with the configured artifact location) if it does
    not exist and reused if it does. ``params`` come from :func:`flatten_params`,
    ``tags`` from :func:`run_tags`; ``config_text`` is stored as the artifact
    ``config_filename``. A child run (a trial) names its ``parent_run_id``. If
    anything fails after the run exists, the run is kept and marked ``FAILED``.
    """
    from mlflow.entities import Param
    from mlflow.utils.validation import MAX_PARAMS_TAGS_PER_BATCH

    uri = resolve_tracking_uri(config)
    check_tracking(uri)
    client = tracking_client(uri)
    experiment_id = _experiment_id(client, uri, config.experiment or name, resolve_artifact_location(config, uri))
    run_tags = dict(tags)
    if parent_run_id is not None:
        run_tags[PARENT_RUN_TAG] = parent_run_id
    with tracking_errors(f"MLflow tracking store {uri}: creating a run in experiment {experiment_id}"):
        info = client.create_run(experiment_id, run_name=config.run_name).info
    run = RunHandle(uri, info.run_id, experiment_id)
    try:
        run.set_tags(run_tags)
        entries = [Param(key, str(value)) for key, value in params.items()]
        with run.errors(f"logging {len(entries)} param(s)"):
            for start in range(0, len(entries), MAX_PARAMS_TAGS_PER_BATCH):
                client.log_batch(run.run_id, params=entries[start:start + MAX_PARAMS_TAGS_PER_BATCH])
        if config_text is not None:
            run.log_text(config_text, config_filename)
    except TrackingError:
        _finish_quietly(run, "FAILED")
        raise
    logger.info("MLflow run %s in experiment %s at %s", run.run_id, experiment_id, uri)
    return run


def resume_run(uri: str, run_id: str) -> RunHandle:
    """Reopens an existing run (status ``RUNNING`` again) to continue logging; nothing logged is lost."""
    uri = resolve_tracking_uri(TrackingConfig(uri=uri))
    check_tracking(uri)
    client = tracking_client(uri)
    with tracking_errors(f"MLflow tracking store {uri}: run {run_id}"):
        info = client.get_run(run_id).info
    if info.lifecycle_stage == "deleted":
        raise TrackingError(
            f"MLflow run {run_id} at {uri} is deleted; restore it with "
            f"`MLFLOW_TRACKING_URI={uri} mlflow runs restore --run-id {run_id}` to resume it"
        )
    run = RunHandle(uri, run_id, info.experiment_id)
    with run.errors("reopening the run"):
        client.update_run(run_id, status="RUNNING")
    return run


def _experiment_id(client: MlflowClient, uri: str, name: str, artifact_location: str | None) -> str:
    """The id of experiment ``name``, created when missing; a deleted one is an error (never reused silently)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

    where = f"MLflow tracking store {uri}: experiment {name!r}"
    with tracking_errors(where):
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return client.create_experiment(name, artifact_location=artifact_location)
            except MlflowException as exc:  # created concurrently by another job: use it
                if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                    raise
            experiment = client.get_experiment_by_name(name)
    if experiment is None:
        raise TrackingError(f"{where}: could not be created or found")
    if experiment.lifecycle_stage == "deleted":
        raise TrackingError(
            f"{where} exists but is deleted (id {experiment.experiment_id}). Restore it with "
            f"`MLFLOW_TRACKING_URI={uri} mlflow experiments restore --experiment-id {experiment.experiment_id}`, "
            "or choose another name (tracking.experiment)"
        )
    if artifact_location and experiment.artifact_location.rstrip("/") != artifact_location.rstrip("/"):
        logger.info("experiment %r keeps its artifact location %s", name, experiment.artifact_location)
    return experiment.experiment_id


def _finish_quietly(run: RunHandle, status: str) -> None:
    try:
        run.finish(status)
    except TrackingError as exc:  # the store already failed once; keep the original error
        logger.warning("could not mark %s: %s", run.run_id, exc)
