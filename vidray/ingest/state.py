"""Run-wide ingest state, shared by the driver, the trainers and the decode actors.

A Ray Dataset is built once and re-executed every epoch; its decode actors
cannot see the training loop. This small actor carries what they need to
agree on: which epoch each dataset is in (so every epoch decodes that epoch's
clips, the same ones after a restart) and which videos were skipped (so the
run's metrics count decode errors from every node).
"""

from __future__ import annotations

from collections import defaultdict

import ray

MAX_KEPT_REASONS = 1000  # per dataset; counts stay exact beyond it


@ray.remote(num_cpus=0, max_restarts=0)
class IngestState:
    def __init__(self) -> None:
        self._epochs: dict[str, int] = {}
        self._skips: dict[str, int] = defaultdict(int)
        self._reasons: dict[str, list[tuple[str, str]]] = defaultdict(list)

    def set_epoch(self, dataset: str, epoch: int) -> None:
        self._epochs[dataset] = epoch

    def epoch(self, dataset: str) -> int:
        return self._epochs.get(dataset, 0)

    def record_skip(self, dataset: str, path: str, reason: str) -> None:
        self._skips[dataset] += 1
        if len(self._reasons[dataset]) < MAX_KEPT_REASONS:
            self._reasons[dataset].append((path, reason))

    def skipped(self, dataset: str) -> int:
        return self._skips[dataset]

    def skip_reasons(self, dataset: str) -> list[tuple[str, str]]:
        return list(self._reasons[dataset])


def create_ingest_state() -> "ray.actor.ActorHandle":
    """A fresh state actor, owned by the calling driver (it dies with the job)."""
    return IngestState.remote()
