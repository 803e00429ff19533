"""SimCLR (Chen et al. 2020): views of a video attract, every other clip of the global batch repels."""

from __future__ import annotations

import torch
from torch import nn

from vidray.ssl.losses import nt_xent
from vidray.ssl.views import View, cat_views, view_size


class SimCLR(nn.Module):
    """``backbone -> mlp -> nt_xent`` over two or more views (PyTorchVideo's name and arguments).

    ::

        view 1 .. view rho ─► backbone ─► mlp ─► L2 norm ─► NT-Xent (negatives from every worker)

    Args:
        mlp: the projection head (e.g. :func:`vidray.layers.make_multilayer_perceptron`).
        backbone: features ``[B, D]`` from a clip; ``None`` when views are already features.
        temperature: of the softmax over similarities.
    """

    def __init__(self, mlp: nn.Module, backbone: nn.Module | None = None, temperature: float = 0.07) -> None:
        super().__init__()
        self.mlp, self.backbone, self.temperature = mlp, backbone, temperature

    def forward(self, *views: View) -> torch.Tensor:
        features = cat_views(views)  # one pass for all views: batch norm sees them together
        if self.backbone is not None:
            features = self.backbone(features)
        return nt_xent(self.mlp(features).split(view_size(views[0])), self.temperature)

    def encoder(self) -> nn.Module:
        """What is kept after pretraining: the backbone."""
        return self.backbone
