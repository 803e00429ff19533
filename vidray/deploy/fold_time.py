"""Rewrites a video model's 3-D operators as 2-D ones, so mobile CPU backends run them.

XNNPACK (ExecuTorch's CPU backend) has no 3-D convolution or pooling, and
ExecuTorch's portable kernels are far slower. PyTorchVideo's accelerator
replaced each ``k``-tap temporal convolution by ``k`` 2-D convolutions over
shifted frames, summed: the slices, pads and sums it needs split a program
into a hundred pieces outside the backend. This module instead folds the
frames into an axis a 2-D operator already has, on the exported ATen graph,
so it works for any model that ``torch.export`` can trace and every rewrite is
exact (a reshape of a contiguous tensor is free)::

    conv (1, 1, 1), any spatial stride      [B, C, T*H, W]  Conv2d 1x1         (T*H: frames stacked in height)
    conv (kt, 1, 1), spatial stride 1       [B, C, T, H*W]  Conv2d (kt, 1)     (time as height)
    conv (1, kh, kw)                        [B*T, C, H, W]  Conv2d (kh, kw)    (frames as batch: two transposes)
    depthwise conv (kt, kh, kw)             [B, C*T, H, W]  grouped Conv2d, each channel's T input frames
                                                            -> T' output frames through a banded T'xT kernel
    zero pad of H and W before a conv       moved onto the 4-D tensor the conv reads (XNNPACK fuses it in)
    batch norm after a convolution          folded into the convolution's weights
    other batch norms                       a per-channel multiply and add
    mean over consecutive dims              a 4-D mean over the folded axes
    max_pool3d over space, or over time     max_pool2d on [B*T, C, H, W], or on [B, C, T, H*W]
    avg_pool3d over all frames, adaptive    a mean over time, then avg_pool2d
    avg_pool3d to 1x1x1

    any other conv (kt, kh, kw), e.g. dense  [B*T', C*kt, H, W] Conv2d (kh, kw): each output frame's kt input
                                            frames gathered and stacked into channels

The banded form computes ``T / kt`` times the taps it needs, which costs
little on the cheap depthwise convolutions of X3D and MoViNet; the gather of
the last form copies the input ``kt / st`` times (once per tap), which is
why the cheaper forms come first. A dilated conv3d is refused with its
node's name (see :class:`FoldError`).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import fx

from vidray.errors import DeployError

aten = torch.ops.aten


class FoldError(DeployError):
    """A 3-D operator of the model has no 2-D form here; names the node and the operator."""


def fold_time(module: fx.GraphModule) -> fx.GraphModule:
    """Rewrites every 3-D convolution, batch norm, mean and pooling of an unlifted exported
    graph (``torch.export.export(...).module()``) in place; returns the module.

    Node shapes come from the export's metadata, so the program is specialised to
    the exported input size (as a mobile program is anyway).
    """
    graph = module.graph
    _fold_batch_norms_into_convolutions(module)
    for node in list(graph.nodes):
        if node.op != "call_function":
            continue
        rewrite = _REWRITES.get(node.target)
        if rewrite is not None and _rank(node.args[0]) == 5:
            with graph.inserting_before(node):
                replacement = rewrite(module, node)
            replacement.meta["val"] = node.meta.get("val")
            node.replace_all_uses_with(replacement)
            graph.erase_node(node)
    graph.eliminate_dead_code()
    _drop_unused_attributes(module)
    graph.lint()
    module.recompile()
    return module


# ---------------------------------------------------------------------- helpers on the graph
def _shape(node: Any) -> tuple[int, ...]:
    value = node.meta.get("val") if isinstance(node, fx.Node) else None
    if value is None:
        raise FoldError(f"node {getattr(node, 'name', node)!r}: no shape recorded by torch.export")
    return tuple(int(size) for size in value.shape)


def _rank(node: Any) -> int:
    value = node.meta.get("val") if isinstance(node, fx.Node) else None
    return value.dim() if isinstance(value, torch.Tensor) else -1


def _attribute(module: fx.GraphModule, node: fx.Node | None) -> torch.Tensor | None:
    if node is None:
        return None
    if node.op != "get_attr":
        raise FoldError(f"node {node.name!r}: weights must be constants of the model, got a computed {node.op}")
    owner = module
    *path, name = node.target.split(".")
    for part in path:
        owner = getattr(owner, part)
    return getattr(owner, name).detach()


def _constant(module: fx.GraphModule, tensor: torch.Tensor, hint: str) -> fx.Node:
    """A new constant of the module (a buffer) and the node that reads it."""
    name = f"_folded_{hint}"
    index = 0
    while hasattr(module, f"{name}_{index}"):
        index += 1
    module.register_buffer(f"{name}_{index}", tensor.contiguous())
    node = module.graph.get_attr(f"{name}_{index}")
    node.meta["val"] = tensor
    return node


def _drop_unused_attributes(module: fx.GraphModule) -> None:
    """Removes the constants no node reads any more (the 3-D weights), so the program does not carry them."""
    used = {node.target for node in module.graph.nodes if node.op == "get_attr"}
    for name, _ in list(module.named_parameters()) + list(module.named_buffers()):
        if name not in used:
            *path, leaf = name.split(".")
            owner = module
            for part in path:
                owner = getattr(owner, part)
            delattr(owner, leaf)


def _arguments(node: fx.Node, names: Sequence[str], defaults: dict[str, Any]) -> dict[str, Any]:
    values = dict(zip(names, node.args))
    values.update(node.kwargs)
    return {name: values.get(name, defaults.get(name)) for name in names}


# ---------------------------------------------------------------------- batch norm
_BATCH_NORM = ("input", "weight", "bias", "running_mean", "running_var", "training", "momentum", "eps", "cudnn_enabled")
_CONV = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_DEFAULTS = {"bias": None, "stride": [1, 1, 1], "padding": [0, 0, 0], "dilation": [1, 1, 1], "groups": 1}


def _fold_batch_norms_into_convolutions(module: fx.GraphModule) -> None:
    """``batch_norm(conv3d(x))`` -> ``conv3d(x)`` with scaled weights and a shifted bias."""
    graph = module.graph
    for node in list(graph.nodes):
        if node.target is not aten.batch_norm.default or _rank(node.args[0]) != 5:
            continue
        norm = _arguments(node, _BATCH_NORM, {})
        conv = norm["input"]
        if norm["training"] or conv.target is not aten.conv3d.default or len(conv.users) != 1:
            continue
        args = _arguments(conv, _CONV, _CONV_DEFAULTS)
        weight = _attribute(module, args["weight"])
        scale, shift = _affine_of(module, norm)
        bias = _attribute(module, args["bias"])
        with graph.inserting_before(conv):
            new_weight = _constant(module, weight * scale.view(-1, 1, 1, 1, 1), "conv_weight")
            new_bias = _constant(module, (bias if bias is not None else 0) * scale + shift, "conv_bias")
        conv.args = (args["input"], new_weight, new_bias, args["stride"], args["padding"], args["dilation"], args["groups"])
        conv.kwargs = {}
        node.replace_all_uses_with(conv)
        graph.erase_node(node)


def _affine_of(module: fx.GraphModule, norm: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Inference batch norm as ``x * scale + shift`` per channel."""
    mean, var = _attribute(module, norm["running_mean"]), _attribute(module, norm["running_var"])
    gamma, beta = _attribute(module, norm["weight"]), _attribute(module, norm["bias"])
    scale = torch.rsqrt(var + norm["eps"]) * (gamma if gamma is not None else 1.0)
    shift = (beta if beta is not None else 0.0) - mean * scale
    return scale, shift


def _batch_norm_as_affine(module: fx.GraphModule, node: fx.Node) -> fx.Node:
    norm = _arguments(node, _BATCH_NORM, {})
    if norm["training"]:
        raise FoldError(f"node {node.name!r}: batch norm in training mode; export the model in eval mode")
    scale, shift = _affine_of(module, norm)
    graph = module.graph
    scaled = graph.call_function(aten.mul.Tensor, (norm["input"], _constant(module, scale.view(-1, 1, 1, 1), "bn_scale")))
    return graph.call_function(aten.add.Tensor, (scaled, _constant(module, shift.view(-1, 1, 1, 1), "bn_shift")))


# ---------------------------------------------------------------------- convolution
def _conv3d(module: fx.GraphModule, node: fx.Node) -> fx.Node:
    args = _arguments(node, _CONV, _CONV_DEFAULTS)
    if isinstance(args["padding"], str):
        raise FoldError(f"node {node.name!r}: conv3d with padding={args['padding']!r}; use explicit padding")
    weight, bias = _attribute(module, args["weight"]), _attribute(module, args["bias"])
    batch, channels, frames, height, width = _shape(args["input"])
    out_channels, _, kt, kh, kw = weight.shape
    (st, sh, sw), (pt, ph, pw), dilation, groups = args["stride"], args["padding"], args["dilation"], args["groups"]
    if tuple(dilation) != (1, 1, 1):
        raise FoldError(f"node {node.name!r}: dilated conv3d (dilation {list(dilation)}) has no 2-D form here")
    _, _, out_frames, out_height, out_width = _shape(node)
    graph, x = module.graph, args["input"]
    bias_node = _constant(module, bias, "bias") if bias is not None else None

    if (kt, kh, kw) == (1, 1, 1) and st == 1 and (pt, ph, pw) == (0, 0, 0) and height % sh == 0:
        folded = _view(graph, x, (batch, channels, frames * height, width))
        out = graph.call_function(aten.conv2d.default, (
            folded, _constant(module, weight[:, :, 0], "pointwise"), bias_node, [sh, sw], [0, 0], [1, 1], groups))
    elif (kh, kw) == (1, 1) and (sh, sw) == (1, 1) and (ph, pw) == (0, 0):
        folded = _view(graph, x, (batch, channels, frames, height * width))
        out = graph.call_function(aten.conv2d.default, (
            folded, _constant(module, weight[:, :, :, :, 0], "temporal"), bias_node, [st, 1], [pt, 0], [1, 1], groups))
    elif kt == 1 and st == 1 and pt == 0:
        x, pads = _spatial_pad_of(x)
        conv = graph.call_function(aten.conv2d.default, (
            _padded(graph, _frames_as_batch(graph, x), pads), _constant(module, weight[:, :, 0], "spatial"), bias_node,
            [sh, sw], [ph, pw], [1, 1], groups))
        return _batch_as_frames(graph, conv, _shape(node))
    elif groups == channels == out_channels:
        banded = _banded_depthwise_weight(weight, frames, out_frames, st, pt)
        x, pads = _spatial_pad_of(x)
        folded = _view(graph, x, (batch, channels * frames, *_shape(x)[3:]))
        frame_bias = _constant(module, bias.repeat_interleave(out_frames), "bias") if bias is not None else None
        out = graph.call_function(aten.conv2d.default, (
            _padded(graph, folded, pads), _constant(module, banded, "banded"), frame_bias, [sh, sw], [ph, pw], [1, 1],
            channels))
    else:
        return _taps_as_channels(module, node, x, weight, bias_node)
    return _view(graph, out, (batch, out_channels, out_frames, out_height, out_width))


def _taps_as_channels(module: fx.GraphModule, node: fx.Node, x: fx.Node, weight: torch.Tensor,
                      bias: fx.Node | None) -> fx.Node:
    """Any other conv3d (dense over time and space, e.g. I3D's 3x3x3 or SlowFast's 5x7x7 stem): each
    output frame's ``kt`` input frames are gathered (a zero frame standing for the temporal padding),
    stacked into channels, and one 2-D convolution with the kernel reshaped to ``[O, C * kt, kh, kw]``
    runs on every output frame as a batch. Exact; the gather copies the input ``kt / st`` times."""
    args = _arguments(node, _CONV, _CONV_DEFAULTS)
    graph = module.graph
    batch, channels, frames, height, width = _shape(x)
    out_channels, _, kt, kh, kw = weight.shape
    (st, sh, sw), (pt, ph, pw), groups = args["stride"], args["padding"], args["groups"]
    out_frames = _shape(node)[2]
    zero_frame = _constant(module, torch.zeros(batch, channels, 1, height, width, dtype=weight.dtype), "zero_frame")
    padded = graph.call_function(aten.cat.default, ([x, zero_frame], 2))
    index = [t * st - pt + tap for t in range(out_frames) for tap in range(kt)]
    index = [i if 0 <= i < frames else frames for i in index]  # out of range: the zero frame
    gathered = graph.call_function(aten.index_select.default, (
        padded, 2, _constant(module, torch.tensor(index, dtype=torch.int64), "frame_index")))
    per_frame = _view(graph, gathered, (batch, channels, out_frames, kt, height, width))
    frames_first = graph.call_function(aten.permute.default, (per_frame, [0, 2, 1, 3, 4, 5]))
    stacked = _view(graph, _contiguous(graph, frames_first), (batch * out_frames, channels * kt, height, width))
    kernel = _constant(module, weight.reshape(out_channels, -1, kh, kw), "taps")
    conv = graph.call_function(aten.conv2d.default, (stacked, kernel, bias, [sh, sw], [ph, pw], [1, 1], groups))
    return _batch_as_frames(graph, conv, _shape(node))


def _spatial_pad_of(x: fx.Node) -> tuple[fx.Node, list[int]]:
    """``(unpadded input, [left, right, top, bottom])`` when ``x`` is a zero pad of height and width read
    only by this convolution (TF's asymmetric "same" padding), else ``(x, [])``. Moved onto the folded
    4-D tensor, the pad feeds the 2-D convolution directly, which XNNPACK fuses into it; a pad on its
    own does not run quantized there."""
    if x.op != "call_function" or x.target != aten.constant_pad_nd.default or len(x.users) != 1:
        return x, []
    pads = [int(p) for p in x.args[1]]
    value = x.args[2] if len(x.args) > 2 else 0.0
    if value != 0 or len(pads) not in (4, 6) or any(p < 0 for p in pads) or any(pads[4:]):
        return x, []
    return x.args[0], pads[:4]


def _padded(graph: fx.Graph, x: fx.Node, pads: list[int]) -> fx.Node:
    return graph.call_function(aten.constant_pad_nd.default, (x, pads, 0.0)) if pads else x


def _banded_depthwise_weight(weight: torch.Tensor, frames: int, out_frames: int, stride: int, padding: int) -> torch.Tensor:
    """``[C * T', T, kh, kw]``: output frame ``t'`` of channel ``c`` reads input frame ``t`` through
    tap ``t - t' * stride + padding`` of the 3-D kernel (zero outside it, which is the temporal padding)."""
    channels, _, taps, kh, kw = weight.shape
    banded = weight.new_zeros(channels, out_frames, frames, kh, kw)
    for out_frame in range(out_frames):
        for tap in range(taps):
            frame = out_frame * stride - padding + tap
            if 0 <= frame < frames:
                banded[:, out_frame, frame] = weight[:, 0, tap]
    return banded.reshape(channels * out_frames, frames, kh, kw)


# ---------------------------------------------------------------------- means and pools
def _mean(module: fx.GraphModule, node: fx.Node) -> fx.Node:
    """A mean over consecutive dims of a 5-D tensor as a 4-D mean: the dims before them fold into
    the batch, the reduced ones into height (and any after them into width)."""
    dims = sorted(d % 5 for d in node.args[1])
    if dims != list(range(dims[0], dims[-1] + 1)):
        raise FoldError(f"node {node.name!r}: mean over dims {dims} of a 5-D tensor: only consecutive dims fold")
    return _folded_mean(module.graph, node.args[0], dims, _shape(node))  # keepdim or not: the node's shape


def _folded_mean(graph: fx.Graph, x: fx.Node, dims: list[int], out_shape: Sequence[int]) -> fx.Node:
    shape = _shape(x)
    before, reduced, after = shape[: dims[0]], shape[dims[0] : dims[-1] + 1], shape[dims[-1] + 1 :]
    folded = _view(graph, x, (_product(before), 1, _product(reduced), _product(after)))
    return _view(graph, graph.call_function(aten.mean.dim, (folded, [2] if after else [2, 3], True)), out_shape)


def _frames_as_batch(graph: fx.Graph, x: fx.Node) -> fx.Node:
    """``[B, C, T, H, W]`` -> ``[B * T, C, H, W]``: every frame a 2-D image of the batch."""
    batch, channels, frames, height, width = _shape(x)
    frames_first = _contiguous(graph, graph.call_function(aten.permute.default, (x, [0, 2, 1, 3, 4])))
    return _view(graph, frames_first, (batch * frames, channels, height, width))


def _batch_as_frames(graph: fx.Graph, y: fx.Node, shape: Sequence[int]) -> fx.Node:
    """The inverse of :func:`_frames_as_batch`, to the 5-D ``shape`` ``[B, C, T, H, W]``."""
    batch, channels, frames, height, width = shape
    unfolded = _view(graph, y, (batch, frames, channels, height, width))
    return _contiguous(graph, graph.call_function(aten.permute.default, (unfolded, [0, 2, 1, 3, 4])))


def _contiguous(graph: fx.Graph, value: fx.Node) -> fx.Node:
    return graph.call_function(aten.clone.default, (value,), {"memory_format": torch.contiguous_format})


def _view(graph: fx.Graph, value: fx.Node, shape: Sequence[int]) -> fx.Node:
    return graph.call_function(aten.view.default, (value, list(shape)))


def _product(sizes: Sequence[int]) -> int:
    total = 1
    for size in sizes:
        total *= size
    return total


def _avg_pool3d(module: fx.GraphModule, node: fx.Node) -> fx.Node:
    names = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
    args = _arguments(node, names, {"stride": [], "padding": [0, 0, 0], "ceil_mode": False,
                                    "count_include_pad": True, "divisor_override": None})
    batch, channels, frames, height, width = _shape(args["input"])
    kt, kh, kw = args["kernel_size"]
    stride = list(args["stride"]) or [kt, kh, kw]
    if kt != frames or list(args["padding"]) != [0, 0, 0] or args["ceil_mode"] or args["divisor_override"]:
        raise FoldError(f"node {node.name!r}: avg_pool3d {args['kernel_size']} over {frames} frames: only pools "
                        "over all frames without padding have a 2-D form here")
    graph = module.graph
    over_time = _folded_mean(graph, args["input"], [2], (batch, channels, height, width))
    pooled = graph.call_function(aten.avg_pool2d.default, (over_time, [kh, kw], stride[1:], [0, 0]))
    return _view(graph, pooled, _shape(node))


def _adaptive_avg_pool3d(module: fx.GraphModule, node: fx.Node) -> fx.Node:
    if list(node.args[1]) != [1, 1, 1]:
        raise FoldError(f"node {node.name!r}: adaptive_avg_pool3d to {list(node.args[1])}: only 1x1x1 has a 2-D form here")
    return _folded_mean(module.graph, node.args[0], [2, 3, 4], _shape(node))


def _max_pool3d(module: fx.GraphModule, node: fx.Node) -> fx.Node:
    """A max pool over space only as a 2-D one on frames as a batch; over time only, on time as height."""
    names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode")
    args = _arguments(node, names, {"stride": [], "padding": [0, 0, 0], "dilation": [1, 1, 1], "ceil_mode": False})
    x, graph = args["input"], module.graph
    batch, channels, frames, height, width = _shape(x)
    kt, kh, kw = args["kernel_size"]
    st, sh, sw = list(args["stride"]) or [kt, kh, kw]
    pt, ph, pw = args["padding"]
    flags = ([1, 1], bool(args["ceil_mode"]))
    if list(args["dilation"]) != [1, 1, 1]:
        raise FoldError(f"node {node.name!r}: dilated max_pool3d has no 2-D form here")
    if (kt, st, pt) == (1, 1, 0):
        pooled = graph.call_function(aten.max_pool2d.default, (
            _frames_as_batch(graph, x), [kh, kw], [sh, sw], [ph, pw], *flags))
        return _batch_as_frames(graph, pooled, _shape(node))
    if (kh, kw, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0):
        folded = _view(graph, x, (batch, channels, frames, height * width))
        pooled = graph.call_function(aten.max_pool2d.default, (folded, [kt, 1], [st, 1], [pt, 0], *flags))
        return _view(graph, pooled, _shape(node))
    raise FoldError(f"node {node.name!r}: max_pool3d {[kt, kh, kw]} pools time and space at once; only one of "
                    "them has a 2-D form here")


_REWRITES: dict[Any, Callable[[fx.GraphModule, fx.Node], fx.Node]] = {
    aten.max_pool3d.default: _max_pool3d,
    aten.conv3d.default: _conv3d,
    aten.batch_norm.default: _batch_norm_as_affine,
    aten.mean.dim: _mean,
    aten.avg_pool3d.default: _avg_pool3d,
    aten.adaptive_avg_pool3d.default: _adaptive_avg_pool3d,
}
