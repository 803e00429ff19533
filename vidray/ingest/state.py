"""Run-wide ingest state, shared by the driver, the trainers and the decode tasks.

Decode tasks run anywhere on the cluster and cannot see the training loop:
this small actor counts the videos they skip (so the run's metrics count
decode errors from every node) and keeps the reasons for the run's record.
"""

from __future__ import annotations

from collections import defaultdict

import ray

MAX_KEPT_REASONS = 1000  # per dataset; counts stay exact beyond it


@ray.remote(num_cpus=0, max_restarts=0)
class IngestState:
    def __init__(self) -> None:
        self._skips: dict[str, int] = defaultdict(int)
        self._reasons: dict[str, list[tuple[str, str]]] = defaultdict(list)

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
