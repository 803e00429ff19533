"""A deployable bundle: an ExecuTorch program with the record of what it is.

On disk a bundle is a folder of two files, neither of them a pickle::

    program.pte    the ExecuTorch program, byte for byte what runs on the device
    bundle.json    its sha256, input and output specs, and the metadata of its making
                   (model, quantization recipe, calibration hash, delegation, versions)

The sha256 ties the record to the bytes: loading checks it, so a program that
was truncated or altered is refused before it runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from vidray.errors import DeployError

PROGRAM_FILE = "program.pte"
RECORD_FILE = "bundle.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TensorSpec:
    """A program input or output: its shape and dtype (``torch`` names, e.g. ``"float32"``)."""

    shape: tuple[int, ...]
    dtype: str
    name: str = ""

    @classmethod
    def of(cls, tensor: torch.Tensor, name: str = "") -> "TensorSpec":
        return cls(tuple(int(size) for size in tensor.shape), str(tensor.dtype).removeprefix("torch."), name)

    def check(self, tensor: Any, where: str) -> None:
        """Raises :class:`DeployError` naming ``where`` unless ``tensor`` has this shape and dtype."""
        if not isinstance(tensor, torch.Tensor):
            raise DeployError(f"{where}: expected a tensor {list(self.shape)} {self.dtype}, got {type(tensor).__name__}")
        got = TensorSpec.of(tensor)
        if (got.shape, got.dtype) != (self.shape, self.dtype):
            raise DeployError(f"{where}: expected {list(self.shape)} {self.dtype}, got {list(got.shape)} {got.dtype}")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    def example(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A tensor of this spec: uniform in [0, 1) for floating types, zeros (a fresh stream state's
        frame count) for integers. What timing a program feeds it (its speed does not depend on values)."""
        dtype = getattr(torch, self.dtype)
        if dtype.is_floating_point:
            return torch.rand(self.shape, generator=generator, dtype=dtype)
        return torch.zeros(self.shape, dtype=dtype)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class DeployBundle:
    """What :func:`vidray.deploy.export` returns; :meth:`save` writes it, :meth:`load` reads and checks it."""

    program: bytes
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return sha256_of(self.program)

    @property
    def size_bytes(self) -> int:
        return len(self.program)

    def record(self) -> dict[str, Any]:
        """The ``bundle.json`` content."""
        return {
            "format": FORMAT_VERSION,
            "program": PROGRAM_FILE,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "inputs": [spec.as_dict() for spec in self.inputs],
            "outputs": [spec.as_dict() for spec in self.outputs],
            "metadata": self.metadata,
        }

    def save(self, folder: str) -> str:
        """Writes the bundle into ``folder`` (created; an existing bundle there is refused, not overwritten)."""
        os.makedirs(folder, exist_ok=True)
        for name in (PROGRAM_FILE, RECORD_FILE):
            if os.path.exists(os.path.join(folder, name)):
                raise DeployError(f"{folder}: already holds {name}; save each bundle to a new folder")
        with open(os.path.join(folder, PROGRAM_FILE), "xb") as file:
            file.write(self.program)
        with open(os.path.join(folder, RECORD_FILE), "x") as file:
            json.dump(self.record(), file, indent=2)
        return folder

    @classmethod
    def load(cls, folder: str) -> "DeployBundle":
        """Reads a saved bundle; a program whose bytes do not match the recorded sha256 is refused."""
        record = read_record(folder)
        with open(os.path.join(folder, record.get("program", PROGRAM_FILE)), "rb") as file:
            program = file.read()
        check_sha256(program, record["sha256"], os.path.join(folder, PROGRAM_FILE))
        return cls(
            program=program,
            inputs=tuple(spec_from_record(item, folder) for item in record["inputs"]),
            outputs=tuple(spec_from_record(item, folder) for item in record["outputs"]),
            metadata=record.get("metadata", {}),
        )


def read_record(folder: str) -> dict[str, Any]:
    path = os.path.join(folder, RECORD_FILE)
    try:
        with open(path) as file:
            record = json.load(file)
    except FileNotFoundError:
        raise DeployError(f"{folder}: no {RECORD_FILE}; not a bundle saved by vidray.deploy") from None
    except json.JSONDecodeError as exc:
        raise DeployError(f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}") from None
    missing = [key for key in ("sha256", "inputs", "outputs") if key not in record]
    if missing or record.get("format") != FORMAT_VERSION:
        raise DeployError(f"{path}: bundle format {record.get('format')!r} (this vidray reads {FORMAT_VERSION}), "
                          f"missing fields {missing}")
    return record


def check_sha256(program: bytes, expected: str, where: str) -> None:
    actual = sha256_of(program)
    if actual != expected:
        raise DeployError(f"{where}: sha256 {actual} does not match the recorded {expected}; "
                          "the program was altered or truncated, refusing to run it")


def spec_from_record(item: dict[str, Any], folder: str) -> TensorSpec:
    try:
        return TensorSpec(tuple(int(size) for size in item["shape"]), str(item["dtype"]), str(item.get("name", "")))
    except (KeyError, TypeError, ValueError):
        raise DeployError(f"{folder}/{RECORD_FILE}: a tensor spec needs shape and dtype, got {item!r}") from None
