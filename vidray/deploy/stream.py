"""MoViNet streaming as a program: the stream state as explicit program inputs and outputs.

A phone feeds a stream model a few frames at a time and keeps its state
between calls. An ExecuTorch program has no Python dict to keep, so the state
is flattened into tensors, in the model's ``state_keys`` order (the frame
count first, then each stateful module by its path in the model)::

    inputs   chunk [B, 3, t, H, W], state_0, state_1, ...      (named "chunk", then the state keys)
    outputs  logits [B, classes], new state_0, new state_1, ... (named "logits", then the state keys)

The state at the start of a video is all zeros, so a caller needs only the
program's input spec to start (:class:`ProgramStream` does that).

    bundle = export_stream(movinet_a0_stream(), chunk_frames=1, frame_size=172, ...)
    stream = ProgramStream(load_program(folder))
    for chunk in chunks:
        logits = stream(chunk)          # equal to the eager model's logits after the same frames
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vidray.deploy.bundle import DeployBundle
from vidray.deploy.export import export
from vidray.deploy.program import Program
from vidray.errors import DeployError
from vidray.models.movinet import FRAMES


class StreamStep(nn.Module):
    """``forward(chunk, *state) -> (logits, *new_state)`` of a causal MoViNet, the state in ``state_keys`` order."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        if not getattr(model, "causal", False):
            raise DeployError(f"{type(model).__name__}: a stream program needs a causal (stream) MoViNet, "
                              "e.g. movinet_a0_stream()")
        self.model = model
        self.state_keys: tuple[str, ...] = tuple(model.state_keys)
        if self.state_keys[:1] != (FRAMES,):
            raise DeployError(f"{type(model).__name__}: its state must start with the frame count {FRAMES!r}, "
                              f"got {list(self.state_keys[:1])}")

    def forward(self, chunk: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, new_state = self.model(chunk, dict(zip(self.state_keys, state)))
        # The frame count (int64, first) again, with a tensor operand: PT2E turns a Python number
        # added to a tensor into a float constant, which would make the count a float.
        frames = state[0] + torch.full_like(state[0], chunk.shape[2])
        return (logits, frames, *(new_state[key] for key in self.state_keys[1:]))

    def example_inputs(self, chunk_frames: int, frame_size: int | tuple[int, int], batch_size: int = 1) -> tuple:
        """A chunk of zeros and the state at the start of a video: the shapes the program is exported at."""
        size = (frame_size, frame_size) if isinstance(frame_size, int) else tuple(frame_size)
        state = self.model.init_state(batch_size, size)
        return (torch.zeros(batch_size, 3, chunk_frames, *size), *(state[key] for key in self.state_keys))


def export_stream(
    model: nn.Module,
    *,
    chunk_frames: int,
    frame_size: int | tuple[int, int],
    quantize: str = "int8",
    calibration: list[torch.Tensor] | None = None,
    metadata: dict[str, Any] | None = None,
) -> DeployBundle:
    """The stream program of a causal MoViNet, batch 1, ``chunk_frames`` frames per call.

    ``calibration`` (int8) is a list of whole clips ``[1, 3, T, H, W]``; each is
    streamed through the eager model chunk by chunk, so the quantizer observes
    the states a real stream reaches, not only the zeros of a video's start.
    """
    step = StreamStep(model.eval())
    example = step.example_inputs(chunk_frames, frame_size)
    batches = None
    if quantize == "int8":
        if not calibration:
            raise DeployError("calibration: an int8 stream export needs whole clips to stream, got none")
        batches = [inputs for clip in calibration for inputs in _stream_inputs(step, clip, chunk_frames, example)]
    names = ("chunk", *step.state_keys)
    record = {**(metadata or {}), "stream": {"chunk_frames": chunk_frames, "state": list(step.state_keys)}}
    return export(step, example, quantize=quantize, calibration=batches, metadata=record,
                  input_names=names, output_names=("logits", *step.state_keys))


def _stream_inputs(step: StreamStep, clip: torch.Tensor, chunk_frames: int, example: tuple) -> list[tuple]:
    """The program inputs of every chunk of ``clip`` as the eager model streams it."""
    chunk_shape = example[0].shape
    if clip.dim() != 5 or clip.shape[:2] != chunk_shape[:2] or clip.shape[3:] != chunk_shape[3:]:
        raise DeployError(f"calibration clip: expected [1, 3, T, {chunk_shape[3]}, {chunk_shape[4]}], "
                          f"got {list(clip.shape)}")
    if clip.shape[2] % chunk_frames:
        raise DeployError(f"calibration clip: {clip.shape[2]} frames is not a whole number of "
                          f"{chunk_frames}-frame chunks")
    state, inputs = list(example[1:]), []
    with torch.no_grad():
        for start in range(0, clip.shape[2], chunk_frames):
            chunk = clip[:, :, start:start + chunk_frames]
            inputs.append((chunk, *state))
            state = list(step(chunk, *state)[1:])
    return inputs


class ProgramStream:
    """Runs a stream program chunk by chunk, keeping its state: ``logits = stream(chunk)``; ``reset()`` between videos."""

    def __init__(self, program: Program) -> None:
        if len(program.inputs) < 2 or len(program.outputs) != len(program.inputs):
            raise DeployError(f"{program.source}: not a stream program (it takes {len(program.inputs)} input(s) "
                              f"and returns {len(program.outputs)}; a stream program returns logits and its state)")
        self.program = program
        self.state: list[torch.Tensor] = []
        self.reset()

    def reset(self) -> None:
        """Forgets the stream: the next chunk starts a new video (all-zero state)."""
        self.state = [torch.zeros(spec.shape, dtype=getattr(torch, spec.dtype)) for spec in self.program.inputs[1:]]

    def __call__(self, chunk: torch.Tensor) -> torch.Tensor:
        logits, *self.state = self.program(chunk, *self.state)
        return logits
