"""Shared fixtures: real media files and a real S3 endpoint on loopback."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))  # tests/data/media.py helpers


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--zoo-programs", action="store_true",
                     help="also export the full-size zoo models (tests/deploy/test_zoo_programs.py, ~40 min)")


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """torch on one thread for the test (tiny tensors: thread start-up costs more than it saves)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory):
    """A small synthetic motion dataset in Kinetics layout (written once per test session)."""
    from vidray.data.synthetic import SyntheticSpec, write_synthetic_dataset

    spec = SyntheticSpec(num_classes=4, train_per_class=4, val_per_class=2, height=48, width=64, fps=10, duration=2.0)
    return write_synthetic_dataset(str(tmp_path_factory.mktemp("synthetic")), spec)


@pytest.fixture(scope="session")
def motion_dataset(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The dataset the end-to-end training tests share, as a config's ``synthetic`` section (written once).

    Two classes, a stripe moving right or left (chance is 0.5), 1024 training and 256 validation
    videos (enough to tell accuracies 0.1 apart): a plain background and a full-height stripe of one colour, so the motion is all that
    tells the classes apart, and all that two clips of a video share (what self-supervised learning
    must find). Single frames carry no class information.
    """
    from vidray.data.synthetic import SyntheticSpec, write_synthetic_dataset

    fields = dict(num_classes=2, train_per_class=512, val_per_class=128, height=48, width=48, fps=15.0, duration=2.0,
                  seed=3, background="plain", bar_angle=90.0, bar_color=(230, 230, 230), bar_length=1.0)
    root = str(tmp_path_factory.mktemp("motion"))
    write_synthetic_dataset(root, SyntheticSpec(**fields))
    return {"root": root, **fields}


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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalRayCluster:
    """A real multi-node Ray cluster on this machine, started by ``cluster/local/start.sh``.

    Each node owns devices for the device farm tests (their ``device:<id>`` resources): a local
    CPU device on the head, another and an adb phone on the worker node.
    """

    DEVICES = {"head": "cpu-on-head", "worker": "cpu-on-worker"}  # local CPU devices
    PHONE = "phone-on-worker"  # an adb device: the worker node reaches the test's adb server

    def __init__(self, address: str, dashboard_url: str, state_dir: Path) -> None:
        self.address, self.dashboard_url, self.state_dir = address, dashboard_url, state_dir

    def connect(self) -> None:
        """Connects this test process as a driver (once; later calls reuse the connection)."""
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False)


def _wait_for_nodes(cluster: LocalRayCluster, nodes: int, cpus: float, timeout_s: float = 120) -> None:
    """Until the cluster shows ``nodes`` live nodes with ``cpus`` CPUs in all (a node registers with
    the head asynchronously after ``ray start`` returns); fails the session naming what it saw."""
    import time

    import ray

    cluster.connect()
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [node for node in ray.nodes() if node["Alive"]]
        total = sum(node["Resources"].get("CPU", 0.0) for node in alive)
        if len(alive) == nodes and total == cpus:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"local Ray cluster: {len(alive)} live nodes with {total:g} CPUs after {timeout_s} s, "
                        f"expected {nodes} with {cpus:g}")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRayCluster]:
    """A head node plus one worker node (2 logical CPUs each, one farm device each), with the job API on loopback.

    Shared by every platform test of the session; tests connect with
    ``ray_cluster.connect()`` and must not call ``ray.shutdown()``.
    """
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    state_dir = tmp_path_factory.mktemp("ray-cluster")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # the cluster listens on loopback only (see start.sh)
    env = {**os.environ, "VIDRAY_CLUSTER_DIR": str(state_dir), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    port, dashboard_port = _free_port(), _free_port()
    command = [str(repo / "cluster/local/start.sh"), "--workers", "1", "--cpus-per-node", "2", "--port", str(port),
               "--object-store-mb", "768", "--dashboard-port", str(dashboard_port),
               "--head-resources", json.dumps({f"device:{LocalRayCluster.DEVICES['head']}": 1}),
               "--worker-resources", "1", json.dumps({f"device:{LocalRayCluster.DEVICES['worker']}": 1,
                                                      f"device:{LocalRayCluster.PHONE}": 1})]
    started = subprocess.run(command, env=env, capture_output=True, text=True)
    if started.returncode != 0:
        subprocess.run([str(repo / "cluster/local/stop.sh")], env=env, capture_output=True)
        pytest.fail(f"cluster/local/start.sh failed:\n{started.stdout}\n{started.stderr}")
    cluster = LocalRayCluster(f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard_port}", state_dir)
    try:
        _wait_for_nodes(cluster, nodes=2, cpus=4)
        yield cluster
    finally:
        import ray

        ray.shutdown()
        subprocess.run([str(repo / "cluster/local/stop.sh")], env=env, capture_output=True)
