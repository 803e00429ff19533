"""SlowFast against PyTorchVideo 0.1.5: parameter counts, layouts, outputs, injected builders, zoo entries."""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import assert_same_outputs, assert_same_state_dict_layout, import_reference, num_params
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.models import slowfast
from vidray.models.head import create_res_basic_head, create_res_roi_pooling_head
from vidray.models.registry import model_spec
from vidray.models.slowfast import (
    FastToSlowFusionBuilder,
    FuseFastToSlow,
    PoolConcatPathway,
    create_slowfast,
    create_slowfast_with_roi_head,
)

# Params (M) of the model-zoo tables (Kinetics-400; AVA v2.2 for the detector).
PUBLISHED_PARAMS = {
    "slowfast_r50": 34.57,
    "slowfast_r101": 62.83,
    "slowfast_16x8_r101_50_50": 53.77,
    "slowfast_r50_detection": 33.82,
}
# Small clips for output comparisons: 64 x 64 leaves a 2 x 2 map at stride 32.
SMALL_POOLS = ((2, 2, 2), (8, 2, 2))


class PathwayCopy(nn.Module):
    """Calls ``model`` on a copy of the pathway list: PyTorchVideo's first stage overwrites the caller's list."""

    def __init__(self, model: nn.Module, *extra_inputs: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.extra_inputs = extra_inputs

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return self.model(list(x), *self.extra_inputs)


@functools.cache
def hub_pair(name: str) -> tuple[nn.Module, nn.Module]:
    """vidray's and PyTorchVideo's hub model ``name`` on the meta device (shapes only), built once."""
    hub = import_reference("models.hub")
    with torch.device("meta"):
        return getattr(slowfast, name)(), getattr(hub, name)()


def clips(slow_frames: int, size: int, alpha: int = 4) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(1, 3, t, size, size, generator=generator) for t in (slow_frames, slow_frames * alpha)]


def millions(count: int) -> float:
    """As the tables print parameter counts: millions, two decimals."""
    return round(count / 1e6, 2)


@pytest.mark.parametrize("name", PUBLISHED_PARAMS)
def test_hub_parameter_count_equals_the_reference(name):
    ours, reference = hub_pair(name)
    assert num_params(ours) == num_params(reference)


@pytest.mark.parametrize("name", ["slowfast_r50", "slowfast_r101", "slowfast_16x8_r101_50_50"])
def test_hub_parameter_count_matches_the_kinetics_table(name):
    ours, _ = hub_pair(name)
    assert millions(num_params(ours)) == PUBLISHED_PARAMS[name] == model_spec(name).params_m


def test_detector_parameter_count_is_within_the_ava_tables_last_digit():
    # The AVA table prints 33.82 for the 33,828,888 parameters its checkpoint loads into (Slow's row is off alike).
    ours, _ = hub_pair("slowfast_r50_detection")
    assert num_params(ours) == 33_828_888
    assert millions(num_params(ours)) == pytest.approx(PUBLISHED_PARAMS["slowfast_r50_detection"], abs=0.011)


@pytest.mark.parametrize("name", PUBLISHED_PARAMS)
def test_hub_state_dict_layout_equals_the_reference(name):
    assert_same_state_dict_layout(*hub_pair(name))


@pytest.mark.parametrize(
    "config",
    [
        dict(model_depth=50, slowfast_fusion_conv_kernel_size=(7, 1, 1), head_pool_kernel_sizes=SMALL_POOLS),
        dict(  # slowfast_16x8_r101_50_50's per-block conv_a kernels, at depth 50; adaptive head pooling
            model_depth=50,
            slowfast_fusion_conv_kernel_size=(5, 1, 1),
            stage_conv_a_kernel_sizes=(
                ((1, 1, 1), (1, 1, 1), ((3, 1, 1),) * 3 + ((1, 1, 1),) * 3, (3, 1, 1)),
                ((3, 1, 1), (3, 1, 1), ((3, 1, 1),) * 3 + ((1, 1, 1),) * 3, (3, 1, 1)),
            ),
            head_pool=nn.AdaptiveAvgPool3d,
            model_num_class=7,
        ),
    ],
    ids=["slowfast_r50", "per_block_kernels"],
)
def test_outputs_equal_the_reference_with_its_weights(config):
    reference = import_reference("models.slowfast").create_slowfast(**config)
    ours = create_slowfast(**config)
    assert_same_outputs(PathwayCopy(ours), PathwayCopy(reference), clips(2, 64))


def test_detector_outputs_equal_the_reference_for_boxes(ptv_hub):
    ours, reference = slowfast.slowfast_r50_detection(), ptv_hub.slowfast_r50_detection()
    boxes = torch.tensor([[0.0, 2.0, 3.0, 20.0, 30.0], [0.0, 10.0, 0.0, 31.0, 15.0]])
    inputs = clips(8, 32)
    assert_same_outputs(PathwayCopy(ours, boxes), PathwayCopy(reference, boxes), inputs)
    with torch.no_grad():
        assert ours(list(inputs), boxes).shape == (2, 80)


def test_hub_model_takes_its_default_input():
    model = hub_pair("slowfast_r50")[0].eval()
    with torch.device("meta"):
        inputs = model.spec.input.example()
    assert [tuple(x.shape) for x in inputs] == [(1, 3, 8, 256, 256), (1, 3, 32, 256, 256)]
    with torch.no_grad():
        assert model(inputs).shape == (1, 400)


def test_the_callers_pathway_list_is_left_as_it_was():
    model = create_slowfast(model_depth=18, head_pool_kernel_sizes=SMALL_POOLS).eval()
    inputs = clips(2, 64)
    originals = list(inputs)
    with torch.no_grad():
        model(inputs)
    assert all(a is b for a, b in zip(inputs, originals))


class TaggedNorm(nn.BatchNorm3d):
    pass


class TaggedActivation(nn.ReLU):
    pass


def test_injected_norm_and_activation_build_every_layer():
    model = create_slowfast(
        model_depth=18, norm=TaggedNorm, activation=TaggedActivation, head_pool_kernel_sizes=SMALL_POOLS
    )
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    activations = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert norms and all(isinstance(m, TaggedNorm) for m in norms)
    assert activations and all(isinstance(m, TaggedActivation) for m in activations)
    fusion = model.blocks[0].multipathway_fusion
    assert isinstance(fusion.norm, TaggedNorm) and isinstance(fusion.activation, TaggedActivation)


def test_injected_head_receives_the_concatenated_pathway_width():
    calls = []

    def head(**kwargs):
        calls.append(kwargs)
        return create_res_basic_head(**kwargs)

    model = create_slowfast(model_depth=18, head=head, head_pool_kernel_sizes=SMALL_POOLS, model_num_class=5).eval()
    assert calls[0]["in_features"] == 2048 + 256 and calls[0]["out_features"] == 5
    with torch.no_grad():
        assert model(clips(2, 64)).shape == (1, 5)


def test_injected_fusion_builder_is_called_after_the_stem_and_each_stage():
    stages = []

    def fusion_builder(fusion_dim_in, stage_idx):
        stages.append((fusion_dim_in, stage_idx))
        return nn.Identity()

    model = create_slowfast(
        model_depth=18,
        fusion_builder=fusion_builder,
        slowfast_conv_channel_fusion_ratio=0,  # nothing fused, so the Slow stages keep their own width
        head_pool_kernel_sizes=SMALL_POOLS,
    ).eval()
    assert stages == [(64, 0), (256, 1), (512, 2), (1024, 3), (2048, 4)]
    with torch.no_grad():
        assert model(clips(2, 64)).shape == (1, 400)


def test_injected_detection_head_is_used():
    calls = []

    def head(**kwargs):
        calls.append(kwargs)
        return create_res_roi_pooling_head(**kwargs)

    model = create_slowfast_with_roi_head(model_depth=18, head=head, head_pool_kernel_sizes=((2, 1, 1), (8, 1, 1)))
    assert calls[0]["in_features"] == 2304 and calls[0]["spatial_scale"] == 1 / 16
    assert model.detection_head.activation.__class__ is nn.Sigmoid


def test_fusion_builder_returns_identity_after_the_last_fused_stage():
    builder = FastToSlowFusionBuilder(
        slowfast_channel_reduction_ratio=8,
        conv_fusion_channel_ratio=2,
        conv_kernel_size=(7, 1, 1),
        conv_stride=(4, 1, 1),
    )
    assert isinstance(builder.create_module(fusion_dim_in=2048, stage_idx=4), nn.Identity)
    fusion = builder.create_module(fusion_dim_in=64, stage_idx=0)
    assert isinstance(fusion, FuseFastToSlow)
    slow, fast = fusion([torch.randn(1, 64, 2, 4, 4), torch.randn(1, 8, 8, 4, 4)])
    assert slow.shape == (1, 64 + 16, 2, 4, 4) and fast.shape == (1, 8, 8, 4, 4)


def test_pool_concat_pathway_skips_dropped_pathways_and_can_keep_a_list():
    pool = nn.ModuleList([nn.AdaptiveAvgPool3d(1), None])
    x = [torch.ones(1, 4, 2, 3, 3), None]
    assert PoolConcatPathway(pool=pool)(x).shape == (1, 4, 1, 1, 1)
    joined = PoolConcatPathway(retain_list=True)([torch.ones(1, 4, 1, 1, 1), torch.ones(1, 2, 1, 1, 1)])
    assert isinstance(joined, list) and joined[0].shape == (1, 6, 1, 1, 1)
    with pytest.raises(LayoutError, match="3 pathways for 2 pooling modules"):
        PoolConcatPathway(pool=pool)([torch.ones(1)] * 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(model_depth=34), r"model_depth must be one of \[18, 50, 101, 152\], got 34"),
        (dict(head_pool=nn.MaxPool3d), "head_pool must be nn.AvgPool3d, nn.AdaptiveAvgPool3d or None"),
        (dict(stem_dim_outs=(64,)), r"stem_dim_outs has 1 entries, expected 2 \(one per pathway\)"),
        (dict(stage_spatial_strides=((1, 2, 2), (1, 2, 2, 2))), r"stage_spatial_strides\[0\] has 3 entries"),
        (dict(slowfast_channel_reduction_ratio=(8, 2)), "slowfast_channel_reduction_ratio has 2 entries, expected 1"),
    ],
)
def test_bad_arguments_raise_config_errors_naming_them(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        create_slowfast(**kwargs)


def test_hub_specs_describe_two_named_pathways():
    spec = model_spec("slowfast_16x8_r101_50_50")
    assert [p.name for p in spec.input.pathways] == ["slow", "fast"]
    assert spec.input.default_shapes == [(3, 16, 256, 256), (3, 64, 256, 256)]
    assert model_spec("slowfast_r50").classifier == "blocks.6.proj"
    assert model_spec("slowfast_r50_detection").classifier == "detection_head.proj"
    ours, _ = hub_pair("slowfast_r50")
    assert "blocks.6.proj.weight" in ours.state_dict()
    detector, _ = hub_pair("slowfast_r50_detection")
    assert "detection_head.proj.weight" in detector.state_dict()


def test_hub_model_refuses_too_few_frames():
    ours, _ = hub_pair("slowfast_r50")
    with pytest.raises(LayoutError, match=r"slow \[1, 3, 4, 256, 256\]: T=4 \(must be >= 8\)"):
        ours([torch.empty(1, 3, 4, 256, 256), torch.empty(1, 3, 32, 256, 256)])


def test_num_classes_resizes_the_hub_classifier():
    with torch.device("meta"):
        model = slowfast.slowfast_r50_detection(num_classes=10)
    assert model.detection_head.proj.out_features == 10
