"""Collectives for losses that look across workers; in one process they are identities.

Contrastive losses compare every sample with every other sample of the
*global* batch, so each worker gathers the others' embeddings. Two kinds:

* :func:`differentiable_all_gather`: gradients flow back to the worker that
  computed each embedding (summed over the workers whose losses used it), so
  with DDP's gradient averaging the step equals one process training on the
  concatenated batch (SimCLR's negatives);
* :func:`cat_all_gather`: no gradient, for targets and queues (MoCo's keys).

:func:`differentiable_all_reduce` sums statistics with their gradient (the
synchronised batch norms of :mod:`vidray.layers.batch_norm`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_world_size() -> int:
    """The number of distributed workers (1 outside ``torch.distributed``)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class _DifferentiableAllGather(torch.autograd.Function):
    """All-gather whose backward hands each worker the sum over workers of the gradient of its own part.

    The backward all-reduces the whole gradient and keeps this worker's slice: one collective that
    gloo and NCCL both have (gloo has no reduce-scatter)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> tuple[torch.Tensor, ...]:
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> torch.Tensor:
        grad = torch.stack(grads)
        dist.all_reduce(grad)
        return grad[dist.get_rank()]


def differentiable_all_gather(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every worker's ``tensor`` (same shape on each), in rank order, with gradients."""
    if not is_distributed():
        return [tensor]
    return list(_DifferentiableAllGather.apply(tensor))


class _DifferentiableAllReduce(torch.autograd.Function):
    """Sum over workers whose backward sums the gradients too (``dist.all_reduce`` alone is not differentiable)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor:
        grad_output = grad_output.clone()
        dist.all_reduce(grad_output)
        return grad_output


def differentiable_all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """All-reduce (sum) with gradient; the identity with a single worker."""
    if get_world_size() == 1:
        return tensor
    return _DifferentiableAllReduce.apply(tensor)


@torch.no_grad()
def cat_all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Every worker's ``tensor`` concatenated along dim 0 in rank order (no gradient)."""
    if not is_distributed():
        return tensor.detach()
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def broadcast(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """``tensor`` as worker ``src`` holds it, on every worker (in place)."""
    if is_distributed():
        dist.broadcast(tensor, src)
    return tensor
