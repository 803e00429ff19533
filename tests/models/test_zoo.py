"""The zoo as a whole: every hub name exists, matches its published size, and takes its default input.

Shape-level checks build the models on the meta device (no weights, no
arithmetic), so the whole zoo, SlowFast R101 and MViT included, checks in seconds.
"""

from __future__ import annotations

import pytest
import torch

from vidray.errors import LayoutError, RegistryError
from vidray.models import create_model, list_models, model_spec
from vidray.models.introspection import count_gflops, count_parameters

PYTORCHVIDEO_HUB = [
    "c2d_r50", "i3d_r50", "slow_r50", "slow_r50_detection", "slowfast_r50", "slowfast_r101",
    "slowfast_16x8_r101_50_50", "slowfast_r50_detection", "csn_r101", "r2plus1d_r50", "x3d_xs", "x3d_s",
    "x3d_m", "x3d_l", "mvit_base_16x4", "mvit_base_32x3", "mvit_base_16", "efficient_x3d_xs", "efficient_x3d_s",
]  # fmt: skip
MOVINET = [f"movinet_a{i}" for i in range(6)] + [f"movinet_a{i}_stream" for i in range(3)]
ZOO = PYTORCHVIDEO_HUB + MOVINET


def meta_model(name: str, **kwargs):
    with torch.device("meta"):
        return create_model(name, **kwargs)


def meta_args(name: str, batch: int = 2) -> tuple:
    """The default input on the meta device (detectors get one box per clip too)."""
    with torch.device("meta"):
        return model_spec(name).example_args(batch)


def logits_of(model, args: tuple) -> torch.Tensor:
    output = model(*args)
    return output[0] if isinstance(output, tuple) else output  # stream models return (logits, state)


def test_every_published_hub_name_is_registered():
    assert set(ZOO) <= set(list_models())


def test_list_models_filters_with_wildcards():
    assert list_models("x3d*") == ["x3d_l", "x3d_m", "x3d_s", "x3d_xs"]
    assert list_models("movinet_a?_stream") == ["movinet_a0_stream", "movinet_a1_stream", "movinet_a2_stream"]


def test_an_unknown_model_name_suggests_close_names():
    with pytest.raises(RegistryError, match="did you mean 'x3d_s'"):
        create_model("x3d_ss")


@pytest.mark.parametrize("name", ZOO)
def test_parameter_count_matches_the_published_figure(name):
    spec = model_spec(name)
    assert spec.params_m is not None, f"{name}: no published parameter count in its spec"
    counted = count_parameters(meta_model(name)) / 1e6
    assert counted == pytest.approx(spec.params_m, abs=0.006 if spec.params_m < 10 else 0.06)


@pytest.mark.parametrize("name", ZOO)
def test_default_input_gives_one_logit_per_class(name):
    spec = model_spec(name)
    model = meta_model(name).eval()
    assert logits_of(model, meta_args(name)).shape == (2, spec.num_classes)


@pytest.mark.parametrize("name", ["x3d_s", "slowfast_r50", "mvit_base_16x4", "movinet_a0", "csn_r101"])
def test_num_classes_resizes_the_classifier(name):
    model = meta_model(name, num_classes=7).eval()
    assert logits_of(model, meta_args(name)).shape == (2, 7)


@pytest.mark.parametrize("name", ZOO)
def test_flops_are_counted_at_the_default_input(name):
    gflops = count_gflops(meta_model(name), *meta_args(name, batch=1))
    published = model_spec(name).gflops
    assert gflops > 0
    if published is not None:
        # torch counts convolutions and matmuls only; the published fvcore figures add norms and pools.
        assert 0.5 * published < gflops < 1.5 * published


def test_a_wrong_rank_names_the_expected_layout():
    model = meta_model("x3d_xs")
    with torch.device("meta"), pytest.raises(LayoutError, match=r"x3d_xs expects video \[B, 3, T, H, W\].*got \[3, 4"):
        model(torch.empty(3, 4, 160, 160))


def test_too_few_frames_or_pixels_name_the_constraint():
    spec = model_spec("x3d_s").input.pathways[0]
    model = meta_model("x3d_s")
    with torch.device("meta"), pytest.raises(LayoutError, match=rf"T=2 \(must be >= {spec.minimum[1]}\)"):
        model(torch.empty(1, 3, 2, spec.shape[2], spec.shape[3]))
    with torch.device("meta"), pytest.raises(LayoutError, match=r"C=1 \(must be 3\)"):
        model(torch.empty(1, 1, *spec.shape[1:]))


def test_a_fixed_size_model_refuses_another_size():
    model = meta_model("mvit_base_16x4")
    with torch.device("meta"), pytest.raises(LayoutError, match="exactly"):
        model(torch.empty(1, 3, 16, 160, 160))


def test_slowfast_wants_both_pathways():
    model = meta_model("slowfast_r50")
    slow, fast = meta_args("slowfast_r50")[0]
    with pytest.raises(LayoutError, match="list of 2 tensors; got Tensor"):
        model(fast)
    with pytest.raises(LayoutError, match="list of 2 tensors; got list of 1"):
        model([slow])
