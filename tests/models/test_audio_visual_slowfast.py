"""Audiovisual SlowFast against PyTorchVideo 0.1.5: size, state_dict layout, outputs, injected builders."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_same_outputs, assert_same_state_dict_layout, import_reference, num_params
from torch import nn

from vidray.errors import ConfigError
from vidray.models.audio_visual_slowfast import (
    AudioToSlowFastFusionBuilder,
    FuseAudioToFastSlow,
    create_audio_visual_slowfast,
)
from vidray.models.head import create_res_basic_head

# Small inputs: 64 x 64 video leaves a 2 x 2 map; 32 audio frames reach the slow rate at every fusion.
SMALL_POOLS = ((2, 2, 2), (8, 2, 2), (4, 1, 2))


class PathwayCopy(nn.Module):
    """Calls ``model`` on a copy of the pathway list: PyTorchVideo's first stage overwrites the caller's list."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return self.model(list(x))


def small_inputs() -> list[torch.Tensor]:
    """Slow and fast clips and a ``[B, 1, T, 1, F]`` spectrogram."""
    generator = torch.Generator().manual_seed(0)
    shapes = [(1, 3, 2, 64, 64), (1, 3, 8, 64, 64), (1, 1, 32, 1, 16)]
    return [torch.randn(*shape, generator=generator) for shape in shapes]


@pytest.fixture(scope="module")
def meta_pair() -> tuple[nn.Module, nn.Module]:
    reference = import_reference("models.audio_visual_slowfast")
    with torch.device("meta"):
        return create_audio_visual_slowfast(), reference.create_audio_visual_slowfast()


def test_parameter_count_equals_the_reference(meta_pair):
    ours, reference = meta_pair
    assert num_params(ours) == num_params(reference)


def test_state_dict_layout_equals_the_reference(meta_pair):
    assert_same_state_dict_layout(*meta_pair)


def test_default_input_gives_one_logit_per_class(meta_pair):
    model = meta_pair[0].eval()
    with torch.device("meta"), torch.no_grad():
        inputs = [torch.empty(1, 3, 8, 224, 224), torch.empty(1, 3, 32, 224, 224), torch.empty(1, 1, 128, 1, 80)]
        assert model(inputs).shape == (1, 400)


def test_outputs_equal_the_reference_with_its_weights():
    reference = import_reference("models.audio_visual_slowfast").create_audio_visual_slowfast(
        model_depth=18, head_pool_kernel_sizes=SMALL_POOLS
    )
    ours = create_audio_visual_slowfast(model_depth=18, head_pool_kernel_sizes=SMALL_POOLS)
    assert_same_outputs(PathwayCopy(ours), PathwayCopy(reference), small_inputs())


def test_forward_prints_nothing(capsys):
    """PyTorchVideo's audio fusion prints a tensor size on every call."""
    model = create_audio_visual_slowfast(model_depth=18, head_pool_kernel_sizes=SMALL_POOLS).eval()
    with torch.no_grad():
        model(small_inputs())
    assert capsys.readouterr().out == ""


class TaggedNorm(nn.BatchNorm3d):
    pass


class TaggedActivation(nn.ReLU):
    pass


def test_injected_norm_activation_and_head_are_used():
    calls = []

    def head(**kwargs):
        calls.append(kwargs)
        return create_res_basic_head(**kwargs)

    model = create_audio_visual_slowfast(
        model_depth=18,
        norm=TaggedNorm,
        activation=TaggedActivation,
        head=head,
        head_pool_kernel_sizes=SMALL_POOLS,
        model_num_class=3,
    ).eval()
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    activations = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert norms and all(isinstance(m, TaggedNorm) for m in norms)
    assert activations and all(isinstance(m, TaggedActivation) for m in activations)
    assert calls[0]["in_features"] == 2048 + 256 + 1024
    with torch.no_grad():
        assert model(small_inputs()).shape == (1, 3)


def test_audio_fusion_adds_to_the_fused_slow_features():
    builder = AudioToSlowFastFusionBuilder(
        slowfast_channel_reduction_ratio=8,
        slowfast_audio_reduction_ratio=2,
        conv_fusion_channel_ratio=2,
        conv_kernel_size=(7, 1, 1),
        conv_kernel_size_a=(5, 1, 1),
        conv_stride=(4, 1, 1),
        conv_stride_a=((16, 1, 1), (16, 1, 1), (8, 1, 1), (4, 1, 1)),
    )
    assert isinstance(builder.create_module(fusion_dim_in=2048, stage_idx=4), nn.Identity)
    fusion = builder.create_module(fusion_dim_in=64, stage_idx=0).eval()
    assert isinstance(fusion, FuseAudioToFastSlow)
    slow, fast, audio = torch.randn(1, 64, 2, 4, 4), torch.randn(1, 8, 8, 4, 4), torch.randn(1, 32, 32, 1, 6)
    with torch.no_grad():
        fused, fast_out, audio_out = fusion([slow, fast, audio])
    assert fused.shape == (1, 64 + 16, 2, 4, 4)
    assert fast_out is fast and audio_out is audio


def test_fewer_than_three_pathways_is_a_config_error():
    with pytest.raises(ConfigError, match="slowfast_channel_reduction_ratio 2 .*got 3 and 1"):
        create_audio_visual_slowfast(slowfast_channel_reduction_ratio=(8,))
