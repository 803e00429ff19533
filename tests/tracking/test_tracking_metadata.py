"""Flattened params, the config hash and provenance tags."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from vidray.tracking import config_hash, flatten_params, run_tags


def test_nested_config_becomes_dotted_params() -> None:
    config = {
        "name": "x3d-kinetics",
        "model": {"name": "x3d_xs", "args": {"num_classes": 4, "dropout": 0.5}},
        "data": {"crop": [160, 160], "decoder": None, "augment": True, "extra": {}},
    }
    assert flatten_params(config) == {
        "name": "x3d-kinetics",
        "model.name": "x3d_xs",
        "model.args.num_classes": "4",
        "model.args.dropout": "0.5",
        "data.crop.0": "160",
        "data.crop.1": "160",
        "data.decoder": "null",
        "data.augment": "true",
        "data.extra": "{}",
    }


def test_long_values_are_truncated_to_the_param_limit() -> None:
    assert flatten_params({"labels": "a" * (MAX_PARAM_VAL_LENGTH + 10)})["labels"] == "a" * MAX_PARAM_VAL_LENGTH


def test_keys_with_characters_mlflow_rejects_are_sanitised() -> None:
    assert flatten_params({"weights": {"class[0]": 1.0}}) == {"weights.class_0_": "1.0"}


def test_config_hash_ignores_key_order_and_sees_changes() -> None:
    assert config_hash({"a": 1, "b": {"c": [1, 2]}}) == config_hash({"b": {"c": [1, 2]}, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_tags_record_hashes_and_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not a git repository
    tags = run_tags(config_hash="c0ffee", manifest_hash="feed", extra={"team": "video"})
    assert tags["vidray.config_hash"] == "c0ffee"
    assert tags["vidray.dataset_manifest_hash"] == "feed"
    assert tags["team"] == "video"
    assert tags["vidray.version.torch"] == version("torch")
    assert tags["vidray.version.ray"] == version("ray")
    assert tags["vidray.version.mlflow"] == version("mlflow")
    assert tags["vidray.version.python"] == platform.python_version()
    assert "mlflow.source.git.commit" not in tags


def test_tags_record_the_git_commit_and_dirty_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "train.yaml").write_text("name: a\n")
    git("add", "train.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "config")
    monkeypatch.chdir(tmp_path)
    clean = run_tags(config_hash="h", manifest_hash=None)
    assert clean["mlflow.source.git.commit"] == git("rev-parse", "HEAD")
    assert clean["vidray.git_dirty"] == "false"
    (tmp_path / "train.yaml").write_text("name: b\n")
    assert run_tags(config_hash="h", manifest_hash=None)["vidray.git_dirty"] == "true"
