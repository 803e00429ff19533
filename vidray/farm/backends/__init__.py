"""How a device runs a program: one backend per way of reaching a device, all behind :class:`Backend`.

``local`` (this node's CPU through ExecuTorch's runtime), ``adb`` (an Android
phone through its adb server) and ``aws`` (a phone in AWS Device Farm) are registered here; a
backend registers itself with ``@DEVICE_BACKENDS.register(name)`` and is chosen
by a device spec's ``backend`` field. A backend object lives inside the
device's Ray actor, on the node that owns the device, for the actor's life.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, Sequence

from vidray.deploy.bundle import TensorSpec
from vidray.farm.spec import DeviceSpec
from vidray.registry import Registry


@dataclasses.dataclass(frozen=True)
class Measurement:
    """What a backend measured: per-run wall times and what it knows of the device meanwhile."""

    samples_ms: tuple[float, ...]
    temperature_c: float | None = None
    throttled: bool | None = None


class Backend(Protocol):
    """Runs programs on one device; built with the device's spec."""

    runtime_version: str  # the ExecuTorch runtime that runs the programs (part of a cached result's key)

    def measure(self, program: bytes, inputs: Sequence[TensorSpec], warmup: int, repeats: int) -> Measurement:
        """Runs ``program`` ``warmup`` times untimed, then ``repeats`` times timed, on inputs of ``inputs``."""
        ...

    def close(self) -> None:
        """Releases the device (files pushed to it, sessions)."""
        ...


DEVICE_BACKENDS: Registry[type] = Registry("device_backends")


def check_options(device: DeviceSpec, required: set[str], optional: set[str]) -> dict:
    """The device's backend options, after naming every unknown and every missing one at once."""
    from vidray.errors import ConfigError

    unknown, missing = set(device.options) - required - optional, required - set(device.options)
    if unknown or missing:
        problems = [f"unknown {sorted(unknown)} (known: {sorted(required | optional)})" if unknown else "",
                    f"missing {sorted(missing)}" if missing else ""]
        raise ConfigError(f"device {device.id}: {device.backend} backend options: " + "; ".join(filter(None, problems)))
    return dict(device.options)


def reserved_cpus(device: DeviceSpec) -> float:
    """CPUs of its node that a device's actor holds: a local device computes on them, so nothing else
    may be scheduled there while it measures; a remote device (phone, cloud) needs none."""
    return float(device.threads) if device.backend == "local" else 0.0


from vidray.farm.backends.adb import AdbBackend  # noqa: E402  (registers "adb")
from vidray.farm.backends.aws import AwsDeviceFarmBackend  # noqa: E402  (registers "aws")
from vidray.farm.backends.local import LocalBackend  # noqa: E402  (registers "local")

__all__ = ["DEVICE_BACKENDS", "AdbBackend", "AwsDeviceFarmBackend", "Backend", "LocalBackend", "Measurement",
           "check_options", "reserved_cpus"]
