"""The model zoo's registry: hub entry functions with their metadata as data.

A zoo model is registered where its family is defined, timm-style::

    @register_model(ModelSpec(family="x3d", input=InputSpec.clip(13, 182, min_frames=13, min_size=160), ...))
    def x3d_s(**kwargs: Any) -> nn.Module:
        return create_x3d(input_clip_length=13, input_crop_size=182, depth_factor=2.2, **kwargs)

The decorator turns the plain builder into PyTorchVideo's hub signature
``x3d_s(pretrained=False, progress=True, **kwargs)`` plus ``num_classes``; the
model it returns carries its :class:`ModelSpec` as ``model.spec`` and checks
its input against :class:`InputSpec` before every forward (a clear
:class:`~vidray.errors.LayoutError` instead of a convolution's shape error).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from vidray.errors import LayoutError
from vidray.registry import Registry

MODELS: Registry = Registry("models")

KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)
PTV_CHECKPOINT_ROOT = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo"


@dataclass(frozen=True)
class PathwaySpec:
    """One input tensor: its default ``(C, T, H, W)`` and the smallest the model accepts."""

    shape: tuple[int, int, int, int]
    minimum: tuple[int, int, int, int]
    exact: bool = False  # fixed-size models (learned positional embeddings) take only ``shape``
    name: str = "video"

    @property
    def takes_images(self) -> bool:
        """Exactly one frame: the model is an image model (MViT-B/16 on ImageNet)."""
        return self.exact and self.shape[1] == 1

    def violations(self, shape: Sequence[int]) -> list[str]:
        problems = []
        for axis, got, default, least in zip("CTHW", shape, self.shape, self.minimum):
            if axis == "C" or self.exact:
                if got != default:
                    problems.append(f"{axis}={got} (must be {default})")
            elif got < least:
                problems.append(f"{axis}={got} (must be >= {least})")
        return problems

    def describe(self) -> str:
        c, t, h, w = self.shape
        if self.exact:
            return f"{self.name} [B, {c}, {t}, {h}, {w}] exactly"
        _, mt, mh, mw = self.minimum
        return f"{self.name} [B, {c}, T, H, W] with T >= {mt}, H >= {mh}, W >= {mw} (default {t}x{h}x{w})"


@dataclass(frozen=True)
class InputSpec:
    """What a model's forward takes: one ``[B, C, T, H, W]`` tensor per pathway.

    Single-pathway models take the tensor itself; multi-pathway models (SlowFast,
    audio-visual SlowFast) take a list in pathway order, as in PyTorchVideo.
    """

    pathways: tuple[PathwaySpec, ...]

    @classmethod
    def clip(
        cls,
        frames: int,
        size: int | tuple[int, int],
        *,
        channels: int = 3,
        min_frames: int = 1,
        min_size: int | tuple[int, int] = 1,
        exact: bool = False,
    ) -> "InputSpec":
        """A single video pathway of ``frames`` x ``size`` (``size`` an int means a square crop)."""
        return cls((pathway(frames, size, channels=channels, min_frames=min_frames, min_size=min_size, exact=exact),))

    @property
    def default_shapes(self) -> list[tuple[int, int, int, int]]:
        return [p.shape for p in self.pathways]

    def example(self, batch_size: int = 1, dtype: torch.dtype = torch.float32) -> torch.Tensor | list[torch.Tensor]:
        """A random input of the default shape (for tracing, export, FLOP counts and benchmarks)."""
        tensors = [torch.randn(batch_size, *p.shape, dtype=dtype) for p in self.pathways]
        return tensors[0] if len(tensors) == 1 else tensors

    def describe(self) -> str:
        return "; ".join(p.describe() for p in self.pathways)

    def check(self, x: Any, model_name: str) -> None:
        """Raises :class:`LayoutError` naming the expected input when ``x`` does not fit."""
        expected = f"{model_name} expects {self.describe()}"
        if len(self.pathways) == 1:
            if not isinstance(x, torch.Tensor):
                raise LayoutError(f"{expected}; got {type(x).__name__}")
            tensors = [x]
        else:
            if not isinstance(x, (list, tuple)) or len(x) != len(self.pathways):
                got = f"{type(x).__name__} of {len(x)}" if isinstance(x, (list, tuple)) else type(x).__name__
                raise LayoutError(f"{expected}, as a list of {len(self.pathways)} tensors; got {got}")
            tensors = list(x)
        for spec, tensor in zip(self.pathways, tensors):
            if spec.takes_images and isinstance(tensor, torch.Tensor) and tensor.dim() == 4:
                tensor = tensor.unsqueeze(2)  # an image model also takes [B, C, H, W], as in PyTorchVideo
            if not isinstance(tensor, torch.Tensor) or tensor.dim() != 5:
                got = list(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
                raise LayoutError(f"{expected}; the {spec.name} input is not [B, C, T, H, W]: got {got}")
            problems = spec.violations(tensor.shape[1:])
            if problems:
                raise LayoutError(f"{expected}; got {spec.name} {list(tensor.shape)}: {', '.join(problems)}")


def pathway(
    frames: int,
    size: int | tuple[int, int],
    *,
    channels: int = 3,
    min_frames: int = 1,
    min_size: int | tuple[int, int] = 1,
    exact: bool = False,
    name: str = "video",
) -> PathwaySpec:
    h, w = (size, size) if isinstance(size, int) else size
    mh, mw = (min_size, min_size) if isinstance(min_size, int) else min_size
    return PathwaySpec((channels, frames, h, w), (channels, min_frames, mh, mw), exact=exact, name=name)


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry's metadata: how to feed it and what was published for it.

    Figures (``params_m``, ``gflops``, ``top1``) are the published ones (the
    PyTorchVideo model-zoo table, the MoViNet paper); ``gflops`` is per view at
    the default input. ``classifier`` names the final layer's state_dict prefix,
    dropped when pretrained weights are loaded into a model with another class count.
    """

    family: str
    input: InputSpec
    sampling_rate: int | None = None
    mean: tuple[float, ...] = KINETICS_MEAN
    std: tuple[float, ...] = KINETICS_STD
    num_classes: int = 400
    num_classes_arg: str = "model_num_class"
    dataset: str = "Kinetics-400"
    params_m: float | None = None
    gflops: float | None = None
    top1: float | None = None
    top5: float | None = None
    checkpoint: str | None = None
    classifier: str | None = None
    task: str = "classification"  # "detection": forward(video, boxes), boxes [N, 5] = (clip index, x1, y1, x2, y2)
    source: str = "PyTorchVideo model zoo"
    notes: str = ""
    # Converts a checkpoint in a foreign key layout (e.g. MoViNet-pytorch's) to this model's; identity otherwise.
    checkpoint_adapter: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None

    @property
    def checkpoint_file(self) -> str | None:
        return self.checkpoint.rsplit("/", 1)[-1] if self.checkpoint else None

    def example_args(self, batch_size: int = 1, dtype: torch.dtype = torch.float32) -> tuple[Any, ...]:
        """Random positional arguments of the default shape: the clip(s), plus one box per clip for detectors."""
        video = self.input.example(batch_size, dtype)
        if self.task != "detection":
            return (video,)
        _, _, height, width = self.input.pathways[0].shape
        boxes = [[float(i), 0.1 * width, 0.1 * height, 0.6 * width, 0.7 * height] for i in range(batch_size)]
        return video, torch.tensor(boxes, dtype=dtype)


class InputCheck:
    """Forward pre-hook validating a zoo model's input (a class, so models stay picklable)."""

    def __init__(self, spec: InputSpec, model_name: str) -> None:
        self.spec = spec
        self.model_name = model_name

    def __call__(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        if torch.compiler.is_compiling():
            return  # shapes were checked on the eager call that triggered compilation
        if args:
            self.spec.check(args[0], self.model_name)


def attach_spec(model: nn.Module, name: str, spec: ModelSpec) -> nn.Module:
    """Gives ``model`` its spec, its name and the input check."""
    model.spec = spec
    model.model_name = name
    model.register_forward_pre_hook(InputCheck(spec.input, name))
    return model


def register_model(spec: ModelSpec) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Registers a hub entry function under its own name, with ``spec`` as its metadata."""

    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = builder.__name__

        @functools.wraps(builder)
        def hub_entry(
            pretrained: bool | str | None = False,
            progress: bool = True,
            num_classes: int | None = None,
            **kwargs: Any,
        ) -> nn.Module:
            if num_classes is not None:
                kwargs[spec.num_classes_arg] = num_classes
            model = attach_spec(builder(**kwargs), name, spec)
            if pretrained:
                from vidray.models.checkpoint import load_pretrained

                load_pretrained(model, pretrained, progress=progress)
            return model

        hub_entry.__doc__ = (builder.__doc__ or "").rstrip() + _HUB_ARGS
        MODELS.add(name, hub_entry, spec=spec)
        return hub_entry

    return decorator


_HUB_ARGS = """

    Args:
        pretrained: ``True`` loads the published checkpoint (downloaded once), a
            local path or ``s3://`` URI loads that checkpoint; ``False`` leaves
            the random initialisation.
        progress: show a progress bar while downloading.
        num_classes: size of the classifier; with pretrained weights of another
            size the classifier is left at its initialisation.
        kwargs: passed to the family's builder (``create_*``), e.g. ``norm=``,
            ``activation=``, ``head=``.
"""


def model_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model (unknown names list the closest)."""
    return MODELS.metadata(name)["spec"]
