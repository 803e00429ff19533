"""The losses registry, so configs can name a loss (``loss: {name: SoftTargetCrossEntropyLoss}``).

Besides vidray's own losses it holds torch's ``CrossEntropyLoss`` (hard labels,
with ``label_smoothing`` and ``ignore_index``) and ``BCEWithLogitsLoss``
(multi-label, e.g. Charades or AVA).
"""

from __future__ import annotations

from torch import nn

from vidray.registry import Registry

LOSSES: Registry = Registry("losses")
LOSSES.add("CrossEntropyLoss", nn.CrossEntropyLoss)
LOSSES.add("BCEWithLogitsLoss", nn.BCEWithLogitsLoss)

# Imported after LOSSES exists: the module registers itself into it.
from vidray.losses.soft_target_cross_entropy import SoftTargetCrossEntropyLoss  # noqa: E402

__all__ = ["LOSSES", "SoftTargetCrossEntropyLoss"]
