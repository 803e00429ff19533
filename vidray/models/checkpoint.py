"""Loading and saving model weights, safely and with errors that say what does not fit.

Checkpoints are read with ``torch.load(weights_only=True)``: a file that needs
pickle to run code is refused, never executed. The format is PyTorchVideo's
``.pyth`` (a dict with ``"model_state"``, as PySlowFast writes it); a
Lightning-style ``"state_dict"`` or a bare state_dict load too, and a
``"module."`` prefix left by ``DistributedDataParallel`` is removed.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from vidray import io as vio
from vidray.errors import CheckpointError, DataError

logger = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]
_MAX_LISTED = 12


def load_checkpoint(source: str | os.PathLike[str], progress: bool = True) -> dict[str, Any]:
    """The object stored in a checkpoint (local path, ``s3://`` URI or ``http(s)://`` URL), on the CPU."""
    source = str(source)
    try:
        if source.startswith(("http://", "https://")):
            return torch.hub.load_state_dict_from_url(source, map_location="cpu", progress=progress, weights_only=True)
        with vio.open_binary(source) as stream:
            return torch.load(io.BytesIO(stream.read()), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{source}: refused: the file needs pickle to execute code to load ({_first_line(exc)}). "
            "vidray loads checkpoints with weights_only=True so that a checkpoint cannot run code on your "
            "machine. If you trust the file, re-save only its tensors: "
            "torch.save({'model_state': model.state_dict()}, path)"
        ) from None
    except DataError as exc:
        raise CheckpointError(f"cannot read checkpoint: {exc}") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise CheckpointError(f"{source}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None


def extract_state_dict(checkpoint: Any, source: str = "checkpoint") -> StateDict:
    """The model weights inside a loaded checkpoint (``model_state``, ``state_dict`` or the dict itself)."""
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(f"{source}: expected a dict of tensors, got {type(checkpoint).__name__}")
    for key in ("model_state", "state_dict"):
        if isinstance(checkpoint.get(key), Mapping):
            checkpoint = checkpoint[key]
            break
    non_tensors = [k for k, v in checkpoint.items() if not isinstance(v, torch.Tensor)]
    if non_tensors:
        raise CheckpointError(
            f"{source}: no model weights found: expected a 'model_state' or 'state_dict' entry or a "
            f"state_dict; top-level keys: {_listing(sorted(map(str, checkpoint)))}"
        )
    state = dict(checkpoint)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raises :class:`CheckpointError` listing missing, unexpected and mis-shaped keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k}: checkpoint {list(state[k].shape)} vs model {list(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or misshaped:
        name = getattr(model, "model_name", type(model).__name__)
        parts = [
            f"{label} ({len(keys)}): {_listing(keys)}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
            if keys
        ]
        raise CheckpointError(f"{source} does not fit {name}: " + "; ".join(parts))


def load_weights(model: nn.Module, source: str | os.PathLike[str], progress: bool = True) -> nn.Module:
    """Loads a checkpoint into ``model`` strictly; every key and shape must match."""
    state = _adapted(model, extract_state_dict(load_checkpoint(source, progress), str(source)))
    check_state_dict(model, state, str(source))
    model.load_state_dict(state, strict=True)
    return model


def load_pretrained(model: nn.Module, pretrained: bool | str | os.PathLike[str], progress: bool = True) -> nn.Module:
    """Loads a zoo model's weights: the published checkpoint (``True``) or a given file.

    When the model was built with another class count than the checkpoint's,
    everything but the classifier (``spec.classifier``) loads and the
    classifier keeps its initialisation: the usual start of fine-tuning.
    """
    spec = getattr(model, "spec", None)
    name = getattr(model, "model_name", type(model).__name__)
    if pretrained is True:
        if spec is None or spec.checkpoint is None:
            raise CheckpointError(f"{name}: no published checkpoint; pass a local path or s3:// URI instead")
        source = spec.checkpoint
    else:
        source = str(pretrained)
    state = _adapted(model, extract_state_dict(load_checkpoint(source, progress), source))
    classifier = spec.classifier if spec is not None else None
    if classifier and _classifier_differs(model, state, classifier):
        prefix = classifier + "."
        state = {k: v for k, v in state.items() if not k.startswith(prefix)}
        own = {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}
        logger.info("%s: checkpoint %s has another class count; %s keeps its initialisation", name, source, classifier)
        state.update(own)
    check_state_dict(model, state, source)
    model.load_state_dict(state, strict=True)
    return model


def save_checkpoint(model: nn.Module, destination: str | os.PathLike[str], **extra: Any) -> None:
    """Writes a ``.pyth``-style checkpoint (``{"model_state": ..., **extra}``), atomically.

    ``extra`` must hold only what ``weights_only`` loading accepts (tensors,
    numbers, strings, lists and dicts of them), so the file loads safely.
    """
    payload: dict[str, Any] = {"model_state": model.state_dict(), **extra}
    if hasattr(model, "model_name"):
        payload.setdefault("model_name", model.model_name)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    vio.write_bytes(destination, buffer.getvalue())


def _adapted(model: nn.Module, state: StateDict) -> StateDict:
    """Applies the model family's adapter for foreign checkpoint layouts (e.g. MoViNet-pytorch's keys)."""
    spec = getattr(model, "spec", None)
    adapter = getattr(spec, "checkpoint_adapter", None)
    return adapter(state) if adapter is not None else state


def _classifier_differs(model: nn.Module, state: Mapping[str, torch.Tensor], classifier: str) -> bool:
    key = f"{classifier}.weight"
    own = model.state_dict().get(key)
    return own is not None and key in state and state[key].shape != own.shape


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f", ... ({len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
