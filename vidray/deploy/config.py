"""How to deploy a model: the ``deploy:`` section of an experiment config, and ``vidray export``'s options."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vidray.config import Config


class DeployConfig(Config):
    """Export options: quantization, backend, how many clips calibrate and evaluate, where it is registered.

    ``register``: the registered model the program becomes a version of; ``None``
    names it ``<source>-<quantize>-<backend>`` (e.g. ``x3d-synthetic-int8-xnnpack``).
    """

    quantize: Literal["int8", "fp32"] = "int8"
    backend: Literal["xnnpack"] = "xnnpack"
    calibration_batches: int = Field(16, ge=1)  # clips of the training split (evaluation transform) observed by PT2E
    eval_clips: int | None = Field(None, ge=1)  # validation clips compared eager vs program; None: all
    chunk_frames: int = Field(1, ge=1)  # stream (causal MoViNet) programs: frames per call
    register: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
