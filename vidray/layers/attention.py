"""Multiscale attention: the transformer blocks of MViT (Fan et al., 2021).

A multiscale block pools its queries (and keys/values) over the token grid, so
a stack of them shrinks the ``T x H x W`` grid while widening the channels,
like the stages of a ConvNet. Tokens travel as ``[B, N, C]`` sequences
(an optional cls token first, then the grid flattened in ``T, H, W`` order),
each block taking and returning the grid shape ``thw_shape`` beside them.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.layers.drop_path import DropPath


class Mlp(nn.Module):
    """The feed-forward half of a transformer block.

    ::

                     Linear (in_features, hidden_features)
                                       ↓
                              Activation (act_layer)
                                       ↓
                             Dropout (p=dropout_rate)
                                       ↓
                     Linear (hidden_features, out_features)
                                       ↓
                             Dropout (p=dropout_rate)
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        dropout_rate: float = 0.0,
    ) -> None:
        """
        Args:
            in_features: input width.
            hidden_features: hidden width (default ``in_features``).
            out_features: output width (default ``in_features``).
            act_layer: builds the activation after the first linear layer.
            dropout_rate: dropout after each linear layer (none when 0).
        """
        super().__init__()
        self.dropout_rate = dropout_rate
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden_features, out_features)
        if self.dropout_rate > 0.0:
            self.dropout = nn.Dropout(dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.fc1(x))
        if self.dropout_rate > 0.0:
            x = self.dropout(x)
        x = self.fc2(x)
        if self.dropout_rate > 0.0:
            x = self.dropout(x)
        return x


def _attention_pool(
    tensor: torch.Tensor,
    pool: nn.Module | None,
    thw_shape: Sequence[int],
    has_cls_embed: bool = True,
    norm: nn.Module | None = None,
) -> tuple[torch.Tensor, list[int]]:
    """Pools a token sequence over its ``T x H x W`` grid; the cls token is passed through.

    ::

                     [B, (heads,) N, C] tokens
                                ↓
                 reshape to [B * heads, C, T, H, W]
                                ↓
                               Pool
                                ↓
                  reshape to [B, (heads,) N', C]
                                ↓
                               Norm

    Returns the pooled tokens and their grid shape ``[T', H', W']``
    (``tensor`` and ``thw_shape`` unchanged when ``pool`` is ``None``).
    """
    if pool is None:
        return tensor, list(thw_shape)
    tensor_dim = tensor.ndim
    if tensor_dim == 3:
        tensor = tensor.unsqueeze(1)
    elif tensor_dim != 4:
        raise LayoutError(f"attention pooling takes [B, N, C] or [B, heads, N, C] tokens, got {list(tensor.shape)}")

    if has_cls_embed:
        cls_tok, tensor = tensor[:, :, :1, :], tensor[:, :, 1:, :]

    B, N, _, C = tensor.shape
    T, H, W = thw_shape
    tensor = tensor.reshape(B * N, T, H, W, C).permute(0, 4, 1, 2, 3).contiguous()
    tensor = pool(tensor)

    thw_shape = [tensor.shape[2], tensor.shape[3], tensor.shape[4]]
    tensor = tensor.reshape(B, N, C, -1).transpose(2, 3)
    if has_cls_embed:
        tensor = torch.cat((cls_tok, tensor), dim=2)
    if norm is not None:
        tensor = norm(tensor)
    if tensor_dim == 3:
        tensor = tensor.squeeze(1)
    return tensor, thw_shape


def _pools(kernel: Sequence[int] | None, stride: Sequence[int] | None) -> bool:
    """Whether a (kernel, stride) pair pools at all: a 1x1x1 kernel with stride 1 is skipped."""
    return kernel is not None and not (math.prod(kernel) == 1 and math.prod(stride or ()) == 1)


class MultiScaleAttention(nn.Module):
    """Multi-head pooling attention: attention whose queries and keys/values may be pooled.

    Pooling the queries shrinks the output grid; pooling the keys/values only
    makes the attention cheaper. Without pooling this is plain multi-head attention.

    ::

                                   Input
                                     |
                    |----------------|-----------------|
                    ↓                ↓                 ↓
                  Linear           Linear            Linear
                    &                &                 &
                 Pool (Q)         Pool (K)          Pool (V)
                    → -------------- ←                 |
                             ↓                         |
                       MatMul & Scale                  |
                             ↓                         |
                          Softmax                      |
                             → ----------------------- ←
                                         ↓
                                      MatMul
                                         ↓
                                   Linear (proj)
                                         ↓
                                      Dropout
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        qkv_bias: bool = False,
        dropout_rate: float = 0.0,
        kernel_q: Sequence[int] | None = (1, 1, 1),
        kernel_kv: Sequence[int] | None = (1, 1, 1),
        stride_q: Sequence[int] | None = (1, 1, 1),
        stride_kv: Sequence[int] | None = (1, 1, 1),
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        has_cls_embed: bool = True,
        pool_mode: str = "conv",
        pool_first: bool = False,
    ) -> None:
        """
        Args:
            dim: token width.
            num_heads: attention heads (``dim`` must be divisible by it).
            qkv_bias: learn a bias in the q, k and v projections.
            dropout_rate: dropout after the output projection (none when 0).
            kernel_q, kernel_kv: pooling kernels ``(T, H, W)`` of q and of k/v;
                a 1x1x1 kernel with a 1x1x1 stride (or ``None``) disables that pooling.
            stride_q, stride_kv: pooling strides of q and of k/v.
            norm_layer: builds the norm after each learned (``"conv"``) pooling.
            has_cls_embed: the first token is a cls token, which pooling leaves alone.
            pool_mode: ``"conv"`` (learned depthwise Conv3d), ``"avg"`` or ``"max"``.
            pool_first: pool before the q/k/v projections instead of after.
        """
        super().__init__()
        if pool_mode not in ("conv", "avg", "max"):
            raise ConfigError(f"MultiScaleAttention: pool_mode must be 'conv', 'avg' or 'max', got {pool_mode!r}")
        if num_heads < 1 or dim % num_heads:
            raise ConfigError(f"MultiScaleAttention: dim {dim} must be divisible by num_heads {num_heads}")
        self.pool_first = pool_first
        self.dropout_rate = dropout_rate
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim**-0.5
        self.has_cls_embed = has_cls_embed

        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        if dropout_rate > 0.0:
            self.proj_drop = nn.Dropout(dropout_rate)

        def make_pool(kernel: Sequence[int] | None, stride: Sequence[int] | None) -> nn.Module | None:
            if not _pools(kernel, stride):
                return None
            padding = [k // 2 for k in kernel]
            if pool_mode == "conv":
                # Depthwise over one head's channels: every head shares the same pooling.
                return nn.Conv3d(
                    head_dim, head_dim, kernel, stride=stride, padding=padding, groups=head_dim, bias=False
                )
            pool_op = nn.MaxPool3d if pool_mode == "max" else nn.AvgPool3d
            return pool_op(kernel, stride, padding, ceil_mode=False)

        def make_norm(pool: nn.Module | None) -> nn.Module | None:
            return norm_layer(head_dim) if pool is not None and pool_mode == "conv" else None

        self.pool_q = make_pool(kernel_q, stride_q)
        self.norm_q = make_norm(self.pool_q)
        self.pool_k = make_pool(kernel_kv, stride_kv)
        self.norm_k = make_norm(self.pool_k)
        self.pool_v = make_pool(kernel_kv, stride_kv)
        self.norm_v = make_norm(self.pool_v)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, N, C]`` to ``[B, heads, N, C / heads]``."""
        B, N, C = x.shape
        return x.reshape(B, N, self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)

    @staticmethod
    def _merge_heads(x: torch.Tensor) -> torch.Tensor:
        """``[B, heads, N, C / heads]`` to ``[B, N, C]``."""
        B, heads, N, head_dim = x.shape
        return x.permute(0, 2, 1, 3).reshape(B, N, heads * head_dim)

    def _pool(self, x: torch.Tensor, which: str, thw_shape: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        pool, norm = getattr(self, f"pool_{which}"), getattr(self, f"norm_{which}")
        return _attention_pool(x, pool, thw_shape, has_cls_embed=self.has_cls_embed, norm=norm)

    def forward(self, x: torch.Tensor, thw_shape: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        """Attends over ``x`` ``[B, N, C]`` on the grid ``thw_shape``; returns tokens and the (pooled) grid of q."""
        B, _, C = x.shape
        if self.pool_first:
            heads = self._split_heads(x)
            q, q_shape = self._pool(heads, "q", thw_shape)
            k, _ = self._pool(heads, "k", thw_shape)
            v, _ = self._pool(heads, "v", thw_shape)
            q = self._split_heads(self.q(self._merge_heads(q)))
            k = self._split_heads(self.k(self._merge_heads(k)))
            v = self._split_heads(self.v(self._merge_heads(v)))
        else:
            q, q_shape = self._pool(self._split_heads(self.q(x)), "q", thw_shape)
            k, _ = self._pool(self._split_heads(self.k(x)), "k", thw_shape)
            v, _ = self._pool(self._split_heads(self.v(x)), "v", thw_shape)

        x = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        x = self.proj(self._merge_heads(x))
        if self.dropout_rate > 0.0:
            x = self.proj_drop(x)
        return x, q_shape


class MultiScaleBlock(nn.Module):
    """A multiscale transformer block: pooling attention and an MLP, each in a residual branch.

    The skip connection of the attention is max-pooled with the query's
    stride, so both branches land on the same (smaller) grid; when the block
    widens the channels (``dim != dim_out``) the MLP's skip is a linear projection.

    ::

                                      Input
                                        |-------------------+
                                        ↓                   |
                                       Norm                 |
                                        ↓                   |
                                MultiScaleAttention        Pool
                                        ↓                   |
                                     DropPath               |
                                        ↓                   |
                                    Summation ←-------------+
                                        |
                                        |-------------------+
                                        ↓                   |
                                       Norm                 |
                                        ↓                   |
                                       Mlp                 Proj
                                        ↓                   |
                                     DropPath               |
                                        ↓                   |
                                    Summation  ←------------+
    """

    def __init__(
        self,
        dim: int,
        dim_out: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        dropout_rate: float = 0.0,
        droppath_rate: float = 0.0,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        kernel_q: Sequence[int] | None = (1, 1, 1),
        kernel_kv: Sequence[int] | None = (1, 1, 1),
        stride_q: Sequence[int] = (1, 1, 1),
        stride_kv: Sequence[int] | None = (1, 1, 1),
        pool_mode: str = "conv",
        has_cls_embed: bool = True,
        pool_first: bool = False,
    ) -> None:
        """
        Args:
            dim: input token width.
            dim_out: output token width.
            num_heads: attention heads.
            mlp_ratio: hidden width of the MLP as a multiple of ``dim``.
            qkv_bias: learn a bias in the q, k and v projections.
            dropout_rate: dropout in the attention and the MLP (none when 0).
            droppath_rate: stochastic depth of both residual branches (none when 0).
            act_layer: builds the MLP's activation.
            norm_layer: builds the two pre-norms from a width. The attention's
                pooling norms stay ``nn.LayerNorm`` (eps 1e-5), as in the published MViT checkpoints.
            kernel_q, kernel_kv, stride_q, stride_kv, pool_mode, has_cls_embed, pool_first:
                the attention's pooling, see :class:`MultiScaleAttention`.
        """
        super().__init__()
        self.dim = dim
        self.dim_out = dim_out
        self.norm1 = norm_layer(dim)
        kernel_skip = [s + 1 if s > 1 else s for s in stride_q]
        stride_skip = stride_q
        padding_skip = [skip // 2 for skip in kernel_skip]
        self.attn = MultiScaleAttention(
            dim,
            num_heads=num_heads,
            qkv_bias=qkv_bias,
            dropout_rate=dropout_rate,
            kernel_q=kernel_q,
            kernel_kv=kernel_kv,
            stride_q=stride_q,
            stride_kv=stride_kv,
            norm_layer=nn.LayerNorm,
            has_cls_embed=has_cls_embed,
            pool_mode=pool_mode,
            pool_first=pool_first,
        )
        self.drop_path = DropPath(droppath_rate) if droppath_rate > 0.0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.has_cls_embed = has_cls_embed
        self.mlp = Mlp(
            in_features=dim,
            hidden_features=int(dim * mlp_ratio),
            out_features=dim_out,
            act_layer=act_layer,
            dropout_rate=dropout_rate,
        )
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)
        self.pool_skip = (
            nn.MaxPool3d(kernel_skip, stride_skip, padding_skip, ceil_mode=False) if len(kernel_skip) > 0 else None
        )

    def forward(self, x: torch.Tensor, thw_shape: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        """Tokens ``[B, N, dim]`` on the grid ``thw_shape`` to ``[B, N', dim_out]`` on the pooled grid."""
        x_block, thw_shape_new = self.attn(self.norm1(x), thw_shape)
        x_res, _ = _attention_pool(x, self.pool_skip, thw_shape, has_cls_embed=self.has_cls_embed)
        x = x_res + self.drop_path(x_block)
        x_norm = self.norm2(x)
        x_mlp = self.mlp(x_norm)
        if self.dim != self.dim_out:
            x = self.proj(x_norm)
        return x + self.drop_path(x_mlp), thw_shape_new
