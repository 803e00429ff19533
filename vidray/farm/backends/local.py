"""``local``: this node's CPU, running programs with ExecuTorch's runtime, pinned to given cores.

The default, embedded farm: on one machine, devices with different thread
counts (``cpu-1t``, ``cpu-2t``) or disjoint cores measure side by side without
disturbing each other. Options: ``cpus`` (the cores to pin to; default the
first ``threads`` cores the process may use).
"""

from __future__ import annotations

import glob
import os
import time
from typing import Sequence

import torch

from vidray.deploy.bundle import TensorSpec
from vidray.deploy.program import Program, pin_runtime
from vidray.errors import ConfigError
from vidray.farm.backends import DEVICE_BACKENDS, Measurement, check_options
from vidray.farm.spec import DeviceSpec


@DEVICE_BACKENDS.register("local")
class LocalBackend:
    """Programs on this process's CPU: pinned once at start (before any program loads)."""

    def __init__(self, device: DeviceSpec) -> None:
        from importlib.metadata import version

        options = check_options(device, set(), {"cpus"})
        allowed = sorted(os.sched_getaffinity(0))
        cpus = list(options.get("cpus") or allowed[: device.threads])
        if len(cpus) < device.threads or not set(cpus) <= set(allowed):
            raise ConfigError(f"device {device.id}: {device.threads} thread(s) on CPUs {cpus}; this node lends "
                              f"CPUs {allowed} (options.cpus must name at least `threads` of them)")
        pin_runtime(device.threads, cpus)
        self.device, self.cpus = device, cpus
        self.runtime_version = f"executorch {version('executorch')}"

    def measure(self, program: bytes, inputs: Sequence[TensorSpec], warmup: int, repeats: int) -> Measurement:
        loaded = Program(program, inputs, (), f"device {self.device.id}")
        generator = torch.Generator().manual_seed(0)
        tensors = [spec.example(generator) for spec in inputs]
        for _ in range(warmup):
            loaded(*tensors)
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            loaded(*tensors)
            samples.append((time.perf_counter() - start) * 1e3)
        return Measurement(tuple(samples), temperature_c=_cpu_temperature())

    def close(self) -> None:
        """Nothing to release: the programs and the pinning live and end with the actor's process."""


def _cpu_temperature() -> float | None:
    """The hottest thermal zone in °C, where the kernel exposes them (not in most containers)."""
    readings = []
    for path in glob.glob("/sys/class/thermal/thermal_zone*/temp"):
        try:
            with open(path) as file:
                readings.append(int(file.read().strip()) / 1000)
        except (OSError, ValueError):
            continue
    return max(readings) if readings else None
