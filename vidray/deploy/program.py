"""Running an ExecuTorch program from Python, checked against the spec it was exported with.

This is what a device farm's local backend runs, and what the accuracy check
of an int8 program uses: ExecuTorch's own runtime (``executorch.runtime``),
the same kernels (XNNPACK) a phone runs, on this machine's CPU.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import torch

from vidray.deploy.bundle import (
    PROGRAM_FILE,
    RECORD_FILE,
    TensorSpec,
    check_sha256,
    read_record,
    sha256_of,
    spec_from_record,
)
from vidray.errors import DeployError


class Program:
    """A loaded program: call it with tensors of its input spec; returns its outputs as a list."""

    def __init__(self, data: bytes, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec], source: str) -> None:
        from executorch.runtime import Runtime

        self.inputs, self.outputs, self.source, self.sha256 = tuple(inputs), tuple(outputs), source, sha256_of(data)
        try:  # the method borrows from the program, which borrows the bytes: keep all three alive
            self._data = data
            self._program = Runtime.get().load_program(data)
            self._method = self._program.load_method("forward")
        except Exception as exc:  # the runtime's own errors are RuntimeErrors with codes
            raise DeployError(f"{source}: ExecuTorch cannot load the program: {exc}") from None

    def __call__(self, *inputs: torch.Tensor) -> list[torch.Tensor]:
        if len(inputs) != len(self.inputs):
            raise DeployError(f"{self.source}: the program takes {len(self.inputs)} input(s), got {len(inputs)}")
        for index, (spec, tensor) in enumerate(zip(self.inputs, inputs)):
            spec.check(tensor, f"{self.source}: input {index}" + (f" ({spec.name})" if spec.name else ""))
        return list(self._method.execute([tensor.contiguous() for tensor in inputs]))


def pin_runtime(threads: int, cpus: Sequence[int] | None = None) -> None:
    """Runs this process's programs (and torch) on ``threads`` threads, on ``cpus`` when given.

    Call it before loading programs: ExecuTorch's threadpool is process-wide, and
    resetting it under a loaded program crashes. Without it the runtime spreads
    over every core, so timings of two programs side by side corrupt each other.
    """
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool

    if threads < 1:
        raise DeployError(f"threads: at least 1, got {threads}")
    if cpus is not None:
        allowed = sorted(os.sched_getaffinity(0))
        if not set(cpus) <= set(allowed) or not cpus:
            raise DeployError(f"cpus {list(cpus)}: this process may run on CPUs {allowed}")
        os.sched_setaffinity(0, cpus)
    torch.set_num_threads(threads)
    _unsafe_reset_threadpool(threads)


def load_program(path: str, *, sha256: str | None = None) -> Program:
    """Loads a program to run: a bundle folder written by :meth:`DeployBundle.save` (its recorded
    sha256 is checked), or a bare ``.pte`` file (its spec read from the program; ``sha256``, if
    given, is checked). Nothing is unpickled."""
    if os.path.isdir(path):
        record = read_record(path)
        program_path = os.path.join(path, record.get("program", PROGRAM_FILE))
        data = _read(program_path)
        check_sha256(data, record["sha256"], program_path)
        if sha256 is not None:
            check_sha256(data, sha256, program_path)
        specs = [[spec_from_record(item, path) for item in record[key]] for key in ("inputs", "outputs")]
        return Program(data, specs[0], specs[1], program_path)
    data = _read(path)
    if sha256 is not None:
        check_sha256(data, sha256, path)
    inputs, outputs = _specs_in_program(data, path)
    return Program(data, inputs, outputs, path)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError:
        raise DeployError(f"{path}: no such program (a .pte file, or a bundle folder with {RECORD_FILE})") from None


# ExecuTorch's ScalarType codes (c10's numbering) as torch dtype names.
_DTYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32", 7: "float64",
           11: "bool", 15: "bfloat16"}


def _specs_in_program(data: bytes, where: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Input and output specs of a bare program's ``forward``, from its method metadata."""
    from executorch.runtime import Runtime

    try:
        meta = Runtime.get().load_program(data).metadata("forward")
    except Exception as exc:
        raise DeployError(f"{where}: ExecuTorch cannot read the program: {exc}") from None
    return (
        [_spec(meta.input_tensor_meta(i), where) for i in range(meta.num_inputs())],
        [_spec(meta.output_tensor_meta(i), where) for i in range(meta.num_outputs())],
    )


def _spec(info: Any, where: str) -> TensorSpec:
    dtype = int(info.dtype())
    if dtype not in _DTYPES:
        raise DeployError(f"{where}: a tensor of ExecuTorch dtype {dtype!r}, which vidray does not map")
    return TensorSpec(tuple(int(size) for size in info.sizes()), _DTYPES[dtype])
