"""The adb backend through the real adb wire protocol (tests/farm/adb_server.py serves this host as a phone)."""

from __future__ import annotations

import os

import pytest

from vidray.errors import ConfigError, FarmError
from vidray.farm import DeviceFarm, DeviceSpec, FarmConfig
from vidray.farm.backends import AdbBackend

pytestmark = pytest.mark.timeout(900)


def spec(phone, **options) -> DeviceSpec:
    return DeviceSpec(id="phone-on-worker", kind="pixel-test", backend="adb", threads=1, options=phone.options(**options))


def test_a_measurement_pushes_runs_parses_and_cleans_up(phone, program):
    backend = AdbBackend(spec(phone))
    runner = phone.workdir / "executor_runner"
    assert runner.read_bytes() == phone.runner.read_bytes() and oct(runner.stat().st_mode & 0o777) == "0o755"
    measured = backend.measure(program.data, program.inputs, warmup=2, repeats=5)
    assert len(measured.samples_ms) == 5 and all(ms > 0 for ms in measured.samples_ms)
    assert measured.throttled is False
    (run,) = [command for command in phone.server.commands if "--model_path" in command]
    assert "--num_executions 7 --cpu_threads 1 --print_output none" in run
    pushed = [path for path in phone.server.pushed if path.endswith(".pte")]
    assert len(pushed) == 1 and not os.path.exists(pushed[0])  # the program was removed after the run
    assert backend.runtime_version.startswith("executor_runner sha256:")
    phone.set_thermal_status(3)  # THERMAL_STATUS_SEVERE
    assert backend.measure(program.data, program.inputs, warmup=0, repeats=2).throttled is True
    backend.close()
    assert not runner.exists()


def test_what_goes_wrong_on_a_phone_is_named(phone, program, tmp_path):
    with pytest.raises(FarmError, match="serial nosuch"):
        AdbBackend(spec(phone, serial="nosuch"))
    with pytest.raises(ConfigError, match=r"missing \['runner'\]"):
        AdbBackend(DeviceSpec(id="p", kind="k", backend="adb", options={"serial": phone.SERIAL}))
    silent = tmp_path / "silent_runner"
    silent.write_text("#!/bin/sh\necho 'I executorch:executor_runner.cpp:1] Model loaded'\n")
    with pytest.raises(FarmError, match=r"logged 0 of 3 iteration times .* Model loaded"):
        AdbBackend(spec(phone, runner=str(silent))).measure(program.data, program.inputs, warmup=1, repeats=2)
    with pytest.raises(FarmError, match=r"running the program: exit status 1: .*Failed to parse model file"):
        AdbBackend(spec(phone)).measure(b"not a program", program.inputs, warmup=0, repeats=1)


def test_a_farm_reaches_the_phone_through_the_node_it_is_cabled_to(ray_cluster, phone, program):
    import ray

    ray_cluster.connect()
    config = FarmConfig(devices=[spec(phone)], warmup=1, repeats=4)
    with DeviceFarm(config) as farm:
        (device,) = farm.devices()
        result = farm.measure(program, "pixel-test", timeout=120)
    resources = {node["NodeID"]: node["Resources"] for node in ray.nodes() if node["Alive"]}
    assert "worker_node" in resources[device["node_id"]]
    assert result.backend == "adb" and len(result.samples_ms) == 4 and result.device_id == "phone-on-worker"
