"""X3D: PyTorchVideo's parameter counts, state_dict layout and outputs; injected builders; input limits."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_same_outputs, assert_same_state_dict_layout, import_reference, num_params
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.layers.squeeze_excitation import SqueezeExcitation
from vidray.models.registry import model_spec
from vidray.models.x3d import (
    ProjectedPool,
    create_x3d,
    create_x3d_bottleneck_block,
    create_x3d_head,
    x3d_l,
    x3d_m,
    x3d_s,
    x3d_xs,
)

HUB = {"x3d_xs": x3d_xs, "x3d_s": x3d_s, "x3d_m": x3d_m, "x3d_l": x3d_l}
PUBLISHED_PARAMS_M = {"x3d_xs": 3.79, "x3d_s": 3.79, "x3d_m": 3.79, "x3d_l": 6.15}


@pytest.mark.parametrize("name", sorted(HUB))
def test_parameter_count_and_layout_match_reference_and_published_table(name: str, ptv_hub) -> None:
    ours, ref = HUB[name](), getattr(ptv_hub, name)()
    assert num_params(ours) == num_params(ref)
    assert round(num_params(ours) / 1e6, 2) == PUBLISHED_PARAMS_M[name] == model_spec(name).params_m
    assert_same_state_dict_layout(ours, ref)
    assert f"{model_spec(name).classifier}.weight" in ours.state_dict()


def test_xs_outputs_match_reference(ptv_hub) -> None:
    assert_same_outputs(x3d_xs(), ptv_hub.x3d_xs(), torch.randn(1, 3, 4, 160, 160))


def test_s_outputs_match_reference(ptv_hub) -> None:
    assert_same_outputs(x3d_s(), ptv_hub.x3d_s(), torch.randn(1, 3, 13, 160, 160))


def test_deep_l_architecture_outputs_match_reference_on_a_small_clip() -> None:
    # X3D-L's layers (depth factor 5) with the head pool sized for a small clip: x3d_l at 16x312² is too slow here.
    reference = import_reference("models.x3d")
    kwargs = dict(input_clip_length=2, input_crop_size=32, depth_factor=5.0, model_num_class=10)
    ours, ref = create_x3d(**kwargs), reference.create_x3d(**kwargs)
    assert_same_state_dict_layout(ours, x3d_l(model_num_class=10))
    assert_same_outputs(ours, ref, torch.randn(1, 3, 2, 32, 32))


def test_hub_model_takes_the_test_crop_and_refuses_inputs_smaller_than_its_head_pool() -> None:
    spec = model_spec("x3d_s").input
    assert spec.default_shapes == [(3, 13, 182, 182)]  # published accuracy and GFLOPs are at the test crop
    assert spec.pathways[0].minimum == (3, 13, 160, 160)  # the head pool's size
    model = x3d_xs(num_classes=5).eval()
    assert model.blocks[5].proj.out_features == 5
    with pytest.raises(LayoutError, match=r"x3d_xs expects .*H >= 160"):
        model(torch.randn(1, 3, 4, 128, 128))


class CountingNorm(nn.BatchNorm3d):
    pass


class Tanh(nn.Tanh):
    pass


def test_injected_builders_are_used() -> None:
    calls = []

    def bottleneck(**kwargs) -> nn.Module:
        calls.append(kwargs["dim_in"])
        return create_x3d_bottleneck_block(**kwargs)

    model = create_x3d(
        input_clip_length=2,
        input_crop_size=32,
        depth_factor=0.2,
        norm=CountingNorm,
        activation=Tanh,
        inner_act=nn.Hardswish,
        bottleneck=bottleneck,
        head_activation=None,
        head_pool_act=nn.SiLU,
        model_num_class=3,
    ).eval()
    assert len(calls) == 4  # one block per stage
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, CountingNorm) for m in norms)
    assert any(isinstance(m, Tanh) for m in model.blocks[0].modules())
    block = model.blocks[1].res_blocks[0]
    assert isinstance(block.activation, Tanh) and isinstance(block.branch2.act_b, nn.Hardswish)
    assert isinstance(block.branch2.norm_b[1], SqueezeExcitation)
    head = model.blocks[-1]
    assert head.activation is None and isinstance(head.pool.pre_act, nn.SiLU)
    with torch.no_grad():
        assert model(torch.randn(2, 3, 2, 32, 32)).shape == (2, 3)
        assert model(torch.randn(1, 3, 3, 64, 64)).shape == (1, 3)  # larger clips: the head runs fully convolutionally


def test_model_without_norms_builds_and_runs() -> None:
    model = create_x3d(input_clip_length=1, input_crop_size=32, depth_factor=0.2, norm=None).eval()
    assert not any(isinstance(m, nn.BatchNorm3d) for m in model.modules())
    with torch.no_grad():
        assert model(torch.randn(1, 3, 1, 32, 32)).shape == (1, 400)


def test_head_with_adaptive_pool_and_sigmoid() -> None:
    head = create_x3d_head(
        dim_in=8, dim_inner=16, dim_out=32, num_classes=4, pool_kernel_size=None, activation=nn.Sigmoid, bn_lin5_on=True
    ).eval()
    assert isinstance(head.pool.pool, nn.AdaptiveAvgPool3d) and head.pool.post_norm is not None
    with torch.no_grad():
        scores = head(torch.randn(2, 8, 3, 5, 5))
    assert scores.shape == (2, 4) and bool(((scores > 0) & (scores < 1)).all())


def test_bad_configurations_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="input_crop_size=16 .* spatial stride 32"):
        create_x3d(input_crop_size=16)
    with pytest.raises(ConfigError, match="input_clip_length=1 .* temporal stride 2"):
        create_x3d(input_clip_length=1, stem_conv_stride=(2, 2, 2))
    with pytest.raises(ConfigError, match="ProjectedPool: .* missing pool, post_conv"):
        ProjectedPool(pre_conv=nn.Identity())
