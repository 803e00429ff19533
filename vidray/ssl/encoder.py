"""A classification model as a feature encoder: the classifier becomes the identity."""

from __future__ import annotations

from torch import nn

from vidray.errors import LayoutError


def feature_encoder(model: nn.Module) -> tuple[nn.Module, int]:
    """``model`` (changed in place) returning pooled features ``[B, D]`` instead of logits, and ``D``.

    The last head's linear ``proj`` (PyTorchVideo's head layout: X3D, ResNet,
    SlowFast, CSN, R(2+1)D, MViT) becomes the identity and its output
    activation is dropped; everything before it, pooling included, stays.
    The encoder's state_dict is the model's minus ``proj``, so a linear probe
    or fine-tuning loads it into the same architecture with a fresh classifier.
    """
    heads = [m for m in model.modules() if isinstance(getattr(m, "proj", None), nn.Linear) and hasattr(m, "activation")]
    if not heads:
        raise LayoutError(
            f"feature_encoder: {type(model).__name__} has no classification head with a linear 'proj' "
            "(PyTorchVideo's head layout); give a backbone that returns [B, D] features"
        )
    head = heads[-1]
    dim = head.proj.in_features
    head.proj = nn.Identity()
    head.activation = None
    return model, dim
