"""``export``: an eager model -> ``torch.export`` -> 3-D ops folded to 2-D -> PT2E int8 -> ExecuTorch program.

The steps are the libraries' own: ``torch.export`` traces the model;
:func:`~vidray.deploy.fold_time.fold_time` rewrites its 3-D operators (exactly)
so XNNPACK can run them; torchao's PT2E flow (``prepare_pt2e`` with
ExecuTorch's XNNPACK quantizer: symmetric per-channel int8 weights, static
per-tensor int8 activations) observes real clips and ``convert_pt2e`` inserts
the quantize/dequantize pairs; ``to_edge_transform_and_lower`` with the
XNNPACK partitioner hands every operator it can to XNNPACK, and
``to_executorch`` writes the program.
"""

from __future__ import annotations

import contextlib
import hashlib
from importlib import metadata as package_metadata
from typing import Any, Iterable, Literal, Sequence

import torch
from torch import nn

from vidray.deploy.bundle import DeployBundle, TensorSpec
from vidray.deploy.delegation import delegation_of
from vidray.deploy.fold_time import fold_time
from vidray.errors import DeployError

QUANTIZATIONS = ("int8", "fp32")
BACKENDS = ("xnnpack",)
Inputs = torch.Tensor | Sequence[torch.Tensor]


def export(
    model: nn.Module,
    example_inputs: Inputs,
    *,
    quantize: Literal["int8", "fp32"] = "int8",
    backend: Literal["xnnpack"] = "xnnpack",
    calibration: Iterable[Inputs] | None = None,
    metadata: dict[str, Any] | None = None,
    input_names: Sequence[str] = (),
    output_names: Sequence[str] = (),
) -> DeployBundle:
    """The deployable bundle of ``model`` at the shapes of ``example_inputs`` (batch included).

    Args:
        model: an eager model (put in eval mode here).
        example_inputs: one input tensor; a tuple of tensors, one per positional input; or a list for a
            model that takes a list (SlowFast's pathways), which the program takes as positional inputs.
        quantize: ``"int8"`` (PT2E static quantization, calibrated) or ``"fp32"``.
        backend: the delegate; ``"xnnpack"`` (mobile and desktop CPUs).
        calibration: int8 only: model inputs of the example's shapes, real clips through the
            model's transform (e.g. a validation loader's first batches).
        metadata: recorded in the bundle (model name, zoo config, ...), beside what export adds.
        input_names, output_names: names of the program's tensors in its spec (default ``input_0``,
            ``output_0``, ...).
    """
    if quantize not in QUANTIZATIONS:
        raise DeployError(f"quantize: {quantize!r} is not one of {list(QUANTIZATIONS)}")
    if backend not in BACKENDS:
        raise DeployError(f"backend: {backend!r} is not one of {list(BACKENDS)}")
    name = type(model).__name__
    model, example = _prepared(model, example_inputs)
    batches = _calibration_batches(calibration, example) if quantize == "int8" else []
    if quantize == "fp32" and calibration is not None:
        raise DeployError("calibration: an fp32 export takes no calibration data (it is for int8)")
    with torch.no_grad():
        outputs = _as_tuple(model(*example), f"{name} outputs")
    input_specs, output_specs = _specs(example, input_names, "input"), _specs(outputs, output_names, "output")
    program = _folded(model, example, name)
    if quantize == "int8":
        program = _quantized(program, batches, name)
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    edge = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    delegation = delegation_of(edge.exported_program())
    data = edge.to_executorch().buffer
    recipe = {"quantize": quantize, "backend": backend}
    if quantize == "int8":
        recipe.update(weights="int8 symmetric per-channel", activations="int8 static per-tensor",
                      quantizer="executorch XNNPACKQuantizer", flow="torchao PT2E")
    record = {
        **(metadata or {}),
        "quantization": recipe,
        "calibration": {"batches": len(batches), "sha256": _hash_batches(batches)} if batches else None,
        "delegation": delegation.as_dict(),
        "versions": {package: _version(package) for package in ("torch", "executorch", "torchao", "vidray")},
    }
    return DeployBundle(
        program=bytes(data),
        inputs=input_specs,
        outputs=output_specs,
        metadata=record,
    )


def deployable_program(model: nn.Module, example_inputs: Inputs | list[torch.Tensor]) -> torch.export.ExportedProgram:
    """The model as its program will compute it, before quantization and lowering: traced by
    ``torch.export`` with every 3-D operator folded into 2-D ones, each node's output shape in
    ``node.meta["val"]``. What :func:`export` lowers, and what a latency predictor splits into kernels."""
    model, example = _prepared(model, example_inputs)
    return _folded(model, example, type(model).__name__)


def _prepared(model: nn.Module, example_inputs: Any) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The model in eval mode, taking its inputs positionally (SlowFast's list of pathways as arguments)."""
    if isinstance(example_inputs, list):
        from vidray.models.pathways import PathwaysAsArguments

        model = PathwaysAsArguments(model)
    _to_eval_mode(model)
    return model, _as_tuple(example_inputs, "example_inputs")


def _folded(model: nn.Module, example: tuple[torch.Tensor, ...], name: str) -> Any:
    return _torch_export(fold_time(_torch_export(model, example, name).module()), example, name)


def _specs(tensors: tuple[torch.Tensor, ...], names: Sequence[str], kind: str) -> tuple[TensorSpec, ...]:
    if names and len(names) != len(tensors):
        raise DeployError(f"{kind}_names: {len(names)} names for the program's {len(tensors)} {kind}s")
    return tuple(TensorSpec.of(tensor, names[i] if names else f"{kind}_{i}") for i, tensor in enumerate(tensors))


def _to_eval_mode(model: nn.Module) -> None:
    # A module loaded from torch.export (a logged model) refuses eval(): its mode was fixed when it was exported.
    with contextlib.suppress(NotImplementedError):
        model.eval()


def _as_tuple(inputs: Any, where: str) -> tuple[torch.Tensor, ...]:
    values = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    if not values or not all(isinstance(value, torch.Tensor) for value in values):
        raise DeployError(f"{where}: expected a tensor or a sequence of tensors, got {type(inputs).__name__}")
    return values


def _calibration_batches(calibration: Iterable[Inputs] | None, example: tuple[torch.Tensor, ...]) -> list[tuple]:
    """The calibration inputs, checked against the example before any work."""
    if calibration is None:
        raise DeployError("calibration: an int8 export needs calibration inputs (real clips), got none")
    batches = [_as_tuple(batch, f"calibration batch {i}") for i, batch in enumerate(calibration)]
    if not batches:
        raise DeployError("calibration: the calibration set is empty; give at least one batch of real clips")
    expected = [TensorSpec.of(tensor) for tensor in example]
    for index, batch in enumerate(batches):
        got = [TensorSpec.of(tensor) for tensor in batch]
        if [(s.shape, s.dtype) for s in got] != [(s.shape, s.dtype) for s in expected]:
            raise DeployError(
                f"calibration batch {index}: {[(list(s.shape), s.dtype) for s in got]} does not match the example "
                f"inputs {[(list(s.shape), s.dtype) for s in expected]}"
            )
    return batches


def _torch_export(model: nn.Module, example: tuple[torch.Tensor, ...], name: str) -> Any:
    try:
        return torch.export.export(model, example)
    except Exception as exc:  # torch.export raises many types; the message names the op and the source line
        message = str(exc).strip().splitlines()
        raise DeployError(f"{name}: torch.export cannot trace the model: {' '.join(message[:6])}") from exc


def _quantized(program: Any, batches: list[tuple], name: str) -> Any:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    quantizer.set_filter_function(_on_floats)
    prepared = prepare_pt2e(program.module(), quantizer)
    with torch.no_grad():
        for batch in batches:
            prepared(*batch)
    converted = convert_pt2e(prepared)
    return _torch_export(converted, batches[0], name)


def _on_floats(node: Any) -> bool:
    """Quantize only float computations: an integer one (a stream's frame count) must stay exact."""
    values = [node.meta.get("val")] + [arg.meta.get("val") for arg in node.all_input_nodes]
    return all(not isinstance(value, torch.Tensor) or value.is_floating_point() for value in values)


def _hash_batches(batches: list[tuple]) -> str:
    digest = hashlib.sha256()
    for batch in batches:
        for tensor in batch:
            digest.update(str((tuple(tensor.shape), tensor.dtype)).encode())
            digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def _version(package: str) -> str:
    try:
        return package_metadata.version(package)
    except package_metadata.PackageNotFoundError:
        return "not installed"
