"""MoViNet-pytorch checkpoints in vidray's layout: the documented key mapping.

MoViNet-pytorch (github.com/Atze00/MoViNet-pytorch) publishes the official
TensorFlow MoViNet weights converted to its own module names, as bare
state_dicts. vidray names its modules for what they do, so a port checkpoint
is renamed key by key (``i``, ``j``: stage and block indices)::

    MoViNet-pytorch                                 vidray
    conv1.<unit>                                    stem.<unit>
    blocks.b{i}_l{j}.expand.<unit>                  stages.{i}.{j}.expand.<unit>
    blocks.b{i}_l{j}.deep.<unit>                    stages.{i}.{j}.depthwise.<unit>
    blocks.b{i}_l{j}.se.fc{1,2}.conv_1.conv{2,3}d.  stages.{i}.{j}.se.fc{1,2}.
    blocks.b{i}_l{j}.project.<unit>                 stages.{i}.{j}.project.<unit>
    blocks.b{i}_l{j}.res.{0,1}.<unit>               stages.{i}.{j}.shortcut.<unit>   (res.0 is the pool if it downsamples)
    blocks.b{i}_l{j}.alpha                          stages.{i}.{j}.alpha
    conv7.<unit>                                    head.project.<unit>
    classifier.0.conv_1.conv{2,3}d.                 head.dense.                      (weight flattened to 2D)
    classifier.3.conv_1.conv{2,3}d.                 head.proj.                       (weight flattened to 2D)

    <unit>: MoViNet-pytorch ConvBlock3D         -> vidray ConvNormActivation
    conv_1.conv3d. / conv_1.conv2d.             -> conv.            (3D, or the spatial part of (2+1)D)
    conv_1.norm.                                -> norm.
    conv_2.conv2d.                              -> temporal_conv.   ((2+1)D stream models, kt > 1)
    conv_2.norm.                                -> temporal_norm.

Shapes: the port runs the stream models' (2+1)D convolutions as Conv2d;
vidray keeps every convolution 3D, so their weights gain a unit axis
(``conv_1.conv2d`` [O, I, kh, kw] -> [O, I, 1, kh, kw], ``conv_2.conv2d``
[O, I, kt, 1] -> [O, I, kt, 1, 1]), and the head's 1x1x1 convolutions become
Linear weights [O, I]. A port checkpoint is recognised by its ``conv1.conv_1.``
and ``blocks.b0_l0.`` keys (:func:`is_port_state_dict`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from vidray.errors import CheckpointError

_UNIT_PARTS = {
    "conv_1.conv3d": "conv",
    "conv_1.conv2d": "conv",
    "conv_1.norm": "norm",
    "conv_2.conv2d": "temporal_conv",
    "conv_2.norm": "temporal_norm",
}
_UNIT = r"(?P<part>conv_1\.conv[23]d|conv_1\.norm|conv_2\.conv2d|conv_2\.norm)\.(?P<param>\w+)"
_LINEAR = r"conv_1\.conv[23]d\.(?P<param>weight|bias)"

_TOP_UNITS = {"conv1": "stem", "conv7": "head.project"}
_TOP_LINEARS = {"classifier.0": "head.dense", "classifier.3": "head.proj"}
_BLOCK_UNITS = {"expand": "expand", "deep": "depthwise", "project": "project", "res.0": "shortcut", "res.1": "shortcut"}
_BLOCK_LINEARS = {"se.fc1": "se.fc1", "se.fc2": "se.fc2"}

_BLOCK = re.compile(r"blocks\.b(?P<stage>\d+)_l(?P<block>\d+)\.(?P<rest>.+)")


def _pattern(names: Mapping[str, str], tail: str) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(name) for name in names)
    return re.compile(rf"(?P<module>{alternatives})\.{tail}")


_TOP_UNIT_KEY = _pattern(_TOP_UNITS, _UNIT)
_TOP_LINEAR_KEY = _pattern(_TOP_LINEARS, _LINEAR)
_BLOCK_UNIT_KEY = _pattern(_BLOCK_UNITS, _UNIT)
_BLOCK_LINEAR_KEY = _pattern(_BLOCK_LINEARS, _LINEAR)


def port_key_to_vidray(key: str) -> str | None:
    """vidray's name for a MoViNet-pytorch state_dict key (``None`` if the port has no such key)."""
    block = _BLOCK.fullmatch(key)
    if block is None:
        prefix, rest, units, linears = "", key, (_TOP_UNIT_KEY, _TOP_UNITS), (_TOP_LINEAR_KEY, _TOP_LINEARS)
    else:
        prefix, rest = f"stages.{block['stage']}.{block['block']}.", block["rest"]
        if rest == "alpha":
            return prefix + "alpha"
        units, linears = (_BLOCK_UNIT_KEY, _BLOCK_UNITS), (_BLOCK_LINEAR_KEY, _BLOCK_LINEARS)
    match = units[0].fullmatch(rest)
    if match is not None:
        return f"{prefix}{units[1][match['module']]}.{_UNIT_PARTS[match['part']]}.{match['param']}"
    match = linears[0].fullmatch(rest)
    if match is not None:
        return f"{prefix}{linears[1][match['module']]}.{match['param']}"
    return None


def is_port_state_dict(state_dict: Mapping[str, object]) -> bool:
    """Whether ``state_dict`` has MoViNet-pytorch's layout (rather than vidray's)."""
    return any(k.startswith("conv1.conv_1.") for k in state_dict) and any(
        k.startswith("blocks.b0_l0.") for k in state_dict
    )


def convert_port_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A MoViNet-pytorch state_dict renamed and reshaped (see the module doc) for vidray's MoViNet.

    The result loads with ``strict=True`` into the matching vidray model:
    ``movinet_aX`` for the port's base models (``causal=False``, 3D),
    ``movinet_aX_stream`` for its stream models (``causal=True``, "2plus1d").
    Raises :class:`~vidray.errors.CheckpointError` listing keys the port does not have.
    """
    converted: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        name = port_key_to_vidray(key)
        if name is None:
            unknown.append(key)
            continue
        if name in ("head.dense.weight", "head.proj.weight"):
            value = value.flatten(1)
        elif key.endswith("conv_1.conv2d.weight"):
            value = value.unsqueeze(2)
        elif key.endswith("conv_2.conv2d.weight"):
            value = value.unsqueeze(-1)
        converted[name] = value
    if unknown:
        shown = ", ".join(unknown[:10]) + (f", ... ({len(unknown) - 10} more)" if len(unknown) > 10 else "")
        raise CheckpointError(f"not a MoViNet-pytorch state_dict: unknown keys ({len(unknown)}): {shown}")
    # A state_dict saved without BatchNorm's step counters loads as PyTorch loads old checkpoints: counters at 0.
    for key in [k for k in converted if k.endswith(".running_mean")]:
        converted.setdefault(key.removesuffix("running_mean") + "num_batches_tracked", torch.tensor(0))
    return converted


def adapt_checkpoint(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoint adapter of the MoViNet zoo: port layouts are converted, vidray's pass unchanged."""
    return convert_port_state_dict(state_dict) if is_port_state_dict(state_dict) else dict(state_dict)
