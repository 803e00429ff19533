"""A model split into the kernels its program runs, each one rebuildable alone for profiling.

The split is made on :func:`vidray.deploy.deployable_program`, the graph the
program computes (3-D operators already folded into 2-D ones, batch norms folded
into convolutions), so the kernels are the program's: nn-Meter's idea of
predicting on the runtime's units rather than on the model's layers. A ReLU that
follows a convolution alone is fused into it, as XNNPACK does; views are free.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable

import torch
from torch import nn

KERNEL_TYPES = ("conv", "dwconv", "pwconv", "linear", "pool", "activation", "elementwise", "copy")
_ACTIVATIONS = {
    "relu": torch.relu, "silu": nn.functional.silu, "sigmoid": torch.sigmoid, "hardswish": nn.functional.hardswish,
    "hardsigmoid": nn.functional.hardsigmoid, "softmax": lambda x: torch.softmax(x, dim=-1), "gelu": nn.functional.gelu,
    "tanh": torch.tanh,
}
_FUSED = {"relu", "hardtanh", "clamp"}  # XNNPACK applies these as the convolution's output clamp
_FREE = {"view", "reshape", "unsqueeze", "squeeze", "dropout", "flatten", "expand", "alias", "detach"}


@dataclasses.dataclass(frozen=True)
class Kernel:
    """One unit of work: its type, the aten op (with a fused activation after ``+``), its input
    shapes, and the op's own arguments (stride, padding, groups, dims)."""

    type: str
    op: str
    shapes: tuple[tuple[int, ...], ...]
    args: tuple[Any, ...] = ()

    def features(self) -> list[float]:
        """The numbers a regressor sees: sizes, and the work (multiply-accumulates or elements) in log scale."""
        first = self.shapes[0]
        numel = math.prod(first)
        if self.type in ("conv", "dwconv", "pwconv"):
            n, cin, h, w = first
            cout, kh, kw, sh, sw, ph, pw, groups, fused = self.args
            ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
            macs = n * ho * wo * cout * (cin // groups) * kh * kw
            return [n, cin, cout, h, w, kh, kw, sh, groups, fused, math.log(macs + 1), math.log(n * cout * ho * wo)]
        if self.type == "linear":
            rows, features_in = math.prod(first[:-1]), first[-1]
            features_out = self.args[0]
            return [rows, features_in, features_out, math.log(rows * features_in * features_out + 1)]
        if self.type == "pool":
            return [*_padded(first, 4), math.log(numel), len(self.args[0]) if self.args else 0]
        if self.type == "elementwise":
            other = math.prod(self.shapes[1]) if len(self.shapes) > 1 else 1
            return [math.log(numel), math.log(other + 1), float(self.op == "mul")]
        if self.type == "activation":
            return [math.log(numel), float(sorted(_ACTIVATIONS).index(self.op))]
        return [math.log(numel), len(first)]  # copy

    def module(self) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
        """This kernel alone, as a module and its inputs: what profiling exports and measures."""
        inputs = tuple(torch.rand(shape) for shape in self.shapes)
        return _KernelModule(self), inputs


class _KernelModule(nn.Module):
    def __init__(self, kernel: Kernel) -> None:
        super().__init__()
        self.kernel = kernel
        if kernel.type in ("conv", "dwconv", "pwconv"):
            cout, kh, kw, sh, sw, ph, pw, groups, fused = kernel.args
            self.layer = nn.Sequential(nn.Conv2d(kernel.shapes[0][1], cout, (kh, kw), (sh, sw), (ph, pw), groups=groups),
                                       *([nn.ReLU()] if fused else []))
        elif kernel.type == "linear":
            self.layer = nn.Linear(kernel.shapes[0][-1], kernel.args[0])

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        kernel, first = self.kernel, inputs[0]
        if kernel.type in ("conv", "dwconv", "pwconv", "linear"):
            return self.layer(first)
        if kernel.type == "pool":
            if kernel.op == "mean":
                return first.mean(dim=list(kernel.args[0]), keepdim=bool(kernel.args[1]))
            size, stride, padding = kernel.args
            pool = nn.functional.avg_pool2d if kernel.op == "avg_pool2d" else nn.functional.max_pool2d
            return pool(first, size, stride, padding)
        if kernel.type == "elementwise":
            return first * inputs[1] if kernel.op == "mul" else first + inputs[1]
        if kernel.type == "activation":
            return _ACTIVATIONS[kernel.op](first)
        return first.permute(*kernel.args).contiguous()  # copy


def kernels_of(program: torch.export.ExportedProgram) -> list[Kernel]:
    """The kernels of a deployable program (:func:`vidray.deploy.deployable_program`), in execution order."""
    nodes = [node for node in program.graph.nodes if node.op == "call_function"]
    fused: set[Any] = set()
    kernels: list[Kernel] = []
    for node in nodes:
        op = _op_name(node)
        if op in _FREE or node in fused or op == "getitem":
            continue
        kernel = _kernel(node, op)
        if kernel is None:
            continue
        if kernel.type in ("conv", "dwconv", "pwconv"):
            users = list(node.users)
            if len(users) == 1 and _op_name(users[0]) in _FUSED:
                fused.add(users[0])
                kernel = dataclasses.replace(kernel, op=f"{op}+{_op_name(users[0])}", args=(*kernel.args[:-1], 1))
        kernels.append(kernel)
    return kernels


def _op_name(node: Any) -> str:
    return getattr(node.target, "__name__", str(node.target)).split(".")[0]


def _shape(value: Any) -> tuple[int, ...] | None:
    meta = getattr(value, "meta", {}).get("val") if hasattr(value, "meta") else None
    return tuple(int(size) for size in meta.shape) if isinstance(meta, torch.Tensor) else None


def _kernel(node: Any, op: str) -> Kernel | None:
    shapes = tuple(shape for shape in (_shape(arg) for arg in node.args) if shape is not None)
    if not shapes:
        return None
    if op in ("conv2d", "convolution"):
        weight = shapes[1]
        stride, padding = _pair(_arg(node, 3, [1, 1])), _pair(_arg(node, 4, [0, 0]))
        groups = int(_arg(node, 6 if op == "conv2d" else 8, 1))
        cin = shapes[0][1]
        kind = "dwconv" if groups > 1 and groups == cin else "pwconv" if weight[2:] == (1, 1) and groups == 1 else "conv"
        return Kernel(kind, op, shapes[:1], (weight[0], weight[2], weight[3], *stride, *padding, groups, 0))
    if op == "linear":
        return Kernel("linear", op, shapes[:1], (shapes[1][0],))
    if op == "mean":
        return Kernel("pool", op, shapes[:1], (tuple(int(d) for d in _arg(node, 1, [])), bool(_arg(node, 2, False))))
    if op in ("avg_pool2d", "max_pool2d"):
        size = _pair(_arg(node, 1, [1, 1]))
        stride = _arg(node, 2, []) or size  # aten's empty stride means the kernel size
        return Kernel("pool", op, shapes[:1], (size, _pair(stride), _pair(_arg(node, 3, [0, 0]))))
    if op in ("add", "mul", "sub", "div"):
        return Kernel("elementwise", "mul" if op in ("mul", "div") else "add", shapes[:2])
    if op in _ACTIVATIONS or op in _FUSED:  # a clamp not after a convolution: XNNPACK runs it as its own kernel
        return Kernel("activation", op if op in _ACTIVATIONS else "relu", shapes[:1])
    if op in ("permute", "clone", "cat", "contiguous", "transpose"):
        perm = tuple(int(d) for d in _arg(node, 1, [])) if op == "permute" else tuple(range(len(shapes[0])))
        return Kernel("copy", "permute", shapes[:1], perm)
    return None


def _arg(node: Any, index: int, default: Any) -> Any:
    return node.args[index] if len(node.args) > index else default


def _pair(value: Iterable[int] | int) -> tuple[int, int]:
    values = [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]
    return (values[0], values[-1]) if values else (1, 1)


def _padded(shape: tuple[int, ...], length: int) -> list[int]:
    return [1] * (length - len(shape)) + list(shape[-length:])
