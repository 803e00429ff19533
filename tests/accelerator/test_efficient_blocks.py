"""Mobile-CPU efficient blocks: the deployable form computes what the training form does, as in PyTorchVideo."""

from __future__ import annotations

import importlib
import warnings

import pytest
import torch
from torch import nn

from vidray.accelerator import EfficientBlockBase, NoOpConvertBlock
from vidray.accelerator.mobile_cpu import (
    AdaptiveAvgPool2d,
    AdaptiveAvgPool2dOutSize1,
    AdaptiveAvgPool3d,
    AdaptiveAvgPool3dOutSize1,
    Conv3d3x1x1BnAct,
    Conv3d3x3x3DwBnAct,
    Conv3d5x1x1BnAct,
    Conv3dPwBnAct,
    Conv3dTemporalKernel1BnAct,
    FullyConnected,
    SqueezeExcitation,
    Swish,
    X3dBottleneckBlock,
    build_activation,
    supported_act_functions,
)
from vidray.accelerator.mobile_cpu.activation_functions import _NaiveSwish
from vidray.errors import ConfigError


def reference(module: str):
    pytest.importorskip("pytorchvideo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(f"pytorchvideo.{module}")


@torch.no_grad()
def randomize(module: nn.Module, seed: int = 0) -> None:
    """Random weights everywhere, positive variances, so fused norms and biases matter."""
    generator = torch.Generator().manual_seed(seed)
    for name, tensor in module.state_dict().items():
        if tensor.is_floating_point():
            values = torch.rand(tensor.shape, generator=generator) + 0.5 if "var" in name else None
            if values is None:
                values = torch.randn(tensor.shape, generator=generator) * 0.5
            tensor.copy_(values)


def shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


@torch.no_grad()
def assert_converts_exactly(block: EfficientBlockBase, x: torch.Tensor, **options) -> torch.Tensor:
    """Converts ``block`` for ``x``'s size and checks it still computes the same output; returns it."""
    block.eval()
    expected = block(x)
    block.convert(tuple(x.shape), **options)
    got = block(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    return got


CONV_BLOCKS = {
    "Conv3dPwBnAct": lambda: dict(in_channels=4, out_channels=6),
    "Conv3d3x3x3DwBnAct": lambda: dict(in_channels=4, spatial_stride=2),
    "Conv3dTemporalKernel1BnAct": lambda: dict(in_channels=4, out_channels=6, spatial_kernel=3, spatial_padding=1),
    "Conv3d3x1x1BnAct": lambda: dict(in_channels=4, out_channels=6),
    "Conv3d5x1x1BnAct": lambda: dict(in_channels=4, out_channels=6),
}
OURS = {
    "Conv3dPwBnAct": Conv3dPwBnAct,
    "Conv3d3x3x3DwBnAct": Conv3d3x3x3DwBnAct,
    "Conv3dTemporalKernel1BnAct": Conv3dTemporalKernel1BnAct,
    "Conv3d3x1x1BnAct": Conv3d3x1x1BnAct,
    "Conv3d5x1x1BnAct": Conv3d5x1x1BnAct,
}


@pytest.mark.parametrize("name", sorted(CONV_BLOCKS))
@pytest.mark.parametrize("frames", [1, 2, 3, 4, 7])
def test_conv_block_converts_like_reference(name: str, frames: int) -> None:
    ref_module = reference("layers.accelerator.mobile_cpu.convolutions")
    kwargs = CONV_BLOCKS[name]() | {"bias": True, "activation": "relu"}
    ours, ref = OURS[name](**kwargs), getattr(ref_module, name)(**kwargs)
    assert shapes(ours) == shapes(ref)
    randomize(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.eval()
    ref.eval()
    x = torch.randn(2, 4, frames, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))
    got = assert_converts_exactly(ours, x)
    ref.convert(tuple(x.shape))
    assert shapes(ours) == shapes(ref)  # the deployable forms have the same layout too
    with torch.no_grad():
        torch.testing.assert_close(got, ref(x), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(CONV_BLOCKS))
@pytest.mark.parametrize("activation", ["swish", "hswish", "identity"])
@pytest.mark.parametrize("use_bn", [True, False])
def test_conv_block_conversion_keeps_output(name: str, activation: str, use_bn: bool) -> None:
    block = OURS[name](**CONV_BLOCKS[name](), activation=activation, use_bn=use_bn)
    randomize(block)
    assert_converts_exactly(block, torch.randn(1, 4, 5, 6, 6))
    assert block.convert_flag
    assert not any(isinstance(m, nn.Conv3d) for m in block.modules())  # unrolled into Conv2d
    if use_bn:
        assert not any(isinstance(m, nn.BatchNorm3d) for m in block.modules())  # fused


def test_pointwise_relu_is_fused_into_the_convolution() -> None:
    block = Conv3dPwBnAct(4, 6, activation="relu")
    randomize(block)
    assert_converts_exactly(block, torch.randn(1, 4, 3, 5, 5))
    assert any(isinstance(m, torch.ao.nn.intrinsic.ConvReLU2d) for m in block.modules())


def test_native_int8_conv3d_target_keeps_conv3d_and_fuses() -> None:
    x = torch.randn(1, 4, 3, 5, 5)
    options = {"convert_for_quantize": True, "native_conv3d_op_qnnpack": True}
    pointwise = Conv3dPwBnAct(4, 6, activation="relu")
    randomize(pointwise)
    assert_converts_exactly(pointwise, x, **options)
    assert any(isinstance(m, torch.ao.nn.intrinsic.ConvReLU3d) for m in pointwise.modules())
    depthwise = Conv3d3x3x3DwBnAct(4)
    randomize(depthwise)
    assert_converts_exactly(depthwise, x, **options)
    assert isinstance(depthwise.kernel.conv, nn.Conv3d)


def test_unrolled_convolution_adds_bias_once_and_counts_its_additions() -> None:
    block = Conv3d5x1x1BnAct(2, 3, bias=True, use_bn=False, activation="identity")
    randomize(block)
    assert_converts_exactly(block, torch.randn(1, 2, 6, 3, 3))
    unrolled = block.kernel.conv
    assert unrolled._conv2d_2.bias is not None
    assert all(getattr(unrolled, f"_conv2d_{k}").bias is None for k in (0, 1, 3, 4))
    assert len(unrolled._add_funcs) == 4 * 6 - 6


def test_converting_twice_is_refused() -> None:
    block = Conv3d3x1x1BnAct(4, 4)
    block.convert((1, 4, 2, 3, 3))
    with pytest.raises(ConfigError, match="already converted"):
        block.convert((1, 4, 2, 3, 3))


def test_unknown_activation_names_the_block_and_the_choices() -> None:
    with pytest.raises(ConfigError, match="Conv3dPwBnAct.*'gelu'.*hswish"):
        Conv3dPwBnAct(4, 4, activation="gelu")
    with pytest.raises(ConfigError, match="X3dBottleneckBlock"):
        X3dBottleneckBlock(4, 8, 4, act_functions=("relu", "mish", "relu"))


def test_depthwise_3x1x1_warns_about_efficiency(caplog: pytest.LogCaptureFixture) -> None:
    Conv3d3x1x1BnAct(4, 4, groups=4)
    assert "low efficiency for depthwise" in caplog.text


def test_swish_converts_to_plain_ops_with_the_same_values() -> None:
    block = build_activation("swish", "test")
    assert isinstance(block, Swish)
    assert_converts_exactly(block, torch.randn(2, 3, 4))
    assert isinstance(block.act, _NaiveSwish)
    assert set(supported_act_functions) == {"relu", "swish", "hswish", "identity"}


@pytest.mark.parametrize("is_3d", [True, False])
def test_squeeze_excitation_converts_like_reference(is_3d: bool) -> None:
    ref_module = reference("layers.accelerator.mobile_cpu.attention")
    ours = SqueezeExcitation(8, num_channels_reduced=4, is_3d=is_3d)
    ref = ref_module.SqueezeExcitation(8, num_channels_reduced=4, is_3d=is_3d)
    assert shapes(ours) == shapes(ref)
    randomize(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 8, 3, 4, 5) if is_3d else torch.randn(2, 8, 4, 5)
    got = assert_converts_exactly(ours, x)
    ref.convert(tuple(x.shape))
    assert shapes(ours) == shapes(ref)
    with torch.no_grad():
        torch.testing.assert_close(got, ref(x))
    assert any(isinstance(m, nn.Linear) for m in ours.modules())


@pytest.mark.parametrize(
    "pool, x, fixed",
    [
        (AdaptiveAvgPool3dOutSize1, torch.randn(1, 3, 4, 5, 6), nn.AvgPool3d),
        (AdaptiveAvgPool2dOutSize1, torch.randn(1, 3, 5, 6), nn.AvgPool2d),
    ],
)
def test_global_pool_converts_to_fixed_kernel(pool, x: torch.Tensor, fixed) -> None:
    block = pool()
    assert_converts_exactly(block, x)
    assert isinstance(block.pool, fixed) and tuple(block.pool.kernel_size) == tuple(x.shape[2:])
    with pytest.raises(ConfigError, match="already converted"):
        block.convert(tuple(x.shape))


def test_no_op_blocks_are_unchanged_by_convert() -> None:
    for block, x in (
        (FullyConnected(5, 3), torch.randn(2, 5)),
        (AdaptiveAvgPool3d((1, 2, 2)), torch.randn(1, 3, 4, 5, 6)),
        (AdaptiveAvgPool2d(2), torch.randn(1, 3, 5, 6)),
    ):
        assert isinstance(block, NoOpConvertBlock)
        before = block.model
        assert_converts_exactly(block, x)
        assert block.model is before


def test_efficient_block_must_implement_convert() -> None:
    class Incomplete(EfficientBlockBase):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(TypeError, match="convert"):
        Incomplete()


@pytest.mark.parametrize("spatial_stride, in_channels", [(2, 4), (1, 6), (1, 4)])
def test_x3d_bottleneck_matches_reference_before_and_after_conversion(spatial_stride: int, in_channels: int) -> None:
    ref_module = reference("models.accelerator.mobile_cpu.residual_blocks")
    kwargs = dict(
        in_channels=in_channels,
        mid_channels=8,
        out_channels=4,
        spatial_stride=spatial_stride,
        act_functions=("relu", "swish", "relu"),
    )
    ours, ref = X3dBottleneckBlock(**kwargs), ref_module.X3dBottleneckBlock(**kwargs)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert shapes(ours) == shapes(ref)
    randomize(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, in_channels, 3, 6, 6)
    got = assert_converts_exactly(ours, x)
    ref.convert(tuple(x.shape))
    assert shapes(ours) == shapes(ref)
    with torch.no_grad():
        torch.testing.assert_close(got, ref.eval()(x), atol=1e-6, rtol=1e-5)


def test_x3d_bottleneck_converts_for_odd_sizes_with_stride() -> None:
    # PyTorchVideo computes the strided size as H // 2 and cannot convert a 7x7 input; the block's size is ceil(H / 2).
    block = X3dBottleneckBlock(4, 8, 6, spatial_stride=2)
    randomize(block)
    assert assert_converts_exactly(block, torch.randn(1, 4, 2, 7, 7)).shape == (1, 6, 2, 4, 4)
