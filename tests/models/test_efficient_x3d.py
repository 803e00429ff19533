"""Efficient (mobile-CPU) X3D: PyTorchVideo's layout and outputs, before and after conversion to the deployable form."""

from __future__ import annotations

from copy import deepcopy

import pytest
import torch
from conftest import assert_same_outputs, assert_same_state_dict_layout, import_reference, randomize_norms
from torch import nn

from vidray.accelerator import EfficientBlockBase
from vidray.accelerator.mobile_cpu import HardSwish
from vidray.errors import ConfigError
from vidray.models.efficient_x3d import EfficientX3d, create_x3d, efficient_x3d_s, efficient_x3d_xs
from vidray.models.registry import model_spec

HUB = {"efficient_x3d_xs": efficient_x3d_xs, "efficient_x3d_s": efficient_x3d_s}


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def convert_to_deployable(model: nn.Module, x: torch.Tensor, **options: bool) -> nn.Module:
    """A deployable copy of ``model`` for inputs shaped like ``x``: each efficient block converted for its input size."""
    sizes: dict[str, tuple[int, ...]] = {}
    handles = [
        module.register_forward_hook(lambda m, args, out, name=name: sizes.__setitem__(name, tuple(args[0].shape)))
        for name, module in model.named_modules()
    ]
    model.eval()
    model(x)
    for handle in handles:
        handle.remove()
    converted = deepcopy(model).eval()

    def visit(module: nn.Module, name: str) -> None:
        if isinstance(module, EfficientBlockBase):
            module.convert(sizes[name], **options)
        else:
            for child_name, child in module.named_children():
                visit(child, f"{name}.{child_name}" if name else child_name)

    visit(converted, "")
    return converted


@pytest.mark.parametrize("name", sorted(HUB))
def test_parameter_count_matches_reference_and_published_table(name: str, ptv_hub) -> None:
    ours, ref = HUB[name](), getattr(ptv_hub, name)()
    assert param_count(ours) == param_count(ref)
    assert round(param_count(ours) / 1e6, 1) == model_spec(name).params_m == 3.8


@pytest.mark.parametrize("expansion", ["XS", "L"])
def test_state_dict_layout_matches_reference(expansion: str) -> None:
    reference = import_reference("models.accelerator.mobile_cpu.efficient_x3d")
    ours, ref = create_x3d(expansion=expansion), reference.create_x3d(expansion=expansion)
    assert_same_state_dict_layout(ours, ref)
    assert list(ours.state_dict()) == list(ref.state_dict())


def test_xs_outputs_match_reference(ptv_hub) -> None:
    assert_same_outputs(efficient_x3d_xs(), ptv_hub.efficient_x3d_xs(), torch.randn(1, 3, 4, 160, 160))


def test_s_outputs_match_reference(ptv_hub) -> None:
    # The head pools adaptively, so a smaller crop than the published 160² exercises the same layers.
    assert_same_outputs(efficient_x3d_s(), ptv_hub.efficient_x3d_s(), torch.randn(1, 3, 13, 64, 64))


def test_deployable_form_matches_original_and_reference(ptv_hub) -> None:
    reference_conversion = import_reference("accelerator.deployment.mobile_cpu.utils.model_conversion")
    ref = ptv_hub.efficient_x3d_xs()
    randomize_norms(ref)
    ours = efficient_x3d_xs()
    ours.load_state_dict(ref.state_dict(), strict=True)
    # Any size converts; tests/accelerator checks the unrolled convolutions for each frame count.
    x = torch.randn(1, 3, 4, 32, 32)
    deployable = convert_to_deployable(ours, x)
    ref_deployable = reference_conversion.convert_to_deployable_form(ref, x)
    assert_same_state_dict_layout(deployable, ref_deployable)
    assert not any(isinstance(m, (nn.Conv3d, nn.BatchNorm3d)) for m in deployable.modules())
    with torch.no_grad():
        original = ours.eval()(x)
        got = deployable(x)
        torch.testing.assert_close(got, original, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(got, ref_deployable(x), atol=1e-6, rtol=1e-5)


def test_head_activation_is_applied_in_eval_only() -> None:
    model = create_x3d(head_act="hswish", num_classes=5, dropout=0.0)
    assert isinstance(model.act, HardSwish) and not hasattr(model, "dropout")
    x = torch.randn(2, 3, 1, 32, 32)
    model.eval()
    with torch.no_grad():
        scores = model(x)
        model.training = True  # only the head's branch changes: norms keep their running statistics
        logits = model(x)
    assert logits.shape == (2, 5)  # the head pools to 1x1x1 before the projection
    torch.testing.assert_close(scores, nn.functional.hardswish(logits))


def test_headless_model_returns_last_stage_features() -> None:
    backbone = create_x3d(enable_head=False).eval()
    assert not hasattr(backbone, "head")
    with torch.no_grad():
        assert backbone(torch.randn(1, 3, 2, 32, 32)).shape == (1, 192, 2, 1, 1)


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="expansion.*'XL'"):
        EfficientX3d(expansion="XL")
    with pytest.raises(ConfigError, match="head_act.*'softmax'"):
        create_x3d(head_act="softmax")


def test_hub_entries_take_num_classes_and_carry_published_figures() -> None:
    model = efficient_x3d_s(num_classes=10)
    assert model.projection.model.out_features == 10
    spec = model_spec("efficient_x3d_s")
    assert spec.num_classes_arg == "num_classes" and spec.classifier == "projection.model"
    assert (spec.top1, spec.top5, spec.input.default_shapes) == (73.0, 90.6, [(3, 13, 160, 160)])
    assert model_spec("efficient_x3d_xs").checkpoint_file == "efficient_x3d_xs_original_form.pyth"
    assert dict(efficient_x3d_xs().state_dict()).keys() >= {f"{spec.classifier}.weight", f"{spec.classifier}.bias"}
