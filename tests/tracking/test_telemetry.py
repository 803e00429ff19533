"""Live metrics: nothing outside Ray, and every metric scraped from the nodes' metrics agents inside it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from vidray.tracking.telemetry import METRICS, FarmTelemetry, IngestTelemetry, TrainTelemetry

_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)\{(?P<labels>.*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
EXPORT_SECONDS = 120  # each process exports to its node's agent every ~10 s, on its own schedule


def test_outside_ray_records_nothing_and_raises_nothing():
    # A fresh interpreter: this test session may already be connected to a cluster.
    script = """
import pickle
from vidray.tracking.telemetry import FarmTelemetry, IngestTelemetry, TrainTelemetry
train, ingest, farm = TrainTelemetry("plain", rank=0), IngestTelemetry("train", run_name="plain"), FarmTelemetry()
train.step(loss=1.0, lr=0.1, clips_per_s=5.0, step_seconds=0.2)
train.epoch(1, train_loss=1.0, clips_per_s=5.0)
train.evaluation(top1=0.5, map_=None)
ingest.clips(3); ingest.skipped(1); ingest.decode_seconds(0.05)
farm.measured("cpu-1t", "cpu0", 12.5); farm.fault("cpu-1t", "cpu0")
print(train.enabled, ingest.enabled, farm.enabled, pickle.loads(pickle.dumps(train)).enabled)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "False", "False"]


def _scrape(ports: list[tuple[str, int]]) -> list[tuple[str, dict[str, str], float]]:
    samples = []
    for host, port in ports:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
            body = response.read().decode()
        for line in body.splitlines():
            match = _SAMPLE.match(line)
            if match and match["name"].startswith("ray_vidray_"):
                samples.append((match["name"], dict(_LABEL.findall(match["labels"])), float(match["value"])))
    return samples


@pytest.fixture(scope="module")
def exported(ray_cluster):
    """Metrics recorded in Ray workers as rank 0, rank 1, a decode actor and a farm device, then scraped
    from every node (farm series carry the run's name in their ``kind`` label)."""
    import ray

    ray_cluster.connect()
    run = f"telemetry-{uuid.uuid4().hex[:8]}"

    @ray.remote(num_cpus=0)
    def train_worker(rank: int) -> bool:
        telemetry = TrainTelemetry(f"{run}-rank{rank}", rank)
        telemetry.step(loss=0.75, lr=0.01, clips_per_s=40.0, step_seconds=0.3)
        telemetry.step(loss=0.5, lr=0.02, clips_per_s=50.0, step_seconds=0.4)
        telemetry.epoch(1, train_loss=0.6, clips_per_s=45.0)
        telemetry.evaluation(top1=0.25, map_=0.5)
        return telemetry.enabled

    @ray.remote(num_cpus=0)
    def decode_actor(telemetry: IngestTelemetry) -> bool:  # made in the driver, pickled to the worker
        telemetry.clips(8)
        telemetry.clips(4)
        telemetry.skipped(1)
        telemetry.decode_seconds(0.02)
        return telemetry.enabled

    @ray.remote(num_cpus=0)
    def device_actor() -> bool:
        telemetry = FarmTelemetry()
        telemetry.measured(f"{run}-kind", "device-a", 12.5)
        telemetry.fault(f"{run}-kind", "device-b")
        return telemetry.enabled

    ingest = IngestTelemetry("val", run)
    enabled = ray.get([train_worker.remote(0), train_worker.remote(1), decode_actor.remote(ingest), device_actor.remote()])
    ports = [(node["NodeManagerAddress"], node["MetricsExportPort"]) for node in ray.nodes() if node["Alive"]]
    deadline = time.monotonic() + EXPORT_SECONDS
    while True:  # until every process's final values are in: each exports on its own schedule
        samples = [s for s in _scrape(ports) if s[1].get("run", s[1].get("kind", "")).startswith(run)]
        missing = _not_yet_exported(run, samples)
        if not missing:
            return run, enabled, samples
        if time.monotonic() > deadline:
            pytest.fail(f"after {EXPORT_SECONDS} s the metrics agents still lack {missing}")
        time.sleep(1.0)


def _not_yet_exported(run: str, samples) -> list[str]:
    """What the tests below assert that the scrape does not show yet (series, and the final values)."""
    names = {name for name, _, _ in samples}
    missing = sorted({series for spec in METRICS for series in spec.exported_series} - names)
    rank1 = {name for name, tags, _ in samples if tags.get("run") == f"{run}-rank1"}
    missing += [f"{name} of rank 1" for name in sorted(RANK1_SERIES - rank1)]
    for (name, labels), value in final_values(run).items():
        found = [v for n, tags, v in samples if n == name and dict(labels).items() <= tags.items()]
        if found != [value]:
            missing.append(f"{name}{dict(labels)} == {value} (scraped: {found})")
    return missing


RANK1_SERIES = {"ray_vidray_train_step_seconds_bucket", "ray_vidray_train_step_seconds_sum",
                "ray_vidray_train_step_seconds_count"}


def final_values(run: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The values the workers above leave behind, by series and labels."""
    rank0 = (("run", f"{run}-rank0"),)
    return {
        ("ray_vidray_train_loss", rank0): 0.5,  # a gauge keeps the last value
        ("ray_vidray_train_steps_total", rank0): 2.0,
        ("ray_vidray_train_step_seconds_count", (*rank0, ("rank", "0"))): 2.0,
        ("ray_vidray_train_step_seconds_count", (("run", f"{run}-rank1"), ("rank", "1"))): 2.0,
        ("ray_vidray_val_map", rank0): 0.5,
        ("ray_vidray_ingest_clips_total", (("run", run), ("dataset", "val"))): 12.0,
        ("ray_vidray_ingest_skipped_total", (("run", run), ("dataset", "val"))): 1.0,
        ("ray_vidray_farm_measurements_total", (("kind", f"{run}-kind"), ("device", "device-a"))): 1.0,
        ("ray_vidray_farm_latency_ms_count", (("kind", f"{run}-kind"), ("device", "device-a"))): 1.0,
        ("ray_vidray_farm_faults_total", (("kind", f"{run}-kind"), ("device", "device-b"))): 1.0,
    }


def _value(samples, name: str, **labels: str) -> float:
    found = [value for n, tags, value in samples if n == name and labels.items() <= tags.items()]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def test_every_metric_is_exported_from_ray_workers(exported):
    _, enabled, samples = exported
    assert enabled == [True, True, True, True]
    expected = {series for spec in METRICS for series in spec.exported_series}
    assert expected - {name for name, _, _ in samples} == set()


def test_exported_values_are_the_recorded_ones(exported):
    run, _, samples = exported
    for (name, labels), value in final_values(run).items():
        assert _value(samples, name, **dict(labels)) == value


def test_only_rank_zero_records_job_level_metrics(exported):
    run, _, samples = exported
    rank1 = {name for name, tags, _ in samples if tags.get("run") == f"{run}-rank1"}
    assert rank1 == RANK1_SERIES
