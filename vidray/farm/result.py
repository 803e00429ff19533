"""What a measurement returns, and what a farm records when a device fails."""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any, Sequence


@dataclasses.dataclass(frozen=True)
class LatencyResult:
    """Wall time of one program run on one device: summary statistics and every sample, in ms."""

    program_sha256: str
    device_id: str
    device_kind: str
    backend: str
    runtime_version: str
    threads: int
    samples_ms: tuple[float, ...]
    temperature_c: float | None = None  # where the backend can read it
    throttled: bool | None = None  # the device reported thermal throttling during the run; None: unknown
    cached: bool = False  # answered from the result cache, not measured now
    faults: tuple[str, ...] = ()  # devices that failed this request before it succeeded

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p90_ms(self) -> float:
        return percentile(self.samples_ms, 0.9)

    @property
    def min_ms(self) -> float:
        return min(self.samples_ms)

    @property
    def cv(self) -> float:
        """Coefficient of variation of the samples (stdev / mean): how steady the device was."""
        return statistics.stdev(self.samples_ms) / statistics.mean(self.samples_ms) if len(self.samples_ms) > 1 else 0.0

    def as_dict(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record.update(median_ms=self.median_ms, p90_ms=self.p90_ms, min_ms=self.min_ms)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> "LatencyResult":
        fields = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in record.items() if key in fields}
        values["samples_ms"] = tuple(values["samples_ms"])
        values["faults"] = tuple(values.get("faults", ()))
        return cls(**values)


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``samples``, interpolated linearly between order statistics (numpy's default)."""
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclasses.dataclass(frozen=True)
class Fault:
    """A device that failed while measuring: which, when, on which program, and why."""

    device_id: str
    device_kind: str
    program_sha256: str
    error: str
    time: float  # seconds since the epoch
