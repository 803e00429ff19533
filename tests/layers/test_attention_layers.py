"""Transformer layers (attention, positional encodings, DropPath, MLP) against PyTorchVideo 0.1.5's."""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

import pytest
import torch
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.layers.attention import Mlp, MultiScaleAttention, MultiScaleBlock
from vidray.layers.drop_path import DropPath, drop_path
from vidray.layers.mlp import make_multilayer_perceptron
from vidray.layers.positional_encoding import PositionalEncoding, SpatioTemporalClsPositionalEncoding


@pytest.fixture(scope="module")
def ptv_layers() -> ModuleType:
    pytest.importorskip("pytorchvideo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module("pytorchvideo.layers")


@torch.no_grad()
def copy_randomized(ours: nn.Module, reference: nn.Module, seed: int = 0) -> None:
    """Random values in every parameter and buffer of ``reference`` (norms included), loaded strictly into ``ours``."""
    generator = torch.Generator().manual_seed(seed)
    for name, tensor in reference.state_dict().items():
        if tensor.is_floating_point():
            values = torch.randn(tensor.shape, generator=generator) * 0.5
            tensor.copy_(values.abs() + 0.5 if name.endswith("running_var") else values)
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval()
    reference.eval()


def tokens(batch: int, thw: tuple[int, int, int], dim: int, cls: bool = True) -> torch.Tensor:
    return torch.randn(batch, int(cls) + thw[0] * thw[1] * thw[2], dim, generator=torch.Generator().manual_seed(1))


def test_mlp_matches_reference(ptv_layers: ModuleType) -> None:
    ours, ref = Mlp(16, 32, 24), ptv_layers.Mlp(16, 32, 24)
    copy_randomized(ours, ref)
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(ours(x), ref(x))


def test_mlp_uses_injected_activation() -> None:
    mlp = Mlp(8, act_layer=nn.Tanh)
    assert isinstance(mlp.act, nn.Tanh)
    assert mlp.fc2.out_features == 8  # hidden and output widths default to the input's


@pytest.mark.parametrize("pool_mode", ["conv", "avg", "max"])
@pytest.mark.parametrize("pool_first", [False, True])
@pytest.mark.parametrize("has_cls_embed", [True, False])
def test_multiscale_attention_matches_reference(
    ptv_layers: ModuleType, pool_mode: str, pool_first: bool, has_cls_embed: bool
) -> None:
    kwargs = dict(
        num_heads=2,
        qkv_bias=True,
        kernel_q=(3, 3, 3),
        kernel_kv=(3, 3, 3),
        stride_q=(1, 2, 2),
        stride_kv=(2, 2, 2),
        has_cls_embed=has_cls_embed,
        pool_mode=pool_mode,
        pool_first=pool_first,
    )
    ours, ref = MultiScaleAttention(16, **kwargs), ptv_layers.MultiScaleAttention(16, **kwargs)
    copy_randomized(ours, ref)
    x, thw = tokens(2, (4, 4, 4), 16, cls=has_cls_embed), [4, 4, 4]
    with torch.no_grad():
        (got, got_thw), (expected, expected_thw) = ours(x, thw), ref(x, thw)
    assert got_thw == list(expected_thw) == [4, 2, 2]
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)  # fused attention sums in another order


def test_multiscale_attention_without_pooling_is_plain_attention() -> None:
    attention = MultiScaleAttention(16, num_heads=4)
    assert attention.pool_q is attention.pool_k is attention.pool_v is None
    x = tokens(1, (1, 2, 2), 16)
    out, thw = attention(x, [1, 2, 2])
    expected, _ = nn.functional.multi_head_attention_forward(
        x.transpose(0, 1),
        x.transpose(0, 1),
        x.transpose(0, 1),
        16,
        4,
        None,
        None,
        None,
        None,
        False,
        0.0,
        attention.proj.weight,
        attention.proj.bias,
        use_separate_proj_weight=True,
        q_proj_weight=attention.q.weight,
        k_proj_weight=attention.k.weight,
        v_proj_weight=attention.v.weight,
        need_weights=False,
    )
    assert thw == [1, 2, 2]
    torch.testing.assert_close(out, expected.transpose(0, 1))


def test_multiscale_attention_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="pool_mode"):
        MultiScaleAttention(16, pool_mode="median")
    with pytest.raises(ConfigError, match="divisible by num_heads"):
        MultiScaleAttention(16, num_heads=3)


@pytest.mark.parametrize("dim_out,stride_q", [(16, (1, 1, 1)), (32, (1, 2, 2)), (32, ())])
def test_multiscale_block_matches_reference(ptv_layers: ModuleType, dim_out: int, stride_q: tuple[int, ...]) -> None:
    kwargs = dict(
        num_heads=2,
        qkv_bias=True,
        kernel_q=(3, 3, 3) if stride_q else (),
        kernel_kv=(3, 3, 3),
        stride_q=stride_q,
        stride_kv=(1, 2, 2),
    )
    ours, ref = MultiScaleBlock(16, dim_out, **kwargs), ptv_layers.MultiScaleBlock(16, dim_out, **kwargs)
    copy_randomized(ours, ref)
    x, thw = tokens(2, (2, 4, 4), 16), [2, 4, 4]
    with torch.no_grad():
        (got, got_thw), (expected, expected_thw) = ours(x, thw), ref(x, thw)
    assert got_thw == list(expected_thw)
    assert got.shape[-1] == dim_out
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)  # fused attention sums in another order


def test_multiscale_block_uses_injected_norm_and_activation() -> None:
    block = MultiScaleBlock(16, 16, num_heads=2, act_layer=nn.SiLU, norm_layer=nn.BatchNorm1d, droppath_rate=0.1)
    assert isinstance(block.norm1, nn.BatchNorm1d) and isinstance(block.norm2, nn.BatchNorm1d)
    assert isinstance(block.mlp.act, nn.SiLU)
    assert isinstance(block.drop_path, DropPath) and block.drop_path.drop_prob == 0.1


def test_drop_path_is_identity_in_eval() -> None:
    layer = DropPath(0.5).eval()
    x = torch.randn(8, 4, 3)
    assert layer(x) is x
    assert drop_path(x, 0.0, training=True) is x


def test_drop_path_drops_whole_samples_in_train() -> None:
    torch.manual_seed(0)
    layer = DropPath(0.5).train()
    out = layer(torch.ones(256, 5, 3))
    per_sample = out.flatten(1)
    kept = per_sample[:, 0] != 0
    # Every sample is either dropped entirely or kept entirely and rescaled by 1 / (1 - p).
    assert torch.all(per_sample[kept] == 2.0)
    assert torch.all(per_sample[~kept] == 0.0)
    assert 64 < int(kept.sum()) < 192


def test_drop_path_matches_reference_draws(ptv_layers: ModuleType) -> None:
    x = torch.randn(16, 3, 2)
    torch.manual_seed(3)
    got = DropPath(0.3).train()(x)
    torch.manual_seed(3)
    expected = ptv_layers.DropPath(0.3).train()(x)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("drop_prob", [-0.1, 1.0])
def test_drop_path_rejects_probabilities_outside_unit_interval(drop_prob: float) -> None:
    with pytest.raises(ConfigError, match="drop_prob"):
        DropPath(drop_prob)


def test_positional_encoding_matches_reference(ptv_layers: ModuleType) -> None:
    ours, ref = PositionalEncoding(16, seq_len=32), ptv_layers.PositionalEncoding(16, seq_len=32)
    x = torch.randn(2, 20, 16)
    torch.testing.assert_close(ours(x), ref(x))
    assert ours.state_dict().keys() == ref.state_dict().keys()


def test_positional_encoding_rejects_longer_sequences() -> None:
    with pytest.raises(LayoutError, match="covers 8 positions; got a sequence of 9"):
        PositionalEncoding(4, seq_len=8)(torch.zeros(1, 9, 4))


@pytest.mark.parametrize("sep_pos_embed", [False, True])
@pytest.mark.parametrize("has_cls", [False, True])
def test_spatiotemporal_positional_encoding_matches_reference(
    ptv_layers: ModuleType, sep_pos_embed: bool, has_cls: bool
) -> None:
    shape = (2, 3, 4)
    ours = SpatioTemporalClsPositionalEncoding(8, shape, sep_pos_embed=sep_pos_embed, has_cls=has_cls)
    ref = ptv_layers.SpatioTemporalClsPositionalEncoding(8, shape, sep_pos_embed=sep_pos_embed, has_cls=has_cls)
    copy_randomized(ours, ref)
    x = tokens(2, shape, 8, cls=False)
    out = ours(x)
    assert out.shape == (2, 24 + int(has_cls), 8)
    assert tuple(ours.patch_embed_shape) == shape
    torch.testing.assert_close(out, ref(x))


def test_spatiotemporal_positional_encoding_names_the_grid_on_wrong_token_count() -> None:
    encoding = SpatioTemporalClsPositionalEncoding(8, (2, 3, 4))
    with pytest.raises(LayoutError, match="2x3x4 patch grid \\(24 patches\\); got 12 patches"):
        encoding(torch.zeros(1, 12, 8))


def test_spatiotemporal_positional_encoding_rejects_bad_grid() -> None:
    with pytest.raises(ConfigError, match="patch_embed_shape"):
        SpatioTemporalClsPositionalEncoding(8, (3, 4))
    with pytest.raises(ConfigError, match="patch_embed_shape"):
        SpatioTemporalClsPositionalEncoding(8, (0, 4, 4))


def test_multilayer_perceptron_matches_reference(ptv_layers: ModuleType) -> None:
    kwargs = dict(norm=nn.BatchNorm1d, mid_activation=nn.GELU, final_activation=nn.Tanh, dropout_rate=0.2)
    ours, ours_dim = make_multilayer_perceptron([12, 24, 16, 8], **kwargs)
    ref, ref_dim = ptv_layers.make_multilayer_perceptron([12, 24, 16, 8], **kwargs)
    assert ours_dim == ref_dim == 8
    assert [type(m) for m in ours] == [type(m) for m in ref]
    copy_randomized(ours, ref)
    x = torch.randn(4, 12)
    torch.testing.assert_close(ours(x), ref(x))


@pytest.mark.parametrize("dims", [[8], [8, 0], [8, 2.5], (8, True)])
def test_multilayer_perceptron_rejects_bad_widths(dims: list) -> None:
    with pytest.raises(ConfigError, match="fully_connected_dims"):
        make_multilayer_perceptron(dims)
