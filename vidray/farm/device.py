"""One device as a Ray actor, placed on the node that owns it, measuring one program at a time."""

from __future__ import annotations

import os
from typing import Any, Sequence

import ray

from vidray.deploy.bundle import TensorSpec
from vidray.farm.backends import DEVICE_BACKENDS, reserved_cpus
from vidray.farm.result import LatencyResult
from vidray.farm.spec import DeviceSpec


class Device:
    """Runs inside the actor: builds the device's backend once, then measures programs on request."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = DeviceSpec.model_validate(spec)
        self.backend = DEVICE_BACKENDS.build(self.spec.backend, device=self.spec)

    def info(self) -> dict[str, Any]:
        """Where the device is and what runs its programs."""
        return {"id": self.spec.id, "kind": self.spec.kind, "backend": self.spec.backend, "threads": self.spec.threads,
                "runtime_version": self.backend.runtime_version, "node_id": ray.get_runtime_context().get_node_id(),
                "pid": os.getpid()}

    def measure(self, program: bytes, sha256: str, inputs: Sequence[dict[str, Any]], warmup: int,
                repeats: int) -> LatencyResult:
        specs = [TensorSpec(tuple(item["shape"]), item["dtype"], item.get("name", "")) for item in inputs]
        measured = self.backend.measure(program, specs, warmup, repeats)
        result = LatencyResult(
            program_sha256=sha256, device_id=self.spec.id, device_kind=self.spec.kind, backend=self.spec.backend,
            runtime_version=self.backend.runtime_version, threads=self.spec.threads, samples_ms=measured.samples_ms,
            temperature_c=measured.temperature_c, throttled=measured.throttled,
        )
        from vidray.tracking.telemetry import FarmTelemetry

        FarmTelemetry().measured(result.device_kind, result.device_id, result.median_ms)
        return result

    def close(self) -> None:
        self.backend.close()


def start_device(spec: DeviceSpec) -> Any:
    """The device's actor, asking for the ``device:<id>`` resource its node advertises (and, for a
    local device, its CPUs); one call at a time, so programs never share the device."""
    actor = ray.remote(Device).options(
        resources={spec.resource: 1}, num_cpus=reserved_cpus(spec),
        max_concurrency=1, max_restarts=0, max_task_retries=0,
    )
    return actor.remote(spec.model_dump(mode="json"))
