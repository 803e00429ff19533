"""Self-supervised video learning: SimCLR, MoCo and BYOL over several views of a video.

The library half: losses, methods as ``nn.Module``s (``forward(*views) -> loss``),
momentum targets and the distributed collectives they need. No Ray here; the
training engine runs them as tasks (:mod:`vidray.train.ssl`).
"""

from vidray.ssl.byol import BYOL
from vidray.ssl.encoder import LinearProbe, classifier_head, feature_encoder, load_encoder_state
from vidray.ssl.losses import byol_loss, info_nce, nt_xent
from vidray.ssl.moco import MoCo
from vidray.ssl.momentum import cosine_momentum, momentum_copy, momentum_update
from vidray.ssl.simclr import SimCLR

__all__ = [
    "BYOL", "LinearProbe", "MoCo", "SimCLR", "byol_loss", "classifier_head", "cosine_momentum", "feature_encoder",
    "info_nce", "load_encoder_state", "momentum_copy", "momentum_update", "nt_xent",
]  # fmt: skip
