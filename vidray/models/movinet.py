"""MoViNets (Kondratyuk et al. 2021): mobile video networks, as base 3D models and as streaming models.

Every MoViNet is a stem, five stages of inverted-bottleneck blocks and a head
(the widths and kernels of A0-A5 are data, in :mod:`vidray.models.movinet_config`).
A block::

                         x [B, C, T, H, W]
             +---------------+----------------+
             |                                |
    shortcut: identity, or        1x1x1 expand, norm, act
    (stride 2: 1x3x3 avg pool)    depthwise kt x kh x kw (stride), norm, act
    1x1x1 conv, norm              squeeze-excitation
             |                    1x1x1 project, norm
             |                    * alpha (ReZero scale, starts at 0)
             +---------------+----------------+
                             +

Base models (``causal=False``, ``conv_type="3d"``) use 3D convolutions with
TensorFlow's "same" padding, so that the official checkpoints (converted by
MoViNet-pytorch) give the official outputs. Stream models (``causal=True``,
``conv_type="2plus1d"``) see no future frame: temporal convolutions are padded
with the previous frames only, split into a spatial and a temporal
convolution; squeeze-excitation and the head pool with a running mean
over all frames seen so far.

Streaming keeps its state explicit, as a plain dict of tensors (stream
buffers of the causal convolutions, running sums, the frame count)::

    model = movinet_a0_stream(pretrained=True).eval()
    logits = model(clip)                            # whole clip, causal

    state = model.init_state(batch_size=1, frame_size=172)
    for chunk in clip.split(8, dim=2):              # any chunk sizes, even 1 frame
        logits, state = model(chunk, state)         # same logits as model(clip) at the end

``model(x)`` returns logits; ``model(x, state)`` returns ``(logits, new_state)``
and never changes ``state``. :class:`MoViNetStream` keeps the state for you
(``reset()`` between videos). The returned state is detached from the graph
unless ``detach_state=False``: then gradients flow back across chunks.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from vidray.errors import ConfigError, LayoutError
from vidray.layers.utils import round_width
from vidray.models.movinet_config import MoViNetConfig, movinet_config
from vidray.models.movinet_port import adapt_checkpoint
from vidray.models.registry import InputSpec, ModelSpec, register_model
from vidray.models.weight_init import init_net_weights

State = dict[str, torch.Tensor]

FRAMES = "frames"  # state key of the number of frames seen so far (int64 scalar)
CONV_TYPES = ("3d", "2plus1d")


class HardSigmoid(nn.Module):
    """``clamp(0.2 x + 0.5, 0, 1)``, the squeeze-excitation gate of the stream checkpoints.

    Keras's hard sigmoid, not :class:`torch.nn.Hardsigmoid` (slope 1/6):
    MoViNet-pytorch checked its converted stream weights against TF Hub's with this one.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (0.2 * x + 0.5).clamp(0.0, 1.0)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "same" padding of one axis; an odd total puts the extra pixel after."""
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


def _same_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """1x3x3 average pooling, spatial stride 2, "same" padding, averaging real pixels only (TF semantics).

    TF pads (0, 1) on an even side and (1, 1) on an odd one; ``ceil_mode`` gives
    the window that TF's extra trailing pad would add, and it and the leading
    pad average only real pixels. One pooling op, no explicit pad: exported
    programs keep it in one piece (a padded tensor would split it).
    """
    (top, _), (left, _) = _same_padding(x.shape[-2], 3, 2), _same_padding(x.shape[-1], 3, 2)
    frames = x.flatten(1, 2)  # 2D pooling of every (channel, frame) plane: the kernel is 1 frame deep
    pooled = F.avg_pool2d(frames, 3, 2, padding=(top, left), ceil_mode=True, count_include_pad=False)
    return pooled.unflatten(1, x.shape[1:3])


def _running_mean(x: torch.Tensor, key: str, state: State | None, new_state: State | None) -> torch.Tensor:
    """Mean over time of ``x`` [B, C, T, ...] up to each frame, counting every frame of the stream so far.

    Computed in float32 (the state's running sums stay float32 whatever the
    model's dtype, so long streams do not lose precision).
    """
    sums = torch.cumsum(x.float(), dim=2)
    counts = torch.arange(1, x.shape[2] + 1, device=x.device, dtype=torch.float32)
    if state is not None:
        sums = sums + state[key]
        counts = counts + state[FRAMES]
    if new_state is not None:
        new_state[key] = sums[:, :, -1:]
    return (sums / counts.view(-1, *(1,) * (x.dim() - 3))).to(x.dtype)


class ConvNormActivation(nn.Module):
    """A convolution, its norm and activation over [B, C, T, H, W], padded as TensorFlow does.

    ``conv_type="3d"``: one ``kt x kh x kw`` convolution. ``conv_type="2plus1d"``
    (with ``kt > 1``): a ``1 x kh x kw`` convolution, then a ``kt x 1 x 1`` one,
    each with its own norm and activation (the TF stream models' layout, which
    TF runs as Conv2d on frames; Conv3d with unit kernels computes the same and
    keeps every weight 5D, so ``channels_last_3d`` applies to all models).
    Spatial padding is "same" (asymmetric for stride 2, so it depends on the
    input size); temporal padding is symmetric, or with ``causal=True`` the
    ``kt - 1`` frames before the input: zeros at the start of a clip, the
    previous chunk's last frames when streaming (the stream buffer).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int, int] = (1, 1, 1),
        *,
        stride: int = 1,
        groups: int = 1,
        conv_type: str = "3d",
        causal: bool = False,
        norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
        norm_eps: float = 1e-3,
        norm_momentum: float = 0.1,
        activation: Callable[..., nn.Module] | None = None,
        bias: bool = False,
    ) -> None:
        super().__init__()
        if conv_type not in CONV_TYPES:
            raise ConfigError(f"conv_type must be one of {CONV_TYPES}, got {conv_type!r}")
        if len(kernel_size) != 3 or any(k % 2 == 0 for k in kernel_size):
            raise ConfigError(f"kernel_size must be three odd sizes (kt, kh, kw), got {kernel_size}")
        kt, kh, kw = kernel_size
        self.kernel_size = tuple(kernel_size)
        self.stride = stride
        self.stateful = causal and kt > 1
        self.state_key = ""  # the module's path in its MoViNet, set by the model
        # Stride 1 pads symmetrically (the convolution does it); stride 2 pads per input size in forward.
        spatial_pad = ((kh - 1) // 2, (kw - 1) // 2) if stride == 1 else (0, 0)
        temporal_pad = 0 if causal else (kt - 1) // 2
        split = conv_type == "2plus1d" and kt > 1

        def conv(cin: int, kernel: tuple[int, int, int], stride: tuple[int, int, int], padding: tuple[int, ...]):
            return nn.Conv3d(cin, out_channels, kernel, stride=stride, padding=padding, groups=groups, bias=bias)

        def norm_act() -> tuple[nn.Module, nn.Module]:
            return (
                norm(num_features=out_channels, eps=norm_eps, momentum=norm_momentum) if norm else nn.Identity(),
                activation() if activation else nn.Identity(),
            )

        self.conv = conv(
            in_channels,
            (1, kh, kw) if split else self.kernel_size,
            (1, stride, stride),
            (0 if split else temporal_pad, *spatial_pad),
        )
        self.norm, self.act = norm_act()
        self.temporal_conv = conv(out_channels, (kt, 1, 1), (1, 1, 1), (temporal_pad, 0, 0)) if split else None
        if split:
            self.temporal_norm, self.temporal_act = norm_act()

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Spatial size of the output for an input of ``size`` ("same" padding: ceil(size / stride))."""
        return (-(-size[0] // self.stride), -(-size[1] // self.stride))

    def zero_state(self, batch_size: int, size: tuple[int, int], device: Any, dtype: torch.dtype) -> State:
        """The stream buffer at the start of a video: ``kt - 1`` frames of zeros (input ``size``)."""
        if not self.stateful:
            return {}
        if self.temporal_conv is None:  # the buffer feeds the 3D convolution
            channels, (height, width) = self.conv.in_channels, size
        else:  # the buffer feeds the temporal convolution, after the spatial one
            channels, (height, width) = self.conv.out_channels, self.output_size(size)
        shape = (batch_size, channels, self.kernel_size[0] - 1, height, width)
        return {self.state_key: torch.zeros(shape, device=device, dtype=dtype)}

    def forward(self, x: torch.Tensor, state: State | None = None, new_state: State | None = None) -> torch.Tensor:
        if self.temporal_conv is None:
            if self.stateful:
                x = self._with_past_frames(x, state, new_state)
            return self.act(self.norm(self.conv(self._pad_spatial(x))))
        x = self.act(self.norm(self.conv(self._pad_spatial(x))))
        if self.stateful:
            x = self._with_past_frames(x, state, new_state)
        return self.temporal_act(self.temporal_norm(self.temporal_conv(x)))

    def _pad_spatial(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x
        _, kh, kw = self.kernel_size
        (top, bottom), (left, right) = (
            _same_padding(x.shape[-2], kh, self.stride),
            _same_padding(x.shape[-1], kw, self.stride),
        )
        return F.pad(x, (left, right, top, bottom))

    def _with_past_frames(self, x: torch.Tensor, state: State | None, new_state: State | None) -> torch.Tensor:
        """Prepends the ``kt - 1`` frames before ``x`` (causal padding) and records the new stream buffer."""
        past = self.kernel_size[0] - 1
        if state is None:
            x = F.pad(x, (0, 0, 0, 0, past, 0))
        else:
            buffer = state[self.state_key]
            if buffer.shape[0] != x.shape[0] or buffer.shape[-2:] != x.shape[-2:]:
                raise LayoutError(
                    f"streaming state {self.state_key!r} holds {list(buffer.shape)} but the input gives "
                    f"{list(x.shape)} there: the state was made for another batch size or frame size; "
                    "build it with model.init_state(batch_size, frame_size)"
                )
            x = torch.cat([buffer.to(x.dtype), x], dim=2)
        if new_state is not None:
            tail = x[:, :, x.shape[2] - past :]
            new_state[self.state_key] = tail if state is None else tail.to(state[self.state_key].dtype)
        return x


class MoViNetSqueezeExcitation(nn.Module):
    """Squeeze-excitation over time and space; causal: the squeeze sees only past and present frames.

    Base models squeeze the whole clip to one vector. Causal models give each
    frame the concatenation of the running mean of all frames so far and the
    frame's own spatial mean (the TF release's "2plus3d" SE), so the reduction
    convolution takes twice the channels.
    """

    def __init__(
        self,
        channels: int,
        *,
        causal: bool = False,
        activation: Callable[..., nn.Module] = nn.SiLU,
        gate_activation: Callable[..., nn.Module] = nn.Sigmoid,
        squeeze_factor: int = 4,
    ) -> None:
        super().__init__()
        multiplier = 2 if causal else 1
        squeezed = round_width(channels // squeeze_factor * multiplier, 1)
        self.causal = causal
        self.stateful = causal
        self.state_key = ""
        self.fc1 = nn.Conv3d(channels * multiplier, squeezed, 1)
        self.act = activation()
        self.fc2 = nn.Conv3d(squeezed, channels, 1)
        self.gate = gate_activation()

    def zero_state(self, batch_size: int, device: Any) -> State:
        if not self.stateful:
            return {}
        shape = (batch_size, self.fc2.out_channels, 1, 1, 1)  # the running sum of frame means
        return {self.state_key: torch.zeros(shape, device=device, dtype=torch.float32)}

    def forward(self, x: torch.Tensor, state: State | None = None, new_state: State | None = None) -> torch.Tensor:
        if self.causal:
            frame_means = x.mean((3, 4), keepdim=True)
            pooled = torch.cat([_running_mean(frame_means, self.state_key, state, new_state), frame_means], dim=1)
        else:
            pooled = x.mean((2, 3, 4), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(pooled))))


class MoViNetBlock(nn.Module):
    """Inverted bottleneck with squeeze-excitation and a ReZero-scaled residual (diagram in the module doc)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expanded_channels: int,
        kernel_size: tuple[int, int, int],
        *,
        stride: int = 1,
        conv_type: str = "3d",
        causal: bool = False,
        norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
        norm_eps: float = 1e-3,
        norm_momentum: float = 0.1,
        activation: Callable[..., nn.Module] = nn.SiLU,
        gate_activation: Callable[..., nn.Module] = nn.Sigmoid,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ConfigError(f"a MoViNet block's stride must be 1 or 2, got {stride}")
        unit = functools.partial(
            ConvNormActivation,
            conv_type=conv_type,
            causal=causal,
            norm=norm,
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
        )
        self.expand = unit(in_channels, expanded_channels, activation=activation)
        self.depthwise = unit(
            expanded_channels,
            expanded_channels,
            kernel_size,
            stride=stride,
            groups=expanded_channels,
            activation=activation,
        )
        self.se = MoViNetSqueezeExcitation(
            expanded_channels,
            causal=causal,
            activation=activation,
            gate_activation=gate_activation,
        )
        self.project = unit(expanded_channels, out_channels)
        self.shortcut_pool = stride > 1
        self.shortcut = unit(in_channels, out_channels) if stride > 1 or in_channels != out_channels else None
        self.alpha = nn.Parameter(torch.zeros(()))

    def output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return self.depthwise.output_size(size)

    def zero_state(self, batch_size: int, size: tuple[int, int], device: Any, dtype: torch.dtype) -> State:
        return {
            **self.depthwise.zero_state(batch_size, size, device, dtype),
            **self.se.zero_state(batch_size, device),
        }

    def forward(self, x: torch.Tensor, state: State | None = None, new_state: State | None = None) -> torch.Tensor:
        if self.shortcut is None:
            residual = x
        else:
            residual = self.shortcut(_same_avg_pool(x) if self.shortcut_pool else x)
        y = self.depthwise(self.expand(x), state, new_state)
        y = self.project(self.se(y, state, new_state))
        return residual + self.alpha * y


class MoViNetHead(nn.Module):
    """1x1x1 projection, global average pool (causal: running mean up to the last frame), two linear layers."""

    def __init__(
        self,
        in_channels: int,
        head_channels: int,
        hidden_channels: int,
        num_classes: int,
        *,
        conv_type: str = "3d",
        causal: bool = False,
        norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
        norm_eps: float = 1e-3,
        norm_momentum: float = 0.1,
        activation: Callable[..., nn.Module] = nn.SiLU,
        head_activation: Callable[..., nn.Module] = nn.SiLU,
        dropout_rate: float = 0.2,
    ) -> None:
        super().__init__()
        self.causal = causal
        self.stateful = causal
        self.state_key = ""
        self.project = ConvNormActivation(
            in_channels,
            head_channels,
            conv_type=conv_type,
            causal=causal,
            norm=norm,
            norm_eps=norm_eps,
            norm_momentum=norm_momentum,
            activation=activation,
        )
        self.dense = nn.Linear(head_channels, hidden_channels)
        self.act = head_activation()
        self.dropout = nn.Dropout(dropout_rate)
        self.proj = nn.Linear(hidden_channels, num_classes)

    def zero_state(self, batch_size: int, device: Any) -> State:
        if not self.stateful:
            return {}
        shape = (batch_size, self.dense.in_features, 1)  # the running sum of frame means
        return {self.state_key: torch.zeros(shape, device=device, dtype=torch.float32)}

    def forward(self, x: torch.Tensor, state: State | None = None, new_state: State | None = None) -> torch.Tensor:
        x = self.project(x)
        if self.causal:
            x = _running_mean(x.mean((3, 4)), self.state_key, state, new_state)[:, :, -1]
        else:
            x = x.mean((2, 3, 4))
        return self.proj(self.dropout(self.act(self.dense(x))))


class MoViNet(nn.Module):
    """Stem, stages of :class:`MoViNetBlock`, :class:`MoViNetHead`; streams when built causal.

    ``model(x)`` returns logits for a whole clip. A causal model also takes
    ``model(chunk, state)`` and returns ``(logits, new_state)``, where ``state``
    comes from :meth:`init_state` or from the previous call; the logits after
    the last chunk equal ``model(clip)`` for any split of the clip.
    """

    def __init__(self, stem: ConvNormActivation, stages: nn.ModuleList, head: MoViNetHead, causal: bool) -> None:
        super().__init__()
        self.stem = stem
        self.stages = stages
        self.head = head
        self.causal = causal
        keys = []
        for name, module in self.named_modules():
            if getattr(module, "stateful", False):
                module.state_key = name
                keys.append(name)
        self.state_keys: tuple[str, ...] = (FRAMES, *keys) if causal else ()

    def blocks(self) -> list[MoViNetBlock]:
        return [block for stage in self.stages for block in stage]

    @torch.no_grad()
    def init_state(
        self,
        batch_size: int,
        frame_size: int | tuple[int, int],
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """The state at the start of a video: zero stream buffers, zero running sums, zero frames.

        Args:
            batch_size: videos streamed side by side.
            frame_size: ``H`` or ``(H, W)`` of the frames that will be fed.
            device: defaults to the model's.
            dtype: of the stream buffers, defaults to the model's; the running
                sums are float32 and the frame count int64 whatever the model's dtype.
        """
        if not self.causal:
            raise ConfigError("a base (non-causal) MoViNet has no streaming state; use a *_stream model")
        parameter = next(self.parameters())
        device = parameter.device if device is None else device
        dtype = parameter.dtype if dtype is None else dtype
        size = (frame_size, frame_size) if isinstance(frame_size, int) else tuple(frame_size)
        state = {FRAMES: torch.zeros((), dtype=torch.int64, device=device)}
        size = self.stem.output_size(size)
        for block in self.blocks():
            state.update(block.zero_state(batch_size, size, device, dtype))
            size = block.output_size(size)
        state.update(self.head.zero_state(batch_size, device))
        return {key: state[key] for key in self.state_keys}

    def forward(
        self, x: torch.Tensor, state: State | None = None, *, detach_state: bool = True
    ) -> torch.Tensor | tuple[torch.Tensor, State]:
        """Logits of a whole clip, or ``(logits, new_state)`` for a chunk given the stream's ``state``.

        Args:
            x: video [B, C, T, H, W], values in [0, 1] (no mean/std normalisation).
            state: the state after the previous chunk (or :meth:`init_state`); it is not modified.
            detach_state: cut the graph at chunk boundaries (the default: constant
                memory when training on long videos); ``False`` lets gradients
                of later chunks flow into earlier ones.
        """
        if state is None:
            return self._logits(x, None, None)
        if not self.causal:
            raise ConfigError("a base (non-causal) MoViNet does not stream; call it without a state")
        self._check_state(state)
        new_state: State = {}
        logits = self._logits(x, state, new_state)
        new_state[FRAMES] = state[FRAMES] + x.shape[2]
        if detach_state:
            new_state = {key: value.detach() for key, value in new_state.items()}
        return logits, {key: new_state[key] for key in self.state_keys}

    def _logits(self, x: torch.Tensor, state: State | None, new_state: State | None) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks():
            x = block(x, state, new_state)
        return self.head(x, state, new_state)

    def _check_state(self, state: State) -> None:
        if not isinstance(state, dict):
            raise LayoutError(f"streaming state must be the dict from init_state(), got {type(state).__name__}")
        missing = [key for key in self.state_keys if key not in state]
        unexpected = [key for key in state if key not in self.state_keys]
        if missing or unexpected:
            raise LayoutError(
                f"streaming state does not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}; "
                "build it with model.init_state(batch_size, frame_size)"
            )


class MoViNetStream:
    """A causal MoViNet that keeps its streaming state: ``logits = stream(chunk)``; ``reset()`` between videos.

    Convenience over ``logits, state = model(chunk, state)``; the first chunk
    after construction or :meth:`reset` starts from :meth:`MoViNet.init_state`.
    """

    def __init__(self, model: MoViNet, *, detach_state: bool = True) -> None:
        if not getattr(model, "causal", False):
            raise ConfigError("MoViNetStream needs a causal (stream) MoViNet, e.g. movinet_a0_stream()")
        self.model = model
        self.detach_state = detach_state
        self.state: State | None = None

    def reset(self) -> None:
        """Forgets the stream: the next chunk starts a new video."""
        self.state = None

    def __call__(self, chunk: torch.Tensor) -> torch.Tensor:
        if self.state is None:
            self.state = self.model.init_state(chunk.shape[0], tuple(chunk.shape[-2:]), device=chunk.device)
        logits, self.state = self.model(chunk, self.state, detach_state=self.detach_state)
        return logits


def create_movinet(
    config: str | MoViNetConfig = "a0",
    *,
    causal: bool = False,
    conv_type: str = "3d",
    num_classes: int = 600,
    dropout_rate: float = 0.2,
    norm: Callable[..., nn.Module] | None = nn.BatchNorm3d,
    norm_eps: float = 1e-3,
    norm_momentum: float = 0.1,
    activation: Callable[..., nn.Module] = nn.SiLU,
    gate_activation: Callable[..., nn.Module] = nn.Sigmoid,
    head_activation: Callable[..., nn.Module] = nn.SiLU,
) -> MoViNet:
    """Builds a MoViNet: a base model with the defaults, a stream model with
    ``causal=True, conv_type="2plus1d", activation=nn.Hardswish, gate_activation=HardSigmoid``.

    Weights start as PyTorchVideo's models do (:func:`init_net_weights`), the
    ReZero scales at 0 (every block starts as its shortcut).

    Args:
        config: ``"a0"`` ... ``"a5"`` or a :class:`~vidray.models.movinet_config.MoViNetConfig`.
        causal: causal temporal convolutions, causal squeeze-excitation and
            running-mean pooling: the model can stream (see :class:`MoViNet`).
        conv_type: ``"3d"``, or ``"2plus1d"``: each ``kt x kh x kw`` convolution (``kt > 1``) split
            into ``1 x kh x kw`` and ``kt x 1 x 1`` ones, each with a norm and an activation.
        num_classes: size of the classifier (``head.proj``).
        dropout_rate: dropout before the classifier.
        norm: norm after each convolution, called as ``norm(num_features=, eps=, momentum=)``; ``None`` for none.
        norm_eps, norm_momentum: the norm's arguments.
        activation: activation of the stem, the blocks and the head's projection (also inside SE).
        gate_activation: squeeze-excitation gate.
        head_activation: activation between the head's two linear layers.
    """
    config = movinet_config(config)
    if conv_type not in CONV_TYPES:
        raise ConfigError(f"create_movinet: conv_type must be one of {CONV_TYPES}, got {conv_type!r}")
    if num_classes < 1:
        raise ConfigError(f"create_movinet: num_classes must be positive, got {num_classes}")
    if not 0.0 <= dropout_rate < 1.0:
        raise ConfigError(f"create_movinet: dropout_rate must be in [0, 1), got {dropout_rate}")
    common: dict[str, Any] = dict(
        conv_type=conv_type, causal=causal, norm=norm, norm_eps=norm_eps, norm_momentum=norm_momentum
    )
    stem = ConvNormActivation(3, config.stem_channels, (1, 3, 3), stride=2, activation=activation, **common)
    stages = nn.ModuleList()
    in_channels = config.stem_channels
    for stage in config.stages:
        blocks = nn.ModuleList()
        for index, spec in enumerate(stage.blocks):
            blocks.append(
                MoViNetBlock(
                    in_channels,
                    stage.out_channels,
                    spec.expanded_channels,
                    spec.kernel_size,
                    stride=stage.stride if index == 0 else 1,
                    activation=activation,
                    gate_activation=gate_activation,
                    **common,
                )
            )
            in_channels = stage.out_channels
        stages.append(blocks)
    head = MoViNetHead(
        in_channels,
        config.head_channels,
        config.hidden_channels,
        num_classes,
        activation=activation,
        head_activation=head_activation,
        dropout_rate=dropout_rate,
        **common,
    )
    model = MoViNet(stem, stages, head, causal)
    init_net_weights(model, init_std=0.01)
    return model


_STREAM = dict(causal=True, conv_type="2plus1d", activation=nn.Hardswish, gate_activation=HardSigmoid)
_WEIGHTS = "https://github.com/Atze00/MoViNet-pytorch/raw/main/weights/model{}_statedict_v3"
_NOTES = (
    "TF release weights converted by MoViNet-pytorch (its key layout is mapped by vidray.models.movinet_port); "
    "input in [0, 1] without mean/std normalisation, frames sampled at {} fps; top-1/top-5 and GFLOPs per video "
    "from the TF release, params counted on the released architecture."
)


def _spec(
    name: str,
    frames: int,
    size: int,
    fps: int,
    params_m: float,
    gflops: float,
    top1: float,
    top5: float,
    stream: bool,
) -> ModelSpec:
    return ModelSpec(
        family="movinet",
        input=InputSpec.clip(frames, size),
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        num_classes=600,
        num_classes_arg="num_classes",
        dataset="Kinetics-600",
        params_m=params_m,
        gflops=gflops,
        top1=top1,
        top5=top5,
        checkpoint=_WEIGHTS.format(f"{name.upper()}_stream" if stream else name.upper()),
        classifier="head.proj",
        source="MoViNet (Kondratyuk et al. 2021), weights via MoViNet-pytorch",
        notes=_NOTES.format(fps),
        checkpoint_adapter=adapt_checkpoint,
    )


@register_model(_spec("a0", 50, 172, 5, 3.11, 2.7, 72.28, 90.92, stream=False))
def movinet_a0(**kwargs: Any) -> nn.Module:
    """MoViNet-A0-Base: 3D convolutions, 50 frames of 172x172 at 5 fps."""
    return create_movinet("a0", **kwargs)


@register_model(_spec("a1", 50, 172, 5, 4.69, 6.0, 76.69, 93.40, stream=False))
def movinet_a1(**kwargs: Any) -> nn.Module:
    """MoViNet-A1-Base: 3D convolutions, 50 frames of 172x172 at 5 fps."""
    return create_movinet("a1", **kwargs)


@register_model(_spec("a2", 50, 224, 5, 5.25, 10.0, 78.62, 94.17, stream=False))
def movinet_a2(**kwargs: Any) -> nn.Module:
    """MoViNet-A2-Base: 3D convolutions, 50 frames of 224x224 at 5 fps."""
    return create_movinet("a2", **kwargs)


@register_model(_spec("a3", 120, 256, 12, 7.40, 57.0, 81.79, 95.67, stream=False))
def movinet_a3(**kwargs: Any) -> nn.Module:
    """MoViNet-A3-Base: 3D convolutions, 120 frames of 256x256 at 12 fps."""
    return create_movinet("a3", **kwargs)


@register_model(_spec("a4", 80, 290, 8, 11.35, 110.0, 83.48, 96.16, stream=False))
def movinet_a4(**kwargs: Any) -> nn.Module:
    """MoViNet-A4-Base: 3D convolutions, 80 frames of 290x290 at 8 fps."""
    return create_movinet("a4", **kwargs)


@register_model(_spec("a5", 120, 320, 12, 18.65, 280.0, 84.27, 96.39, stream=False))
def movinet_a5(**kwargs: Any) -> nn.Module:
    """MoViNet-A5-Base: 3D convolutions, 120 frames of 320x320 at 12 fps."""
    return create_movinet("a5", **kwargs)


@register_model(_spec("a0", 50, 172, 5, 3.75, 2.7, 72.05, 90.63, stream=True))
def movinet_a0_stream(**kwargs: Any) -> nn.Module:
    """MoViNet-A0-Stream: causal (2+1)D convolutions with stream buffers; feed chunks of any length."""
    return create_movinet("a0", **{**_STREAM, **kwargs})


@register_model(_spec("a1", 50, 172, 5, 6.45, 6.0, 76.45, 93.25, stream=True))
def movinet_a1_stream(**kwargs: Any) -> nn.Module:
    """MoViNet-A1-Stream: causal (2+1)D convolutions with stream buffers; feed chunks of any length."""
    return create_movinet("a1", **{**_STREAM, **kwargs})


@register_model(_spec("a2", 50, 224, 5, 7.33, 10.0, 78.40, 94.05, stream=True))
def movinet_a2_stream(**kwargs: Any) -> nn.Module:
    """MoViNet-A2-Stream: causal (2+1)D convolutions with stream buffers; feed chunks of any length."""
    return create_movinet("a2", **{**_STREAM, **kwargs})
