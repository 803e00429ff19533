"""Adapters between multi-pathway models (SlowFast: ``forward([slow, fast])``) and exported graphs.

``torch.export`` and MLflow's signatures deal in positional tensors, not lists;
these wrappers convert at the boundary, on the way out and on the way back in.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

MAX_PATHWAYS = 4


class PathwaysAsArguments(nn.Module):
    """Exports a model taking a list of pathways as one taking them as positional tensors.

    The parameters are named, not ``*pathways``: ``torch.export`` matches one
    dynamic-shape spec per named parameter.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        pathway_0: torch.Tensor,
        pathway_1: torch.Tensor | None = None,
        pathway_2: torch.Tensor | None = None,
        pathway_3: torch.Tensor | None = None,
    ) -> torch.Tensor:
        pathways = [p for p in (pathway_0, pathway_1, pathway_2, pathway_3) if p is not None]
        return self.model(pathways)


class PathwaysAsList(nn.Module):
    """The loaded form of a multi-pathway model: takes the list again, like the original."""

    def __init__(self, program: nn.Module) -> None:
        super().__init__()
        self.program = program

    def forward(self, pathways: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.program(*pathways)
