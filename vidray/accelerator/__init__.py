"""Deployable forms of models for target devices (PyTorchVideo's ``accelerator``).

Efficient blocks train as ordinary modules and, once trained, ``convert()``
into a form a device runs fast: :mod:`vidray.accelerator.mobile_cpu` holds the
blocks for mobile CPUs (PyTorch Mobile / QNNPACK), from which
:func:`vidray.models.efficient_x3d.create_x3d` builds X3D.
"""

from vidray.accelerator.efficient_blocks import EfficientBlockBase, NoOpConvertBlock

__all__ = ["EfficientBlockBase", "NoOpConvertBlock"]
