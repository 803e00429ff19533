"""MViT: the zoo entries and the builder against PyTorchVideo 0.1.5 and its published figures."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from conftest import assert_same_outputs, assert_same_state_dict_layout, import_reference, randomize_norms
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.layers.attention import MultiScaleBlock
from vidray.models.head import create_vit_basic_head
from vidray.models.introspection import count_parameters
from vidray.models.registry import model_spec
from vidray.models.vision_transformers import (
    MultiscaleVisionTransformers,
    create_multiscale_vision_transformers,
    mvit_base_16,
    mvit_base_16x4,
    mvit_base_32x3,
    mvit_image_base_16_config,
)

VIDEO_ENTRIES = {"mvit_base_16x4": mvit_base_16x4, "mvit_base_32x3": mvit_base_32x3}

# A small MViT-B: the hub's pooling schedule on a 4 x 64 x 64 clip with 4 narrower blocks.
SMALL_VIDEO = dict(
    spatial_size=64,
    temporal_size=4,
    depth=4,
    patch_embed_dim=32,
    embed_dim_mul=[[1, 2.0], [3, 2.0]],
    atten_head_mul=[[1, 2.0], [3, 2.0]],
    pool_q_stride_size=[[1, 1, 2, 2], [3, 1, 2, 2]],
    pool_kv_stride_adaptive=[1, 4, 4],
    pool_kvq_kernel=[3, 3, 3],
    head_num_classes=10,
)


@pytest.fixture(scope="module")
def ptv_mvit() -> ModuleType:
    return import_reference("models.vision_transformers")


@pytest.fixture(scope="module")
def ours_16x4() -> nn.Module:
    return mvit_base_16x4()


@pytest.fixture(scope="module")
def image_models(ptv_hub: ModuleType) -> tuple[nn.Module, nn.Module]:
    """vidray's mvit_base_16 and PyTorchVideo's with the ImageNet head of its checkpoint."""
    return mvit_base_16(), ptv_hub.mvit_base_16(head_num_classes=1000)


@pytest.mark.parametrize("name", sorted(VIDEO_ENTRIES))
def test_video_entry_matches_reference_and_published_size(ptv_hub: ModuleType, ours_16x4: nn.Module, name: str) -> None:
    ours = ours_16x4 if name == "mvit_base_16x4" else VIDEO_ENTRIES[name]()
    ref = getattr(ptv_hub, name)()
    assert count_parameters(ours) == count_parameters(ref)
    assert round(count_parameters(ours) / 1e6, 2) == model_spec(name).params_m
    assert_same_state_dict_layout(ours, ref)
    assert list(ours.state_dict()) == list(ref.state_dict())


def test_published_video_figures() -> None:
    # PyTorchVideo's model-zoo table (Kinetics-400, 1 x 5 views).
    figures = {name: (model_spec(name).gflops, model_spec(name).top1, model_spec(name).top5) for name in VIDEO_ENTRIES}
    assert figures == {"mvit_base_16x4": (70.80, 78.85, 93.85), "mvit_base_32x3": (170.37, 80.30, 94.69)}
    assert model_spec("mvit_base_16x4").input.default_shapes == [(3, 16, 224, 224)]
    assert model_spec("mvit_base_32x3").input.default_shapes == [(3, 32, 224, 224)]
    assert all(model_spec(name).input.pathways[0].exact for name in (*VIDEO_ENTRIES, "mvit_base_16"))


def test_image_entry_matches_reference_with_imagenet_head(image_models: tuple[nn.Module, nn.Module]) -> None:
    # PyTorchVideo's hub entry keeps the builder's 400-class default, which its
    # ImageNet checkpoint does not fit; vidray's builds the checkpoint's 1000 classes.
    ours, ref = image_models
    spec = model_spec("mvit_base_16")
    assert (spec.num_classes, spec.dataset, ours.head.proj.out_features) == (1000, "ImageNet-1k", 1000)
    assert count_parameters(ours) == count_parameters(ref)
    assert round(count_parameters(ours) / 1e6, 1) == spec.params_m  # the MViT paper prints 37.0M
    assert_same_state_dict_layout(ours, ref)


def test_image_entry_outputs_match_reference(image_models: tuple[nn.Module, nn.Module]) -> None:
    ours, ref = image_models
    randomize_norms(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.eval()
    ref.eval()
    image = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        got = ours(image[:, :, None])  # the zoo's layout: a one-frame clip
        expected = ref(image)
    assert got.shape == (1, 1000)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_image_entry_loads_a_reference_imagenet_checkpoint(
    image_models: tuple[nn.Module, nn.Module], tmp_path: Path
) -> None:
    _, ref = image_models
    path = tmp_path / "MVIT_B_16.pyth"
    torch.save({"model_state": ref.state_dict()}, path)
    loaded = mvit_base_16(pretrained=str(path)).state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in ref.state_dict().items())


def test_image_model_built_directly_takes_images_like_the_reference() -> None:
    image_patches = {key: mvit_image_base_16_config[key] for key in mvit_image_base_16_config if "patch" in key}
    model = create_multiscale_vision_transformers(
        **{**SMALL_VIDEO, **image_patches, "temporal_size": 1, "pool_kvq_kernel": [1, 3, 3]}
    )
    model.eval()
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(image), model(image[:, :, None]))
    with pytest.raises(LayoutError, match="one-frame clips"):
        model(torch.randn(1, 3, 2, 64, 64))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"sep_pos_embed": False, "cls_embed_on": False},
        {"pooling_mode": "max", "pool_first": True, "enable_patch_embed_norm": True},
        {"pool_kv_stride_adaptive": None, "pool_kv_stride_size": [[0, 1, 4, 4], [2, 1, 2, 2]], "pool_kvq_kernel": None},
    ],
    ids=["hub-schedule", "no-cls-joint-pos", "max-pool-first", "explicit-kv-strides"],
)
def test_builder_outputs_match_reference(ptv_mvit: ModuleType, overrides: dict[str, Any]) -> None:
    config = {**SMALL_VIDEO, **overrides}
    torch.manual_seed(0)
    ours = create_multiscale_vision_transformers(**config)
    ref = ptv_mvit.create_multiscale_vision_transformers(**config)
    assert_same_state_dict_layout(ours, ref)
    clip = torch.randn(2, 3, 4, 64, 64, generator=torch.Generator().manual_seed(1))
    assert_same_outputs(ours, ref, clip, atol=1e-4)


def test_builder_widths_follow_the_schedule() -> None:
    model = create_multiscale_vision_transformers(**SMALL_VIDEO)
    widths = [(block.dim, block.dim_out, block.attn.num_heads) for block in model.blocks]
    assert widths == [(32, 64, 1), (64, 64, 2), (64, 128, 2), (128, 128, 4)]
    assert model.cls_positional_encoding.patch_embed_shape == (2, 16, 16)


def test_hub_model_default_input_output_shape(ours_16x4: nn.Module) -> None:
    ours_16x4.eval()
    with torch.no_grad():
        assert ours_16x4(ours_16x4.spec.input.example()).shape == (1, 400)


@pytest.mark.parametrize("shape", [(1, 3, 8, 224, 224), (1, 3, 16, 160, 160), (1, 3, 16, 224, 224, 1)])
def test_hub_entry_rejects_other_input_sizes(ours_16x4: nn.Module, shape: tuple[int, ...]) -> None:
    with pytest.raises(LayoutError, match=r"mvit_base_16x4 expects video \[B, 3, 16, 224, 224\] exactly"):
        ours_16x4(torch.zeros(shape))


def test_builder_model_names_the_patch_grid_on_other_input_sizes() -> None:
    model = create_multiscale_vision_transformers(**SMALL_VIDEO)
    with pytest.raises(LayoutError, match="2x16x16 patch grid"):
        model(torch.zeros(1, 3, 8, 64, 64))


class _ScaledGELU(nn.GELU):
    pass


def test_builder_uses_injected_norm_activation_and_head() -> None:
    norm = partial(nn.LayerNorm, eps=1e-3)
    heads_built: list[dict[str, Any]] = []

    def head(**kwargs: Any) -> nn.Module:
        heads_built.append(kwargs)
        return create_vit_basic_head(**kwargs)

    model = create_multiscale_vision_transformers(
        **SMALL_VIDEO, norm=norm, activation=_ScaledGELU, head=head, head_activation=nn.Softmax, head_dropout_rate=0.0
    )
    blocks = list(model.blocks)
    assert all(isinstance(b, MultiScaleBlock) and b.norm1.eps == 1e-3 for b in blocks)
    assert all(isinstance(b.mlp.act, _ScaledGELU) for b in blocks)
    assert model.norm_embed.eps == 1e-3
    assert heads_built == [
        dict(in_features=128, out_features=10, seq_pool_type="cls", dropout_rate=0.0, activation=nn.Softmax)
    ]
    model.eval()
    with torch.no_grad():
        probabilities = model(torch.randn(1, 3, 4, 64, 64))
    torch.testing.assert_close(probabilities.sum(1), torch.ones(1))


def test_builder_without_head_returns_tokens() -> None:
    model = create_multiscale_vision_transformers(**SMALL_VIDEO, head=None).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 4, 64, 64))
    assert out.shape == (1, 1 + 2 * 4 * 4, 128)  # cls token + the pooled 2 x 4 x 4 grid


def test_hub_entry_treats_none_as_the_hub_default() -> None:
    # PyTorchVideo's hub_model_builder: None falls back to the entry's configuration.
    model = mvit_base_16x4(temporal_size=None, head_num_classes=7)
    assert model.cls_positional_encoding.patch_embed_shape == (8, 56, 56)
    assert model.head.proj.out_features == 7


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"use_2d_patch": True}, "use_2d_patch needs temporal_size=1"),
        ({"pool_kv_stride_size": [[0, 1, 2, 2]]}, "not both"),
        ({"norm": "batchnorm"}, "norm must be 'layernorm' or a callable"),
        ({"depth": 0}, "depth must be >= 1"),
        ({"pool_q_stride_size": [[4, 1, 2, 2]]}, r"pool_q_stride_size names layer 4, not in \[0, 4\)"),
        ({"spatial_size": 2}, "empty patch grid"),
        ({"pooling_mode": "mean"}, "pool_mode"),
    ],
)
def test_builder_rejects_bad_configurations(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_multiscale_vision_transformers(**{**SMALL_VIDEO, **overrides})


def test_model_requires_a_patch_grid() -> None:
    with pytest.raises(ConfigError, match="patch_embed_shape"):
        MultiscaleVisionTransformers(
            patch_embed=None,
            cls_positional_encoding=nn.Identity(),
            pos_drop=None,
            norm_patch_embed=None,
            blocks=nn.ModuleList(),
            norm_embed=None,
            head=None,
        )
