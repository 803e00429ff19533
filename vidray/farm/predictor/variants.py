"""Random X3D variants: architectures to profile kernels from and to check a predictor on.

Width, depth, bottleneck expansion, squeeze-excitation ratio, temporal kernel
sizes, frames and resolution are drawn around X3D-XS/S (the family a mobile
search explores), so the kernels profiled are the kernels predicted later.
"""

from __future__ import annotations

import random
from typing import Iterator

import torch
from torch import nn

from vidray.models import create_model


def random_x3d_variants(count: int, seed: int = 0) -> Iterator[tuple[str, nn.Module, torch.Tensor]]:
    """``count`` reproducible ``(description, model in eval mode, example clip)`` draws."""
    rng = random.Random(seed)
    for _ in range(count):
        width, depth = rng.choice([1.0, 1.5, 2.0, 2.5]), rng.choice([0.5, 1.0, 1.5, 2.2])
        expansion, se_ratio = rng.choice([1.5, 2.25, 3.0]), rng.choice([0.0, 0.0625, 0.125])
        frames, size = rng.choice([4, 8, 13]), rng.choice([112, 128, 160, 182])
        temporal = rng.choice([1, 3, 5])
        description = (f"x3d w{width} d{depth} e{expansion} se{se_ratio} t{temporal} {frames}x{size}")
        torch.manual_seed(rng.randrange(2**31))
        model = create_model("create_x3d", num_classes=400, input_clip_length=frames, input_crop_size=size,
                             width_factor=width, depth_factor=depth, bottleneck_factor=expansion, se_ratio=se_ratio,
                             stage_conv_kernel_size=((temporal, 3, 3),) * 4).eval()
        yield description, model, torch.rand(1, 3, frames, size, size)
