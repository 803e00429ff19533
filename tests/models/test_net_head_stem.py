"""Containers, heads and stems against PyTorchVideo's (same weights, same outputs), and their injected callables."""

from __future__ import annotations

import pytest
import torch
from conftest import assert_same_state_dict_layout, import_reference, randomize_norms
from torch import nn
from torchvision.ops import RoIAlign

from vidray.errors import ConfigError, LayoutError
from vidray.models.head import (
    ResNetBasicHead,
    SequencePool,
    VisionTransformerBasicHead,
    create_res_basic_head,
    create_res_roi_pooling_head,
    create_vit_basic_head,
)
from vidray.models.net import DetectionBBoxNetwork, MultiPathWayWithFuse, Net
from vidray.models.stem import (
    PatchEmbed,
    ResNetBasicStem,
    create_acoustic_res_basic_stem,
    create_conv_patch_embed,
    create_res_basic_stem,
)


def assert_same(ours: nn.Module, ref: nn.Module, *inputs: torch.Tensor) -> None:
    """Randomises the reference's norms, loads its weights into ``ours`` (strict) and compares eval outputs."""
    assert_same_state_dict_layout(ours, ref)
    randomize_norms(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.eval()
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(*inputs), ref(*inputs))


class Scale(nn.Module):
    """A stand-in block: multiplies by a learned scalar."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


# net


def test_net_initialises_like_pytorchvideo_and_runs_its_blocks_in_order():
    ptv_net = import_reference("models.net")

    torch.manual_seed(0)
    ours = Net(blocks=nn.ModuleList([nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), Scale()]))
    torch.manual_seed(0)
    ref = ptv_net.Net(blocks=nn.ModuleList([nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), Scale()]))
    for got, expected in zip(ours.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(got, expected)
    assert_same(ours, ref, torch.randn(2, 3, 2, 4, 4))
    with pytest.raises(ConfigError, match="blocks"):
        Net(blocks=None)


def test_multipathway_with_fuse_runs_each_pathway_then_fuses():
    fusion_calls = []

    class Record(nn.Module):
        def forward(self, x):
            fusion_calls.append(list(x))
            return x

    block = MultiPathWayWithFuse(
        multipathway_blocks=nn.ModuleList([Scale(), None]), multipathway_fusion=Record(), inplace=False
    )
    x = [torch.ones(2), torch.full((3,), 5.0)]
    out = block(x)
    torch.testing.assert_close(out[0], torch.full((2,), 2.0))
    assert out[1] is None  # without inplace, a pathway without a block is not carried over
    assert len(fusion_calls) == 1 and fusion_calls[0][1] is None
    assert torch.equal(x[0], torch.ones(2))

    inplace = MultiPathWayWithFuse(multipathway_blocks=nn.ModuleList([Scale(), None]), multipathway_fusion=None)
    x = [torch.ones(2), torch.full((3,), 5.0)]
    out = inplace(x)
    assert out is x and torch.equal(out[1], torch.full((3,), 5.0))


def test_multipathway_with_fuse_rejects_a_tensor():
    block = MultiPathWayWithFuse(multipathway_blocks=nn.ModuleList([Scale()]), multipathway_fusion=None)
    with pytest.raises(LayoutError, match="list of tensors"):
        block(torch.ones(2))


def test_multipathway_with_fuse_matches_pytorchvideo():
    ptv_net = import_reference("models.net")

    def pathways():
        return nn.ModuleList([nn.Conv3d(2, 2, 1), nn.Conv3d(3, 3, 1)])

    ref = ptv_net.MultiPathWayWithFuse(multipathway_blocks=pathways(), multipathway_fusion=None)
    ours = MultiPathWayWithFuse(multipathway_blocks=pathways(), multipathway_fusion=None)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = [torch.randn(1, 2, 2, 3, 3), torch.randn(1, 3, 2, 3, 3)]
    for got, expected in zip(ours(list(x)), ref(list(x))):
        torch.testing.assert_close(got, expected)


def test_detection_bbox_network_flattens_the_head_output_per_box():
    class BoxHead(nn.Module):
        def forward(self, features, bboxes):
            return features.mean() + bboxes[:, 1:].unsqueeze(-1)

    model = DetectionBBoxNetwork(nn.Identity(), BoxHead())
    out = model(torch.zeros(1, 2, 1, 4, 4), torch.tensor([[0, 1.0, 2.0, 3.0, 4.0]]))
    assert out.shape == (1, 4)
    torch.testing.assert_close(out, torch.tensor([[1.0, 2.0, 3.0, 4.0]]))


# heads


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        (dict(pool_kernel_size=(2, 3, 3)), (2, 8, 2, 3, 3)),
        (dict(pool=nn.AdaptiveAvgPool3d, output_size=(1, 2, 2), activation=nn.Softmax), (2, 8, 2, 5, 5)),
        (dict(pool=None, output_with_global_average=False, activation=nn.Sigmoid, dropout_rate=0.0), (2, 8, 1, 2, 2)),
        (dict(pool=nn.MaxPool3d, pool_kernel_size=(1, 2, 2), pool_stride=(1, 2, 2)), (2, 8, 2, 4, 4)),
    ],
)
def test_res_basic_head_matches_pytorchvideo(kwargs, shape):
    ptv_head = import_reference("models.head")
    ours = create_res_basic_head(in_features=8, out_features=5, **kwargs)
    assert isinstance(ours, ResNetBasicHead)
    assert_same(ours, ptv_head.create_res_basic_head(in_features=8, out_features=5, **kwargs), torch.randn(shape))


def test_res_basic_head_output_shapes():
    head = create_res_basic_head(in_features=8, out_features=5, pool=None, output_with_global_average=False).eval()
    assert head(torch.randn(2, 8, 1, 3, 3)).shape == (2, 5, 1, 3, 3)
    head = create_res_basic_head(in_features=8, out_features=5, activation=nn.Softmax, pool_kernel_size=(1, 2, 2))
    probs = head.eval()(torch.randn(2, 8, 1, 2, 2))
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(2))


@pytest.mark.parametrize("seq_pool_type", ["cls", "mean", "none"])
def test_vit_basic_head_matches_pytorchvideo(seq_pool_type):
    ptv_head = import_reference("models.head")
    kwargs = dict(in_features=8, out_features=5, seq_pool_type=seq_pool_type, activation=nn.Softmax)
    x = torch.randn(2, 8) if seq_pool_type == "none" else torch.randn(2, 6, 8)
    ours = create_vit_basic_head(**kwargs)
    assert isinstance(ours, VisionTransformerBasicHead)
    assert_same(ours, ptv_head.create_vit_basic_head(**kwargs), x)


def test_sequence_pool_and_vit_head_reject_unknown_modes():
    with pytest.raises(ConfigError, match="mode"):
        SequencePool("max")
    with pytest.raises(ConfigError, match="seq_pool_type"):
        create_vit_basic_head(in_features=2, out_features=2, seq_pool_type="max")


ROI_KWARGS = dict(
    in_features=8,
    out_features=5,
    resolution=(3, 3),
    spatial_scale=0.25,
    pool_kernel_size=(2, 1, 1),
    activation=nn.Sigmoid,
    output_with_global_average=False,
)
BOXES = torch.tensor([[0, 1.0, 1.0, 20.0, 20.0], [1, 0.0, 4.0, 30.0, 31.0], [1, 8.0, 8.0, 12.0, 16.0]])


def test_res_roi_head_matches_pytorchvideo():
    ptv_head = import_reference("models.head")
    ours = create_res_roi_pooling_head(**ROI_KWARGS)
    assert isinstance(ours.roi_layer, RoIAlign) and isinstance(ours.pool_spatial, nn.MaxPool2d)
    assert_same(ours, ptv_head.create_res_roi_pooling_head(**ROI_KWARGS), torch.randn(2, 8, 2, 8, 8), BOXES)


def test_res_roi_head_gives_one_row_per_box_and_needs_one_time_step():
    head = create_res_roi_pooling_head(**{**ROI_KWARGS, "pool_spatial": None}).eval()
    assert head(torch.randn(2, 8, 2, 8, 8), BOXES).shape == (3, 5, 1, 3, 3)
    with pytest.raises(LayoutError, match="temporal size 1, got 2"):
        head(torch.randn(2, 8, 3, 8, 8), BOXES)


# stems


def test_res_basic_stem_matches_pytorchvideo():
    ptv_stem = import_reference("models.stem")
    kwargs = dict(in_channels=3, out_channels=8, conv_kernel_size=(3, 5, 5), conv_padding=(1, 2, 2))
    ours = create_res_basic_stem(**kwargs)
    assert isinstance(ours, ResNetBasicStem)
    assert_same(ours, ptv_stem.create_res_basic_stem(**kwargs), torch.randn(2, 3, 4, 16, 16))


class MyConv(nn.Conv3d):
    pass


def test_res_basic_stem_uses_the_injected_callables():
    stem = create_res_basic_stem(
        in_channels=3, out_channels=8, conv=MyConv, norm=nn.InstanceNorm3d, activation=nn.SiLU, pool=nn.AvgPool3d
    )
    assert isinstance(stem.conv, MyConv) and isinstance(stem.norm, nn.InstanceNorm3d)
    assert isinstance(stem.activation, nn.SiLU)
    assert isinstance(stem.pool, nn.AvgPool3d)
    bare = create_res_basic_stem(in_channels=3, out_channels=8, norm=None, activation=None, pool=None)
    assert bare.norm is None and bare.activation is None and bare.pool is None
    assert bare(torch.randn(1, 3, 2, 8, 8)).shape == (1, 8, 2, 4, 4)


def test_acoustic_stem_matches_pytorchvideo():
    ptv_stem = import_reference("models.stem")
    kwargs = dict(
        in_channels=1,
        out_channels=8,
        conv_kernel_size=(9, 1, 9),
        conv_stride=(1, 1, 3),
        conv_padding=(4, 0, 4),
        pool=None,
    )
    ours = create_acoustic_res_basic_stem(**kwargs)
    assert [conv.kernel_size for conv in ours.conv.convs] == [(9, 1, 1), (1, 1, 9)]
    assert_same(ours, ptv_stem.create_acoustic_res_basic_stem(**kwargs), torch.randn(2, 1, 16, 1, 30))


def test_conv_patch_embed_matches_pytorchvideo():
    ptv_stem = import_reference("models.stem")
    kwargs = dict(
        in_channels=3, out_channels=8, conv_kernel_size=(3, 7, 7), conv_stride=(2, 4, 4), conv_padding=(1, 3, 3)
    )
    ours = create_conv_patch_embed(**kwargs)
    assert isinstance(ours, PatchEmbed)
    x = torch.randn(2, 3, 4, 16, 16)
    assert_same(ours, ptv_stem.create_conv_patch_embed(**kwargs), x)
    assert ours(x).shape == (2, 2 * 4 * 4, 8)
