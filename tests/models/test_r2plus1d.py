"""R(2+1)D against PyTorchVideo 0.1.5 and the published zoo table."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_same_outputs, assert_same_state_dict_layout, drop_input_check, import_reference, num_params
from torch import nn

from vidray.errors import ConfigError
from vidray.layers.convolutions import Conv2plus1d
from vidray.models.r2plus1d import create_2plus1d_bottleneck_block, create_r2plus1d, r2plus1d_r50
from vidray.models.registry import model_spec


@pytest.fixture(scope="module")
def hub_pair(ptv_hub) -> tuple[nn.Module, nn.Module]:
    return r2plus1d_r50(), ptv_hub.r2plus1d_r50()


def test_r2plus1d_r50_has_pytorchvideos_layout_and_the_published_parameter_count(hub_pair):
    ours, ref = hub_pair
    assert_same_state_dict_layout(ours, ref)
    assert num_params(ours) == num_params(ref)
    assert round(num_params(ours) / 1e6, 2) == 28.11  # the published table
    assert round(num_params(ours) / 1e6, 2) == model_spec("r2plus1d_r50").params_m


def test_r2plus1d_r50_gives_pytorchvideos_outputs(hub_pair):
    ours, ref = hub_pair
    # The fixed head pool needs 193 px or more; a parameter-free 1x1x1 pool takes the same network at 4x32x32
    # (strides 4 in time, 32 in space), below what the hub model's input check allows.
    for model in (ours, ref):
        model.blocks[-1].pool = nn.AvgPool3d((1, 1, 1))
    drop_input_check(ours)
    assert_same_outputs(ours, ref, torch.randn(1, 3, 4, 32, 32))


def test_2plus1d_bottleneck_matches_pytorchvideo():
    ptv_r2plus1d = import_reference("models.r2plus1d")
    kwargs = dict(dim_in=8, dim_inner=4, dim_out=16, conv_b_stride=(2, 2, 2))
    block = create_2plus1d_bottleneck_block(**kwargs)
    assert isinstance(block.conv_b, Conv2plus1d) and isinstance(block.conv_b.norm, nn.BatchNorm3d)
    assert_same_outputs(block, ptv_r2plus1d.create_2plus1d_bottleneck_block(**kwargs), torch.randn(1, 8, 4, 8, 8))


def test_r2plus1d_r50_returns_probabilities_at_its_default_input():
    with torch.device("meta"):
        model = r2plus1d_r50().eval()
        out = model(model_spec("r2plus1d_r50").input.example(2))
    assert isinstance(model.blocks[5].activation, nn.Softmax)
    assert out.shape == (2, 400)


def test_create_r2plus1d_applies_norm_arguments_to_every_norm():
    with torch.device("meta"):
        model = create_r2plus1d(norm_eps=1e-3, norm_momentum=0.01, activation=nn.SiLU)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == 0.01 for m in norms)
    assert [m for m in model.modules() if isinstance(m, nn.SiLU)] and not any(
        isinstance(m, nn.ReLU) for m in model.modules()
    )


def test_create_r2plus1d_rejects_an_unknown_depth():
    with pytest.raises(ConfigError, match="create_r2plus1d: model_depth"):
        create_r2plus1d(model_depth=34)
