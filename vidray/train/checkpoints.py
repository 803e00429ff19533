"""The engine's checkpoints: one ``state.pt`` (weights only, no pickled objects) per folder.

A run folder holds ``checkpoint_epoch_NNNN`` folders, local or on S3. Anything
that takes a checkpoint (``vidray run --resume``, a linear probe's
``encoder_checkpoint``) accepts either a checkpoint folder or a run folder,
whose latest checkpoint is taken.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from vidray import io as vio
from vidray.errors import CheckpointError

STATE_FILE = "state.pt"
CHECKPOINT_PREFIX = "checkpoint_epoch_"  # Ray Train keeps a checkpoint_manager_snapshot.json beside these


def checkpoint_name(epoch: int) -> str:
    """The folder of the checkpoint saved after ``epoch`` (0-based), inside the Ray run's folder."""
    return f"{CHECKPOINT_PREFIX}{epoch + 1:04d}"


def latest_checkpoint(path: str) -> str:
    """``path`` if it is a checkpoint folder, else the newest checkpoint folder in the run folder ``path``."""
    if vio.exists(vio.join(path, STATE_FILE)):
        return path
    names = vio.list_dir(path) if vio.is_dir(path) else []
    candidates = sorted(name for name in names if name.startswith(CHECKPOINT_PREFIX))
    if not candidates:
        raise CheckpointError(f"{path}: neither a checkpoint folder nor a run folder with {CHECKPOINT_PREFIX}* folders")
    return vio.join(path, candidates[-1])


def read_state(path: str) -> dict[str, Any]:
    """The state of the checkpoint at ``path`` (see :func:`latest_checkpoint`), with its ``folder``."""
    folder = latest_checkpoint(path)
    file = vio.join(folder, STATE_FILE)
    if not vio.exists(file):
        raise CheckpointError(f"{path}: no {STATE_FILE} (not a vidray training checkpoint)")
    with vio.open_binary(file) as stream:
        state = torch.load(stream, map_location="cpu", weights_only=True)
    state["folder"] = folder
    return state


def load_state(checkpoint: "ray.train.Checkpoint") -> dict[str, Any]:  # noqa: F821 (Ray is imported by callers)
    """The state a Ray Train checkpoint of this engine holds."""
    with checkpoint.as_directory() as folder:
        return torch.load(os.path.join(folder, STATE_FILE), map_location="cpu", weights_only=True)
