"""Small helpers shared by layers and model builders (PyTorchVideo's ``layers.utils``)."""

from __future__ import annotations

import math
from typing import Any, Mapping


def set_attributes(self: Any, params: Mapping[str, Any] | None = None) -> None:
    """Sets every entry of ``params`` (typically ``locals()`` of ``__init__``) but ``self`` as an attribute.

    Modules built this way keep their constructor's argument names as attribute
    names, which is what makes their state_dict keys match PyTorchVideo's.
    """
    if params:
        for key, value in params.items():
            if key != "self":
                setattr(self, key, value)


def round_width(width: int, multiplier: float | None, min_width: int = 8, divisor: int = 8, ceil: bool = False) -> int:
    """Scales a channel count by ``multiplier`` and rounds it to a multiple of ``divisor``.

    Args:
        width: the channel count to scale.
        multiplier: the width factor; falsy values leave ``width`` unchanged.
        min_width: the smallest width returned (``divisor`` when falsy).
        divisor: the result is a multiple of this.
        ceil: round up instead of to the nearest multiple.
    """
    if not multiplier:
        return width
    width *= multiplier
    min_width = min_width or divisor
    if ceil:
        width_out = max(min_width, int(math.ceil(width / divisor)) * divisor)
    else:
        width_out = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if width_out < 0.9 * width:  # never round down by more than 10%
        width_out += divisor
    return int(width_out)


def round_repeats(repeats: int, multiplier: float | None) -> int:
    """Scales a layer count by a depth ``multiplier``, rounding up (falsy multipliers leave it unchanged)."""
    if not multiplier:
        return repeats
    return int(math.ceil(multiplier * repeats))
