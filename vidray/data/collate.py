"""Batch collation for video samples."""

from __future__ import annotations

from typing import Any

from torch.utils.data import default_collate


def collate_skipping_none(batch: list[Any]) -> Any:
    """``default_collate`` after dropping samples that map-style access skipped (``None``)."""
    kept = [sample for sample in batch if sample is not None]
    return default_collate(kept) if kept else None
