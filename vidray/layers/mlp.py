"""A multi-layer perceptron factory (e.g. the projection head of a self-supervised method)."""

from __future__ import annotations

from typing import Callable, Sequence

from torch import nn

from vidray.errors import ConfigError


def make_multilayer_perceptron(
    fully_connected_dims: Sequence[int],
    norm: Callable[[int], nn.Module] | None = None,
    mid_activation: Callable[[], nn.Module] = nn.ReLU,
    final_activation: Callable[[], nn.Module] | None = nn.ReLU,
    dropout_rate: float = 0.0,
) -> tuple[nn.Sequential, int]:
    """Builds an MLP through the widths ``fully_connected_dims`` and returns it with its output width.

    ::

                         Linear (in=fc[i-1], out=fc[i])
                                       ↓
                             Normalization (norm)
                                       ↓
                           Activation (mid_activation)
                                       ↓
                      (repeated for each hidden width, then)
                                       ↓
                         Linear (in=fc[-2], out=fc[-1])
                                       ↓
                           Dropout (p=dropout_rate)
                                       ↓
                         Activation (final_activation)

    Args:
        fully_connected_dims: input width, hidden widths, output width (at least two).
        norm: builds a norm layer from a width (e.g. ``nn.BatchNorm1d``); ``None`` for none.
        mid_activation: activation after each hidden layer.
        final_activation: activation after the last layer; ``None`` for none.
        dropout_rate: dropout before the final activation (none when 0).
    """
    dims = list(fully_connected_dims)
    if len(dims) < 2:
        raise ConfigError(f"make_multilayer_perceptron: fully_connected_dims needs at least 2 widths, got {dims}")
    bad = [d for d in dims if isinstance(d, bool) or not isinstance(d, int) or d < 1]
    if bad:
        raise ConfigError(f"make_multilayer_perceptron: fully_connected_dims must be positive ints, got {dims}")
    if not 0.0 <= dropout_rate < 1.0:
        raise ConfigError(f"make_multilayer_perceptron: dropout_rate must be in [0, 1), got {dropout_rate}")

    layers: list[nn.Module] = []
    cur_dim = dims[0]
    for dim in dims[1:-1]:
        layers.append(nn.Linear(cur_dim, dim))
        if norm is not None:
            layers.append(norm(dim))
        layers.append(mid_activation())
        cur_dim = dim
    layers.append(nn.Linear(cur_dim, dims[-1]))
    if dropout_rate > 0:
        layers.append(nn.Dropout(p=dropout_rate))
    if final_activation is not None:
        layers.append(final_activation())
    return nn.Sequential(*layers), dims[-1]
