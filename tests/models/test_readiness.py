"""Deployment readiness: every zoo model exports and compiles whole; representatives run fast paths exactly.

Export (``torch.export``) and graph capture (``torch.compile(fullgraph=True)``,
no graph breaks) run on the meta device (shapes only) for one model of each
family: the variants of a family share their code and differ in widths and
depths, and tracing the large ones costs 5-25 s each on two cores. Numerics (inductor, channels_last_3d,
bf16 autocast, determinism) run for a representative of each family at a
small input it accepts.
"""

from __future__ import annotations

import pytest
import torch

from vidray.models import create_model, model_spec

ONE_PER_FAMILY = [
    "c2d_r50", "slow_r50_detection", "slowfast_r50", "slowfast_r50_detection", "csn_r101", "r2plus1d_r50", "x3d_xs",
    "efficient_x3d_xs", "mvit_base_16", "mvit_base_16x4", "movinet_a0", "movinet_a0_stream",
]  # fmt: skip

# (zoo name, a small input it accepts as (C, T, H, W) per pathway)
REPRESENTATIVES = {
    "x3d_xs": [(3, 4, 160, 160)],
    "efficient_x3d_xs": [(3, 4, 64, 64)],
    "movinet_a0": [(3, 8, 64, 64)],
    "movinet_a0_stream": [(3, 8, 64, 64)],
    "mvit_base_16": [(3, 1, 224, 224)],
    "slow_r50": [(3, 8, 193, 193)],
    "r2plus1d_r50": [(3, 13, 193, 193)],
}


def logits(output: object) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output  # stream models return (logits, state)


def real_model_and_input(name: str) -> tuple[torch.nn.Module, torch.Tensor | list[torch.Tensor]]:
    torch.manual_seed(0)
    model = create_model(name).eval()
    tensors = [torch.randn(2, *shape) for shape in REPRESENTATIVES[name]]
    return model, tensors[0] if len(tensors) == 1 else tensors


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_each_family_exports_with_torch_export(name):
    spec = model_spec(name)
    with torch.device("meta"):
        model = create_model(name).eval()
        args = spec.example_args(2)
        exported = torch.export.export(model, args)
        output = logits(exported.module()(*args))
    assert output.shape == (2, spec.num_classes)


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_each_family_compiles_without_graph_breaks(name):
    spec = model_spec(name)
    torch._dynamo.reset()
    with torch.device("meta"):
        model = create_model(name).eval()
        args = spec.example_args(2)
        output = logits(torch.compile(model, backend="eager", fullgraph=True)(*args))
    assert output.shape == (2, spec.num_classes)


def test_inductor_compiled_model_gives_the_eager_logits():
    model, clip = real_model_and_input("x3d_xs")
    torch._dynamo.reset()
    with torch.no_grad():
        expected = model(clip)
        got = torch.compile(model)(clip)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(set(REPRESENTATIVES) - {"mvit_base_16"}))  # an image model: 2D patches
def test_channels_last_3d_gives_the_same_logits(name):
    model, clip = real_model_and_input(name)
    with torch.no_grad():
        expected = logits(model(clip))
        model = model.to(memory_format=torch.channels_last_3d)
        clip = clip.contiguous(memory_format=torch.channels_last_3d)
        got = logits(model(clip))
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("name", sorted(REPRESENTATIVES))
def test_bf16_autocast_runs_and_agrees_with_float32(name):
    model, clip = real_model_and_input(name)
    with torch.no_grad():
        expected = logits(model(clip))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = logits(model(clip))
    assert got.dtype in (torch.bfloat16, torch.float32)
    similarity = torch.nn.functional.cosine_similarity(got.float(), expected, dim=1)
    assert similarity.min() > 0.98, similarity


@pytest.mark.parametrize("name", sorted(REPRESENTATIVES))
def test_eval_mode_is_deterministic(name):
    model, clip = real_model_and_input(name)
    with torch.no_grad():
        first, second = logits(model(clip)), logits(model(clip))
    assert torch.equal(first, second)
