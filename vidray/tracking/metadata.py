"""What a run records about itself: flattened params, the config hash and provenance tags."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import re
import subprocess
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Mapping

logger = logging.getLogger(__name__)

# MLflow accepts only these characters in param and metric keys (see mlflow.utils.validation).
_BAD_KEY_CHARACTERS = re.compile(r"[^/\w.\- :]")
_VERSIONED_PACKAGES = ("vidray", "torch", "ray", "mlflow")


def flatten_params(config: Mapping[str, Any]) -> dict[str, str]:
    """A nested config as MLflow params: dotted keys, list items indexed (``model.args.depths.0``).

    Scalars are written as in YAML/JSON (``true``, ``null``, ``0.001``); values
    longer than MLflow's param limit are truncated, and characters MLflow does
    not allow in keys become ``_``. Pass a pydantic config as ``model_dump(mode="json")``.
    """
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    params: dict[str, str] = {}

    def visit(value: Any, key: str) -> None:
        if isinstance(value, Mapping) and value:
            for name, item in value.items():
                visit(item, f"{key}.{name}" if key else str(name))
        elif isinstance(value, (list, tuple)) and value:
            for index, item in enumerate(value):
                visit(item, f"{key}.{index}")
        else:
            params[_BAD_KEY_CHARACTERS.sub("_", key)] = _param_value(value)[:MAX_PARAM_VAL_LENGTH]

    for name, value in config.items():
        visit(value, str(name))
    return params


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the config as canonical JSON (sorted keys, no whitespace): equal configs, equal hashes."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def run_tags(*, config_hash: str, manifest_hash: str | None, extra: Mapping[str, str] = {}) -> dict[str, str]:
    """Provenance tags: config and dataset-manifest hashes, the git commit of the working directory
    (``mlflow.source.git.commit``, shown by the MLflow UI, plus a dirty flag) and package versions."""
    tags = {"vidray.config_hash": config_hash}
    if manifest_hash is not None:
        tags["vidray.dataset_manifest_hash"] = manifest_hash
    tags.update(_git_tags())
    for package in _VERSIONED_PACKAGES:
        try:
            tags[f"vidray.version.{package}"] = version(package)
        except PackageNotFoundError:
            tags[f"vidray.version.{package}"] = "not installed"
    tags["vidray.version.python"] = platform.python_version()
    tags.update(extra)
    return tags


def _param_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float, Mapping, list, tuple)):
        return json.dumps(value)  # also the empty {} and []
    return str(value)


def _git_tags() -> dict[str, str]:
    """The commit checked out in the working directory and whether tracked files differ from it."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {}
    status = _git("status", "--porcelain", "--untracked-files=no")
    tags = {"mlflow.source.git.commit": commit}
    if status is not None:
        tags["vidray.git_dirty"] = "true" if status else "false"
    return tags


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.debug("git %s failed: %s", " ".join(args), exc)
        return None
    return result.stdout.strip() if result.returncode == 0 else None
