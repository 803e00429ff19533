"""A classification model as a feature encoder, and back: pretrained encoders into classifiers.

PyTorchVideo's models end in a head whose linear ``proj`` is the classifier
(X3D, ResNet, SlowFast, CSN, R(2+1)D, MViT). Self-supervised pretraining
replaces it with the identity (:func:`feature_encoder`), so the encoder's
state_dict is the model's minus ``proj``; evaluation loads it into the same
architecture with a fresh classifier (:func:`load_encoder_state`), frozen for
a linear probe (:class:`LinearProbe`) or not for fine-tuning.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import torch
from torch import nn

from vidray.errors import CheckpointError, LayoutError


def classifier_head(model: nn.Module) -> tuple[str, nn.Module]:
    """The name and module of ``model``'s last head with a linear ``proj``."""
    heads = [
        (name, m) for name, m in model.named_modules()
        if isinstance(getattr(m, "proj", None), nn.Linear) and hasattr(m, "activation")
    ]
    if not heads:
        raise LayoutError(
            f"{type(model).__name__} has no classification head with a linear 'proj' "
            "(PyTorchVideo's head layout); give a backbone that returns [B, D] features"
        )
    return heads[-1]


def feature_encoder(model: nn.Module) -> tuple[nn.Module, int]:
    """``model`` (changed in place) returning pooled features ``[B, D]`` instead of logits, and ``D``."""
    _, head = classifier_head(model)
    dim = head.proj.in_features
    head.proj = nn.Identity()
    head.activation = None
    return model, dim


def load_encoder_state(model: nn.Module, encoder_state: Mapping[str, torch.Tensor], source: str) -> None:
    """Loads a pretrained encoder into ``model``: every weight but the classifier must match."""
    name, _ = classifier_head(model)
    classifier = {f"{name}.proj.weight", f"{name}.proj.bias"} if name else {"proj.weight", "proj.bias"}
    try:
        missing, unexpected = model.load_state_dict(dict(encoder_state), strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise CheckpointError(f"{source}: the encoder does not fit {type(model).__name__}: {exc}") from None
    missing = sorted(set(missing) - classifier)
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: the encoder does not fit {type(model).__name__}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {sorted(unexpected)[:5]}"
        )


class FeatureNorm(nn.Module):
    """Standardises the classifier's input features (a batch norm without scale or shift, over the
    last dimension): a linear probe then trains at one learning rate whatever the encoder's feature
    scale, as in MoCo v3's and MAE's probes. It folds into the classifier afterwards."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(dim, affine=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.norm(features.reshape(-1, features.shape[-1])).reshape(features.shape)


class LinearProbe(nn.Module):
    """``model`` with everything but its classifier frozen: no gradients, batch norms in eval mode
    (the head's too), and, with ``feature_norm``, the classifier's input standardised by a
    :class:`FeatureNorm`.

    :meth:`classifier` returns the trained model in its own architecture, the feature
    normalisation folded into the classifier's weights (same outputs in eval mode).
    """

    def __init__(self, model: nn.Module, feature_norm: bool = True) -> None:
        super().__init__()
        self.model = model
        self.head_name, self.head = classifier_head(model)
        for parameter in model.parameters():
            parameter.requires_grad = False
        proj = self.head.proj
        for parameter in proj.parameters():
            parameter.requires_grad = True
        self.head.proj = nn.Sequential(FeatureNorm(proj.in_features) if feature_norm else nn.Identity(), proj)

    def train(self, mode: bool = True) -> "LinearProbe":
        self.training = mode
        self.model.eval()  # frozen statistics, the head's included
        self.head.proj.train(mode)  # the feature statistics are learned
        if isinstance(getattr(self.head, "dropout", None), nn.Module):
            self.head.dropout.train(mode)  # dropout before the classifier still applies
        return self

    def forward(self, *args: Any) -> torch.Tensor:
        return self.model(*args)

    def classifier(self) -> nn.Module:
        """A copy of the model with a plain linear classifier: weights ``W / s`` and bias ``b - W m / s``
        for the learned feature mean ``m`` and deviation ``s``."""
        norm, proj = self.head.proj
        model = copy.deepcopy(self.model)
        head = model.get_submodule(self.head_name)
        head.proj = copy.deepcopy(proj)
        if isinstance(norm, FeatureNorm):
            scale = torch.rsqrt(norm.norm.running_var + norm.norm.eps)
            with torch.no_grad():
                head.proj.weight.mul_(scale)
                head.proj.bias.sub_(head.proj.weight @ norm.norm.running_mean)
        model.requires_grad_(True)
        return model
