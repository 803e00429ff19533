"""BYOL (Grill et al. 2020): an online network predicts a momentum target's projection; no negatives."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from vidray.errors import LayoutError
from vidray.layers.batch_norm import NaiveSyncBatchNorm1d
from vidray.ssl.losses import byol_loss
from vidray.ssl.momentum import MomentumMethod
from vidray.ssl.views import View, cat_views, pairs, view_size


class BYOL(MomentumMethod):
    """Bootstrap your own latent over two or more views (PyTorchVideo's name and arguments).

    ::

        views ─► backbone ─► projector ─► predictor ─► p ─┐
        views ─► target backbone ─► target projector ─► z ─┴─► 2 - 2 cos(p_a, z_b), a != b

    Differences from PyTorchVideo 0.1.5, which updated the target inside
    ``forward`` (once per micro-batch under gradient accumulation, and in
    evaluation too): the target moves in :meth:`momentum_update`, called once
    per optimizer step; the loss is the paper's ``2 - 2 cos`` (PyTorchVideo:
    ``-cos``, the same optimum at half the gradient); the default norm is a
    synchronised batch norm that also runs on CPU workers.

    Args:
        backbone: features ``[B, D]`` from a clip.
        projector: MLP after the backbone (``feature_dim`` wide output); ``None``: none.
        predictor: MLP on the online projection; ``None``: ``Linear-norm-ReLU-Linear``.
        feature_dim: width of the projection (and the prediction).
        predictor_inner: hidden width of the default predictor.
        mmt: momentum of the target (see :func:`vidray.ssl.momentum.cosine_momentum`).
        norm: batch norm of the default predictor.
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module | None = None,
        predictor: nn.Module | None = None,
        feature_dim: int = 2048,
        predictor_inner: int = 4096,
        mmt: float = 0.99,
        norm: Callable[[int], nn.Module] = NaiveSyncBatchNorm1d,
    ) -> None:
        super().__init__(nn.Sequential(backbone, projector) if projector is not None else backbone, mmt)
        self.feature_dim = feature_dim
        self.predictor = predictor if predictor is not None else nn.Sequential(
            nn.Linear(feature_dim, predictor_inner, bias=False),
            norm(predictor_inner),
            nn.ReLU(inplace=True),
            nn.Linear(predictor_inner, feature_dim, bias=True),
        )
        self._has_projector = projector is not None

    def forward(self, *views: View) -> torch.Tensor:
        size, count = view_size(views[0]), len(views)
        if count < 2:
            raise LayoutError(f"BYOL: needs at least 2 views, got {count}")
        clips = cat_views(views)
        predictions = self.predictor(self.backbone(clips)).split(size)
        with torch.no_grad():
            targets = self.backbone_mmt(clips).split(size)
        return torch.stack([byol_loss(predictions[a], targets[b]) for a, b in pairs(count)]).mean()

    def encoder(self) -> nn.Module:
        """What is kept after pretraining: the online backbone, without the projector."""
        return self.backbone[0] if self._has_projector else self.backbone
