"""MoCo (He et al. 2020; Chen et al. v2 2020, v3 2021): queries against momentum keys and a queue.

Distributed correctness, the point of this module:

* the queue is filled with the keys of the *global* batch (gathered), so it
  holds the same contents on every worker after every step;
* shuffle-BN: the key encoder sees the global batch in a random order, split
  across workers, so a query and its key are normalised with statistics of
  different clips (otherwise batch norm leaks which clips belong together);
  ``shuffle_bn=False`` with synchronised batch norms is the alternative.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.layers.distributed import broadcast, cat_all_gather, get_rank, get_world_size, is_distributed
from vidray.ssl.losses import info_nce
from vidray.ssl.momentum import MomentumMethod
from vidray.ssl.views import View, cat_views, pairs, view_size


class MoCo(MomentumMethod):
    """Momentum contrast over two or more views.

    ::

        views ─► backbone ─► mlp ─► predictor ─► queries ─┐
        views ─► momentum backbone ─► momentum mlp ─► keys ├─► InfoNCE (keys + queue)
                                   (shuffle-BN)           │
        queue ◄── keys of the first view, all workers ◄───┘

    Args:
        backbone: features ``[B, D]`` from a clip.
        mlp: the projection head; its output width is ``dim``.
        dim: embedding width (the queue's).
        queue_size: negatives kept; a multiple of the global batch (batch x workers).
        temperature: of the softmax.
        mmt: momentum of the key encoder (see :meth:`update_mmt` for schedules).
        predictor: an MLP on the queries (MoCo v3); ``None``: none (v2).
        shuffle_bn: shuffle the key batch across workers (see the module docstring).
    """

    def __init__(
        self,
        backbone: nn.Module,
        mlp: nn.Module,
        dim: int,
        queue_size: int = 65536,
        temperature: float = 0.2,
        mmt: float = 0.999,
        predictor: nn.Module | None = None,
        shuffle_bn: bool = True,
    ) -> None:
        if queue_size < 1:
            raise ConfigError(f"MoCo: queue_size must be >= 1, got {queue_size}")
        super().__init__(nn.Sequential(backbone, mlp), mmt)
        self.predictor = predictor if predictor is not None else nn.Identity()
        self.temperature, self.shuffle_bn = temperature, shuffle_bn
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def forward(self, *views: View) -> torch.Tensor:
        size, count = view_size(views[0]), len(views)
        if count < 2:
            raise LayoutError(f"MoCo: needs at least 2 views, got {count}")
        clips = cat_views(views)
        queries = self.predictor(self.backbone(clips)).split(size)
        with torch.no_grad():
            keys = self._keys(clips).split(size)
        queue = self.queue.clone()  # the loss keeps it for backward; the enqueue below changes the buffer
        loss = torch.stack([info_nce(queries[a], keys[b], queue, self.temperature) for a, b in pairs(count)]).mean()
        if self.training:
            self._enqueue(keys[0])
        return loss

    def encoder(self) -> nn.Module:
        """What is kept after pretraining: the online backbone."""
        return self.backbone[0]

    @torch.no_grad()
    def _keys(self, clips: View) -> torch.Tensor:
        if not (self.shuffle_bn and self.training and is_distributed()):
            return self.backbone_mmt(clips)
        local = view_size(clips)
        gathered = [cat_all_gather(c) for c in clips] if isinstance(clips, list) else cat_all_gather(clips)
        total = view_size(gathered)
        device = self.queue.device
        order = broadcast(torch.randperm(total, device=device))  # rank 0's permutation, everywhere
        mine = order[get_rank() * local : (get_rank() + 1) * local]
        shuffled = [g[mine] for g in gathered] if isinstance(gathered, list) else gathered[mine]
        keys = cat_all_gather(self.backbone_mmt(shuffled))  # in shuffled order
        restored = keys[torch.argsort(order)]
        return restored[get_rank() * local : (get_rank() + 1) * local]

    @torch.no_grad()
    def _enqueue(self, keys: torch.Tensor) -> None:
        keys = F.normalize(cat_all_gather(keys), dim=1)
        size, capacity = len(keys), len(self.queue)
        if capacity % size:
            raise ConfigError(
                f"MoCo: queue_size {capacity} is not a multiple of the global batch {size} "
                f"({size // get_world_size()} per worker x {get_world_size()} workers)"
            )
        start = int(self.queue_ptr)
        self.queue[start : start + size] = keys
        self.queue_ptr.fill_((start + size) % capacity)
