"""The device farm on the real two-node Ray cluster: one local CPU device on each node.

The devices are the cluster's own (``tests/conftest.py`` starts the head with
``device:cpu-on-head`` and the worker node with ``device:cpu-on-worker``), pinned
to different cores, of one kind, so a request may run on either.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from vidray.errors import ConfigError, DeployError, FarmError
from vidray.farm import DeviceFarm, FarmConfig, load_farm_config

pytestmark = pytest.mark.timeout(900)


def farm_config(ray_cluster, **overrides) -> FarmConfig:
    devices = [{"id": device_id, "kind": "cpu", "threads": 1, "options": {"cpus": [core]}}
               for core, device_id in enumerate(ray_cluster.DEVICES.values())]
    return FarmConfig.model_validate({"devices": devices, "warmup": 2, "repeats": 20, **overrides})


def test_each_device_runs_on_the_node_that_owns_it_and_both_measure_one_program(ray_cluster, program):
    import ray

    ray_cluster.connect()
    with DeviceFarm(farm_config(ray_cluster)) as farm:
        devices = {device["id"]: device for device in farm.devices()}
        resources = {node["NodeID"]: node["Resources"] for node in ray.nodes() if node["Alive"]}
        assert "head" in resources[devices["cpu-on-head"]["node_id"]]
        assert "worker_node" in resources[devices["cpu-on-worker"]["node_id"]]
        futures = [farm.submit(program, "cpu") for _ in range(2)]  # two idle devices: one request each
        results = [future.result(timeout=300) for future in futures]
    assert {result.device_id for result in results} == {"cpu-on-head", "cpu-on-worker"}
    for result in results:
        assert len(result.samples_ms) == 20 and result.min_ms <= result.median_ms <= result.p90_ms
        assert result.program_sha256 == program.sha256 and result.threads == 1 and result.device_kind == "cpu"
        assert result.runtime_version.startswith("executorch ") and not result.cached and result.faults == ()


def test_a_device_killed_mid_request_hands_the_request_to_the_other_device(ray_cluster, program):
    ray_cluster.connect()
    with DeviceFarm(farm_config(ray_cluster, repeats=300)) as farm:  # seconds of work: time to kill it
        future = farm.submit(program, "cpu")
        deadline = time.monotonic() + 60
        while not (busy := [device for device in farm.devices() if device["busy"]]):
            assert time.monotonic() < deadline, "no device took the request within 60 s"
            time.sleep(0.05)
        (victim,) = busy
        os.kill(victim["pid"], signal.SIGKILL)
        result = future.result(timeout=300)
        assert result.device_id != victim["id"] and len(result.samples_ms) == 300
        assert len(result.faults) == 1 and result.faults[0].startswith(f"{victim['id']}: ")
        (fault,) = farm.faults()
        assert fault.device_id == victim["id"] and fault.program_sha256 == program.sha256
        state = {device["id"]: device for device in farm.devices()}
        assert not state[victim["id"]]["alive"] and state[result.device_id]["alive"]
        again = farm.measure(program, "cpu", timeout=300)  # the kind goes on with the device it has left
        assert again.device_id == result.device_id


def test_closing_the_farm_fails_the_requests_it_still_holds(ray_cluster, program):
    ray_cluster.connect()
    farm = DeviceFarm(farm_config(ray_cluster, repeats=2000)).start()  # long measurements: still running at close
    futures = [farm.submit(program, "cpu") for _ in range(3)]  # two measured, one queued
    deadline = time.monotonic() + 120
    while sum(device["busy"] for device in farm.devices()) < 2:
        assert time.monotonic() < deadline, "the devices did not take the requests within 120 s"
        time.sleep(0.05)
    farm.close()
    for future in futures:
        with pytest.raises(FarmError, match="the device farm was closed"):
            future.result(timeout=10)


def test_a_program_measured_once_is_answered_from_the_cache_by_a_later_farm(ray_cluster, program, tmp_path):
    ray_cluster.connect()
    config = farm_config(ray_cluster, cache=str(tmp_path / "farm-results.db"))
    with DeviceFarm(config) as farm:
        measured = farm.measure(program, "cpu", timeout=300)
    with DeviceFarm(config) as farm:
        cached = farm.measure(program, "cpu", timeout=300)
    assert not measured.cached and cached.cached
    assert cached.samples_ms == measured.samples_ms and cached.device_id == measured.device_id


def test_requests_the_farm_cannot_serve_fail_naming_the_reason(ray_cluster, program, tmp_path):
    ray_cluster.connect()
    with DeviceFarm(farm_config(ray_cluster)) as farm:
        with pytest.raises(FarmError, match=r"device kind 'pixel7': not in this farm \(kinds: cpu\)"):
            farm.submit(program, "pixel7")
        (tmp_path / "not.pte").write_bytes(b"not a program")
        with pytest.raises(DeployError, match="ExecuTorch cannot read the program"):
            farm.submit(str(tmp_path / "not.pte"), "cpu")


def test_a_device_that_cannot_start_fails_the_farm_naming_it(ray_cluster):
    ray_cluster.connect()
    nowhere = FarmConfig.model_validate({"devices": [{"id": "nowhere", "kind": "cpu"}]})
    with pytest.raises(FarmError, match=r"device nowhere: no node of the cluster advertises the resource device:nowhere"):
        DeviceFarm(nowhere).start()
    bad_cores = farm_config(ray_cluster)
    bad_cores.devices[0].options["cpus"] = [99]
    with pytest.raises(FarmError, match=r"device cpu-on-head: ConfigError: device cpu-on-head: 1 thread\(s\) on "
                                        r"CPUs \[99\]") as caught:
        DeviceFarm(bad_cores).start()
    assert "Traceback" not in str(caught.value)  # the reason, not Ray's traceback around it


def test_a_bad_farm_config_names_every_bad_field():
    with pytest.raises(ConfigError) as caught:
        load_farm_config({"devices": [{"id": "a", "kind": "cpu", "threads": 1}, {"id": "a", "kind": "cpu", "threads": 2},
                                      {"id": "b c", "kind": "cpu"}], "repeats": 0})
    message = str(caught.value)
    assert "devices.2.id" in message and "repeats" in message
    with pytest.raises(ConfigError, match="ids must be unique; repeated: a"):
        load_farm_config({"devices": [{"id": "a", "kind": "cpu"}, {"id": "a", "kind": "cpu"}]})
    with pytest.raises(ConfigError, match="kinds cpu mix them"):
        load_farm_config({"devices": [{"id": "a", "kind": "cpu"}, {"id": "b", "kind": "cpu", "threads": 2}]})
