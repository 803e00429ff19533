"""The Swish activation, ``x * sigmoid(x)`` (Ramachandran et al., 2017), used by X3D."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class SwishFunction(torch.autograd.Function):
    """Swish with a hand-written backward that saves only the input.

    Autograd through ``x * sigmoid(x)`` would keep both the input and the
    sigmoid for the backward pass; recomputing the sigmoid halves the memory
    Swish holds per activation in deep X3D networks.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        sigmoid_x = torch.sigmoid(x)
        return grad_output * (sigmoid_x * (1 + x * (1 - sigmoid_x)))


class Swish(nn.Module):
    """Swish activation module: ``x * sigmoid(x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return SwishFunction.apply(x)
