"""PyTorchVideo's SSL import paths and arguments keep working."""

from __future__ import annotations

import torch
from torch import nn

from vidray.models.byol import BYOL
from vidray.models.simclr import SimCLR


def test_simclr_takes_pytorchvideo_arguments_and_two_views():
    model = SimCLR(mlp=nn.Linear(8, 4), backbone=nn.Linear(6, 8), temperature=0.07)
    loss = model(torch.randn(4, 6), torch.randn(4, 6))
    assert loss.dim() == 0 and torch.isfinite(loss)


def test_byol_takes_pytorchvideo_arguments_and_anneals_its_momentum():
    model = BYOL(backbone=nn.Linear(6, 8), projector=nn.Linear(8, 8), feature_dim=8, predictor_inner=16,
                 mmt=0.99, norm=nn.BatchNorm1d)
    assert torch.isfinite(model(torch.randn(4, 6), torch.randn(4, 6)))
    model.update_mmt(0.995)
    assert model.get_mmt() == 0.995
    assert all(not p.requires_grad for p in model.backbone_mmt.parameters())
