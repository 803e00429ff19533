"""The 3-D -> 2-D rewrites are exact: every folded graph computes what the model computes."""

from __future__ import annotations

import collections

import pytest
import torch
from torch import nn

from vidray.deploy import FoldError, fold_time
from vidray.models import create_model


def folded(model: nn.Module, x: torch.Tensor) -> torch.fx.GraphModule:
    return fold_time(torch.export.export(model.eval(), (x,)).module())


def ops(module: torch.fx.GraphModule) -> collections.Counter:
    return collections.Counter(str(node.target) for node in module.graph.nodes if node.op == "call_function")


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv3d(8, 16, 1),  # pointwise: frames stacked in height
        nn.Conv3d(8, 16, 1, stride=(1, 2, 2)),  # pointwise with a spatial stride
        nn.Conv3d(8, 16, (3, 1, 1), padding=(1, 0, 0)),  # temporal: time as height
        nn.Conv3d(8, 8, (5, 1, 1), stride=(2, 1, 1), padding=(2, 0, 0), groups=8),
        nn.Conv3d(3, 12, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),  # spatial: frames as batch
        nn.Conv3d(8, 8, 3, padding=1, groups=8),  # depthwise 3x3x3: banded frames-in-channels
        nn.Conv3d(8, 8, (3, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1), groups=8, bias=False),
        nn.Conv3d(4, 8, 3, padding=1),  # dense 3x3x3 (I3D): taps stacked into channels
        nn.Conv3d(3, 8, (5, 7, 7), stride=(1, 2, 2), padding=(2, 3, 3)),  # SlowFast's fast stem
        nn.Conv3d(4, 8, 3, stride=2, padding=(0, 1, 1), groups=2),  # grouped, strided in time, no temporal pad
    ],
)
def test_each_convolution_form_equals_the_3d_convolution(conv):
    torch.manual_seed(0)
    model = nn.Sequential(conv, nn.BatchNorm3d(conv.out_channels), nn.ReLU())
    model[1].running_mean.uniform_(-1, 1)
    model[1].running_var.uniform_(0.5, 2)
    x = torch.randn(2, conv.in_channels, 6, 10, 12)
    graph = folded(model, x)
    assert not any("3d" in op or "batch_norm" in op for op in ops(graph))  # the norm folded into the conv
    torch.testing.assert_close(graph(x), model(x), atol=1e-5, rtol=1e-5)


def test_means_and_pools_over_frames_become_2d():
    class Pools(nn.Module):
        def forward(self, x):
            se = x.mean((2, 3, 4), keepdim=True)
            frames = x.mean((3, 4))
            pooled = nn.functional.avg_pool3d(x, (x.shape[2], 2, 2), stride=(1, 2, 2))
            return x * se, frames, pooled, nn.functional.adaptive_avg_pool3d(x, 1)

    x = torch.randn(1, 4, 5, 8, 8)
    graph = folded(Pools(), x)
    assert not any("3d" in op for op in ops(graph))
    for got, expected in zip(graph(x), Pools()(x)):
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("name", ["create_x3d", "efficient_x3d_xs"])
def test_a_zoo_model_folds_without_3d_ops_and_keeps_its_outputs(name):
    torch.manual_seed(0)
    small = {"input_clip_length": 4, "input_crop_size": 64} if name == "create_x3d" else {}
    model = create_model(name, num_classes=10, **small)
    x = torch.randn(1, 3, 4, 64, 64) if small else torch.randn(1, 3, 4, 160, 160)
    graph = folded(model, x)
    assert not any("3d" in op or "batch_norm" in op for op in ops(graph))
    torch.testing.assert_close(graph(x), model(x), atol=1e-6, rtol=1e-5)


def test_max_pools_over_space_or_over_time_become_2d():
    model = nn.Sequential(nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)), nn.MaxPool3d((2, 1, 1), (2, 1, 1)))
    x = torch.randn(2, 3, 6, 9, 10)
    graph = folded(model, x)
    assert ops(graph)["aten.max_pool2d.default"] == 2 and not any("3d" in op for op in ops(graph))
    torch.testing.assert_close(graph(x), model(x))


def test_a_dilated_convolution_is_refused_naming_the_node():
    model = nn.Sequential(nn.Conv3d(4, 8, 3, padding=2, dilation=2))
    with pytest.raises(FoldError, match=r"node 'conv3d'.*dilated conv3d \(dilation \[2, 2, 2\]\)"):
        folded(model, torch.randn(1, 4, 4, 8, 8))
