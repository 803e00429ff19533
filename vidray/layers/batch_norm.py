"""Naive synchronised batch norm: statistics averaged over all workers, with a correct gradient.

``nn.SyncBatchNorm`` once had a wrong gradient when workers held batches of
different sizes; these layers average each worker's mean and mean of squares
with an all-reduce instead. Outside distributed training (or in eval mode)
they are plain batch norms, so their state_dicts equal ``nn.BatchNorm*d``'s.
The overall statistics equal single-worker statistics only when every worker
has the same batch shape; empty batches are not supported.
"""

from __future__ import annotations

import torch
from torch import nn

from vidray.errors import LayoutError
from vidray.layers.distributed import differentiable_all_reduce, get_world_size


class _NaiveSyncBatchNorm:
    """The synchronised forward shared by the 1D, 2D and 3D layers (a mixin over ``nn.BatchNorm*d``)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        world_size = get_world_size()
        if world_size == 1 or not self.training:
            return super().forward(input)
        if input.shape[0] == 0:
            raise LayoutError(f"{type(self).__name__}: zero batch size is not supported")

        channels = input.shape[1]
        reduce_dims = [0, *range(2, input.dim())]
        mean = torch.mean(input, dim=reduce_dims)
        meansqr = torch.mean(input * input, dim=reduce_dims)
        vec = differentiable_all_reduce(torch.cat([mean, meansqr], dim=0)) * (1.0 / world_size)
        mean, meansqr = torch.split(vec, channels)
        var = meansqr - mean * mean

        scale = self.weight * torch.rsqrt(var + self.eps)
        bias = self.bias - mean * scale
        shape = (1, -1) + (1,) * (input.dim() - 2)
        self.running_mean += self.momentum * (mean.detach() - self.running_mean)
        self.running_var += self.momentum * (var.detach() - self.running_var)
        return input * scale.reshape(shape) + bias.reshape(shape)


class NaiveSyncBatchNorm1d(_NaiveSyncBatchNorm, nn.BatchNorm1d):
    """1D naive sync batch norm over ``[B, C, L]`` inputs (see the module docstring)."""


class NaiveSyncBatchNorm2d(_NaiveSyncBatchNorm, nn.BatchNorm2d):
    """2D naive sync batch norm over ``[B, C, H, W]`` inputs (see the module docstring)."""


class NaiveSyncBatchNorm3d(_NaiveSyncBatchNorm, nn.BatchNorm3d):
    """3D naive sync batch norm over ``[B, C, T, H, W]`` inputs (see the module docstring)."""
