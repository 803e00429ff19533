"""The farm's client: queues programs per device kind and measures each on one idle device at a time.

    from vidray.farm import DeviceFarm, load_farm_config
    with DeviceFarm(load_farm_config("experiments/configs/farm_local.yaml")) as farm:
        result = farm.measure("vidray-deploy/x3d_s-int8-xnnpack-1a2b3c", "cpu-1t")   # LatencyResult
        futures = [farm.submit(bundle, "pixel7") for bundle in bundles]             # concurrent.futures

A dispatcher thread hands each queued request to an idle device of its kind
(first come, first served), so a device never runs two programs at once and a
kind's devices share its queue. A device whose actor dies mid-request is
recorded as a :class:`Fault` and retired; the request goes back to the front of
its kind's queue for another device (``retries`` times). With a cache, a
program already measured on a kind (same bytes, runtime and threads) is
answered without a device.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import re
import threading
import time
from concurrent.futures import Future
from typing import Any

import ray

from vidray.deploy.bundle import DeployBundle, TensorSpec, sha256_of
from vidray.errors import DeployError, FarmError
from vidray.farm.cache import ResultCache
from vidray.farm.device import start_device
from vidray.farm.result import Fault, LatencyResult
from vidray.farm.spec import DeviceSpec, FarmConfig

logger = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True)
class FarmProgram:
    """A program to measure: its bytes, its input spec, and a name for messages."""

    data: bytes
    inputs: tuple[TensorSpec, ...]
    name: str

    @property
    def sha256(self) -> str:
        return sha256_of(self.data)

    @classmethod
    def of(cls, program: "FarmProgram | DeployBundle | str | os.PathLike[str]") -> "FarmProgram":
        """From a bundle, a bundle folder (hash checked), or a bare ``.pte`` file (spec read from it)."""
        if isinstance(program, FarmProgram):
            return program
        if isinstance(program, DeployBundle):
            return cls(program.program, program.inputs, program.metadata.get("model", "program"))
        from vidray.deploy.program import load_program

        path = os.fspath(program)
        if os.path.isdir(path):
            bundle = DeployBundle.load(path)
            return cls(bundle.program, bundle.inputs, path)
        loaded = load_program(path)
        with open(path, "rb") as file:
            return cls(file.read(), loaded.inputs, path)


@dataclasses.dataclass
class _Request:
    program: FarmProgram
    kind: str
    future: Future
    program_ref: Any = None
    faults: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Device:
    spec: DeviceSpec
    actor: Any
    info: dict[str, Any]
    busy_with: _Request | None = None
    alive: bool = True


class DeviceFarm:
    """Devices of ``config`` as Ray actors (started on entering, or by :meth:`start`), and their queues.

    Ray must be initialised by the caller (``ray.init(address=...)`` for a
    cluster), or the farm starts a local Ray whose node advertises every
    ``local`` device of the config, and shuts it down when it closes.
    """

    def __init__(self, config: FarmConfig) -> None:
        self.config = config
        self.cache = ResultCache(config.cache) if config.cache else None
        self._devices: dict[str, _Device] = {}
        self._queues: dict[str, collections.deque[_Request]] = {kind: collections.deque() for kind in config.kinds()}
        self._running: dict[Any, _Device] = {}  # in-flight measurement ref -> its device
        self._faults: list[Fault] = []
        self._lock = threading.Condition()
        self._closed = False
        self._dispatcher: threading.Thread | None = None
        self._owns_ray = False

    # ------------------------------------------------------------------ life cycle
    def start(self) -> "DeviceFarm":
        if self._dispatcher is not None:
            return self
        if not ray.is_initialized():  # a local Ray of its own, advertising its local devices; shut down on close
            local = {device.resource: 1 for device in self.config.devices if device.backend == "local"}
            ray.init(resources=local, include_dashboard=False, log_to_driver=False)
            self._owns_ray = True
        advertised = ray.cluster_resources()
        missing = [device for device in self.config.devices if device.resource not in advertised]
        if missing:
            raise FarmError("the device farm cannot start: " + "; ".join(
                f"device {device.id}: no node of the cluster advertises the resource {device.resource} "
                "(see cluster/README.md, 'Devices for the farm')" for device in missing))
        actors = {device.id: start_device(device) for device in self.config.devices}
        infos = self._wait_started(actors)
        for device in self.config.devices:
            self._devices[device.id] = _Device(device, actors[device.id], infos[device.id])
        self._dispatcher = threading.Thread(target=self._dispatch, name="vidray-farm-dispatcher", daemon=True)
        self._dispatcher.start()
        logger.info("device farm: %d device(s) of kind(s) %s", len(self._devices), ", ".join(self.config.kinds()))
        return self

    def _wait_started(self, actors: dict[str, Any]) -> dict[str, dict[str, Any]]:
        refs = {actor.info.remote(): device_id for device_id, actor in actors.items()}
        timeout = self.config.start_timeout_s
        ready, pending = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
        infos: dict[str, dict[str, Any]] = {}
        failed: list[str] = []
        for ref in ready:
            try:
                infos[refs[ref]] = ray.get(ref)
            except Exception as exc:  # the backend refused its spec, or the actor died starting
                failed.append(f"device {refs[ref]}: {_reason(exc)}")
        failed += [f"device {refs[ref]}: not started after {timeout:g} s (its node advertises device:{refs[ref]}; "
                   "another farm may hold the device, or its node is too loaded to start the actor)" for ref in pending]
        if failed:
            for actor in actors.values():
                ray.kill(actor)
            raise FarmError("the device farm cannot start: " + "; ".join(failed))
        return infos

    def close(self) -> None:
        """Stops the dispatcher and the device actors; requests queued or being measured fail with
        :class:`FarmError` (nobody waits forever on a closed farm)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._dispatcher is not None:
            self._dispatcher.join()
        closed = FarmError("the device farm was closed")
        for queue in self._queues.values():
            while queue:
                queue.popleft().future.set_exception(closed)
        for device in self._running.values():
            if device.busy_with is not None and not device.busy_with.future.done():
                device.busy_with.future.set_exception(closed)
        alive = [device for device in self._devices.values() if device.alive]
        if alive:  # backends clean up (programs and runners pushed to phones)
            ray.wait([device.actor.close.remote() for device in alive], num_returns=len(alive), timeout=30)
        for device in alive:
            ray.kill(device.actor)
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self) -> "DeviceFarm":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ requests
    def submit(self, program: FarmProgram | DeployBundle | str | os.PathLike[str], kind: str) -> Future:
        """Queues ``program`` for a device of ``kind``; the future holds its :class:`LatencyResult`."""
        if self._dispatcher is None:
            raise FarmError("the device farm is not started (use `with DeviceFarm(...)` or .start())")
        if kind not in self._queues:
            raise FarmError(f"device kind {kind!r}: not in this farm (kinds: {', '.join(self._queues)})")
        program = FarmProgram.of(program)
        future: Future = Future()
        cached = self._cached(program, kind)
        if cached is not None:
            future.set_result(cached)
            return future
        with self._lock:
            if self._closed:
                raise FarmError("the device farm was closed")
            if not self._alive(kind):
                raise FarmError(f"device kind {kind!r}: no live device left ({self._fault_summary(kind)})")
            self._queues[kind].append(_Request(program, kind, future))
            self._lock.notify_all()
        return future

    def measure(self, program: FarmProgram | DeployBundle | str | os.PathLike[str], kind: str,
                timeout: float | None = None) -> LatencyResult:
        """:meth:`submit` and wait for the result."""
        return self.submit(program, kind).result(timeout)

    def devices(self) -> list[dict[str, Any]]:
        """Each device: its spec's fields, where it runs, and whether it is alive or busy."""
        with self._lock:
            return [{**device.info, "alive": device.alive, "busy": device.busy_with is not None}
                    for device in self._devices.values()]

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def queued(self) -> dict[str, int]:
        with self._lock:
            return {kind: len(queue) for kind, queue in self._queues.items()}

    # ------------------------------------------------------------------ internals
    def _cached(self, program: FarmProgram, kind: str) -> LatencyResult | None:
        if self.cache is None:
            return None
        with self._lock:
            keys = {(device.info["runtime_version"], device.spec.threads)
                    for device in self._devices.values() if device.spec.kind == kind and device.alive}
        for runtime_version, threads in sorted(keys):
            found = self.cache.get(program.sha256, kind, runtime_version, threads)
            if found is not None:
                return found
        return None

    def _alive(self, kind: str) -> list[_Device]:
        return [device for device in self._devices.values() if device.spec.kind == kind and device.alive]

    def _fault_summary(self, kind: str) -> str:
        faults = [fault for fault in self._faults if fault.device_kind == kind]
        return "; ".join(f"{fault.device_id}: {fault.error}" for fault in faults) or "none started"

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                self._assign()
                if not self._running:
                    self._lock.wait(timeout=1.0)
                    continue
                running = list(self._running)
            done, _ = ray.wait(running, num_returns=1, timeout=0.2)
            for ref in done:
                self._finish(ref)

    def _assign(self) -> None:
        """Hands queued requests to idle live devices of their kind (called with the lock held)."""
        for kind, queue in self._queues.items():
            idle = [device for device in self._alive(kind) if device.busy_with is None]
            while queue and idle:
                request, device = queue.popleft(), idle.pop(0)
                if request.future.cancelled():
                    idle.insert(0, device)
                    continue
                if request.program_ref is None:
                    request.program_ref = ray.put(request.program.data)
                inputs = [spec.as_dict() for spec in request.program.inputs]
                ref = device.actor.measure.remote(request.program_ref, request.program.sha256, inputs,
                                                  self.config.warmup, self.config.repeats)
                device.busy_with = request
                self._running[ref] = device

    def _finish(self, ref: Any) -> None:
        with self._lock:
            device = self._running.pop(ref)
            request, device.busy_with = device.busy_with, None
        try:
            result = ray.get(ref)
        except (ray.exceptions.RayActorError, ray.exceptions.ActorDiedError) as exc:
            self._device_failed(device, request, exc)
            return
        except Exception as exc:  # the program itself failed (bad bytes, wrong spec): no device is to blame
            cause = _cause(exc)
            request.future.set_exception(cause if isinstance(cause, DeployError) else FarmError(
                f"{request.program.name}: measuring on device {device.spec.id} failed: {_reason(exc)}"))
            return
        result = dataclasses.replace(result, faults=tuple(request.faults))
        if self.cache is not None:
            self.cache.put(result)
        request.future.set_result(result)

    def _device_failed(self, device: _Device, request: _Request, exc: BaseException) -> None:
        """Retires the device, records the fault, and requeues the request at the front of its queue."""
        error = _reason(exc)
        fault = Fault(device.spec.id, device.spec.kind, request.program.sha256, error, time.time())
        logger.warning("device farm: device %s failed measuring %s: %s", device.spec.id, request.program.name, error)
        from vidray.tracking.telemetry import FarmTelemetry

        FarmTelemetry().fault(fault.device_kind, fault.device_id)
        with self._lock:
            device.alive = False
            self._faults.append(fault)
            request.faults.append(f"{device.spec.id}: {error}")
            if len(request.faults) > self.config.retries or not self._alive(request.kind):
                request.future.set_exception(FarmError(
                    f"{request.program.name}: no device of kind {request.kind!r} could measure it "
                    f"({'; '.join(request.faults)})"))
            else:
                self._queues[request.kind].appendleft(request)
            self._lock.notify_all()


def _cause(exc: BaseException) -> BaseException:
    """The user-level error inside a Ray task error."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _reason(exc: BaseException) -> str:
    """One line saying why a device call failed: the user-level error, not Ray's traceback around it."""
    cause = _cause(exc)
    if cause is not exc:
        return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if getattr(exc, "actor_init_failed", False) and lines:  # the message ends with the __init__ error
        return re.sub(r"^(?:\w+\.)+(?=\w+: )", "", lines[-1])  # "vidray.errors.ConfigError: ..." -> "ConfigError: ..."
    return lines[0] if lines else type(exc).__name__
