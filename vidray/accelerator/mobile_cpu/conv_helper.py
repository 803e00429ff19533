"""Modules the efficient blocks' deployable forms are made of; built by ``convert()``, not by users.

Mobile CPU kernels (QNNPACK) run 2D convolutions well and 3D ones poorly or
not at all, so a ``Conv3d`` of temporal kernel ``k`` is unrolled over the
(known) number of input frames ``T`` into ``k`` ``Conv2d`` s, one per temporal
tap: output frame ``t`` is::

    O[:, :, t] = sum_k conv2d_k(I[:, :, t + k - k // 2])

over the taps whose frame lies inside the clip (the others would read the
zero padding). Only the middle tap keeps the bias, so it is added once.
Element-wise sums and the final concatenation go through ``FloatFunctional``
modules, one per operation, so that the unrolled form can be quantized.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.ao.nn.quantized import FloatFunctional

from vidray.errors import ConfigError


class _Reshape(nn.Module):
    """``torch.reshape`` to a fixed size, as a module.

    Args:
        reshape_size: the output size.
    """

    def __init__(self, reshape_size: tuple[int, ...]) -> None:
        super().__init__()
        self.reshape_size = reshape_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.reshape(x, self.reshape_size)


class _SkipConnectMul(nn.Module):
    """``x * layer(x)`` with a quantizable multiply (a gate applied to its own input).

    Args:
        layer: computes the gate from ``x``.
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer
        self.mul_func = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mul_func.mul(x, self.layer(x))


def _check_temporal_geometry(conv3d: nn.Conv3d, kernel: int, owner: str) -> None:
    """The unrolled form assumes ``kernel`` taps, 'same' zero padding, temporal stride and dilation 1."""
    problems = []
    if conv3d.kernel_size[0] != kernel:
        problems.append(f"temporal kernel {conv3d.kernel_size[0]} (must be {kernel})")
    if conv3d.padding[0] != kernel // 2:
        problems.append(f"temporal padding {conv3d.padding[0]} (must be {kernel // 2})")
    if conv3d.padding_mode != "zeros":
        problems.append(f"padding_mode {conv3d.padding_mode!r} (must be 'zeros')")
    if conv3d.stride[0] != 1 or conv3d.dilation[0] != 1:
        problems.append(f"temporal stride {conv3d.stride[0]} and dilation {conv3d.dilation[0]} (must be 1)")
    if problems:
        raise ConfigError(f"{owner}: cannot unroll this Conv3d into Conv2ds: {', '.join(problems)}")


def _tap_conv2d(conv3d: nn.Conv3d, tap: int, bias: bool) -> nn.Conv2d:
    """The ``Conv2d`` applying temporal tap ``tap`` of ``conv3d`` (with its bias only if ``bias``)."""
    conv2d = nn.Conv2d(
        conv3d.in_channels,
        conv3d.out_channels,
        kernel_size=conv3d.kernel_size[1:],
        stride=conv3d.stride[1:],
        padding=conv3d.padding[1:],
        dilation=conv3d.dilation[1:],
        groups=conv3d.groups,
        bias=bias and conv3d.bias is not None,
    )
    state_dict = conv3d.state_dict()
    state_dict["weight"] = state_dict["weight"][:, :, tap]
    if conv2d.bias is None:
        state_dict.pop("bias", None)
    conv2d.load_state_dict(state_dict)
    return conv2d


def _sum_of_taps(
    x: torch.Tensor,
    taps: Sequence[nn.Module],
    frames: int,
    add_funcs: nn.ModuleList,
    cat_func: FloatFunctional,
) -> torch.Tensor:
    """Applies the unrolled convolution ``taps`` (one ``Conv2d`` per temporal tap) to ``x`` of ``frames`` frames.

    Each output frame sums its in-clip terms left to right; its ``n`` additions
    use the next ``n`` entries of ``add_funcs``, the innermost the last of them.
    """
    pad = len(taps) // 2
    outputs = []
    next_add = 0
    for t in range(frames):
        terms = [taps[k](x[:, :, t + k - pad]) for k in range(len(taps)) if 0 <= t + k - pad < frames]
        additions = len(terms) - 1
        out = terms[0]
        for j, term in enumerate(terms[1:], start=1):
            out = add_funcs[next_add + additions - j].add(out, term)
        next_add += additions
        outputs.append(out.unsqueeze(2))
    return cat_func.cat(outputs, 2)


def _additions(kernel: int, frames: int) -> int:
    """How many element-wise additions the unrolled convolution makes over a clip of ``frames`` frames."""
    pad = kernel // 2
    return sum(sum(0 <= t + k - pad < frames for k in range(kernel)) - 1 for t in range(frames))


class _Conv3dTemporalKernel3Decomposed(nn.Module):
    """A ``Conv3d`` with temporal kernel 3 and temporal padding 1, unrolled into three ``Conv2d`` s.

    ``_conv2d_3_3_0``/``_1``/``_2`` apply taps 0, 1, 2 (``_1``, the centre,
    carries the bias); for a single input frame only the centre tap exists.

    Args:
        conv3d_in: the convolution to unroll.
        input_THW_tuple: ``(T, H, W)`` of its input in the deployed model.
    """

    def __init__(self, conv3d_in: nn.Conv3d, input_THW_tuple: tuple[int, int, int]) -> None:
        super().__init__()
        _check_temporal_geometry(conv3d_in, 3, "_Conv3dTemporalKernel3Decomposed")
        self._input_THW_tuple = tuple(input_THW_tuple)
        frames = self._input_THW_tuple[0]
        if frames > 1:
            self._conv2d_3_3_0 = _tap_conv2d(conv3d_in, 0, bias=False)
            self._conv2d_3_3_2 = _tap_conv2d(conv3d_in, 2, bias=False)
        self._conv2d_3_3_1 = _tap_conv2d(conv3d_in, 1, bias=True)
        if frames > 1:
            self._add_funcs = nn.ModuleList(FloatFunctional() for _ in range(_additions(3, frames)))
            self._cat_func = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self._input_THW_tuple[0]
        if frames == 1:
            return self._conv2d_3_3_1(x[:, :, 0]).unsqueeze(2)
        taps = (self._conv2d_3_3_0, self._conv2d_3_3_1, self._conv2d_3_3_2)
        return _sum_of_taps(x, taps, frames, self._add_funcs, self._cat_func)


class _Conv3dTemporalKernel5Decomposed(nn.Module):
    """A ``Conv3d`` with temporal kernel 5 and temporal padding 2, unrolled into five ``Conv2d`` s.

    ``_conv2d_0`` ... ``_conv2d_4`` apply taps 0 to 4 (``_conv2d_2``, the
    centre, carries the bias); for a single input frame only the centre tap exists.

    Args:
        conv3d_in: the convolution to unroll.
        thw_shape: ``(T, H, W)`` of its input in the deployed model.
    """

    def __init__(self, conv3d_in: nn.Conv3d, thw_shape: tuple[int, int, int]) -> None:
        super().__init__()
        _check_temporal_geometry(conv3d_in, 5, "_Conv3dTemporalKernel5Decomposed")
        self._thw_shape = tuple(thw_shape)
        frames = self._thw_shape[0]
        for tap in range(5):
            if tap == 2 or frames > 1:
                self.add_module(f"_conv2d_{tap}", _tap_conv2d(conv3d_in, tap, bias=tap == 2))
        if frames > 1:
            self._add_funcs = nn.ModuleList(FloatFunctional() for _ in range(_additions(5, frames)))
            self._cat_func = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = self._thw_shape[0]
        if frames == 1:
            return self._conv2d_2(x[:, :, 0]).unsqueeze(2)
        taps = (self._conv2d_0, self._conv2d_1, self._conv2d_2, self._conv2d_3, self._conv2d_4)
        return _sum_of_taps(x, taps, frames, self._add_funcs, self._cat_func)


class _Conv3dTemporalKernel1Decomposed(nn.Module):
    """A ``Conv3d`` with temporal kernel 1 as one ``Conv2d`` applied to every frame.

    Args:
        conv3d_eq: the convolution to replace (temporal kernel, stride and dilation 1, no temporal padding).
        input_THW_tuple: ``(T, H, W)`` of its input in the deployed model.
    """

    def __init__(self, conv3d_eq: nn.Conv3d, input_THW_tuple: tuple[int, int, int]) -> None:
        super().__init__()
        _check_temporal_geometry(conv3d_eq, 1, "_Conv3dTemporalKernel1Decomposed")
        self.conv2d_eq = _tap_conv2d(conv3d_eq, 0, bias=True)
        self.input_THW_tuple = tuple(input_THW_tuple)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv2d_eq(x[:, :, t]).unsqueeze(2) for t in range(self.input_THW_tuple[0])], 2)
