"""Tracking URIs, artifact locations and the start-up check, against real sqlite files and sockets."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vidray.errors import TrackingError
from vidray.tracking import TrackingConfig, check_tracking, resolve_artifact_location, resolve_tracking_uri, start_run


def test_default_uri_is_sqlite_in_working_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = resolve_tracking_uri(TrackingConfig())
    assert uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert resolve_artifact_location(TrackingConfig(), uri) == str(tmp_path / "mlartifacts")


def test_environment_uri_is_used_and_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///stores/runs.db")
    assert resolve_tracking_uri(TrackingConfig()) == f"sqlite:///{tmp_path}/stores/runs.db"


def test_config_uri_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    assert resolve_tracking_uri(TrackingConfig(uri="http://tracking.example:5000")) == "http://tracking.example:5000"


def test_artifact_location_beside_a_configured_sqlite_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/db/mlflow.db"
    assert resolve_artifact_location(TrackingConfig(uri=uri), uri) == str(tmp_path / "db" / "mlartifacts")
    assert resolve_artifact_location(TrackingConfig(artifact_location="s3://bucket/runs"), uri) == "s3://bucket/runs"
    assert resolve_artifact_location(TrackingConfig(), "http://127.0.0.1:5000") is None


def test_default_store_keeps_runs_and_artifacts_in_working_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = start_run(TrackingConfig(), name="defaults", params={}, tags={}, config_text="name: defaults\n")
    run.finish()
    assert (tmp_path / "mlflow.db").is_file()
    assert run.client.get_experiment_by_name("defaults").artifact_location == str(tmp_path / "mlartifacts")
    assert (tmp_path / "mlartifacts" / run.run_id / "artifacts" / "config.yaml").read_text() == "name: defaults\n"


def test_unreachable_server_fails_fast_naming_the_uri(unused_port: int) -> None:
    uri = f"http://127.0.0.1:{unused_port}"
    started = time.monotonic()
    with pytest.raises(TrackingError, match=uri):
        check_tracking(uri, timeout_s=5)
    assert time.monotonic() - started < 15


def test_start_run_refuses_an_unreachable_server(unused_port: int) -> None:
    uri = f"http://127.0.0.1:{unused_port}"
    with pytest.raises(TrackingError, match="not usable"):
        start_run(TrackingConfig(uri=uri), name="down", params={}, tags={}, config_text=None)


def test_unwritable_sqlite_path_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    with pytest.raises(TrackingError, match="cannot create the sqlite database's folder"):
        check_tracking(f"sqlite:///{blocker}/mlflow.db")


def test_unsupported_scheme_is_reported() -> None:
    with pytest.raises(TrackingError, match="nosuchscheme://host"):
        check_tracking("nosuchscheme://host/store")
