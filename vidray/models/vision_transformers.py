"""Multiscale Vision Transformers (MViT; Fan et al., 2021, https://arxiv.org/abs/2104.11227).

A ViT whose blocks pool the token grid: starting from many small (96-wide)
patch tokens, stages halve the spatial grid and double the width, so early
blocks see fine detail cheaply and late ones coarse, wide features. A plain
ViT is the special case without pooling.

The zoo entries are PyTorchVideo's ``mvit_base_16x4`` and ``mvit_base_32x3``
(Kinetics-400 clips) and ``mvit_base_16`` (ImageNet-1k images). Their learned
positional embeddings have one vector per patch, so each takes exactly the
input size it was trained on.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.layers.attention import MultiScaleBlock
from vidray.layers.positional_encoding import SpatioTemporalClsPositionalEncoding
from vidray.layers.utils import round_width
from vidray.models.head import create_vit_basic_head
from vidray.models.registry import PTV_CHECKPOINT_ROOT, InputSpec, ModelSpec, register_model
from vidray.models.stem import create_conv_patch_embed
from vidray.models.weight_init import init_net_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class MultiscaleVisionTransformers(nn.Module):
    """MViT: patch embedding, positional encoding, multiscale blocks, head.

    ::

                                       PatchEmbed
                                           ↓
                                   PositionalEncoding
                                           ↓
                                        Dropout
                                           ↓
                                     Normalization
                                           ↓
                                         Block 1
                                           ↓
                                           .
                                           .
                                           .
                                           ↓
                                         Block N
                                           ↓
                                     Normalization
                                           ↓
                                          Head

    Takes ``[B, C, T, H, W]`` clips; with a 2D patch embedding (an image
    model) ``[B, C, H, W]`` images, or one-frame clips ``[B, C, 1, H, W]``,
    the zoo's layout. The builder is :func:`create_multiscale_vision_transformers`.
    """

    def __init__(
        self,
        *,
        patch_embed: nn.Module | None,
        cls_positional_encoding: nn.Module,
        pos_drop: nn.Module | None,
        norm_patch_embed: nn.Module | None,
        blocks: nn.ModuleList,
        norm_embed: nn.Module | None,
        head: nn.Module | None,
    ) -> None:
        """
        Args:
            patch_embed: input to a ``[B, N, C]`` token sequence (``None``: the input already is one).
            cls_positional_encoding: adds the cls token and positional embeddings; must have
                ``patch_embed_shape``, the ``(T, H, W)`` patch grid the blocks start from.
            pos_drop: dropout after the positional encoding.
            norm_patch_embed: norm of the embedded tokens.
            blocks: the multiscale blocks, each taking and returning ``(tokens, thw_shape)``.
            norm_embed: norm before the head.
            head: tokens to class scores.
        """
        super().__init__()
        if not hasattr(cls_positional_encoding, "patch_embed_shape"):
            raise ConfigError(
                "MultiscaleVisionTransformers: cls_positional_encoding must have a patch_embed_shape "
                f"(the (T, H, W) patch grid), got {type(cls_positional_encoding).__name__}"
            )
        self.patch_embed = patch_embed
        self.cls_positional_encoding = cls_positional_encoding
        self.pos_drop = pos_drop
        self.norm_patch_embed = norm_patch_embed
        self.blocks = blocks
        self.norm_embed = norm_embed
        self.head = head
        self._image_patches = isinstance(getattr(patch_embed, "patch_model", None), nn.Conv2d)
        init_net_weights(self, init_std=0.02, style="vit")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._image_patches and x.dim() == 5:
            if x.shape[2] != 1:
                raise LayoutError(
                    "MultiscaleVisionTransformers with a 2D patch embedding takes images [B, C, H, W] "
                    f"or one-frame clips [B, C, 1, H, W]; got {list(x.shape)}"
                )
            x = x[:, :, 0]
        if self.patch_embed is not None:
            x = self.patch_embed(x)
        x = self.cls_positional_encoding(x)
        if self.pos_drop is not None:
            x = self.pos_drop(x)
        if self.norm_patch_embed is not None:
            x = self.norm_patch_embed(x)

        thw = self.cls_positional_encoding.patch_embed_shape
        for blk in self.blocks:
            x, thw = blk(x, thw)
        if self.norm_embed is not None:
            x = self.norm_embed(x)
        if self.head is not None:
            x = self.head(x)
        return x


def _check_layer_indices(name: str, entries: Sequence[Sequence[Any]] | None, upper: int) -> None:
    """Per-layer settings are ``[layer, value...]`` rows; the layer must exist."""
    for row in entries or ():
        if not 0 <= int(row[0]) < upper:
            raise ConfigError(
                f"create_multiscale_vision_transformers: {name} names layer {row[0]}, not in [0, {upper})"
            )


def _default_pool_kernel(stride: Sequence[int]) -> list[int]:
    """Overlapping pooling: a kernel one larger than the stride where the stride is > 1."""
    return [s + 1 if s > 1 else s for s in stride]


def create_multiscale_vision_transformers(
    *,
    spatial_size: int | tuple[int, int],
    temporal_size: int,
    cls_embed_on: bool = True,
    sep_pos_embed: bool = True,
    depth: int = 16,
    norm: str | Callable[[int], nn.Module] = "layernorm",
    # Patch embed config.
    enable_patch_embed: bool = True,
    input_channels: int = 3,
    patch_embed_dim: int = 96,
    conv_patch_embed_kernel: Sequence[int] = (3, 7, 7),
    conv_patch_embed_stride: Sequence[int] = (2, 4, 4),
    conv_patch_embed_padding: Sequence[int] = (1, 3, 3),
    enable_patch_embed_norm: bool = False,
    use_2d_patch: bool = False,
    # Attention block config.
    num_heads: int = 1,
    mlp_ratio: float = 4.0,
    qkv_bias: bool = True,
    dropout_rate_block: float = 0.0,
    droppath_rate_block: float = 0.0,
    pooling_mode: str = "conv",
    pool_first: bool = False,
    embed_dim_mul: Sequence[Sequence[float]] | None = None,
    atten_head_mul: Sequence[Sequence[float]] | None = None,
    pool_q_stride_size: Sequence[Sequence[int]] | None = None,
    pool_kv_stride_size: Sequence[Sequence[int]] | None = None,
    pool_kv_stride_adaptive: Sequence[int] | None = None,
    pool_kvq_kernel: Sequence[int] | None = None,
    activation: Callable[[], nn.Module] = nn.GELU,
    # Head config.
    head: Callable[..., nn.Module] | None = create_vit_basic_head,
    head_dropout_rate: float = 0.5,
    head_activation: Callable[..., nn.Module] | None = None,
    head_num_classes: int = 400,
) -> nn.Module:
    """Builds a Multiscale Vision Transformer (MViT) for recognition.

    Per-layer settings are rows ``[layer, ...]``: ``embed_dim_mul=[[1, 2.0]]``
    doubles the width from block 1 on, ``pool_q_stride_size=[[1, 1, 2, 2]]``
    makes block 1 pool its queries (and so the grid) by ``1 x 2 x 2``.
    MViT-B for Kinetics-400 (``mvit_base_16x4``)::

        create_multiscale_vision_transformers(
            spatial_size=224,
            temporal_size=16,
            embed_dim_mul=[[1, 2.0], [3, 2.0], [14, 2.0]],
            atten_head_mul=[[1, 2.0], [3, 2.0], [14, 2.0]],
            pool_q_stride_size=[[1, 1, 2, 2], [3, 1, 2, 2], [14, 1, 2, 2]],
            pool_kv_stride_adaptive=[1, 8, 8],
            pool_kvq_kernel=[3, 3, 3],
        )

    Args:
        spatial_size: input ``(H, W)`` (an int for a square); fixes the positional embedding.
        temporal_size: input frames; fixes the positional embedding.
        cls_embed_on: prepend a cls token and classify from it (else from the mean token).
        sep_pos_embed: separate spatial and temporal positional embeddings.
        depth: number of multiscale blocks.
        norm: ``"layernorm"`` (``nn.LayerNorm``, eps 1e-6), or a callable building a norm from a width.

        enable_patch_embed: patchify the input; if off, the input is already ``[B, N, patch_embed_dim]``.
        input_channels: channels of the input video.
        patch_embed_dim: token width after patchifying (the first block's width).
        conv_patch_embed_kernel, conv_patch_embed_stride, conv_patch_embed_padding: the
            patchifying convolution (``(T, H, W)``, or ``(H, W)`` with ``use_2d_patch``).
        enable_patch_embed_norm: normalise the patch tokens.
        use_2d_patch: patchify with a 2D convolution (image models; ``temporal_size`` must be 1).

        num_heads: attention heads of the first block.
        mlp_ratio: MLP hidden width as a multiple of the block width.
        qkv_bias: learn a bias in the q, k and v projections.
        dropout_rate_block: dropout in the blocks and after the positional encoding.
        droppath_rate_block: stochastic depth of the last block, rising linearly from 0 at the first.
        pooling_mode: attention pooling, ``"conv"`` (learned), ``"avg"`` or ``"max"``.
        pool_first: pool before the q/k/v projections instead of after.
        embed_dim_mul: rows ``[layer, factor]``: width multiplier from that block on.
        atten_head_mul: rows ``[layer, factor]``: head count multiplier from that block on.
        pool_q_stride_size: rows ``[layer, stride_t, stride_h, stride_w]``: query pooling.
        pool_kv_stride_size: rows ``[layer, stride_t, stride_h, stride_w]``: key/value pooling.
        pool_kv_stride_adaptive: key/value stride of the first block instead of
            ``pool_kv_stride_size``; divided by each query stride on the way, so the
            keys/values keep pooling to the same grid.
        pool_kvq_kernel: pooling kernel of q and k/v (default: the stride plus one where it is > 1).
        activation: builds the MLP activation of every block (vidray addition; PyTorchVideo's GELU by default).

        head: builds the head from ``in_features``, ``out_features``, ``seq_pool_type``,
            ``dropout_rate`` and ``activation`` (``None``: no head, the tokens are returned).
        head_dropout_rate: dropout before the classifier.
        head_activation: builds the activation after the classifier (``None``: logits).
        head_num_classes: number of classes.
    """
    name = "create_multiscale_vision_transformers"
    if use_2d_patch and temporal_size != 1:
        raise ConfigError(f"{name}: use_2d_patch needs temporal_size=1, got {temporal_size}")
    if pool_kv_stride_adaptive is not None and pool_kv_stride_size is not None:
        raise ConfigError(f"{name}: give pool_kv_stride_size or pool_kv_stride_adaptive, not both")
    if depth < 1:
        raise ConfigError(f"{name}: depth must be >= 1, got {depth}")
    if norm == "layernorm":
        norm_layer: Callable[[int], nn.Module] = partial(nn.LayerNorm, eps=1e-6)
    elif callable(norm):
        norm_layer = norm
    else:
        raise ConfigError(f"{name}: norm must be 'layernorm' or a callable building a norm layer, got {norm!r}")
    _check_layer_indices("embed_dim_mul", embed_dim_mul, depth + 1)
    _check_layer_indices("atten_head_mul", atten_head_mul, depth + 1)
    _check_layer_indices("pool_q_stride_size", pool_q_stride_size, depth)
    _check_layer_indices("pool_kv_stride_size", pool_kv_stride_size, depth)
    if isinstance(spatial_size, int):
        spatial_size = (spatial_size, spatial_size)

    patch_embed = (
        create_conv_patch_embed(
            in_channels=input_channels,
            out_channels=patch_embed_dim,
            conv_kernel_size=conv_patch_embed_kernel,
            conv_stride=conv_patch_embed_stride,
            conv_padding=conv_patch_embed_padding,
            conv=nn.Conv2d if use_2d_patch else nn.Conv3d,
        )
        if enable_patch_embed
        else None
    )

    input_dims = [temporal_size, spatial_size[0], spatial_size[1]]
    input_stride = (1, *conv_patch_embed_stride) if use_2d_patch else tuple(conv_patch_embed_stride)
    patch_embed_shape = [d // s for d, s in zip(input_dims, input_stride)] if enable_patch_embed else input_dims
    if min(patch_embed_shape) < 1:
        raise ConfigError(
            f"{name}: an input of {temporal_size} frames x {spatial_size[0]}x{spatial_size[1]} gives an empty "
            f"patch grid {patch_embed_shape} with the patch stride {tuple(input_stride)}"
        )
    cls_positional_encoding = SpatioTemporalClsPositionalEncoding(
        embed_dim=patch_embed_dim,
        patch_embed_shape=patch_embed_shape,
        sep_pos_embed=sep_pos_embed,
        has_cls=cls_embed_on,
    )

    # Stochastic depth grows linearly with depth (as a float32 linspace, like PyTorchVideo).
    dpr = torch.linspace(0, droppath_rate_block, depth, device="cpu").tolist()  # also when built on meta
    dim_mul, head_mul = [1.0] * (depth + 1), [1.0] * (depth + 1)
    for layer, factor in embed_dim_mul or ():
        dim_mul[layer] = factor
    for layer, factor in atten_head_mul or ():
        head_mul[layer] = factor

    pool_q: list[Sequence[int]] = [[] for _ in range(depth)]
    pool_kv: list[Sequence[int]] = [[] for _ in range(depth)]
    stride_q: list[Sequence[int]] = [[] for _ in range(depth)]
    stride_kv: list[Sequence[int]] = [[] for _ in range(depth)]
    for layer, *stride in pool_q_stride_size or ():
        stride_q[layer] = stride
        pool_q[layer] = pool_kvq_kernel if pool_kvq_kernel is not None else _default_pool_kernel(stride)
    if pool_kv_stride_adaptive is not None:
        # Keys/values pool to a fixed grid: their stride shrinks wherever the queries pool.
        kv_stride = list(pool_kv_stride_adaptive)
        pool_kv_stride_size = []
        for i in range(depth):
            if len(stride_q[i]) > 0:
                kv_stride = [max(s // q, 1) for s, q in zip(kv_stride, stride_q[i])]
            pool_kv_stride_size.append([i, *kv_stride])
    for layer, *stride in pool_kv_stride_size or ():
        stride_kv[layer] = stride
        pool_kv[layer] = pool_kvq_kernel if pool_kvq_kernel is not None else _default_pool_kernel(stride)

    blocks = nn.ModuleList()
    dim, heads = patch_embed_dim, num_heads
    for i in range(depth):
        heads = round_width(heads, head_mul[i], min_width=1, divisor=1)
        dim = round_width(dim, dim_mul[i], divisor=heads)
        # PyTorchVideo rounds the next width to a multiple of the next head count
        # rounded with round_width's defaults (a multiple of 8); kept for its checkpoints.
        dim_out = round_width(dim, dim_mul[i + 1], divisor=round_width(heads, head_mul[i + 1]))
        blocks.append(
            MultiScaleBlock(
                dim=dim,
                dim_out=dim_out,
                num_heads=heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                dropout_rate=dropout_rate_block,
                droppath_rate=dpr[i],
                act_layer=activation,
                norm_layer=norm_layer,
                kernel_q=pool_q[i],
                kernel_kv=pool_kv[i],
                stride_q=stride_q[i],
                stride_kv=stride_kv[i],
                pool_mode=pooling_mode,
                has_cls_embed=cls_embed_on,
                pool_first=pool_first,
            )
        )

    head_model = (
        head(
            in_features=dim_out,
            out_features=head_num_classes,
            seq_pool_type="cls" if cls_embed_on else "mean",
            dropout_rate=head_dropout_rate,
            activation=head_activation,
        )
        if head is not None
        else None
    )
    return MultiscaleVisionTransformers(
        patch_embed=patch_embed,
        cls_positional_encoding=cls_positional_encoding,
        pos_drop=nn.Dropout(p=dropout_rate_block) if dropout_rate_block > 0.0 else None,
        norm_patch_embed=norm_layer(patch_embed_dim) if enable_patch_embed_norm else None,
        blocks=blocks,
        norm_embed=norm_layer(dim_out),
        head=head_model,
    )


# The hub configurations, as PyTorchVideo's hub defines them.
mvit_video_base_config: dict[str, Any] = {
    "spatial_size": 224,
    "temporal_size": 16,
    "embed_dim_mul": [[1, 2.0], [3, 2.0], [14, 2.0]],
    "atten_head_mul": [[1, 2.0], [3, 2.0], [14, 2.0]],
    "pool_q_stride_size": [[1, 1, 2, 2], [3, 1, 2, 2], [14, 1, 2, 2]],
    "pool_kv_stride_adaptive": [1, 8, 8],
    "pool_kvq_kernel": [3, 3, 3],
}

mvit_video_base_32x3_config: dict[str, Any] = {**mvit_video_base_config, "temporal_size": 32}

# PyTorchVideo's hub leaves head_num_classes at 400 here, so its entry cannot load
# its own ImageNet checkpoint (1000 classes) strictly; vidray builds the 1000-class head.
mvit_image_base_16_config: dict[str, Any] = {
    "spatial_size": 224,
    "temporal_size": 1,
    "depth": 16,
    "conv_patch_embed_kernel": [7, 7],
    "conv_patch_embed_stride": [4, 4],
    "conv_patch_embed_padding": [3, 3],
    "use_2d_patch": True,
    "embed_dim_mul": [[1, 2.0], [3, 2.0], [14, 2.0]],
    "atten_head_mul": [[1, 2.0], [3, 2.0], [14, 2.0]],
    "pool_q_stride_size": [[1, 1, 2, 2], [3, 1, 2, 2], [14, 1, 2, 2]],
    "pool_kv_stride_adaptive": [1, 4, 4],
    "pool_kvq_kernel": [1, 3, 3],
    "head_num_classes": 1000,
}


def _build_from_config(config: Mapping[str, Any], kwargs: dict[str, Any]) -> nn.Module:
    """PyTorchVideo's hub rule: an argument missing from ``kwargs`` or given as ``None`` takes the config's value."""
    merged = {**kwargs, **{key: value for key, value in config.items() if kwargs.get(key) is None}}
    return create_multiscale_vision_transformers(**merged)


_MVIT_SPEC = dict(family="mvit", num_classes_arg="head_num_classes", classifier="head.proj")


@register_model(
    ModelSpec(
        input=InputSpec.clip(16, 224, exact=True),
        sampling_rate=4,
        params_m=36.61,
        gflops=70.80,
        top1=78.85,
        top5=93.85,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/kinetics/MVIT_B_16x4.pyth",
        notes="Published accuracy over 1 x 5 views (spatial x temporal).",
        **_MVIT_SPEC,
    )
)
def mvit_base_16x4(**kwargs: Any) -> nn.Module:
    """MViT-B, 16 frames with sampling rate 4, trained on Kinetics-400 (78.85% top-1)."""
    return _build_from_config(mvit_video_base_config, kwargs)


@register_model(
    ModelSpec(
        input=InputSpec.clip(32, 224, exact=True),
        sampling_rate=3,
        params_m=36.61,
        gflops=170.37,
        top1=80.30,
        top5=94.69,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/kinetics/MVIT_B_32x3_f294077834.pyth",
        notes="Published accuracy over 1 x 5 views (spatial x temporal).",
        **_MVIT_SPEC,
    )
)
def mvit_base_32x3(**kwargs: Any) -> nn.Module:
    """MViT-B, 32 frames with sampling rate 3, trained on Kinetics-400 (80.30% top-1)."""
    return _build_from_config(mvit_video_base_32x3_config, kwargs)


@register_model(
    ModelSpec(
        input=InputSpec.clip(1, 224, exact=True),
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        num_classes=1000,
        dataset="ImageNet-1k",
        params_m=37.0,
        gflops=7.8,
        top1=83.0,
        checkpoint=f"{PTV_CHECKPOINT_ROOT}/imagenet/MVIT_B_16_f292487636.pyth",
        source="MViT paper (Fan et al., 2021), ImageNet-1k table; PyTorchVideo checkpoint",
        notes="An image model: one-frame clips [B, 3, 1, 224, 224] (built directly, it also takes [B, 3, 224, 224]).",
        **_MVIT_SPEC,
    )
)
def mvit_base_16(**kwargs: Any) -> nn.Module:
    """MViT-B with depth 16, trained on ImageNet-1k images at 224x224 (83.0% top-1)."""
    return _build_from_config(mvit_image_base_16_config, kwargs)
