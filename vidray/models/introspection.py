"""Parameter and FLOP counts for any model and input shape, with torch's own flop counter.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on the meta
device: shapes only, no arithmetic, so even the largest zoo model counts in
about a second and no weights are allocated. Video papers and the
PyTorchVideo model zoo quote multiply-accumulates as "FLOPs" (fvcore's
convention); :func:`count_gflops` follows them, :func:`count_flops` returns
torch's count (two per multiply-accumulate).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, *inputs: Any, **kwargs: Any) -> int:
    """Floating-point operations of one eval forward on ``inputs`` (the forward's positional arguments).

    ``model`` and ``inputs`` may live on any device; a meta copy is traced, so
    the count is free of compute and leaves ``model`` untouched.
    """
    meta_model = model if _on_meta(model) else copy.deepcopy(model).to("meta")
    meta_inputs = _to_meta(inputs)
    was_training = meta_model.training
    meta_model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            meta_model(*meta_inputs, **_to_meta(kwargs))
    finally:
        meta_model.train(was_training)
    return int(counter.get_total_flops())


def count_gflops(model: nn.Module, *inputs: Any, **kwargs: Any) -> float:
    """Giga multiply-accumulates per forward, the unit of the published model-zoo tables."""
    return count_flops(model, *inputs, **kwargs) / 2e9


def _on_meta(model: nn.Module) -> bool:
    return all(t.is_meta for t in list(model.parameters()) + list(model.buffers()))


def _to_meta(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return torch.empty_like(value, device="meta")
    if isinstance(value, (list, tuple)):
        return type(value)(_to_meta(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_meta(v) for k, v in value.items()}
    return value
