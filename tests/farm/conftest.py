"""A program for the farm tests to measure, and the stand-in phone for the adb backend."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))  # adb_server.py

RUNNER = Path(__file__).parent / "executor_runner.py"


@pytest.fixture(scope="session")
def program(tmp_path_factory):
    """A small fp32 program (two 3-D convolutions, ~15 ms a run on one core), saved as a bundle."""
    from vidray.deploy import export
    from vidray.farm import FarmProgram

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv3d(16, 16, (1, 3, 3), padding=(0, 1, 1)),
                          nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
    folder = str(tmp_path_factory.mktemp("farm") / "program")
    export(model, torch.rand(1, 3, 8, 64, 64), quantize="fp32", metadata={"model": "two-conv"}).save(folder)
    return FarmProgram.of(folder)


class Phone:
    """The adb server's one device (this host) and what the backend needs to reach it."""

    SERIAL = "emulator-5554"

    def __init__(self, root: Path, server) -> None:
        self.root, self.server = root, server
        self.workdir = root / "data-local-tmp"  # where programs go "on the phone"
        self.runner = root / "executor_runner"

    def options(self, **overrides) -> dict:
        return {"serial": self.SERIAL, "runner": str(self.runner), "port": self.server.port,
                "workdir": str(self.workdir), **overrides}

    def set_thermal_status(self, status: int) -> None:
        (self.root / "bin" / "thermal_status").write_text(str(status))


@pytest.fixture
def phone(tmp_path) -> Iterator[Phone]:
    """An adb server on loopback serving this host as a phone: ExecuTorch's runner (its stand-in)
    to push, and ``dumpsys thermalservice`` reporting a status the test sets."""
    from adb_server import AdbServer

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "thermal_status").write_text("0")
    dumpsys = bin_dir / "dumpsys"
    dumpsys.write_text(f'#!/bin/sh\n[ "$1" = thermalservice ] && echo "Thermal Status: $(cat {bin_dir}/thermal_status)"\n')
    dumpsys.chmod(0o755)
    runner = tmp_path / "executor_runner"
    runner.write_text(f'#!/bin/sh\nexec {sys.executable} {RUNNER} "$@"\n')
    runner.chmod(0o755)
    with AdbServer(Phone.SERIAL, str(bin_dir)) as server:
        yield Phone(tmp_path, server)
