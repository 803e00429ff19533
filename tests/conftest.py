"""Shared fixtures: real media files and a real S3 endpoint on loopback."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))  # tests/data/media.py helpers


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory):
    """A small synthetic motion dataset in Kinetics layout (written once per test session)."""
    from vidray.data.synthetic import SyntheticSpec, write_synthetic_dataset

    spec = SyntheticSpec(num_classes=4, train_per_class=4, val_per_class=2, height=48, width=64, fps=10, duration=2.0)
    return write_synthetic_dataset(str(tmp_path_factory.mktemp("synthetic")), spec)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a loopback port; boto3 reaches it through AWS_ENDPOINT_URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(
        AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    from vidray import io as vio

    vio._s3_client.cache_clear()
    yield url
    server.stop()
    vio._s3_client.cache_clear()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket; returns its ``s3://`` URI."""
    import uuid

    import boto3

    name = f"vidray-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return f"s3://{name}"
