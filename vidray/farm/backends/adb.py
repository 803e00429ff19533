"""``adb``: an Android phone over adb, running programs with ExecuTorch's ``executor_runner``.

Options (``options:`` of the device spec):

* ``serial`` (required): the phone's adb serial (``adb devices``);
* ``runner`` (required): a local path to ``executor_runner`` built for the phone's ABI with
  the XNNPACK delegate (ExecuTorch's ``examples/portable/executor_runner``, e.g. with
  ``-DANDROID_ABI=arm64-v8a -DEXECUTORCH_BUILD_XNNPACK=ON``); pushed once per actor;
* ``host``, ``port``: the adb server (default ``127.0.0.1:5037``, the one ``adb start-server``
  runs on the node the phone is cabled to);
* ``workdir``: where programs go on the phone (default ``/data/local/tmp/vidray``).

A measurement pushes the program, runs ``executor_runner --num_executions W+R
--cpu_threads T``, reads the per-iteration times it logs (``Iteration i of N: X ms``)
and drops the first W, reads the thermal status (``dumpsys thermalservice``) before
and after, and removes the program. The runner sets every input to ones, which does
not change the time of these programs.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from typing import Any, Sequence

from vidray.deploy.bundle import TensorSpec
from vidray.errors import ConfigError, FarmError
from vidray.farm.backends import DEVICE_BACKENDS, Measurement, check_options
from vidray.farm.spec import DeviceSpec

_ITERATION = re.compile(r"Iteration (\d+) of (\d+): ([0-9.]+) ms")
_THERMAL_STATUS = re.compile(r"Thermal Status: (\d+)")
THROTTLING_STATUS = 2  # Android's THERMAL_STATUS_MODERATE: the platform throttles from here on
RUN_TIMEOUT_S = 600.0


@DEVICE_BACKENDS.register("adb")
class AdbBackend:
    """One phone behind an adb server; the runner is pushed when the device's actor starts."""

    def __init__(self, device: DeviceSpec) -> None:
        import adbutils

        options = check_options(device, {"serial", "runner"}, {"host", "port", "workdir"})
        self.device = device
        self.workdir = str(options.get("workdir", "/data/local/tmp/vidray")).rstrip("/")
        host, port = str(options.get("host", "127.0.0.1")), int(options.get("port", 5037))
        try:
            with open(options["runner"], "rb") as file:
                runner = file.read()
        except OSError as exc:
            raise ConfigError(f"device {device.id}: options.runner {options['runner']}: cannot read ({exc.strerror})") from None
        self.runtime_version = f"executor_runner sha256:{hashlib.sha256(runner).hexdigest()[:12]}"
        try:
            self.adb = adbutils.AdbClient(host=host, port=port).device(str(options["serial"]))
            state = self.adb.get_state()
        except (adbutils.AdbError, OSError) as exc:
            raise FarmError(f"device {device.id}: adb server {host}:{port} or serial {options['serial']}: {exc}") from None
        if state != "device":
            raise FarmError(f"device {device.id}: adb reports serial {options['serial']} as {state!r}, not 'device'")
        self._shell(f"mkdir -p {shlex.quote(self.workdir)}", "creating the work folder")
        self.runner = f"{self.workdir}/executor_runner"
        self.adb.sync.push(runner, self.runner, mode=0o755)

    def measure(self, program: bytes, inputs: Sequence[TensorSpec], warmup: int, repeats: int) -> Measurement:
        remote = f"{self.workdir}/{hashlib.sha256(program).hexdigest()[:16]}.pte"
        self.adb.sync.push(program, remote, mode=0o644)
        try:
            before = self._thermal_status()
            command = (f"cd {shlex.quote(self.workdir)} && {shlex.quote(self.runner)} --model_path {shlex.quote(remote)} "
                       f"--num_executions {warmup + repeats} --cpu_threads {self.device.threads} --print_output none")
            output = self._shell(command, "running the program", timeout=RUN_TIMEOUT_S)
            after = self._thermal_status()
        finally:
            self._shell(f"rm -f {shlex.quote(remote)}", "removing the program")
        samples = iteration_times(output, warmup + repeats, f"device {self.device.id}")[warmup:]
        return Measurement(tuple(samples), temperature_c=self._temperature(),
                           throttled=throttled([status for status in (before, after) if status is not None]))

    def close(self) -> None:
        """Removes the runner this backend pushed (programs are removed after each measurement)."""
        self._shell(f"rm -f {shlex.quote(self.runner)}", "removing the runner")

    def _shell(self, command: str, doing: str, timeout: float = 60.0) -> str:
        import adbutils

        try:
            result: Any = self.adb.shell2(command, timeout=timeout)
        except (adbutils.AdbError, OSError) as exc:
            raise FarmError(f"device {self.device.id}: {doing}: adb failed: {exc}") from None
        if result.returncode != 0:
            tail = " | ".join(result.output.strip().splitlines()[-3:])
            raise FarmError(f"device {self.device.id}: {doing}: exit status {result.returncode}: {tail}")
        return result.output

    def _thermal_status(self) -> int | None:
        """Android's thermal status (0 none ... 6 shutdown), or None where the phone does not say."""
        result = self.adb.shell2("dumpsys thermalservice", timeout=30)
        statuses = thermal_statuses(result.output) if result.returncode == 0 else []
        return statuses[0] if statuses else None

    def _temperature(self) -> float | None:
        """The hottest thermal zone in °C (readable without root on most phones), or None."""
        result = self.adb.shell2("cat /sys/class/thermal/thermal_zone*/temp 2>/dev/null", timeout=30)
        readings = [int(token) for token in result.output.split() if token.lstrip("-").isdigit()]
        return max(readings) / 1000 if readings else None


def thermal_statuses(dumpsys: str) -> list[int]:
    """Every Android thermal status (0 none ... 6 shutdown) in ``dumpsys thermalservice`` output."""
    return [int(status) for status in _THERMAL_STATUS.findall(dumpsys)]


def throttled(statuses: list[int]) -> bool | None:
    """Whether the phone throttled at any of the statuses read; None when none could be read."""
    return max(statuses) >= THROTTLING_STATUS if statuses else None


def iteration_times(output: str, expected: int, where: str) -> list[float]:
    """The per-iteration milliseconds ``executor_runner`` logged, checked to be all ``expected`` of them."""
    times = {int(index): float(ms) for index, total, ms in _ITERATION.findall(output) if int(total) == expected}
    if sorted(times) != list(range(1, expected + 1)):
        tail = " | ".join(output.strip().splitlines()[-3:])
        raise FarmError(f"{where}: executor_runner logged {len(times)} of {expected} iteration times "
                        f"(is it ExecuTorch's executor_runner, v1.0 or later?); its last lines: {tail}")
    return [times[index] for index in range(1, expected + 1)]
