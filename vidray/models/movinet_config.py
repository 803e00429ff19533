"""MoViNet A0-A5 architectures as data (Kondratyuk et al. 2021, the TensorFlow release's block specs).

A MoViNet is a stem (1x3x3 convolution, spatial stride 2), five stages of
inverted-bottleneck blocks and a head. Each stage has one output width; its
first block carries the stage's spatial stride (temporal strides are always 1,
which is what lets every causal layer share one frame count when streaming).
A block is described by its depthwise kernel ``(kt, kh, kw)`` and its expanded
width, as in the paper's NAS search space.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidray.errors import ConfigError

Kernel = tuple[int, int, int]

# The four depthwise kernels the searched architectures use: K<t><s> is (t, s, s).
K13: Kernel = (1, 3, 3)
K15: Kernel = (1, 5, 5)
K33: Kernel = (3, 3, 3)
K53: Kernel = (5, 3, 3)


@dataclass(frozen=True)
class BlockSpec:
    """One inverted bottleneck: 1x1x1 expansion, depthwise ``kernel_size``, SE, 1x1x1 projection."""

    kernel_size: Kernel
    expanded_channels: int


@dataclass(frozen=True)
class StageSpec:
    """Blocks sharing one output width; the first block downsamples by ``stride`` (spatially)."""

    out_channels: int
    stride: int
    blocks: tuple[BlockSpec, ...]


@dataclass(frozen=True)
class MoViNetConfig:
    """A whole MoViNet: stem width, stages, and the head's projection and hidden widths."""

    name: str
    stem_channels: int
    stages: tuple[StageSpec, ...]
    head_channels: int
    hidden_channels: int = 2048


def _stage(out_channels: int, stride: int, kernels: tuple[Kernel, ...], expansions: tuple[int, ...]) -> StageSpec:
    blocks = tuple(BlockSpec(k, e) for k, e in zip(kernels, expansions, strict=True))
    return StageSpec(out_channels, stride, blocks)


MOVINET_CONFIGS: dict[str, MoViNetConfig] = {
    "a0": MoViNetConfig(
        "a0",
        stem_channels=8,
        head_channels=480,
        stages=(
            _stage(8, 2, (K15,), (24,)),
            _stage(32, 2, (K33, K33, K33), (80, 80, 80)),
            _stage(56, 2, (K53, K33, K33), (184, 112, 184)),
            _stage(56, 1, (K53, K33, K33, K33), (184, 184, 184, 184)),
            _stage(104, 2, (K53, K15, K15, K15), (384, 280, 280, 344)),
        ),
    ),
    "a1": MoViNetConfig(
        "a1",
        stem_channels=16,
        head_channels=600,
        stages=(
            _stage(16, 2, (K15, K33), (40, 40)),
            _stage(40, 2, (K33, K33, K33, K33), (96, 120, 96, 96)),
            _stage(64, 2, (K53, K33, K33, K33, K33), (216, 128, 216, 168, 216)),
            _stage(64, 1, (K53, K33, K33, K33, K15, K33), (216, 216, 216, 128, 128, 216)),
            _stage(136, 2, (K53, K15, K15, K15, K15, K33, K13), (456, 360, 360, 360, 456, 456, 544)),
        ),
    ),
    "a2": MoViNetConfig(
        "a2",
        stem_channels=16,
        head_channels=640,
        stages=(
            _stage(16, 2, (K15, K33, K33), (40, 40, 64)),
            _stage(40, 2, (K33, K33, K33, K33, K33), (96, 120, 96, 96, 120)),
            _stage(72, 2, (K53, K33, K33, K33, K33), (240, 160, 240, 192, 240)),
            _stage(72, 1, (K53, K33, K33, K33, K15, K33), (240, 240, 240, 240, 144, 240)),
            _stage(144, 2, (K53, K15, K15, K15, K15, K33, K13), (480, 384, 384, 480, 480, 480, 576)),
        ),
    ),
    "a3": MoViNetConfig(
        "a3",
        stem_channels=16,
        head_channels=744,
        stages=(
            _stage(16, 2, (K15, K33, K33, K33), (40, 40, 64, 40)),
            _stage(48, 2, (K33, K33, K33, K15, K33, K33), (112, 144, 112, 112, 144, 144)),
            _stage(80, 2, (K53, K33, K33, K33, K33), (240, 152, 240, 192, 240)),
            _stage(88, 1, (K53, K33, K33, K33, K15, K33, K33, K33), (264, 264, 264, 264, 160, 264, 264, 264)),
            _stage(
                168,
                2,
                (K53, K15, K15, K15, K15, K33, K15, K15, K33, K13),
                (560, 448, 448, 560, 560, 560, 448, 448, 560, 672),
            ),
        ),
    ),
    "a4": MoViNetConfig(
        "a4",
        stem_channels=24,
        head_channels=856,
        stages=(
            _stage(24, 2, (K15, K33, K33, K33, K33, K33), (64, 64, 96, 64, 96, 64)),
            _stage(56, 2, (K33, K33, K33, K33, K33, K33, K33, K15, K33), (168, 168, 136, 136, 168, 168, 168, 136, 136)),
            _stage(96, 2, (K53, K33, K33, K33, K33, K33, K33, K33, K33), (320, 160, 320, 192, 320, 160, 320, 256, 320)),
            _stage(
                96,
                1,
                (K53, K33, K33, K33, K15, K33, K33, K33, K33, K33),
                (320, 320, 320, 320, 192, 320, 320, 192, 320, 320),
            ),
            _stage(
                192,
                2,
                (K53, K15, K15, K15, K15, K33, K15, K15, K15, K15, K15, K33, K33),
                (640, 512, 512, 640, 640, 640, 512, 512, 640, 768, 640, 640, 768),
            ),
        ),
    ),
    "a5": MoViNetConfig(
        "a5",
        stem_channels=24,
        head_channels=992,
        stages=(
            _stage(24, 2, (K15, K15, K33, K33, K33, K33), (64, 64, 96, 64, 96, 64)),
            _stage(
                64,
                2,
                (K53, K33, K33, K33, K33, K33, K33, K33, K33, K33, K33),
                (192, 152, 152, 152, 192, 192, 192, 152, 152, 192, 192),
            ),
            _stage(
                112,
                2,
                (K53, K33, K33, K33, K33, K33, K33, K33, K33, K33, K33, K33, K33),
                (376, 224, 376, 376, 296, 376, 224, 376, 376, 296, 376, 376, 376),
            ),
            _stage(
                120,
                1,
                (K53, K33, K33, K33, K15, K33, K33, K33, K33, K33, K33),
                (376, 376, 376, 376, 224, 376, 376, 224, 376, 376, 376),
            ),
            _stage(
                224,
                2,
                (K53, K33, K15, K15, K15, K15, K33, K15, K15, K15, K15, K15, K33, K15, K15, K15, K15, K33),
                (744, 744, 600, 600, 744, 744, 744, 896, 600, 600, 896, 744, 744, 896, 600, 600, 744, 744),
            ),
        ),
    ),
}


def movinet_config(name: str | MoViNetConfig) -> MoViNetConfig:
    """The config named ``name`` (``"a0"`` ... ``"a5"``); a :class:`MoViNetConfig` is returned as is."""
    if isinstance(name, MoViNetConfig):
        return name
    try:
        return MOVINET_CONFIGS[name.lower()]
    except KeyError:
        raise ConfigError(f"MoViNet config {name!r} is unknown; known: {', '.join(MOVINET_CONFIGS)}") from None
