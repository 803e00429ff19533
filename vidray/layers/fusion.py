"""Fusion layers: one tensor from a list of per-stream tensors (multi-stream models).

Every layer takes tensors of shape ``[batch, seq_len, feature_dim]`` in the
order of ``feature_dims`` and reports its output width as ``output_dim``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from vidray.errors import ConfigError

FUSION_METHODS = ("concat", "temporal_concat", "max", "sum", "prod")


def _max(x: torch.Tensor) -> torch.Tensor:
    return torch.max(x, dim=0).values


def _sum(x: torch.Tensor) -> torch.Tensor:
    return torch.sum(x, dim=0)


def _prod(x: torch.Tensor) -> torch.Tensor:
    return torch.prod(x, dim=0)


# Module-level functions rather than lambdas, so fused models stay picklable.
_REDUCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"max": _max, "sum": _sum, "prod": _prod}


def make_fusion_layer(method: str, feature_dims: list[int]) -> nn.Module:
    """Builds the fusion layer named ``method``.

    Args:
        method: ``"concat"`` (along features), ``"temporal_concat"`` (along the
            sequence), or an element-wise ``"max"``, ``"sum"`` or ``"prod"``.
        feature_dims: the last dimension of each input tensor, in input order.
    """
    if method == "concat":
        return ConcatFusion(feature_dims)
    if method == "temporal_concat":
        return TemporalConcatFusion(feature_dims)
    if method in _REDUCTIONS:
        return ReduceFusion(feature_dims, _REDUCTIONS[method])
    raise ConfigError(f"make_fusion_layer: method must be one of {FUSION_METHODS}, got {method!r}")


class ConcatFusion(nn.Module):
    """Concatenates the inputs along their last (feature) dimension."""

    def __init__(self, feature_dims: list[int]) -> None:
        super().__init__()
        _verify_feature_dim(feature_dims)
        self._output_dim = sum(feature_dims)

    @property
    def output_dim(self) -> int:
        """Last dimension of the output: the sum of the input feature dims."""
        return self._output_dim

    def forward(self, input_list: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(input_list), dim=-1)


class TemporalConcatFusion(nn.Module):
    """Concatenates inputs of equal feature dim along the sequence (dim 1)."""

    def __init__(self, feature_dims: list[int]) -> None:
        super().__init__()
        _verify_feature_dim(feature_dims, same=True)
        self._output_dim = feature_dims[0]

    @property
    def output_dim(self) -> int:
        """Last dimension of the output: the common input feature dim."""
        return self._output_dim

    def forward(self, input_list: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(input_list), dim=1)


class ReduceFusion(nn.Module):
    """Stacks inputs of equal shape and reduces them with ``reduce_fn`` (e.g. max, sum, product over streams)."""

    def __init__(self, feature_dims: list[int], reduce_fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        _verify_feature_dim(feature_dims, same=True)
        self.reduce_fn = reduce_fn
        self._output_dim = feature_dims[0]

    @property
    def output_dim(self) -> int:
        """Last dimension of the output: the common input feature dim."""
        return self._output_dim

    def forward(self, input_list: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.reduce_fn(torch.stack(list(input_list)))


def _verify_feature_dim(feature_dims: list[int], same: bool = False) -> None:
    if not isinstance(feature_dims, list) or not feature_dims:
        raise ConfigError(f"fusion: feature_dims must be a non-empty list of ints, got {feature_dims!r}")
    if not all(dim > 0 for dim in feature_dims):
        raise ConfigError(f"fusion: feature_dims must all be positive, got {feature_dims}")
    if same and len(set(feature_dims)) != 1:
        raise ConfigError(f"fusion: this method needs equal feature_dims, got {feature_dims}")
