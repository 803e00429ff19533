"""One row per zoo model: counted parameters and FLOPs beside the published figures."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vidray.models.factory import create_model
from vidray.models.introspection import count_gflops, count_parameters
from vidray.models.registry import ModelSpec, model_spec


@dataclass(frozen=True)
class ModelSummary:
    name: str
    spec: ModelSpec
    params: int
    gflops: float

    def row(self) -> list[str]:
        spec = self.spec
        shapes = " + ".join("x".join(map(str, p.shape[1:])) for p in spec.input.pathways)
        rate = str(spec.sampling_rate) if spec.sampling_rate else "-"
        top1 = f"{spec.top1:.1f}" if spec.top1 is not None else "-"
        return [self.name, f"{self.params / 1e6:.2f}", f"{self.gflops:.2f}", shapes, rate, spec.dataset, top1]


HEADER = ["model", "params (M)", "GFLOPs", "input TxHxW", "stride", "dataset", "top-1"]


def summarize(name: str) -> ModelSummary:
    """Counts ``name``'s parameters and FLOPs at its default input, built on the meta device (no weights)."""
    spec = model_spec(name)
    with torch.device("meta"):
        model = create_model(name)
        args = spec.example_args()
    return ModelSummary(name, spec, count_parameters(model), count_gflops(model, *args))


def format_table(rows: list[list[str]]) -> str:
    """Left-aligned text columns (the CLI's table)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
