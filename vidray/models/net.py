"""The containers every zoo model is assembled from: a sequence of blocks, parallel pathways, a box-aware wrapper."""

from __future__ import annotations

import torch
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.layers.utils import set_attributes
from vidray.models.weight_init import init_net_weights


class Net(nn.Module):
    """A network as a list of blocks applied in order (stem, stages, head), initialised ResNet style.

    ::

                                         Input
                                           ↓
                                         Block 1
                                           ↓
                                           .
                                           .
                                           .
                                           ↓
                                         Block N
                                           ↓

    The blocks sit in ``self.blocks`` (an ``nn.ModuleList``), which gives the
    state_dict keys ``blocks.<i>.…`` of PyTorchVideo's checkpoints.
    """

    def __init__(self, *, blocks: nn.ModuleList) -> None:
        super().__init__()
        if blocks is None:
            raise ConfigError("Net: blocks is required")
        self.blocks = blocks
        init_net_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class DetectionBBoxNetwork(nn.Module):
    """A backbone followed by a head that also takes boxes (e.g. an RoIAlign head for AVA).

    ``forward(x, bboxes)`` takes boxes as ``[N, 5]`` rows ``(batch_index, x1, y1,
    x2, y2)`` for RoIAlign (``[N, 6]`` with centre, size and angle for a rotated
    RoIAlign) and returns ``[N, num_classes]``, one row per box.
    """

    def __init__(self, model: nn.Module, detection_head: nn.Module) -> None:
        """
        Args:
            model: the backbone (e.g. stem and stages).
            detection_head: takes the backbone's features and the boxes.
        """
        super().__init__()
        self.model = model
        self.detection_head = detection_head

    def forward(self, x: torch.Tensor, bboxes: torch.Tensor) -> torch.Tensor:
        features = self.model(x)
        out = self.detection_head(features, bboxes)
        return out.view(out.shape[0], -1)


class MultiPathWayWithFuse(nn.Module):
    """One block per pathway, then a fusion across pathways (SlowFast's stage).

    ::

                            Pathway 1  ... Pathway N
                                ↓              ↓
                             Block 1        Block N
                                ↓⭠ --Fusion----↓

    A ``None`` block leaves its pathway unchanged; a ``None`` fusion returns the
    pathways as they are.
    """

    def __init__(
        self,
        *,
        multipathway_blocks: nn.ModuleList,
        multipathway_fusion: nn.Module | None,
        inplace: bool | None = True,
    ) -> None:
        """
        Args:
            multipathway_blocks: one block (or ``None``) per pathway.
            multipathway_fusion: combines the pathways' outputs (``None``: no fusion).
            inplace: write the outputs into the input list instead of a new one.
        """
        super().__init__()
        set_attributes(self, locals())

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        if not isinstance(x, list):
            raise LayoutError(f"MultiPathWayWithFuse takes a list of tensors, one per pathway; got {type(x).__name__}")
        x_out = x if self.inplace else [None] * len(x)
        for pathway_idx, block in enumerate(self.multipathway_blocks):
            if block is not None:
                x_out[pathway_idx] = block(x[pathway_idx])
        if self.multipathway_fusion is not None:
            x_out = self.multipathway_fusion(x_out)
        return x_out
