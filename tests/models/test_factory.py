"""create_model with pretrained weights, torch.hub, and the `vidray models` table."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vidray.cli import main
from vidray.errors import CheckpointError
from vidray.models import create_model, load_pretrained, model_spec, save_checkpoint
from vidray.models.hub import efficient_x3d_xs

REPO = Path(__file__).resolve().parents[2]
SMALL = torch.randn(1, 3, 4, 64, 64, generator=torch.Generator().manual_seed(0))


def trained_like(name: str = "efficient_x3d_xs", **kwargs) -> torch.nn.Module:
    """A zoo model with non-initial weights, as if trained."""
    torch.manual_seed(1)
    model = create_model(name, **kwargs).eval()
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.randn_like(tensor) * 0.01)
    return model


def test_pretrained_path_reproduces_the_saved_model(tmp_path):
    source = trained_like()
    save_checkpoint(source, tmp_path / "run.pyth", epoch=5)
    loaded = create_model("efficient_x3d_xs", pretrained=tmp_path / "run.pyth").eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(SMALL), source(SMALL), rtol=0, atol=0)


def test_pretrained_from_s3_through_the_hub_function(s3_bucket):
    source = trained_like()
    save_checkpoint(source, f"{s3_bucket}/zoo/efficient_x3d_xs.pyth")
    loaded = efficient_x3d_xs(pretrained=f"{s3_bucket}/zoo/efficient_x3d_xs.pyth").eval()
    assert torch.equal(loaded.state_dict()["projection.model.weight"], source.state_dict()["projection.model.weight"])


def test_another_class_count_keeps_the_backbone_and_reinitialises_the_classifier(tmp_path):
    source = trained_like()
    save_checkpoint(source, tmp_path / "k400.pyth")
    fine_tune = create_model("efficient_x3d_xs", num_classes=10, pretrained=tmp_path / "k400.pyth")
    classifier = model_spec("efficient_x3d_xs").classifier
    for key, value in source.state_dict().items():
        if key.startswith(classifier + "."):
            assert fine_tune.state_dict()[key].shape[0] == 10
        else:
            assert torch.equal(fine_tune.state_dict()[key], value), key


def test_a_checkpoint_of_another_model_is_refused_with_the_mismatch_named(tmp_path):
    save_checkpoint(trained_like("movinet_a0"), tmp_path / "movinet.pyth")
    with pytest.raises(CheckpointError, match=r"does not fit efficient_x3d_xs: missing \(\d+\): "):
        create_model("efficient_x3d_xs", pretrained=tmp_path / "movinet.pyth")


def test_pretrained_true_without_a_published_checkpoint_says_so():
    model = create_model("efficient_x3d_xs")
    object.__setattr__(model, "spec", model_spec("efficient_x3d_xs").__class__(
        family="x", input=model.spec.input, checkpoint=None))  # fmt: skip
    with pytest.raises(CheckpointError, match="no published checkpoint"):
        load_pretrained(model, True)


def test_torch_hub_loads_zoo_entries_from_the_repository():
    model = torch.hub.load(str(REPO), "efficient_x3d_xs", source="local", num_classes=3)
    assert model(SMALL).shape == (1, 3)


def test_models_command_prints_counted_params_and_gflops(capsys):
    assert main(["models", "x3d_x*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["model", "params", "(M)"]
    assert lines[1].split()[:3] == ["x3d_xs", "3.79", "0.84"]
    assert len(lines) == 2


def test_models_command_with_no_match_is_an_error(capsys):
    assert main(["models", "resnext*"]) == 2
    assert "no zoo model matches 'resnext*'" in capsys.readouterr().err
