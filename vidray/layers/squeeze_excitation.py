"""Squeeze-and-excitation (Hu et al., arXiv:1709.01507): channels rescaled by a gate computed from their global mean.

:class:`SqueezeExcitation` is the 2D/3D layer X3D and the mobile-CPU blocks use
(fvcore's, whose parameter names PyTorchVideo's checkpoints carry);
:class:`SqueezeAndExcitationLayer2D` and
:func:`create_audio_2d_squeeze_excitation_block` are PyTorchVideo's 2D audio variants.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from vidray.errors import ConfigError


class SqueezeExcitation(nn.Module):
    """SE over ``[B, C, H, W]`` (or ``[B, C, T, H, W]`` with ``is_3d``): ``x * sigmoid(conv(act(conv(mean(x)))))``.

    ::

                                  x ──────────────┐
                                  ↓               │
                         mean over space(-time)   │
                                  ↓               │
                        1x1 conv → act → 1x1 conv │
                                  ↓               │
                               Sigmoid            │
                                  ↓               │
                               multiply ←─────────┘
    """

    def __init__(
        self,
        num_channels: int,
        num_channels_reduced: int | None = None,
        reduction_ratio: float = 2.0,
        is_3d: bool = False,
        activation: nn.Module | None = None,
    ) -> None:
        """
        Args:
            num_channels: input channels.
            num_channels_reduced: channels of the bottleneck (default ``num_channels // reduction_ratio``).
            reduction_ratio: used when ``num_channels_reduced`` is not given.
            is_3d: operate on 5D video tensors instead of 4D images.
            activation: the bottleneck's activation module (default ``nn.ReLU()``).
        """
        super().__init__()
        if num_channels_reduced is None:
            num_channels_reduced = int(num_channels // reduction_ratio)
        conv = nn.Conv3d if is_3d else nn.Conv2d
        self.is_3d = is_3d
        self.block = nn.Sequential(
            conv(num_channels, num_channels_reduced, kernel_size=1, bias=True),
            nn.ReLU() if activation is None else activation,
            conv(num_channels_reduced, num_channels, kernel_size=1, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, input_tensor: torch.Tensor) -> torch.Tensor:
        dims = [2, 3, 4] if self.is_3d else [2, 3]
        return input_tensor * self.block(input_tensor.mean(dim=dims, keepdim=True))


class SqueezeAndExcitationLayer2D(nn.Module):
    """2D SE layer over ``[B, C, H, W]`` with an adaptive-average-pool squeeze (the audio networks' variant)."""

    def __init__(self, in_planes: int, reduction_ratio: int | None = 16, reduced_planes: int | None = None) -> None:
        """
        Args:
            in_planes: input channels.
            reduction_ratio: bottleneck channels are ``in_planes // reduction_ratio``.
            reduced_planes: bottleneck channels, given directly. Exactly one of
                ``reduction_ratio`` and ``reduced_planes`` must be set.
        """
        super().__init__()
        if bool(reduction_ratio) == bool(reduced_planes):
            raise ConfigError(
                "SqueezeAndExcitationLayer2D: set exactly one of reduction_ratio and reduced_planes, "
                f"got reduction_ratio={reduction_ratio!r}, reduced_planes={reduced_planes!r}"
            )
        if reduced_planes is None:
            reduced_planes = in_planes // reduction_ratio
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.excitation = nn.Sequential(
            nn.Conv2d(in_planes, reduced_planes, kernel_size=1, stride=1, bias=True),
            nn.ReLU(),
            nn.Conv2d(reduced_planes, in_planes, kernel_size=1, stride=1, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.excitation(self.avgpool(x))


def _sum(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x + y


def create_audio_2d_squeeze_excitation_block(
    dim_in: int,
    dim_out: int,
    use_se: bool = False,
    se_reduction_ratio: int = 16,
    branch_fusion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = _sum,
    # Conv configs.
    conv_a_kernel_size: int = 3,
    conv_a_stride: int = 1,
    conv_a_padding: int = 1,
    conv_b_kernel_size: int = 3,
    conv_b_stride: int = 1,
    conv_b_padding: int = 1,
    # Norm configs.
    norm: Callable[..., nn.Module] = nn.BatchNorm2d,
    norm_eps: float = 1e-5,
    norm_momentum: float = 0.1,
    # Activation configs.
    activation: Callable[..., nn.Module] | None = nn.ReLU,
) -> nn.Module:
    """Builds a 2D residual basic block with an optional SE layer, as a :class:`~vidray.models.resnet.ResBlock`.

    ::

                                         Input
                                           |-------+
                                           ↓       |
                                         conv2d    |
                                           ↓       |
                                          Norm     |
                                           ↓       |
                                       activation  |
                                           ↓       |
                                         conv2d    |
                                           ↓       |
                                          Norm     |
                                           ↓       |
                                          SE2D     |
                                           ↓       |
                                       Summation ←-+
                                           ↓
                                       Activation

    The shortcut gets a strided 1x1 convolution and a norm when the block
    changes the channel count or the resolution.

    Args:
        dim_in: input channels.
        dim_out: output channels.
        use_se: append a :class:`SqueezeAndExcitationLayer2D` to the main branch.
        se_reduction_ratio: the SE layer's channel reduction.
        branch_fusion: combines the shortcut and the main branch (default: sum).
        conv_a_kernel_size, conv_a_stride, conv_a_padding: the first convolution.
        conv_b_kernel_size, conv_b_stride, conv_b_padding: the second convolution.
        norm: builds the normalisations, called as ``norm(channels, eps, momentum)``.
        norm_eps: normalisation epsilon.
        norm_momentum: normalisation momentum.
        activation: builds the activations (``None``: none).
    """
    # Imported here because vidray.models builds on vidray.layers, not the reverse.
    from vidray.models.resnet import ResBlock

    branch2 = [
        nn.Conv2d(
            dim_in, dim_out, kernel_size=conv_a_kernel_size, stride=conv_a_stride, padding=conv_a_padding, bias=False
        ),
        norm(dim_out, norm_eps, norm_momentum),
        activation() if activation else nn.Identity(),
        nn.Conv2d(
            dim_out, dim_out, kernel_size=conv_b_kernel_size, stride=conv_b_stride, padding=conv_b_padding, bias=False
        ),
        norm(dim_out, norm_eps, norm_momentum),
    ]
    if use_se:
        branch2.append(SqueezeAndExcitationLayer2D(dim_out, reduction_ratio=se_reduction_ratio))

    branch1_conv, branch1_norm = None, None
    if conv_a_stride * conv_b_stride != 1 or dim_in != dim_out:
        branch1_conv = nn.Conv2d(dim_in, dim_out, kernel_size=1, stride=conv_a_stride * conv_b_stride, bias=False)
        branch1_norm = norm(dim_out, norm_eps, norm_momentum)

    return ResBlock(
        branch1_conv=branch1_conv,
        branch1_norm=branch1_norm,
        branch2=nn.Sequential(*branch2),
        activation=activation() if activation else None,
        branch_fusion=branch_fusion,
    )
