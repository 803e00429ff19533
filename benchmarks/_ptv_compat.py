"""Makes PyTorchVideo 0.1.5's ``pytorchvideo.transforms`` import (and run on CUDA) with current torchvision.

Benchmarks only: nothing in ``vidray`` imports this module or PyTorchVideo.

PyTorchVideo 0.1.5 (the last release on PyPI, 2022) does, in
``pytorchvideo/transforms/augmentations.py``::

    import torchvision.transforms.functional_tensor as F_t

torchvision deprecated that module in 0.15 and removed it in 0.17; its code
lives on, private, as ``torchvision.transforms._functional_tensor``. PyTorchVideo
only calls ``F_t.affine(video, matrix, fill=..., interpolation="bilinear")``
from it (the shear and translate operations of RandAugment and AugMix), and the
private module's ``affine(img, matrix, interpolation, fill)`` still has that
signature and behaviour. :func:`install` registers the private module under the
old name in ``sys.modules``, and only when the old name does not import, so on a
torchvision that still has the public module nothing changes.

Nothing else in ``pytorchvideo.transforms`` needed patching on torch 2.14 /
torchvision 0.29 on the CPU: its other imports are torch, torchvision's public
``transforms`` and ``transforms.functional``, numpy, and an optional ``cv2``;
every RandAugment operation runs on uint8 ``[T, C, H, W]``. Importing it warns
once that ``torch.jit.script_method`` (used by ``MoveChannelRear``) is
deprecated; that FutureWarning is silenced during the import.
(``pytorchvideo/__init__.py`` imports nothing, so PyTorchVideo's declared
dependencies fvcore, iopath, parameterized and networkx are not used by the
transforms; pip installs them anyway with ``pytorchvideo==0.1.5``.)

On CUDA, one PyTorchVideo bug (whatever the torch version; reported as
facebookresearch/pytorchvideo#256, present in 0.1.5) stops every ``create_video_transform`` pipeline: its
``uniform_temporal_subsample`` builds the frame indices on the CPU and calls
``torch.index_select(x, dim, indices)``, which refuses a CPU index for a CUDA
tensor. :func:`fix_device_temporal_subsample` replaces that one function with
a copy that creates the indices on ``x.device``, the same frames otherwise;
benchmarks apply it only when they run on a GPU.

Usage::

    import _ptv_compat  # benchmarks/ is sys.path[0] when a benchmark script runs
    ptv_transforms = _ptv_compat.import_pytorchvideo_transforms()
"""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType

import torch

_OLD_NAME = "torchvision.transforms.functional_tensor"
_NEW_NAME = "torchvision.transforms._functional_tensor"


def install() -> bool:
    """Aliases the removed ``torchvision.transforms.functional_tensor``; returns whether it had to."""
    if _OLD_NAME in sys.modules:
        return False
    try:
        importlib.import_module(_OLD_NAME)  # an older torchvision: use the real one
        return False
    except ModuleNotFoundError:
        pass
    module = importlib.import_module(_NEW_NAME)
    sys.modules[_OLD_NAME] = module
    import torchvision.transforms

    # A real import also binds the submodule on its parent package, so that
    # ``torchvision.transforms.functional_tensor`` resolves as an attribute too.
    if not hasattr(torchvision.transforms, "functional_tensor"):
        torchvision.transforms.functional_tensor = module
    return True


def import_pytorchvideo_transforms() -> ModuleType:
    """``pytorchvideo.transforms`` (PyTorchVideo 0.1.5), after :func:`install`; a clear error when absent."""
    install()
    try:
        import pytorchvideo

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.script_method.*", category=FutureWarning)
            import pytorchvideo.transforms as ptv_transforms
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "pytorchvideo":
            raise  # something PyTorchVideo itself imports is missing: show it as it is
        raise SystemExit(
            f"{error}: the baseline is PyTorchVideo 0.1.5 from PyPI; install it with "
            '`.venv/bin/pip install -e ".[bench]"`'
        ) from error
    if getattr(pytorchvideo, "__version__", None) != "0.1.5":
        print(
            f"warning: the baseline should be pytorchvideo 0.1.5, found {getattr(pytorchvideo, '__version__', '?')}",
            file=sys.stderr,
        )
    return ptv_transforms


def fix_device_temporal_subsample() -> None:
    """Makes PyTorchVideo's ``uniform_temporal_subsample`` index on the video's device (CUDA tensors)."""
    import pytorchvideo.transforms.functional as ptv_functional

    if getattr(ptv_functional.uniform_temporal_subsample, "_device_fixed", False):
        return

    def uniform_temporal_subsample(x: torch.Tensor, num_samples: int, temporal_dim: int = -3) -> torch.Tensor:
        t = x.shape[temporal_dim]
        assert num_samples > 0 and t > 0
        indices = torch.linspace(0, t - 1, num_samples, device=x.device)  # PyTorchVideo 0.1.5: on the CPU
        indices = torch.clamp(indices, 0, t - 1).long()
        return torch.index_select(x, temporal_dim, indices)

    uniform_temporal_subsample._device_fixed = True  # type: ignore[attr-defined]
    # ``UniformTemporalSubsample.forward`` looks the function up on the module at every call.
    ptv_functional.uniform_temporal_subsample = uniform_temporal_subsample
