"""``aws``: a phone in AWS Device Farm, running programs with ExecuTorch's ``executor_runner``.

Options (``options:`` of the device spec):

* ``project_arn`` (required): the Device Farm project;
* ``device_pool_arn`` (required): a pool holding the one phone model this device stands for;
* ``runner`` (required): a local path to ``executor_runner`` built for the phone's ABI with XNNPACK;
* ``region`` (default ``us-west-2``, Device Farm's region), ``poll_s`` (default 15),
  ``timeout_minutes`` (default 30): how long a run may take before it is stopped.

A measurement is one Device Farm run in a custom test environment: the runner and
the program are uploaded as a test package (``APPIUM_WEB_PYTHON``: no app needed),
a test spec pushes them to the phone over the test host's adb, runs ``executor_runner
--num_executions W+R --cpu_threads T`` and writes its log and the phone's thermal
status to ``$DEVICEFARM_LOG_DIR``; the backend polls the run, downloads that folder
(the "Customer Artifacts" zip), parses the per-iteration times and deletes its
uploads. The IAM permissions it needs: ``devicefarm:CreateUpload``, ``GetUpload``,
``DeleteUpload``, ``ScheduleRun``, ``GetRun``, ``StopRun``, ``ListJobs``,
``ListArtifacts`` on the project.
"""

from __future__ import annotations

import hashlib
import io
import time
import urllib.request
import zipfile
from typing import Any, Sequence

from vidray.deploy.bundle import TensorSpec
from vidray.errors import ConfigError, FarmError
from vidray.farm.backends import DEVICE_BACKENDS, Measurement, check_options
from vidray.farm.backends.adb import iteration_times, thermal_statuses, throttled
from vidray.farm.spec import DeviceSpec

RUNNER_LOG = "vidray_runner.log"
THERMAL_LOG = "vidray_thermal.log"
_DONE_UPLOAD = ("SUCCEEDED", "FAILED")

_TEST_SPEC = """\
version: 0.1
android_test_host: amazon_linux_2
phases:
  test:
    commands:
      - adb -s $DEVICEFARM_DEVICE_UDID shell mkdir -p /data/local/tmp/vidray
      - adb -s $DEVICEFARM_DEVICE_UDID push $DEVICEFARM_TEST_PACKAGE_PATH/tests/executor_runner /data/local/tmp/vidray/
      - adb -s $DEVICEFARM_DEVICE_UDID push $DEVICEFARM_TEST_PACKAGE_PATH/tests/program.pte /data/local/tmp/vidray/
      - adb -s $DEVICEFARM_DEVICE_UDID shell chmod 755 /data/local/tmp/vidray/executor_runner
      - adb -s $DEVICEFARM_DEVICE_UDID shell dumpsys thermalservice > $DEVICEFARM_LOG_DIR/{thermal} || true
      - >-
        adb -s $DEVICEFARM_DEVICE_UDID shell "cd /data/local/tmp/vidray && ./executor_runner
        --model_path program.pte --num_executions {executions} --cpu_threads {threads} --print_output none"
        > $DEVICEFARM_LOG_DIR/{log} 2>&1
      - adb -s $DEVICEFARM_DEVICE_UDID shell dumpsys thermalservice >> $DEVICEFARM_LOG_DIR/{thermal} || true
      - adb -s $DEVICEFARM_DEVICE_UDID shell rm -rf /data/local/tmp/vidray
"""


@DEVICE_BACKENDS.register("aws")
class AwsDeviceFarmBackend:
    """One phone model in AWS Device Farm (``client``: a ``devicefarm`` boto3 client to use instead of a new one)."""

    def __init__(self, device: DeviceSpec, *, client: Any = None) -> None:
        options = check_options(device, {"project_arn", "device_pool_arn", "runner"}, {"region", "poll_s", "timeout_minutes"})
        try:
            with open(options["runner"], "rb") as file:
                self._runner = file.read()
        except OSError as exc:
            raise ConfigError(f"device {device.id}: options.runner {options['runner']}: cannot read ({exc.strerror})") from None
        self.device = device
        self.project, self.pool = str(options["project_arn"]), str(options["device_pool_arn"])
        self.poll_s, self.timeout_s = float(options.get("poll_s", 15)), 60 * float(options.get("timeout_minutes", 30))
        self.runtime_version = f"executor_runner sha256:{hashlib.sha256(self._runner).hexdigest()[:12]}"
        if client is None:
            import boto3

            client = boto3.client("devicefarm", region_name=str(options.get("region", "us-west-2")))
        self.client = client

    def measure(self, program: bytes, inputs: Sequence[TensorSpec], warmup: int, repeats: int) -> Measurement:
        name = f"vidray-{hashlib.sha256(program).hexdigest()[:12]}"
        spec = _TEST_SPEC.format(executions=warmup + repeats, threads=self.device.threads, log=RUNNER_LOG,
                                 thermal=THERMAL_LOG)
        uploads: list[str] = []
        try:
            package = self._upload(f"{name}.zip", "APPIUM_WEB_PYTHON_TEST_PACKAGE", self._test_package(program), uploads)
            test_spec = self._upload(f"{name}.yml", "APPIUM_WEB_PYTHON_TEST_SPEC", spec.encode(), uploads)
            run = self._call("scheduling the run", self.client.schedule_run, projectArn=self.project,
                             devicePoolArn=self.pool, name=name,
                             test={"type": "APPIUM_WEB_PYTHON", "testPackageArn": package, "testSpecArn": test_spec},
                             executionConfiguration={"jobTimeoutMinutes": max(1, int(self.timeout_s // 60))})["run"]
            logs = self._logs(self._wait_for_run(run["arn"]))
        finally:
            for arn in uploads:
                self._call("deleting an upload", self.client.delete_upload, arn=arn)
        samples = iteration_times(logs.get(RUNNER_LOG, ""), warmup + repeats, f"device {self.device.id}")[warmup:]
        return Measurement(tuple(samples), throttled=throttled(thermal_statuses(logs.get(THERMAL_LOG, ""))))

    def close(self) -> None:
        """Nothing stays in Device Farm between measurements: each deletes its uploads."""

    # ------------------------------------------------------------------ steps
    def _test_package(self, program: bytes) -> bytes:
        """A Python web test package as Device Farm validates it: tests/, requirements.txt, wheelhouse/."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
            package.writestr("tests/executor_runner", self._runner)
            package.writestr("tests/program.pte", program)
            package.writestr("requirements.txt", "")
            package.writestr("wheelhouse/", "")
        return buffer.getvalue()

    def _upload(self, name: str, kind: str, data: bytes, uploads: list[str]) -> str:
        """Creates an upload, PUTs ``data`` to its URL and waits until Device Farm has processed it."""
        upload = self._call(f"creating upload {name}", self.client.create_upload, projectArn=self.project, name=name,
                            type=kind, contentType="application/octet-stream")["upload"]
        uploads.append(upload["arn"])
        request = urllib.request.Request(upload["url"], data=data, method="PUT",
                                         headers={"Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(request, timeout=300):
                pass
        except OSError as exc:
            raise FarmError(f"device {self.device.id}: uploading {name}: {exc}") from None
        deadline = time.monotonic() + self.timeout_s
        while (upload := self._call(f"checking upload {name}", self.client.get_upload, arn=upload["arn"])["upload"])[
                "status"] not in _DONE_UPLOAD:
            if time.monotonic() > deadline:
                raise FarmError(f"device {self.device.id}: upload {name} still {upload['status']} after "
                                f"{self.timeout_s:.0f} s")
            time.sleep(self.poll_s)
        if upload["status"] != "SUCCEEDED":
            raise FarmError(f"device {self.device.id}: Device Farm rejected upload {name}: "
                            f"{upload.get('metadata') or upload.get('message') or 'no reason given'}")
        return upload["arn"]

    def _wait_for_run(self, arn: str) -> str:
        """Polls the run until it completes (stopping it at the timeout); returns its one job's arn."""
        deadline = time.monotonic() + self.timeout_s
        while (run := self._call("checking the run", self.client.get_run, arn=arn)["run"])["status"] != "COMPLETED":
            if time.monotonic() > deadline:
                self._call("stopping the run", self.client.stop_run, arn=arn)
                raise FarmError(f"device {self.device.id}: run {arn} still {run['status']} after {self.timeout_s:.0f} s")
            time.sleep(self.poll_s)
        jobs = self._call("listing the run's jobs", self.client.list_jobs, arn=arn)["jobs"]
        if run.get("result") != "PASSED" or len(jobs) != 1:
            reason = run.get("message") or run.get("result")
            raise FarmError(f"device {self.device.id}: run {arn} ended {reason} on {len(jobs)} device(s) "
                            "(the pool must hold exactly one)")
        return jobs[0]["arn"]

    def _logs(self, job: str) -> dict[str, str]:
        """The job's $DEVICEFARM_LOG_DIR files, from its Customer Artifacts zip."""
        artifacts = self._call("listing the job's files", self.client.list_artifacts, arn=job, type="FILE")["artifacts"]
        found = [artifact for artifact in artifacts if artifact.get("type") == "CUSTOMER_ARTIFACT"]
        if not found:
            raise FarmError(f"device {self.device.id}: job {job} returned no Customer Artifacts (the runner's log)")
        try:
            with urllib.request.urlopen(found[0]["url"], timeout=300) as response:
                archive = zipfile.ZipFile(io.BytesIO(response.read()))
        except (OSError, zipfile.BadZipFile) as exc:
            raise FarmError(f"device {self.device.id}: downloading job {job}'s artifacts: {exc}") from None
        return {member.rsplit("/", 1)[-1]: archive.read(member).decode(errors="replace") for member in archive.namelist()
                if not member.endswith("/")}

    def _call(self, doing: str, method: Any, **kwargs: Any) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise FarmError(f"device {self.device.id}: {doing}: {exc}") from None
