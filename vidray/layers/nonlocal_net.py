"""Non-local blocks (Wang et al., "Non-local neural networks", CVPR 2018).

A non-local block computes each position's response as a weighted sum of the
features at all space-time positions, capturing long-range dependencies that
stacked local convolutions reach only slowly. It is residual, so it can be
inserted into any stage of a pretrained network.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from vidray.errors import ConfigError
from vidray.layers.utils import set_attributes

NONLOCAL_INSTANTIATIONS = ("dot_product", "softmax")


class NonLocal(nn.Module):
    """Non-local block over ``[N, C, T, H, W]``: ``x + norm(conv_out(attention(theta, phi) @ g))``.

    ::

                              x ───────────────────────────────┐
                     ┌────────┼───────────┐                    │
                  theta     pool → phi   pool → g              │
                     └── affinity ──┘     │                    │
                            └── weighted sum ──→ conv_out → norm → (+)

    ``pool`` (optional) subsamples the keys and values to cut the quadratic cost.
    """

    def __init__(
        self,
        *,
        conv_theta: nn.Module,
        conv_phi: nn.Module,
        conv_g: nn.Module,
        conv_out: nn.Module,
        pool: nn.Module | None = None,
        norm: nn.Module | None = None,
        instantiation: str = "dot_product",
    ) -> None:
        """
        Args:
            conv_theta, conv_phi, conv_g: 1x1x1 projections to the inner dim (query, key, value).
            conv_out: 1x1x1 projection back to the input dim.
            pool: subsampling of keys and values (``None``: none).
            norm: normalisation of the block's output before the residual sum.
            instantiation: ``"dot_product"`` (affinities divided by the number of
                positions) or ``"softmax"`` (scaled softmax over positions).
        """
        super().__init__()
        set_attributes(self, locals())
        if None in (conv_theta, conv_phi, conv_g, conv_out):
            raise ConfigError("NonLocal: conv_theta, conv_phi, conv_g and conv_out are required")
        if instantiation not in NONLOCAL_INSTANTIATIONS:
            raise ConfigError(
                f"NonLocal: instantiation must be one of {NONLOCAL_INSTANTIATIONS}, got {instantiation!r}"
            )
        inner_dims = {conv_theta.out_channels, conv_phi.out_channels, conv_g.out_channels, conv_out.in_channels}
        if len(inner_dims) != 1:
            raise ConfigError(
                "NonLocal: conv_theta, conv_phi and conv_g out_channels and conv_out in_channels must be equal, "
                f"got {sorted(inner_dims)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim_inner = self.conv_theta.out_channels
        x_identity = x
        n, _, t, h, w = x.size()

        theta = self.conv_theta(x)
        if self.pool is not None:
            x = self.pool(x)
        phi = self.conv_phi(x)
        g = self.conv_g(x)

        theta = theta.view(n, dim_inner, -1)
        phi = phi.view(n, dim_inner, -1)
        g = g.view(n, dim_inner, -1)

        # (N, C, THW) x (N, C, T'H'W') -> (N, THW, T'H'W')
        theta_phi = torch.einsum("nct,ncp->ntp", (theta, phi))
        if self.instantiation == "softmax":
            theta_phi = nn.functional.softmax(theta_phi * (dim_inner**-0.5), dim=2)
        else:
            theta_phi = theta_phi / theta_phi.shape[2]

        # (N, THW, T'H'W') x (N, C, T'H'W') -> (N, C, THW)
        theta_phi_g = torch.einsum("ntg,ncg->nct", (theta_phi, g)).view(n, dim_inner, t, h, w)
        p = self.conv_out(theta_phi_g)
        if self.norm is not None:
            p = self.norm(p)
        return x_identity + p


def create_nonlocal(
    *,
    # Nonlocal configs.
    dim_in: int,
    dim_inner: int,
    pool_size: tuple[int, int, int] | None = (1, 1, 1),
    instantiation: str = "softmax",
    # Norm configs.
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
) -> NonLocal:
    """Builds a :class:`NonLocal` block with 1x1x1 projections.

    Args:
        dim_in: input (and output) channels.
        dim_inner: channels of the query, key and value projections.
        pool_size: ``(T, H, W)`` max-pooling kernel (and stride) for keys and
            values; ``None`` or all ones: no pooling.
        instantiation: ``"dot_product"`` or ``"softmax"``.
        norm: builds the output normalisation (``None``: none).
        norm_eps: normalisation epsilon.
        norm_momentum: normalisation momentum.
    """
    if pool_size is None:
        pool_size = (1, 1, 1)
    if not isinstance(pool_size, Iterable):
        raise ConfigError(f"create_nonlocal: pool_size must be a (T, H, W) tuple, got {pool_size!r}")
    pool = (
        nn.MaxPool3d(kernel_size=pool_size, stride=pool_size, padding=[0, 0, 0])
        if any(size > 1 for size in pool_size)
        else None
    )
    return NonLocal(
        conv_theta=nn.Conv3d(dim_in, dim_inner, kernel_size=1, stride=1, padding=0),
        conv_phi=nn.Conv3d(dim_in, dim_inner, kernel_size=1, stride=1, padding=0),
        conv_g=nn.Conv3d(dim_in, dim_inner, kernel_size=1, stride=1, padding=0),
        conv_out=nn.Conv3d(dim_inner, dim_in, kernel_size=1, stride=1, padding=0),
        pool=pool,
        norm=None if norm is None else norm(num_features=dim_in, eps=norm_eps, momentum=norm_momentum),
        instantiation=instantiation,
    )
