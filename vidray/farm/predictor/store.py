"""Latency predictors in MLflow: one registered model per device kind and precision, a version per fit.

A fitted predictor is logged as the artifacts of a run (its folder: skops files
and ``predictor.json``) in the experiment ``vidray-latency-predictors`` and
registered as a new version of ``latency-<device kind>-<quantize>``, tagged with
its runtime version and the kernels it was fitted on. :func:`load_predictor`
fetches a version (the newest by default, or an alias) back; nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Mapping

from vidray.errors import FarmError
from vidray.farm.predictor.predictor import LatencyPredictor
from vidray.tracking import TrackingConfig, config_hash, resolve_tracking_uri, run_tags, start_run

EXPERIMENT = "vidray-latency-predictors"
TAG_PREFIX = "vidray.predictor."


def registered_name(device_kind: str, quantize: str) -> str:
    return f"latency-{device_kind}-{quantize}"


def log_predictor(predictor: LatencyPredictor, tracking: TrackingConfig, extra_tags: Mapping[str, Any] = {}) -> str:
    """Logs and registers ``predictor``; returns ``models:/NAME/VERSION``. A failure leaves the run FAILED and
    registers nothing new; earlier versions are never changed."""
    from vidray.tracking.models import ensure_registered_model

    record = predictor.record
    name = registered_name(record["device_kind"], record["quantize"])
    params = {key: str(record[key]) for key in ("device_kind", "quantize", "runtime_version", "trees", "seed")}
    run = start_run(tracking.model_copy(update={"experiment": tracking.experiment or EXPERIMENT}), name=name,
                    params=params, tags=run_tags(config_hash=config_hash(params), manifest_hash=None),
                    config_text=None)
    status = "FAILED"
    try:
        with tempfile.TemporaryDirectory(prefix="vidray-predictor-") as staging:
            with run.errors(f"logging latency predictor {name}"):
                run.client.log_artifacts(run.run_id, predictor.save(os.path.join(staging, "predictor")), "predictor")
                source = f"{run.client.get_run(run.run_id).info.artifact_uri.rstrip('/')}/predictor"
        tags = {f"{TAG_PREFIX}{key}": str(value) for key, value in {
            "device_kind": record["device_kind"], "quantize": record["quantize"],
            "runtime_version": record["runtime_version"], "overhead_ms": f"{record['overhead_ms']:.4f}",
            "kernels_profiled": json.dumps(record["kernels_profiled"], sort_keys=True), **extra_tags}.items()}
        with run.errors(f"registering latency predictor {name}"):
            ensure_registered_model(run.client, name)
            version = run.client.create_model_version(name, source=source, run_id=run.run_id, tags=tags)
        status = "FINISHED"
    finally:
        run.finish(status)
    return f"models:/{name}/{version.version}"


def load_predictor(device_kind: str, quantize: str = "int8", *, tracking: TrackingConfig | None = None,
                   version: str | None = None) -> LatencyPredictor:
    """The registered predictor of ``device_kind`` (``version``: a number or ``@alias``; default the newest)."""
    import mlflow.artifacts

    from vidray.tracking.store import scoped_environ, tracking_client, tracking_errors

    uri = resolve_tracking_uri(tracking or TrackingConfig())
    name = registered_name(device_kind, quantize)
    client = tracking_client(uri)
    with tracking_errors(f"finding latency predictor {name} in {uri}"):
        if version is None:
            versions = client.search_model_versions(f"name = '{name}'")
            if not versions:
                raise FarmError(f"no latency predictor for device kind {device_kind!r} ({quantize}) in {uri}: "
                                f"build one with `vidray farm profile --device-kind {device_kind}`")
            found = max(versions, key=lambda v: int(v.version))
        elif version.startswith("@"):
            found = client.get_model_version_by_alias(name, version[1:])
        else:
            found = client.get_model_version(name, version)
        with tempfile.TemporaryDirectory(prefix="vidray-predictor-") as staging, \
                scoped_environ(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false"):
            local = mlflow.artifacts.download_artifacts(artifact_uri=found.source, dst_path=staging, tracking_uri=uri)
            predictor = LatencyPredictor.load(local)
    predictor.record["registered"] = f"models:/{name}/{found.version}"
    return predictor


def predict(model: Any, device_kind: str, example_inputs: Any = None, *, quantize: str = "int8",
            tracking: TrackingConfig | None = None, predictor: LatencyPredictor | None = None) -> float:
    """Predicted latency (ms) on ``device_kind`` of a model: an ``nn.Module`` with its example input, or a
    zoo name (``"x3d_s"``) at its default input; the registered predictor of the kind unless one is given."""
    if isinstance(model, str):
        from vidray.models import create_model, model_spec

        example_inputs = model_spec(model).example_args(1)[0]
        model = create_model(model).eval()
    if example_inputs is None:
        raise FarmError("predict: a module needs its example_inputs (the clip shape it runs on)")
    predictor = predictor or load_predictor(device_kind, quantize, tracking=tracking)
    if predictor.device_kind != device_kind:
        raise FarmError(f"predict: the predictor given is for {predictor.device_kind!r}, not {device_kind!r}")
    return predictor.predict(model, example_inputs)
