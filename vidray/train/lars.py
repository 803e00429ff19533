"""LARS: SGD with a layer-wise trust ratio, the optimizer of SimCLR's and BYOL's published recipes.

Large-batch contrastive pretraining (the video study of Feichtenhofer et al.
2021 trains SimCLR and BYOL with it) scales each weight tensor's step by
``trust_coefficient * ||w|| / ||g + weight_decay * w||``, so no layer moves
faster than its weights' size allows. As in SimCLR and PySlowFast, biases and
norm parameters (tensors of one dimension) are neither adapted nor decayed by
LARS itself; :func:`vidray.train.optim.build_optimizer` already puts them in
the group without weight decay.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import torch


class LARS(torch.optim.Optimizer):
    """SGD with momentum and a per-tensor trust ratio (You et al. 2017)."""

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
        eps: float = 1e-8,
    ) -> None:
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0 or trust_coefficient <= 0:
            raise ValueError(
                f"LARS needs lr > 0, momentum in [0, 1), weight_decay >= 0 and trust_coefficient > 0, got "
                f"lr={lr}, momentum={momentum}, weight_decay={weight_decay}, trust_coefficient={trust_coefficient}"
            )
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient, eps=eps)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                update = param.grad
                if param.ndim > 1:  # weights: decayed and adapted; biases and norm parameters: plain SGD
                    if group["weight_decay"]:
                        update = update.add(param, alpha=group["weight_decay"])
                    weight_norm, update_norm = torch.linalg.vector_norm(param), torch.linalg.vector_norm(update)
                    trust = group["trust_coefficient"] * weight_norm / (update_norm + group["eps"])
                    update = update * torch.where((weight_norm > 0) & (update_norm > 0), trust, 1.0)
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = update.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(update)
                param.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss
