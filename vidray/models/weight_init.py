"""Weight initialisation of the model zoo, as PyTorchVideo does it (without fvcore).

Builders call :func:`init_net_weights` once on the assembled network, so a
freshly built vidray model and a freshly built PyTorchVideo model draw from the
same distributions (and, under the same seed, give the same weights).
"""

from __future__ import annotations

from torch import nn

from vidray.errors import ConfigError
from vidray.layers.positional_encoding import SpatioTemporalClsPositionalEncoding

INIT_STYLES = ("resnet", "vit")


def c2_msra_fill(module: nn.Module) -> None:
    """Caffe2's MSRA fill: He-normal weights (fan-out, for ReLU) and zero bias."""
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


def c2_xavier_fill(module: nn.Module) -> None:
    """Caffe2's Xavier fill: uniform weights scaled by fan-in (``kaiming_uniform_(a=1)``) and zero bias."""
    nn.init.kaiming_uniform_(module.weight, a=1)
    if module.bias is not None:
        nn.init.constant_(module.bias, 0)


def _init_resnet_weights(model: nn.Module, fc_init_std: float = 0.01) -> nn.Module:
    """He-normal convolutions, unit norms, N(0, ``fc_init_std``) linear layers.

    A norm flagged ``block_final_bn`` (the last norm of a residual branch) starts
    at zero, so every residual block begins as the identity and deep networks
    train stably from the first step. A linear layer flagged ``xavier_init``
    gets Caffe2's Xavier fill instead of the small Gaussian.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            c2_msra_fill(m)
        elif isinstance(m, nn.modules.batchnorm._NormBase):
            if m.weight is not None:
                m.weight.data.fill_(0.0 if getattr(m, "block_final_bn", False) else 1.0)
            if m.bias is not None:
                m.bias.data.zero_()
        if isinstance(m, nn.Linear):
            if getattr(m, "xavier_init", False):
                c2_xavier_fill(m)
            else:
                m.weight.data.normal_(mean=0.0, std=fc_init_std)
            if m.bias is not None:
                m.bias.data.zero_()
    return model


def _init_vit_weights(model: nn.Module, trunc_normal_std: float = 0.02) -> None:
    """Truncated-normal linear layers and positional encodings, unit LayerNorms."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=trunc_normal_std)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)
        elif isinstance(m, SpatioTemporalClsPositionalEncoding):
            for weights in m.parameters():
                nn.init.trunc_normal_(weights, std=trunc_normal_std)


def init_net_weights(model: nn.Module, init_std: float = 0.01, style: str = "resnet") -> nn.Module | None:
    """Initialises ``model`` in place, ResNet style (``"resnet"``) or transformer style (``"vit"``).

    Args:
        model: the network to initialise.
        init_std: standard deviation of linear layers (and, for ``"vit"``, of
            the positional encodings).
        style: ``"resnet"`` or ``"vit"``.
    """
    if style == "resnet":
        return _init_resnet_weights(model, init_std)
    if style == "vit":
        return _init_vit_weights(model, init_std)
    raise ConfigError(f"init_net_weights: style must be one of {INIT_STYLES}, got {style!r}")
