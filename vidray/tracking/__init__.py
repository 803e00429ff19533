"""MLflow tracking: runs, metrics, artifacts, models and the model registry.

The driver resolves and checks the store, then creates the run before any
cluster work (:func:`start_run`); the returned :class:`RunHandle` pickles into
Ray workers, whose rank 0 logs metrics with it. After training the driver logs
the final model pickle-free (:func:`log_model`) and ends the run. mlflow is
imported on first use, not by ``import vidray.tracking``.
"""

from vidray.tracking.metadata import config_hash, flatten_params, run_tags
from vidray.tracking.models import ModelRecord, load_logged_model, log_model, register_model
from vidray.tracking.runs import RunHandle, resume_run, start_run
from vidray.tracking.store import TrackingConfig, check_tracking, resolve_artifact_location, resolve_tracking_uri

__all__ = [
    "ModelRecord",
    "RunHandle",
    "TrackingConfig",
    "check_tracking",
    "config_hash",
    "flatten_params",
    "load_logged_model",
    "log_model",
    "register_model",
    "resolve_artifact_location",
    "resolve_tracking_uri",
    "resume_run",
    "run_tags",
    "start_run",
]
