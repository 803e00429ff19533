"""The aws backend: AWS Device Farm's API through botocore's Stubber (moto has no Device Farm), its
uploads and artifacts over real HTTP to moto's S3 server on loopback (presigned URLs, as Device Farm hands out)."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest
import yaml
from conftest import RUNNER

from vidray.errors import ConfigError, FarmError
from vidray.farm import DeviceSpec
from vidray.farm.backends import AwsDeviceFarmBackend

PROJECT = "arn:aws:devicefarm:us-west-2:123456789012:project:vidray"
POOL = "arn:aws:devicefarm:us-west-2:123456789012:devicepool:vidray/pixel7"
RUN = "arn:aws:devicefarm:us-west-2:123456789012:run:vidray/run-1"
JOB = "arn:aws:devicefarm:us-west-2:123456789012:job:vidray/run-1/00000"
PACKAGE = "arn:aws:devicefarm:us-west-2:123456789012:upload:vidray/package"
SPEC = "arn:aws:devicefarm:us-west-2:123456789012:upload:vidray/spec"
BUCKET = "devicefarm-uploads"


@pytest.fixture
def aws(s3_endpoint, tmp_path):
    """A stubbed devicefarm client, S3 on loopback for the bytes, and a device spec for the backend."""
    import boto3
    from botocore.stub import Stubber

    s3 = boto3.client("s3")
    if BUCKET not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=BUCKET)
    runner = tmp_path / "executor_runner"
    runner.write_bytes(b"\x7fELF executor_runner for arm64-v8a")
    client = boto3.client("devicefarm", region_name="us-west-2")
    device = DeviceSpec(id="pixel7-aws", kind="pixel7", backend="aws", threads=4,
                        options={"project_arn": PROJECT, "device_pool_arn": POOL, "runner": str(runner), "poll_s": 0})
    with Stubber(client) as stubber:
        yield s3, client, stubber, device, runner


def put_url(s3, key: str) -> str:
    return s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=600)


def expect_upload(stubber, s3, arn: str, name: str, kind: str, status: str = "SUCCEEDED", **extra) -> None:
    stubber.add_response("create_upload", {"upload": {"arn": arn, "status": "INITIALIZED", "url": put_url(s3, name)}},
                         {"projectArn": PROJECT, "name": name, "type": kind, "contentType": "application/octet-stream"})
    stubber.add_response("get_upload", {"upload": {"arn": arn, "status": "PROCESSING"}}, {"arn": arn})
    stubber.add_response("get_upload", {"upload": {"arn": arn, "status": status, **extra}}, {"arn": arn})


def runner_logs(program_folder: str, executions: int) -> bytes:
    """What the test spec leaves in $DEVICEFARM_LOG_DIR, zipped as Device Farm's Customer Artifacts: the
    runner's real log (ExecuTorch's runner stand-in on this host) and the thermal status."""
    log = subprocess.run([sys.executable, str(RUNNER), "--model_path", f"{program_folder}/program.pte", "--num_executions",
                          str(executions), "--cpu_threads", "1", "--print_output", "none"],
                         capture_output=True, text=True, check=True).stdout
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Host_Machine_Files/$DEVICEFARM_LOG_DIR/vidray_runner.log", log)
        archive.writestr("Host_Machine_Files/$DEVICEFARM_LOG_DIR/vidray_thermal.log", "Thermal Status: 0\nThermal Status: 1\n")
    return buffer.getvalue()


def test_a_measurement_is_one_device_farm_run_whose_uploads_are_deleted(aws, program):
    s3, client, stubber, device, runner = aws
    name = f"vidray-{program.sha256[:12]}"
    expect_upload(stubber, s3, PACKAGE, f"{name}.zip", "APPIUM_WEB_PYTHON_TEST_PACKAGE")
    expect_upload(stubber, s3, SPEC, f"{name}.yml", "APPIUM_WEB_PYTHON_TEST_SPEC")
    stubber.add_response("schedule_run", {"run": {"arn": RUN, "status": "SCHEDULING"}}, {
        "projectArn": PROJECT, "devicePoolArn": POOL, "name": name, "executionConfiguration": {"jobTimeoutMinutes": 30},
        "test": {"type": "APPIUM_WEB_PYTHON", "testPackageArn": PACKAGE, "testSpecArn": SPEC}})
    stubber.add_response("get_run", {"run": {"arn": RUN, "status": "RUNNING"}}, {"arn": RUN})
    stubber.add_response("get_run", {"run": {"arn": RUN, "status": "COMPLETED", "result": "PASSED"}}, {"arn": RUN})
    stubber.add_response("list_jobs", {"jobs": [{"arn": JOB, "name": "Google Pixel 7"}]}, {"arn": RUN})
    s3.put_object(Bucket=BUCKET, Key="artifacts.zip", Body=runner_logs(program.name, 5))
    artifact_url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "artifacts.zip"})
    stubber.add_response("list_artifacts", {"artifacts": [
        {"arn": JOB + ":log", "type": "DEVICE_LOG", "url": "http://127.0.0.1:9/unused"},
        {"arn": JOB + ":files", "type": "CUSTOMER_ARTIFACT", "extension": "zip", "url": artifact_url}]},
        {"arn": JOB, "type": "FILE"})
    for arn in (PACKAGE, SPEC):
        stubber.add_response("delete_upload", {}, {"arn": arn})

    measured = AwsDeviceFarmBackend(device, client=client).measure(program.data, program.inputs, warmup=2, repeats=3)
    stubber.assert_no_pending_responses()
    assert len(measured.samples_ms) == 3 and all(ms > 0 for ms in measured.samples_ms) and measured.throttled is False
    package = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=f"{name}.zip")["Body"].read()))
    assert package.read("tests/executor_runner") == runner.read_bytes()
    assert package.read("tests/program.pte") == program.data
    assert {"requirements.txt", "wheelhouse/"} <= set(package.namelist())
    spec = yaml.safe_load(s3.get_object(Bucket=BUCKET, Key=f"{name}.yml")["Body"].read())
    run = [command for command in spec["phases"]["test"]["commands"] if "executor_runner" in command and "--model_path" in command]
    assert len(run) == 1 and "--num_executions 5 --cpu_threads 4" in run[0]


def test_a_failed_run_or_a_rejected_upload_is_an_error_and_the_uploads_are_still_deleted(aws, program):
    s3, client, stubber, device, _ = aws
    name = f"vidray-{program.sha256[:12]}"
    expect_upload(stubber, s3, PACKAGE, f"{name}.zip", "APPIUM_WEB_PYTHON_TEST_PACKAGE", status="FAILED",
                  metadata='{"errorCode": "INVALID_PACKAGE"}')
    stubber.add_response("delete_upload", {}, {"arn": PACKAGE})
    backend = AwsDeviceFarmBackend(device, client=client)
    with pytest.raises(FarmError, match="Device Farm rejected upload .*INVALID_PACKAGE"):
        backend.measure(program.data, program.inputs, warmup=0, repeats=1)
    expect_upload(stubber, s3, PACKAGE, f"{name}.zip", "APPIUM_WEB_PYTHON_TEST_PACKAGE")
    expect_upload(stubber, s3, SPEC, f"{name}.yml", "APPIUM_WEB_PYTHON_TEST_SPEC")
    stubber.add_response("schedule_run", {"run": {"arn": RUN, "status": "SCHEDULING"}})
    stubber.add_response("get_run", {"run": {"arn": RUN, "status": "COMPLETED", "result": "ERRORED",
                                             "message": "Device unavailable"}}, {"arn": RUN})
    stubber.add_response("list_jobs", {"jobs": [{"arn": JOB}]}, {"arn": RUN})
    for arn in (PACKAGE, SPEC):
        stubber.add_response("delete_upload", {}, {"arn": arn})
    with pytest.raises(FarmError, match="ended Device unavailable"):
        backend.measure(program.data, program.inputs, warmup=0, repeats=1)
    stubber.assert_no_pending_responses()


def test_missing_options_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"missing \['device_pool_arn', 'runner'\]"):
        AwsDeviceFarmBackend(DeviceSpec(id="p", kind="k", backend="aws", options={"project_arn": PROJECT}))
