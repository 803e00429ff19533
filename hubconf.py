"""torch.hub entry points: ``torch.hub.load("<owner>/vidray", "x3d_s", pretrained=True)``.

The same functions as :mod:`vidray.models.hub` (PyTorchVideo's hub names).
"""

dependencies = ["torch", "torchvision"]

from vidray.models.hub import *  # noqa: E402,F401,F403  (torch.hub lists this module's functions)
