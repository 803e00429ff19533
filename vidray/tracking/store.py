"""Where runs are recorded: the tracking config section, URI resolution and the start-up check.

The default store is a sqlite file in the working directory with artifacts in a
folder beside it, so tracking works with no server; any ``mlflow server`` URI
(or other MLflow store) is used the same way. Workers in other processes (Ray
Train) may have another working directory, so local stores are resolved to
absolute paths once, on the driver.

mlflow is imported only when a store is used: experiment configs import
:class:`TrackingConfig` without paying for it.
"""

from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlparse

from vidray.config import Config
from vidray.errors import TrackingError

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

DEFAULT_DB_FILE = "mlflow.db"
DEFAULT_ARTIFACT_FOLDER = "mlartifacts"
_SQLITE_PREFIX = "sqlite:///"


class TrackingConfig(Config):
    """The ``tracking`` section of an experiment config: where runs go and what the final model is registered as."""

    uri: str | None = None  # None: $MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db
    artifact_location: str | None = None  # for new experiments; None: mlartifacts/ beside a sqlite db, else the server's
    experiment: str | None = None  # None: the config's name (one experiment per config)
    register_model: str | None = None  # registered-model name the final model becomes a new version of
    run_name: str | None = None  # None: MLflow picks one


def resolve_tracking_uri(config: TrackingConfig) -> str:
    """The tracking URI to use, with local stores as absolute paths (workers may run elsewhere)."""
    uri = config.uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not uri:
        return _SQLITE_PREFIX + str(Path.cwd() / DEFAULT_DB_FILE)
    scheme = urlparse(uri).scheme
    if scheme == "sqlite":
        path, query = _sqlite_path(uri)
        return _SQLITE_PREFIX + str(path.absolute()) + query
    if scheme == "file":
        return Path(urlparse(uri).path).absolute().as_uri()
    if not scheme:  # a bare folder: MLflow's file store
        return Path(uri).absolute().as_uri()
    return uri


def resolve_artifact_location(config: TrackingConfig, uri: str) -> str | None:
    """Artifact root for new experiments; ``None`` leaves it to the store (a server's default)."""
    location = config.artifact_location
    if location:
        return location if urlparse(location).scheme else str(Path(location).absolute())
    if urlparse(uri).scheme == "sqlite":
        return str(_sqlite_path(uri)[0].parent / DEFAULT_ARTIFACT_FOLDER)
    return None


def check_tracking(uri: str, timeout_s: float = 10) -> None:
    """Fails fast, with a :class:`TrackingError` naming ``uri`` and the reason, if the store is unusable.

    Runs one cheap request (listing one experiment; for sqlite this creates the
    database) with MLflow's HTTP retries switched off and the request timeout
    bounded, so a server that is down is reported in seconds instead of after
    MLflow's minutes of retries. Call it before starting long work, from the
    driver's main thread (the bounds are set through the process environment
    for the duration of the check).
    """
    scheme = urlparse(uri).scheme
    if scheme == "sqlite":
        database = _sqlite_path(uri)[0]
        _check_local_folder(uri, database.parent, "sqlite database")
        if database.exists() and not os.access(database, os.W_OK):
            raise TrackingError(f"MLflow tracking URI {uri}: the sqlite database {database} is not writable")
    elif scheme == "file":
        _check_local_folder(uri, Path(urlparse(uri).path), "file store")
    timeout = str(max(1, math.ceil(timeout_s)))
    with scoped_environ(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=timeout):
        with tracking_errors(f"MLflow tracking store {uri} is not usable"):
            tracking_client(uri).search_experiments(max_results=1)


def tracking_client(uri: str) -> MlflowClient:
    """An MLflow client bound to ``uri`` (no global MLflow state is read or changed)."""
    from mlflow import MlflowClient

    with tracking_errors(f"MLflow tracking URI {uri}"):
        return MlflowClient(tracking_uri=uri)


@contextmanager
def tracking_errors(what: str) -> Iterator[None]:
    """Turns MLflow, network and file-system failures into a :class:`TrackingError` saying ``what`` failed."""
    from mlflow.exceptions import MlflowException
    from requests import RequestException

    try:
        yield
    except MlflowException as exc:
        raise TrackingError(f"{what}: {str(exc.message).strip()}") from exc
    except (RequestException, OSError) as exc:
        raise TrackingError(f"{what}: {exc}") from exc


@contextmanager
def scoped_environ(**variables: str) -> Iterator[None]:
    """Sets environment variables for the duration of a block (MLflow reads its knobs from there)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _sqlite_path(uri: str) -> tuple[Path, str]:
    """The database file of a ``sqlite:///`` URI and its query string (``?...`` or empty)."""
    if not uri.startswith(_SQLITE_PREFIX):
        raise TrackingError(f"MLflow tracking URI {uri}: a sqlite URI must start with {_SQLITE_PREFIX!r}")
    path, sep, query = uri[len(_SQLITE_PREFIX):].partition("?")
    if not path or path == ":memory:":
        raise TrackingError(f"MLflow tracking URI {uri}: needs a database file that other processes can open")
    return Path(path), sep + query


def _check_local_folder(uri: str, folder: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise TrackingError(f"MLflow tracking URI {uri}: cannot create the {what}'s folder {folder}: {reason}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise TrackingError(f"MLflow tracking URI {uri}: the {what}'s folder {folder} is not writable")
