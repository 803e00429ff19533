"""Positional encodings for transformer token sequences ``[B, N, C]``.

:class:`PositionalEncoding` is the fixed sinusoidal table of "Attention Is All
You Need"; :class:`SpatioTemporalClsPositionalEncoding` is MViT's learned
encoding of a ``T x H x W`` grid of patches, with an optional cls token in front.
The learned one has one embedding per patch, so a model using it takes exactly
the input size it was built for.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from vidray.errors import ConfigError, LayoutError


class PositionalEncoding(nn.Module):
    """Adds ``PE(pos, 2i) = sin(pos / 10000^(2i/C))``, ``PE(pos, 2i+1) = cos(...)`` to ``[B, N, C]``.

    The table covers ``seq_len`` positions; shorter sequences use its first ``N`` rows.
    """

    def __init__(self, embed_dim: int, seq_len: int = 1024) -> None:
        super().__init__()
        if embed_dim < 1 or seq_len < 1:
            raise ConfigError(f"PositionalEncoding: embed_dim and seq_len must be >= 1, got {embed_dim}, {seq_len}")
        pe = torch.zeros(seq_len, embed_dim, dtype=torch.float)
        position = torch.arange(0, seq_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, embed_dim, 2).float() * (-(math.log(10000.0)) / embed_dim))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term[: embed_dim // 2])
        self.register_buffer("pe", pe.unsqueeze(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.size(1) > self.pe.size(1):
            raise LayoutError(
                f"PositionalEncoding covers {self.pe.size(1)} positions; got a sequence of {x.size(1)} "
                f"(input {list(x.shape)})"
            )
        return x + self.pe[:, : x.size(1), :]


class SpatioTemporalClsPositionalEncoding(nn.Module):
    """Prepends a learned cls token and adds a learned embedding per patch position.

    With ``sep_pos_embed`` the embedding of patch ``(t, s)`` is the sum of a
    temporal and a spatial one (``T + H*W`` vectors instead of ``T*H*W``), as in MViT.
    """

    def __init__(
        self,
        embed_dim: int,
        patch_embed_shape: Sequence[int],
        sep_pos_embed: bool = False,
        has_cls: bool = True,
    ) -> None:
        """
        Args:
            embed_dim: channels of the token sequence.
            patch_embed_shape: the patch grid ``(T, H, W)`` after patch embedding.
            sep_pos_embed: separate spatial and temporal embeddings instead of one per patch.
            has_cls: prepend a cls token (and give it its own embedding).
        """
        super().__init__()
        if len(patch_embed_shape) != 3 or any(int(n) < 1 for n in patch_embed_shape):
            raise ConfigError(
                "SpatioTemporalClsPositionalEncoding: patch_embed_shape must be three positive sizes (T, H, W), "
                f"got {tuple(patch_embed_shape)}"
            )
        self.cls_embed_on = has_cls
        self.sep_pos_embed = sep_pos_embed
        self._patch_embed_shape = tuple(patch_embed_shape)
        self.num_spatial_patch = patch_embed_shape[1] * patch_embed_shape[2]
        self.num_temporal_patch = patch_embed_shape[0]

        num_patches = self.num_spatial_patch * self.num_temporal_patch
        if self.cls_embed_on:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        if self.sep_pos_embed:
            self.pos_embed_spatial = nn.Parameter(torch.zeros(1, self.num_spatial_patch, embed_dim))
            self.pos_embed_temporal = nn.Parameter(torch.zeros(1, self.num_temporal_patch, embed_dim))
            if self.cls_embed_on:
                self.pos_embed_class = nn.Parameter(torch.zeros(1, 1, embed_dim))
        else:
            self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + int(has_cls), embed_dim))

    @property
    def patch_embed_shape(self) -> tuple[int, ...]:
        """The patch grid ``(T, H, W)`` the embeddings were built for (MViT's blocks start from it)."""
        return self._patch_embed_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, T*H*W, C]`` patches to ``[B, 1 + T*H*W, C]`` tokens (without the 1 when ``has_cls`` is off)."""
        B, N, _ = x.shape
        expected = self.num_temporal_patch * self.num_spatial_patch
        if N != expected:
            t, h, w = self._patch_embed_shape
            raise LayoutError(
                f"SpatioTemporalClsPositionalEncoding was built for a {t}x{h}x{w} patch grid ({expected} patches); "
                f"got {N} patches: the input's frames or size differ from the ones the model was built for"
            )
        if self.cls_embed_on:
            x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)

        if self.sep_pos_embed:
            pos_embed = self.pos_embed_spatial.repeat(1, self.num_temporal_patch, 1) + torch.repeat_interleave(
                self.pos_embed_temporal, self.num_spatial_patch, dim=1
            )
            if self.cls_embed_on:
                pos_embed = torch.cat([self.pos_embed_class, pos_embed], 1)
            return x + pos_embed
        return x + self.pos_embed
