"""The self-supervised objectives, on embeddings, correct across workers.

All three compare L2-normalised embeddings of several views (clips of the
same video, differently augmented):

* :func:`nt_xent`: SimCLR's normalised temperature-scaled cross entropy. Each
  embedding's positives are the other views of its video; its negatives are
  every other embedding of the *global* batch (gathered with gradient), both
  views included. With ``rho`` views each anchor averages the loss over its
  ``rho - 1`` positives.
* :func:`info_nce`: MoCo's contrastive loss of queries against their keys
  (from the momentum encoder) and a queue of past keys.
* :func:`byol_loss`: BYOL's ``2 - 2 cos(p, z)`` between a prediction and a
  target projection.

PyTorchVideo's ``SimCLR`` contrasted the first view's embeddings only with the
second view's (no same-view negatives, one direction); :func:`nt_xent` is the
loss of the SimCLR paper.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from vidray.errors import LayoutError
from vidray.layers.distributed import differentiable_all_gather, get_rank


def nt_xent(views: Sequence[torch.Tensor], temperature: float = 0.1) -> torch.Tensor:
    """SimCLR's loss over ``views`` (each ``[N, D]``, row ``i`` of every view from video ``i``).

    The embeddings are normalised here. Across workers the candidates are the
    gathered embeddings of every worker; the loss is this worker's anchors'
    mean, so the workers' average (what DDP's gradient averaging optimises)
    equals the loss of one process on the concatenated batch.
    """
    _check_views(views, "nt_xent", minimum=2)
    count, size = len(views), views[0].shape[0]
    local = F.normalize(torch.cat(list(views)), dim=1)  # [V*N, D], view-major
    candidates = torch.cat(differentiable_all_gather(local))  # [W*V*N, D], rank-major
    logits = local @ candidates.T / temperature
    offset = get_rank() * count * size
    rows = torch.arange(count * size, device=local.device)
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[rows, offset + rows] = True
    log_prob = logits.masked_fill(self_mask, float("-inf")).log_softmax(dim=1)
    video = rows % size
    positives = torch.stack([offset + view * size + video for view in range(count)], dim=1)  # [V*N, V]
    positives = positives[positives != (offset + rows)[:, None]].view(count * size, count - 1)
    return -log_prob.gather(1, positives).mean()


def info_nce(query: torch.Tensor, key: torch.Tensor, queue: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """MoCo's loss: each query's positive is its key, its negatives the ``queue`` ``[K, D]``.

    ``query`` and ``key`` are ``[N, D]``; all three are normalised here.
    """
    _check_views([query, key], "info_nce", minimum=2)
    query, key = F.normalize(query, dim=1), F.normalize(key.detach(), dim=1)
    queue = F.normalize(queue.detach(), dim=1)
    positive = (query * key).sum(dim=1, keepdim=True)
    negative = query @ queue.T
    logits = torch.cat([positive, negative], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(query), dtype=torch.long, device=query.device))


def byol_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BYOL's ``2 - 2 cos(prediction, target)``, averaged; no gradient reaches ``target``."""
    _check_views([prediction, target], "byol_loss", minimum=2)
    cosine = F.cosine_similarity(prediction, target.detach(), dim=1)
    return (2 - 2 * cosine).mean()


def _check_views(views: Sequence[torch.Tensor], who: str, minimum: int) -> None:
    if len(views) < minimum:
        raise LayoutError(f"{who}: needs at least {minimum} views, got {len(views)}")
    shapes = {tuple(view.shape) for view in views}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise LayoutError(f"{who}: expected views of one shape [N, D], got {sorted(shapes)}")
