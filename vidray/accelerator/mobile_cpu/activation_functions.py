"""Activations as efficient blocks, named by string in the mobile-CPU blocks' ``activation`` arguments.

``supported_act_functions`` maps those names (``"relu"``, ``"swish"``,
``"hswish"``, ``"identity"``) to the blocks. Each keeps its module in ``act``,
so that conv + ReLU fusion can address it as ``act.act``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.ao.nn.quantized import FloatFunctional

from vidray.accelerator.efficient_blocks import EfficientBlockBase
from vidray.errors import ConfigError
from vidray.layers.swish import Swish as SwishCustomOp


class _NaiveSwish(nn.Module):
    """``x * sigmoid(x)`` from ops PyTorch Mobile has, the multiply quantizable; only built by :meth:`Swish.convert`."""

    def __init__(self) -> None:
        super().__init__()
        self.mul_func = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mul_func.mul(x, torch.sigmoid(x))


class _Activation(EfficientBlockBase):
    """An activation that is deployable as it is."""

    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x)

    def convert(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to do: the activation is natively supported."""


class Swish(_Activation):
    """Swish, ``x * sigmoid(x)``.

    Trains with the memory-saving custom autograd Swish; :meth:`convert`
    swaps it for the plain composition, since PyTorch Mobile cannot run the
    custom op. On mobile CPUs :class:`HardSwish` is faster.
    """

    def __init__(self) -> None:
        super().__init__(SwishCustomOp())

    def convert(self, *args: Any, **kwargs: Any) -> None:
        self.act = _NaiveSwish()


class HardSwish(_Activation):
    """Hardswish: natively supported by PyTorch Mobile, and faster than Swish in int8."""

    def __init__(self) -> None:
        super().__init__(nn.Hardswish())


class ReLU(_Activation):
    """In-place ReLU (fused into the preceding convolution where a block can)."""

    def __init__(self) -> None:
        super().__init__(nn.ReLU(inplace=True))


class Identity(_Activation):
    """No activation."""

    def __init__(self) -> None:
        super().__init__(nn.Identity())


supported_act_functions: dict[str, type[_Activation]] = {
    "relu": ReLU,
    "swish": Swish,
    "hswish": HardSwish,
    "identity": Identity,
}


def build_activation(name: str, owner: str) -> _Activation:
    """A new activation block for ``name``; an unknown name is a :class:`ConfigError` naming ``owner``."""
    if name not in supported_act_functions:
        raise ConfigError(f"{owner}: activation {name!r} is not one of {sorted(supported_act_functions)}")
    return supported_act_functions[name]()
