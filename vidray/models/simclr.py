"""PyTorchVideo's import path for :class:`vidray.ssl.SimCLR` (``pytorchvideo.models.simclr``)."""

from vidray.ssl.simclr import SimCLR

__all__ = ["SimCLR"]
