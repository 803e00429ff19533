"""Deploy bundles in MLflow: logged beside their source model, registered as model versions, fetched back.

A bundle (``vidray.deploy``: ``program.pte`` + ``bundle.json``) is logged as
artifacts of the run that made its source model, under
``deploy/<registered name>-<sha256 prefix>`` (a new folder per program: an
earlier export is never overwritten), and registered as a new version of a
registered model such as ``x3d-synthetic-int8-xnnpack``. The version's tags
carry what a promotion gate or a device farm needs without downloading
anything: program sha256 and size, quantization, delegation, accuracy.
Fetching a version downloads the two files and checks the sha256; nothing is
unpickled.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any, Mapping

from vidray.deploy.bundle import read_record
from vidray.errors import TrackingError
from vidray.io import first_unused
from vidray.tracking.models import REGISTERED_RUN_TAG, ensure_registered_model
from vidray.tracking.runs import RunHandle
from vidray.tracking.store import scoped_environ, tracking_client, tracking_errors

logger = logging.getLogger(__name__)

TAG_PREFIX = "vidray.deploy."
SOURCE_MODEL_TAG = "vidray.source_model"


def log_bundle(run: RunHandle, folder: str, name: str, sha256: str) -> str:
    """Uploads the bundle ``folder`` to ``run`` under ``deploy/<name>-<sha256[:12]>`` (``-2``, ... if that
    program was logged there before); returns its artifact URI."""
    stem = f"deploy/{name}-{sha256[:12]}"
    with run.errors(f"logging bundle {folder} under {stem}"):
        taken = {artifact.path for artifact in run.client.list_artifacts(run.run_id, "deploy")}
        artifact_path = first_unused(stem, taken.__contains__)  # the same program again: the earlier one kept
        run.client.log_artifacts(run.run_id, folder, artifact_path)
        base = run.client.get_run(run.run_id).info.artifact_uri
    return f"{base.rstrip('/')}/{artifact_path}"


def register_bundle(run: RunHandle, artifact_uri: str, name: str, tags: Mapping[str, Any]) -> int:
    """Adds the logged bundle at ``artifact_uri`` as a new version of registered model ``name``; returns it.

    ``tags`` (without prefix) are set on the version as ``vidray.deploy.<key>``.
    Registration only adds a version; existing versions are never changed.
    """
    client = run.client
    version_tags = {REGISTERED_RUN_TAG: run.run_id, **{f"{TAG_PREFIX}{key}": str(value) for key, value in tags.items()}}
    with run.errors(f"registering the bundle {artifact_uri} as a new version of {name!r} (the artifacts are kept)"):
        ensure_registered_model(client, name)
        version = client.create_model_version(name, source=artifact_uri, run_id=run.run_id, tags=version_tags)
    logger.info("registered bundle %s as %s version %s", artifact_uri, name, version.version)
    return int(version.version)


def download_bundle(model_uri: str, destination: str, *, tracking_uri: str) -> str:
    """Downloads the bundle of ``models:/<name>/<version>`` (or ``@alias``) into ``destination``; returns the folder.

    The bundle's recorded sha256 must be the one the version was registered with, and
    :func:`vidray.deploy.load_program` refuses a program whose bytes do not match it.
    """
    import mlflow.artifacts
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    client = tracking_client(tracking_uri)
    with tracking_errors(f"downloading the bundle {model_uri} from {tracking_uri}"):
        ids = get_model_name_and_version(client, model_uri) if model_uri.startswith("models:") else ()
        if len(ids) != 2:
            raise TrackingError(f"{model_uri}: expected models:/NAME/VERSION or models:/NAME@ALIAS of a deploy bundle")
        version = client.get_model_version(*ids)
        if f"{TAG_PREFIX}sha256" not in version.tags:
            raise TrackingError(f"{model_uri}: not a deploy bundle (no {TAG_PREFIX}sha256 tag); export it with "
                                "`vidray export`")
        folder = os.path.join(destination, f"{ids[0]}-v{ids[1]}")
        if os.path.exists(folder):
            raise TrackingError(f"{folder}: already exists; download into another folder")
        os.makedirs(destination, exist_ok=True)
        with scoped_environ(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false"):
            with tempfile.TemporaryDirectory(dir=destination) as staging:
                local = mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=staging,
                                                            tracking_uri=tracking_uri)
                recorded = read_record(local)["sha256"]
                if recorded != version.tags[f"{TAG_PREFIX}sha256"]:
                    raise TrackingError(f"{model_uri}: the bundle records program sha256 {recorded}, the version "
                                        f"was registered with {version.tags[f'{TAG_PREFIX}sha256']}; refusing it")
                os.replace(local, folder)
    return folder
