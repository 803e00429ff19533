"""The training plan: what the driver computed once and every Ray Train worker must agree on.

Built by :func:`vidray.train.trainer.fit` before the cluster does any work and
sent to every worker with the config; a frozen dataclass, so the contract
between the two processes is a checked type rather than dictionary keys.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vidray.ingest.clips import ClipSource


@dataclass(frozen=True)
class TrainPlan:
    classes: list[str] | None  # class names of the training data, or None when it names none
    num_classes: int
    train_clips: int  # clips per training epoch, all ranks together
    val_videos: int  # 0: no evaluation
    val_views: list[int]  # clips scored per validation video
    input_shape: tuple[int, ...]  # [C, T, H, W] of a training clip ([V, C, T, H, W] for multi-view samples)
    train: ClipSource | None = None  # set by the driver once Ray is up
    val: ClipSource | None = None
    run_path: str = ""  # this run's checkpoint folder (local path or URI)
    resume_from: str | None = None  # the checkpoint folder the job resumes, if any

    def on_cluster(self, **fields: object) -> "TrainPlan":
        """A copy with the fields only the cluster side knows (clip sources, checkpoint folders)."""
        return replace(self, **fields)
