"""How much of a lowered program runs in the backend's delegate rather than ExecuTorch's portable kernels.

Counted on the edge program after partitioning: every operator inside a
lowered (delegated) submodule counts as delegated, every other operator as
not. Work is weighed in multiply-accumulates for convolutions and matrix
products and in output elements for everything else, from the shapes
``torch.export`` recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import torch
from torch import fx

_STRUCTURAL = {"getitem", "executorch_call_delegate"}
_FREE = {"view_copy", "view", "squeeze_copy", "unsqueeze_copy", "expand_copy", "alias_copy"}  # no arithmetic


@dataclass(frozen=True)
class Delegation:
    partitions: int  # delegated submodules (1 is ideal: no hand-off between backend and portable kernels)
    ops: int  # operators of the program, delegated or not
    delegated_ops: int
    work: float  # multiply-accumulates of convolutions and matrix products, output elements of the rest
    delegated_work: float
    outside: tuple[str, ...]  # the operators left to the portable kernels, by name

    @property
    def op_fraction(self) -> float:
        return self.delegated_ops / self.ops if self.ops else 1.0

    @property
    def work_fraction(self) -> float:
        return self.delegated_work / self.work if self.work else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "partitions": self.partitions, "ops": self.ops, "delegated_ops": self.delegated_ops,
            "op_fraction": self.op_fraction, "work": self.work, "delegated_work": self.delegated_work,
            "work_fraction": self.work_fraction, "outside": list(self.outside),
        }


def delegation_of(edge_program: Any) -> Delegation:
    """The delegation of a lowered ``ExportedProgram`` (``EdgeProgramManager.exported_program()``)."""
    module = edge_program.graph_module
    outside = _operators(module.graph.nodes)
    inside: list[fx.Node] = []
    partitions = 0
    for child in module.children():
        original = getattr(child, "original_module", None)
        if original is not None:  # a LoweredBackendModule
            partitions += 1
            inside += _operators(original.graph.nodes)
    inside_work = sum(_work(node) for node in inside)
    outside_work = sum(_work(node) for node in outside)
    return Delegation(
        partitions=partitions,
        ops=len(inside) + len(outside),
        delegated_ops=len(inside),
        work=inside_work + outside_work,
        delegated_work=inside_work,
        outside=tuple(sorted({_op_name(node) for node in outside})),
    )


def _operators(nodes: Iterable[fx.Node]) -> list[fx.Node]:
    return [node for node in nodes if node.op == "call_function" and _op_name(node) not in _STRUCTURAL]


def _op_name(node: fx.Node) -> str:
    """``convolution`` for ``aten.convolution.default``, plain or wrapped as an edge operator."""
    target = getattr(node.target, "_op", node.target)
    schema = getattr(target, "_schema", None)
    if schema is not None:
        return schema.name.split("::")[-1]
    return getattr(target, "__name__", str(target))


def _work(node: fx.Node) -> float:
    value = node.meta.get("val")
    if not isinstance(value, torch.Tensor):
        return 0.0
    name = _op_name(node)
    if name in _FREE:
        return 0.0
    out = float(value.numel())
    if name in ("convolution", "conv2d", "conv1d"):
        weight = node.args[1].meta.get("val") if isinstance(node.args[1], fx.Node) else None
        if isinstance(weight, torch.Tensor):
            per_output = 1
            for size in weight.shape[1:]:
                per_output *= int(size)
            return out * per_output
    if name in ("mm", "addmm", "linear", "bmm"):
        matrix = node.args[1] if name in ("mm", "linear", "bmm") else node.args[2]
        other = matrix.meta.get("val") if isinstance(matrix, fx.Node) else None
        if isinstance(other, torch.Tensor):
            inner = other.shape[-2] if name != "linear" else other.shape[-1]
            return out * int(inner)
    return out
