"""Base layers against PyTorchVideo's (same weights, same outputs), plus their own behaviour."""

from __future__ import annotations

import importlib
import warnings

import pytest
import torch
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.layers import batch_norm as vidray_batch_norm
from vidray.layers import distributed as vidray_distributed
from vidray.layers.batch_norm import NaiveSyncBatchNorm1d, NaiveSyncBatchNorm2d, NaiveSyncBatchNorm3d
from vidray.layers.convolutions import ConvReduce3D, create_conv_2plus1d
from vidray.layers.fusion import ConcatFusion, ReduceFusion, TemporalConcatFusion, make_fusion_layer
from vidray.layers.nonlocal_net import NonLocal, create_nonlocal
from vidray.layers.squeeze_excitation import (
    SqueezeAndExcitationLayer2D,
    SqueezeExcitation,
    create_audio_2d_squeeze_excitation_block,
)
from vidray.layers.swish import Swish
from vidray.layers.utils import round_repeats, round_width, set_attributes
from vidray.models.weight_init import init_net_weights


def reference(module: str):
    """A module of the reference implementation (PyTorchVideo, or fvcore for its SE layer)."""
    pytest.importorskip("pytorchvideo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(module)


def assert_same_module_outputs(ours: nn.Module, ref: nn.Module, *inputs: torch.Tensor) -> None:
    """Loads ``ref``'s weights into ``ours`` (strict) and compares eval outputs."""
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.eval()
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(*inputs), ref(*inputs))


def small_resnet_like() -> nn.Sequential:
    final_bn = nn.BatchNorm3d(4)
    final_bn.block_final_bn = True
    xavier = nn.Linear(4, 3)
    xavier.xavier_init = True
    return nn.Sequential(
        nn.Conv3d(2, 4, 3, bias=True), nn.BatchNorm3d(4), final_bn, nn.Conv2d(4, 4, 1), nn.Linear(4, 5), xavier
    )


# weight_init


def test_resnet_init_draws_the_same_weights_as_pytorchvideo():
    ptv_init = reference("pytorchvideo.models.weight_init")
    ours, ref = small_resnet_like(), small_resnet_like()
    torch.manual_seed(0)
    init_net_weights(ours)
    torch.manual_seed(0)
    ptv_init.init_net_weights(ref)
    for (key, got), expected in zip(ours.state_dict().items(), ref.state_dict().values()):
        torch.testing.assert_close(got, expected, msg=key)


def test_resnet_init_zeroes_block_final_norms_and_biases():
    model = small_resnet_like()
    init_net_weights(model, init_std=0.02)
    assert torch.all(model[1].weight == 1) and torch.all(model[2].weight == 0)
    assert torch.all(model[0].bias == 0) and torch.all(model[4].bias == 0)
    assert model[4].weight.std().item() < 0.1


def test_vit_init_draws_the_same_weights_as_pytorchvideo():
    ptv_init = reference("pytorchvideo.models.weight_init")
    ptv_pos = reference("pytorchvideo.layers.positional_encoding")
    from vidray.layers.positional_encoding import SpatioTemporalClsPositionalEncoding

    def model(pos_cls):
        return nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), pos_cls(embed_dim=8, patch_embed_shape=(2, 2, 2)))

    ours, ref = model(SpatioTemporalClsPositionalEncoding), model(ptv_pos.SpatioTemporalClsPositionalEncoding)
    torch.manual_seed(0)
    init_net_weights(ours, init_std=0.02, style="vit")
    torch.manual_seed(0)
    ptv_init.init_net_weights(ref, init_std=0.02, style="vit")
    for got, expected in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(got, expected)


def test_unknown_init_style_is_a_config_error():
    with pytest.raises(ConfigError, match="style"):
        init_net_weights(nn.Linear(2, 2), style="xavier")


# utils


def test_round_width_and_round_repeats_match_pytorchvideo():
    ptv = reference("pytorchvideo.layers.utils")
    for width in (3, 24, 54, 192, 432):
        for multiplier in (None, 0.5, 1.0, 2.0, 2.25, 0.0625):
            for ceil in (False, True):
                assert round_width(width, multiplier, ceil=ceil) == ptv.round_width(width, multiplier, ceil=ceil)
    for repeats in (1, 3, 5):
        for multiplier in (None, 1.0, 2.2, 5.0):
            assert round_repeats(repeats, multiplier) == ptv.round_repeats(repeats, multiplier)


def test_set_attributes_skips_self():
    class Holder:
        def __init__(self, a: int, b: str) -> None:
            set_attributes(self, locals())

    holder = Holder(1, "x")
    assert (holder.a, holder.b) == (1, "x") and "self" not in vars(holder)


# swish


def test_swish_forward_and_gradient_equal_x_sigmoid_x():
    x = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    y = Swish()(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    x2 = x.detach().clone().requires_grad_()
    expected = x2 * torch.sigmoid(x2)
    (expected_grad,) = torch.autograd.grad(expected.sum(), x2)
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(grad, expected_grad)
    assert torch.autograd.gradcheck(Swish(), (torch.randn(3, dtype=torch.float64, requires_grad=True),))


def test_swish_matches_pytorchvideo():
    ptv = reference("pytorchvideo.layers.swish")
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(Swish()(x), ptv.Swish()(x))


# squeeze-excitation


@pytest.mark.parametrize("is_3d", [False, True])
def test_squeeze_excitation_matches_fvcore(is_3d):
    fvcore_se = reference("fvcore.nn.squeeze_excitation")
    torch.manual_seed(0)
    ref = fvcore_se.SqueezeExcitation(num_channels=16, num_channels_reduced=6, is_3d=is_3d)
    x = torch.randn(2, 16, *((3, 5, 5) if is_3d else (5, 5)))
    assert_same_module_outputs(SqueezeExcitation(num_channels=16, num_channels_reduced=6, is_3d=is_3d), ref, x)
    assert SqueezeExcitation(16).block[0].out_channels == fvcore_se.SqueezeExcitation(16).block[0].out_channels


def test_squeeze_excitation_layer_2d_matches_pytorchvideo():
    ptv = reference("pytorchvideo.layers.squeeze_excitation")
    x = torch.randn(2, 32, 6, 6)
    assert_same_module_outputs(SqueezeAndExcitationLayer2D(32, 8), ptv.SqueezeAndExcitationLayer2D(32, 8), x)
    with pytest.raises(ConfigError, match="exactly one"):
        SqueezeAndExcitationLayer2D(32, reduction_ratio=8, reduced_planes=4)


@pytest.mark.parametrize("dim_in, stride", [(16, 1), (8, 2)])
def test_audio_2d_se_block_matches_pytorchvideo(dim_in, stride):
    ptv = reference("pytorchvideo.layers.squeeze_excitation")
    kwargs = dict(dim_in=dim_in, dim_out=16, use_se=True, se_reduction_ratio=4, conv_a_stride=stride)
    ours, ref = (
        create_audio_2d_squeeze_excitation_block(**kwargs),
        ptv.create_audio_2d_squeeze_excitation_block(**kwargs),
    )
    torch.manual_seed(0)
    for module in ref.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_()
            module.weight.data.uniform_(0.5, 1.5)
    assert_same_module_outputs(ours, ref, torch.randn(2, dim_in, 8, 8))
    assert (ours.branch1_conv is None) == (stride == 1 and dim_in == 16)


# convolutions


@pytest.mark.parametrize("reduction_method", ["sum", "cat"])
def test_conv_reduce_3d_matches_pytorchvideo(reduction_method):
    ptv = reference("pytorchvideo.layers.convolutions")
    kwargs = dict(
        in_channels=3,
        out_channels=4,
        kernel_size=((3, 1, 1), (1, 3, 3)),
        stride=((1, 1, 1), None),
        padding=((1, 0, 0), (0, 1, 1)),
        bias=(True, False),
        reduction_method=reduction_method,
    )
    ours = ConvReduce3D(**kwargs)
    assert_same_module_outputs(ours, ptv.ConvReduce3D(**kwargs), torch.randn(1, 3, 4, 6, 6))
    assert ours.convs[1].bias is None


def test_conv_reduce_3d_rejects_an_unknown_reduction():
    with pytest.raises(ConfigError, match="reduction_method"):
        ConvReduce3D(in_channels=1, out_channels=1, kernel_size=((1, 1, 1),), reduction_method="max")


@pytest.mark.parametrize("conv_xy_first", [False, True])
def test_conv_2plus1d_matches_pytorchvideo(conv_xy_first):
    ptv = reference("pytorchvideo.layers.convolutions")
    kwargs = dict(in_channels=4, out_channels=6, inner_channels=5, conv_xy_first=conv_xy_first, stride=(1, 2, 2))
    ours, ref = create_conv_2plus1d(**kwargs), ptv.create_conv_2plus1d(**kwargs)
    ref.norm.running_mean.normal_()
    assert_same_module_outputs(ours, ref, torch.randn(2, 4, 4, 8, 8))
    assert ours.conv_t.kernel_size == (3, 1, 1) and ours.conv_xy.kernel_size == (1, 3, 3)


def test_conv_2plus1d_uses_the_injected_norm_and_activation():
    conv = create_conv_2plus1d(in_channels=2, out_channels=3, norm=None, activation=nn.SiLU)
    assert conv.norm is None and isinstance(conv.activation, nn.SiLU)
    assert conv(torch.randn(1, 2, 4, 8, 8)).shape == (1, 3, 2, 4, 4)


@pytest.mark.parametrize("bad", [dict(groups=2), dict(dilation=(1, 2, 2))])
def test_conv_2plus1d_rejects_groups_and_dilation(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        create_conv_2plus1d(in_channels=2, out_channels=2, **bad)


# batch norm


@pytest.mark.parametrize(
    "ours, ptv_name, shape",
    [
        (NaiveSyncBatchNorm1d, "NaiveSyncBatchNorm1d", (4, 3, 5)),
        (NaiveSyncBatchNorm2d, "NaiveSyncBatchNorm2d", (4, 3, 5, 5)),
        (NaiveSyncBatchNorm3d, "NaiveSyncBatchNorm3d", (4, 3, 2, 5, 5)),
    ],
)
def test_naive_sync_batch_norm_matches_pytorchvideo_on_one_worker(ours, ptv_name, shape):
    ptv = reference("pytorchvideo.layers.batch_norm")
    ref, layer = getattr(ptv, ptv_name)(3), ours(3)
    assert layer.state_dict().keys() == ref.state_dict().keys()
    x = torch.randn(shape)
    torch.testing.assert_close(layer.train()(x), ref.train()(x))
    torch.testing.assert_close(layer.running_mean, ref.running_mean)
    torch.testing.assert_close(layer.eval()(x), ref.eval()(x))


def test_naive_sync_batch_norm_averages_statistics_over_workers(monkeypatch):
    """Two workers holding the same batch: the synced statistics are the batch's own."""
    monkeypatch.setattr(vidray_batch_norm, "get_world_size", lambda: 2)
    monkeypatch.setattr(vidray_distributed, "get_world_size", lambda: 2)
    monkeypatch.setattr(vidray_distributed.dist, "all_reduce", lambda tensor: tensor.mul_(2))
    layer = NaiveSyncBatchNorm3d(3).train()
    with torch.no_grad():
        layer.weight.uniform_(0.5, 1.5)
        layer.bias.normal_()
    x = torch.randn(4, 3, 2, 5, 5, requires_grad=True)
    out = layer(x)
    expected = nn.functional.batch_norm(x, None, None, layer.weight, layer.bias, training=True, eps=layer.eps)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(layer.running_mean, 0.1 * x.detach().mean(dim=(0, 2, 3, 4)))
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_naive_sync_batch_norm_rejects_an_empty_batch(monkeypatch):
    monkeypatch.setattr(vidray_batch_norm, "get_world_size", lambda: 2)
    with pytest.raises(LayoutError, match="zero batch"):
        NaiveSyncBatchNorm2d(3).train()(torch.randn(0, 3, 4, 4))


# fusion


@pytest.mark.parametrize("method", ["concat", "temporal_concat", "max", "sum", "prod"])
def test_fusion_layers_match_pytorchvideo(method):
    ptv = reference("pytorchvideo.layers.fusion")
    inputs = [torch.randn(2, 3, 4) for _ in range(3)]
    ours, ref = make_fusion_layer(method, [4, 4, 4]), ptv.make_fusion_layer(method, [4, 4, 4])
    torch.testing.assert_close(ours(inputs), ref(inputs))
    assert ours.output_dim == ref.output_dim


def test_fusion_layer_types_and_output_dims():
    assert isinstance(make_fusion_layer("concat", [2, 5]), ConcatFusion)
    assert make_fusion_layer("concat", [2, 5]).output_dim == 7
    assert isinstance(make_fusion_layer("temporal_concat", [3, 3]), TemporalConcatFusion)
    assert isinstance(make_fusion_layer("max", [3, 3]), ReduceFusion)
    out = make_fusion_layer("temporal_concat", [3, 3])([torch.randn(1, 2, 3), torch.randn(1, 5, 3)])
    assert out.shape == (1, 7, 3)


@pytest.mark.parametrize(
    "method, dims, match",
    [("mean", [2, 2], "method"), ("sum", [2, 3], "equal"), ("concat", [2, 0], "positive"), ("concat", (2,), "list")],
)
def test_fusion_rejects_bad_arguments(method, dims, match):
    with pytest.raises(ConfigError, match=match):
        make_fusion_layer(method, dims)


# non-local


@pytest.mark.parametrize("instantiation, pool_size", [("softmax", (1, 1, 1)), ("dot_product", (1, 2, 2))])
def test_nonlocal_matches_pytorchvideo(instantiation, pool_size):
    ptv = reference("pytorchvideo.layers.nonlocal_net")
    kwargs = dict(dim_in=8, dim_inner=4, pool_size=pool_size, instantiation=instantiation)
    ref = ptv.create_nonlocal(**kwargs)
    with torch.no_grad():
        ref.norm.weight.uniform_(0.5, 1.5)
        ref.norm.running_mean.normal_()
    ours = create_nonlocal(**kwargs)
    assert (ours.pool is None) == (pool_size == (1, 1, 1))
    assert_same_module_outputs(ours, ref, torch.randn(2, 8, 2, 4, 4))


def test_nonlocal_keeps_the_shape_and_starts_as_the_identity_with_a_zero_norm():
    block = create_nonlocal(dim_in=8, dim_inner=4, pool_size=None).eval()
    nn.init.zeros_(block.norm.weight)
    x = torch.randn(2, 8, 3, 4, 4)
    torch.testing.assert_close(block(x), x)
    nn.init.ones_(block.norm.weight)
    y = block(x)
    assert y.shape == x.shape and not torch.allclose(y, x)


def test_nonlocal_rejects_mismatched_inner_dims_and_unknown_instantiations():
    conv = lambda i, o: nn.Conv3d(i, o, 1)  # noqa: E731
    with pytest.raises(ConfigError, match="must be equal"):
        NonLocal(conv_theta=conv(8, 4), conv_phi=conv(8, 4), conv_g=conv(8, 4), conv_out=conv(2, 8))
    with pytest.raises(ConfigError, match="instantiation"):
        create_nonlocal(dim_in=8, dim_inner=4, instantiation="gaussian")
