"""Views as one batch: every method runs its encoders once over all views together."""

from __future__ import annotations

from typing import Sequence

import torch

View = torch.Tensor | list[torch.Tensor]  # a clip batch, or one batch per pathway (SlowFast)


def cat_views(views: Sequence[View]) -> View:
    """The views concatenated along the batch (per pathway for multi-pathway inputs)."""
    if isinstance(views[0], torch.Tensor):
        return torch.cat(list(views))
    return [torch.cat([view[pathway] for view in views]) for pathway in range(len(views[0]))]


def view_size(view: View) -> int:
    """Clips per view."""
    return (view if isinstance(view, torch.Tensor) else view[0]).shape[0]


def pairs(count: int) -> list[tuple[int, int]]:
    """Every ordered pair of distinct views: each view predicts (or queries) every other one."""
    return [(a, b) for a in range(count) for b in range(count) if a != b]
