"""What a device farm is made of: devices described in a config, not in code.

A farm config (YAML; ``experiments/configs/farm_local.yaml`` is the embedded
default, or the ``farm:`` section of an experiment) lists devices::

    devices:
      - {id: pixel7-a, kind: pixel7, backend: adb, threads: 4, options: {serial: 2A1B...}}
      - {id: cpu0, kind: cpu-1t, backend: local, threads: 1, options: {cpus: [0]}}

Each device becomes one Ray actor that asks for the custom resource
``device:<id>``: the node that owns the device (the phone on its USB bus, the
CPU cores it lends) advertises that resource, so the actor lands there. A farm
that ``vidray`` starts itself (no cluster address) advertises its devices on
the local node.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field, field_validator, model_validator

from vidray.config import Config, load_config

ID_PATTERN = r"^[A-Za-z0-9_.-]+$"


class DeviceSpec(Config):
    """One device: its id (unique in the farm), its kind (devices of a kind are interchangeable),
    the backend that drives it, the threads a program may use, and backend options."""

    id: str = Field(pattern=ID_PATTERN)
    kind: str = Field(pattern=ID_PATTERN)
    backend: str = "local"  # a name in vidray.farm.backends.DEVICE_BACKENDS
    threads: int = Field(1, ge=1)
    options: dict[str, Any] = {}

    @property
    def resource(self) -> str:
        """The Ray custom resource the device's node advertises."""
        return f"device:{self.id}"


class FarmConfig(Config):
    """The devices, how each program is timed, and where results are cached."""

    devices: list[DeviceSpec] = Field(min_length=1)
    warmup: int = Field(3, ge=0)  # untimed runs before the timed ones (caches, XNNPACK weight packing)
    repeats: int = Field(20, ge=1)  # timed runs: median, p90 and min come from these
    cache: str | None = None  # sqlite file of measured results; None: no cache
    retries: int = Field(2, ge=0)  # a request whose device dies is re-run on another device this many times
    start_timeout_s: float = Field(300.0, gt=0)  # a device not started by then is an error naming it

    @field_validator("cache")
    @classmethod
    def _expand(cls, value: str | None) -> str | None:
        return os.path.expanduser(value) if value else value

    @model_validator(mode="after")
    def _unique_ids(self) -> "FarmConfig":
        ids = [device.id for device in self.devices]
        repeated = sorted({device_id for device_id in ids if ids.count(device_id) > 1})
        if repeated:
            raise ValueError(f"devices: ids must be unique; repeated: {', '.join(repeated)}")
        threads: dict[str, set[int]] = {}
        for device in self.devices:
            threads.setdefault(device.kind, set()).add(device.threads)
        mixed = sorted(kind for kind, counts in threads.items() if len(counts) > 1)
        if mixed:  # a kind's devices must be interchangeable: a request may run on any of them
            raise ValueError(f"devices: every device of a kind runs the same thread count; kinds {', '.join(mixed)} mix them")
        return self

    def kinds(self) -> list[str]:
        return sorted({device.kind for device in self.devices})

    def of_kind(self, kind: str) -> list[DeviceSpec]:
        return [device for device in self.devices if device.kind == kind]


def local_farm(threads: int = 1, cache: str | None = None) -> FarmConfig:
    """The embedded farm: this machine's CPUs as local devices of kind ``cpu-<threads>t``, each pinned to its
    own ``threads`` cores (2 cores, 1 thread: ``cpu0`` on core 0 and ``cpu1`` on core 1), so they measure side
    by side without disturbing each other."""
    cores = sorted(os.sched_getaffinity(0))
    if threads > len(cores):
        raise ValueError(f"threads: {threads} per device, but this machine lends {len(cores)} CPU(s)")
    groups = [cores[start:start + threads] for start in range(0, len(cores) - threads + 1, threads)]
    return FarmConfig(cache=cache, devices=[
        DeviceSpec(id=f"cpu{index}", kind=f"cpu-{threads}t", threads=threads, options={"cpus": group})
        for index, group in enumerate(groups)])


def load_farm_config(source: str | os.PathLike[str] | dict[str, Any]) -> FarmConfig:
    """A farm config from a YAML/JSON file or a mapping; every bad field is reported at once."""
    return load_config(source, FarmConfig)
