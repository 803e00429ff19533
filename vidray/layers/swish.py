"""The Swish activation, ``x * sigmoid(x)`` (Ramachandran et al., 2017), used by X3D.

PyTorchVideo implemented it as a custom autograd function (whose backward
reads the deprecated ``ctx.saved_variables``); ``torch.nn.functional.silu`` is
the same function as one fused kernel, whose backward also keeps only the input.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Swish(nn.Module):
    """Swish activation module: ``x * sigmoid(x)`` (no parameters, as in PyTorchVideo)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x)
