"""PyTorchVideo's import path for :class:`vidray.ssl.BYOL` (``pytorchvideo.models.byol``)."""

from vidray.ssl.byol import BYOL

__all__ = ["BYOL"]
