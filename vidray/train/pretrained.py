"""Where a pretrained encoder comes from, resolved once on the driver.

``classification``'s ``encoder_checkpoint`` (``vidray run --pretrained``) takes
a checkpoint or run folder (local or ``s3://``), or an MLflow run or model:
``runs:/<run id>``, ``models:/<name>/<version>``, ``models:/<name>@<alias>``
or MLflow 3's ``models:/<model id>``. An MLflow source stands for the
checkpoint its run finished with (the run's ``vidray.checkpoint`` tag). The
config the workers get names one checkpoint folder, so every worker, and a
restart, loads the same encoder even if the pretraining run writes more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidray.errors import CheckpointError, TrackingError
from vidray.tracking.store import resolve_tracking_uri, tracking_client, tracking_errors
from vidray.train.checkpoints import read_state

if TYPE_CHECKING:
    from vidray.train.config import ExperimentConfig

MLFLOW_SOURCES = ("runs:/", "models:/")
CHECKPOINT_TAG = "vidray.checkpoint"  # set by fit on every finished run


def pin_pretrained_encoder(config: "ExperimentConfig") -> tuple["ExperimentConfig", dict[str, str]]:
    """``config`` with its ``encoder_checkpoint`` resolved to a checkpoint folder, and the tags that
    link the new run to the pretraining run; unchanged (no tags) without one."""
    source = config.task.args.get("encoder_checkpoint")
    if not source:
        return config, {}
    tags: dict[str, str] = {}
    if str(source).startswith(MLFLOW_SOURCES):
        tags["vidray.pretrained_model"] = source
        source = checkpoint_of(source, resolve_tracking_uri(config.tracking))
    state = read_state(source)
    tags.update({"vidray.encoder_checkpoint": state["folder"], "vidray.pretraining_run": state.get("mlflow_run_id", "")})
    task = config.task.model_copy(update={"args": {**config.task.args, "encoder_checkpoint": state["folder"]}})
    return config.model_copy(update={"task": task}), tags


def checkpoint_of(source: str, tracking_uri: str) -> str:
    """The final checkpoint of the vidray run behind an MLflow ``runs:/`` or ``models:/`` URI."""
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    client = tracking_client(tracking_uri)
    with tracking_errors(f"task.args.encoder_checkpoint {source} (tracking store {tracking_uri})"):
        if source.startswith("runs:/"):
            run_id = source[len("runs:/"):].strip("/").split("/")[0]
        else:
            ids = get_model_name_and_version(client, source)
            run_id = client.get_logged_model(ids[0]).source_run_id if len(ids) == 1 else client.get_model_version(*ids).run_id
        if not run_id:
            raise TrackingError(f"task.args.encoder_checkpoint {source}: the model was not logged by a run")
        run = client.get_run(run_id)
    checkpoint = run.data.tags.get(CHECKPOINT_TAG)
    if not checkpoint:
        raise CheckpointError(
            f"task.args.encoder_checkpoint {source}: run {run_id} has no {CHECKPOINT_TAG} tag "
            f"(not a finished vidray training run; status {run.info.status})"
        )
    return checkpoint
