"""Fixtures comparing vidray's models with the reference, PyTorchVideo 0.1.5 (the test extra installs it)."""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType

import pytest
import torch
from torch import nn

from vidray.models.registry import InputCheck


def import_reference(module: str) -> ModuleType:
    """A ``pytorchvideo`` module; skips the test where PyTorchVideo is not installed."""
    pytest.importorskip("pytorchvideo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(f"pytorchvideo.{module}")


@pytest.fixture(scope="session")
def ptv_hub() -> ModuleType:
    """``pytorchvideo.models.hub``: the reference's zoo entry functions."""
    return import_reference("models.hub")


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def drop_input_check(model: nn.Module) -> None:
    """Removes a zoo model's input check, to run it on inputs smaller than its published size."""
    for key, hook in list(model._forward_pre_hooks.items()):
        if isinstance(hook, InputCheck):
            del model._forward_pre_hooks[key]


def state_dict_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def assert_same_state_dict_layout(ours: nn.Module, reference: nn.Module) -> None:
    """Same keys, in any order, with the same shapes: the reference's checkpoints load with strict=True."""
    got, expected = state_dict_shapes(ours), state_dict_shapes(reference)
    missing = sorted(expected.keys() - got.keys())
    unexpected = sorted(got.keys() - expected.keys())
    misshaped = {k: (got[k], expected[k]) for k in got.keys() & expected.keys() if got[k] != expected[k]}
    assert not (missing or unexpected or misshaped), (
        f"missing {missing[:10]} unexpected {unexpected[:10]} mis-shaped {dict(list(misshaped.items())[:10])}"
    )


@torch.no_grad()
def randomize_norms(model: nn.Module, seed: int = 0) -> None:
    """Gives every norm layer random affine parameters and statistics.

    Fresh models have zero-initialised final norms in residual blocks and
    identity statistics, which would hide a mis-wired branch from an output comparison.
    """
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)):
            for name, low, high in (("weight", 0.5, 1.5), ("running_var", 0.5, 1.5)):
                tensor = getattr(module, name, None)
                if tensor is not None:
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) * (high - low) + low)
            for name in ("bias", "running_mean"):
                tensor = getattr(module, name, None)
                if tensor is not None:
                    tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)


def assert_same_outputs(ours: nn.Module, reference: nn.Module, inputs: object, atol: float = 1e-5) -> None:
    """Loads the reference's weights (norms randomised) into ``ours`` (strict) and compares eval outputs."""
    randomize_norms(reference)
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval()
    reference.eval()
    with torch.no_grad():
        expected = reference(inputs)
        got = ours(inputs)
    torch.testing.assert_close(got, expected, atol=atol, rtol=1e-4)
