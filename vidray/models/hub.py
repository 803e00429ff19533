"""Every zoo entry under PyTorchVideo's hub names: ``from vidray.models.hub import x3d_s``.

Each function builds its model (``pretrained=True`` loads the published
weights; a path or ``s3://`` URI loads a checkpoint) and is registered in
:data:`vidray.models.MODELS`, so ``create_model("x3d_s")`` is the same call.
The repository's ``hubconf.py`` exposes them to ``torch.hub.load``.
"""

from vidray.models.csn import csn_r101
from vidray.models.efficient_x3d import efficient_x3d_s, efficient_x3d_xs
from vidray.models.movinet import (
    movinet_a0,
    movinet_a0_stream,
    movinet_a1,
    movinet_a1_stream,
    movinet_a2,
    movinet_a2_stream,
    movinet_a3,
    movinet_a4,
    movinet_a5,
)
from vidray.models.r2plus1d import r2plus1d_r50
from vidray.models.resnet import c2d_r50, i3d_r50, slow_r50, slow_r50_detection
from vidray.models.slowfast import slowfast_16x8_r101_50_50, slowfast_r50, slowfast_r50_detection, slowfast_r101
from vidray.models.vision_transformers import mvit_base_16, mvit_base_16x4, mvit_base_32x3
from vidray.models.x3d import x3d_l, x3d_m, x3d_s, x3d_xs

__all__ = [
    "c2d_r50", "csn_r101", "efficient_x3d_s", "efficient_x3d_xs", "i3d_r50", "movinet_a0", "movinet_a0_stream",
    "movinet_a1", "movinet_a1_stream", "movinet_a2", "movinet_a2_stream", "movinet_a3", "movinet_a4", "movinet_a5",
    "mvit_base_16", "mvit_base_16x4", "mvit_base_32x3", "r2plus1d_r50", "slow_r50", "slow_r50_detection",
    "slowfast_16x8_r101_50_50", "slowfast_r101", "slowfast_r50", "slowfast_r50_detection", "x3d_l", "x3d_m",
    "x3d_s", "x3d_xs",
]  # fmt: skip
