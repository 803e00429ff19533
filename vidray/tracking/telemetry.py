"""Live metrics of a running job, exported through Ray's metrics agents to Prometheus.

MLflow keeps the permanent record of a run; these metrics show it while it
runs, next to Ray's own (object store, CPU and GPU use, Ray Data operators),
in the Grafana dashboard ``dashboards/vidray_training.json``. They are
recorded with :mod:`ray.util.metrics` from inside the Ray workers and actors
and scraped from every node's metrics agent, which prefixes each name with
``ray_``; Prometheus adds ``_total`` to counters and ``_bucket`` / ``_sum`` /
``_count`` to histograms.

===========================================  =========  ============  ===============================================
metric (as exported)                         kind       tags          recorded by
===========================================  =========  ============  ===============================================
``ray_vidray_train_loss``                    gauge      run           rank 0, every optimizer step
``ray_vidray_train_lr``                      gauge      run           rank 0, every optimizer step
``ray_vidray_train_clips_per_second``        gauge      run           rank 0, every optimizer step (all ranks' clips)
``ray_vidray_train_steps_total``             counter    run           rank 0, every optimizer step
``ray_vidray_train_step_seconds``            histogram  run, rank     every rank, every optimizer step
``ray_vidray_train_epoch``                   gauge      run           rank 0, epochs completed
``ray_vidray_train_epoch_loss``              gauge      run           rank 0, mean training loss of the epoch
``ray_vidray_train_epoch_clips_per_second``  gauge      run           rank 0, clips per second over the epoch
``ray_vidray_val_top1``                      gauge      run           rank 0, after each evaluation
``ray_vidray_val_map``                       gauge      run           rank 0, after each evaluation
``ray_vidray_ingest_clips_total``            counter    run, dataset  decode tasks, clips decoded
``ray_vidray_ingest_skipped_total``          counter    run, dataset  decode tasks, videos skipped as unreadable
``ray_vidray_ingest_decode_seconds``         histogram  run, dataset  decode tasks, seconds to decode one clip
``ray_vidray_farm_latency_ms``               histogram  kind, device  device actors, median ms of each measurement
``ray_vidray_farm_measurements_total``       counter    kind, device  device actors, programs measured
``ray_vidray_farm_faults_total``             counter    kind, device  the farm client, devices that died measuring
===========================================  =========  ============  ===============================================

Tags stay few (runs x datasets, runs x ranks) so that Prometheus series stay
few. Ray builds a histogram's ``_sum`` from bucket midpoints: read histograms
through their buckets (``histogram_quantile``), not as ``_sum / _count``.

Outside Ray (plain Python, before ``ray.init``) the classes record nothing:
there is no metrics agent to export to, and a library call must not need a
cluster.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal

import ray
from ray.util import metrics as ray_metrics

EXPORT_PREFIX = "ray_"  # Ray's metrics agents prefix every application metric with it


@dataclass(frozen=True)
class MetricSpec:
    """One metric as registered with :mod:`ray.util.metrics`."""

    name: str
    kind: Literal["gauge", "counter", "histogram"]
    description: str
    tag_keys: tuple[str, ...]
    boundaries: tuple[float, ...] = ()  # histogram bucket upper bounds

    @property
    def exported_series(self) -> tuple[str, ...]:
        """The Prometheus series names the metric appears under after a scrape."""
        base = EXPORT_PREFIX + self.name
        if self.kind == "counter":
            return (base + "_total",)
        if self.kind == "histogram":
            return (base + "_bucket", base + "_sum", base + "_count")
        return (base,)


_STEP_SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_DECODE_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LATENCY_MS_BUCKETS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000)

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("vidray_train_loss", "gauge", "Training loss of the last optimizer step", ("run",)),
    MetricSpec("vidray_train_lr", "gauge", "Learning rate of the last optimizer step", ("run",)),
    MetricSpec(
        "vidray_train_clips_per_second", "gauge", "Training clips per second of the last step, all ranks", ("run",)
    ),
    MetricSpec("vidray_train_steps", "counter", "Optimizer steps taken", ("run",)),
    MetricSpec(
        "vidray_train_step_seconds",
        "histogram",
        "Seconds per optimizer step on each rank (a slow rank is a straggler)",
        ("run", "rank"),
        _STEP_SECONDS_BUCKETS,
    ),
    MetricSpec("vidray_train_epoch", "gauge", "Epochs completed", ("run",)),
    MetricSpec("vidray_train_epoch_loss", "gauge", "Mean training loss of the last epoch", ("run",)),
    MetricSpec(
        "vidray_train_epoch_clips_per_second", "gauge", "Training clips per second over the last epoch", ("run",)
    ),
    MetricSpec("vidray_val_top1", "gauge", "Top-1 accuracy of the last evaluation (0-1)", ("run",)),
    MetricSpec("vidray_val_map", "gauge", "Mean average precision of the last evaluation (0-1)", ("run",)),
    MetricSpec("vidray_ingest_clips", "counter", "Clips decoded by the decode tasks", ("run", "dataset")),
    MetricSpec("vidray_ingest_skipped", "counter", "Videos skipped as unreadable", ("run", "dataset")),
    MetricSpec(
        "vidray_ingest_decode_seconds",
        "histogram",
        "Seconds to decode one clip",
        ("run", "dataset"),
        _DECODE_SECONDS_BUCKETS,
    ),
    MetricSpec("vidray_farm_latency_ms", "histogram", "Median latency of each program measured on a device (ms)",
               ("kind", "device"), _LATENCY_MS_BUCKETS),
    MetricSpec("vidray_farm_measurements", "counter", "Programs measured on a device", ("kind", "device")),
    MetricSpec("vidray_farm_faults", "counter", "Devices that failed while measuring", ("kind", "device")),
)


@functools.cache
def _registered() -> dict[str, Any]:
    """This process's Ray metric objects, created once however many telemetry objects it makes."""
    created: dict[str, Any] = {}
    for spec in METRICS:
        if spec.kind == "gauge":
            created[spec.name] = ray_metrics.Gauge(spec.name, spec.description, spec.tag_keys)
        elif spec.kind == "counter":
            created[spec.name] = ray_metrics.Counter(spec.name, spec.description, spec.tag_keys)
        else:
            created[spec.name] = ray_metrics.Histogram(
                spec.name, spec.description, list(spec.boundaries), spec.tag_keys
            )
    return created


class _Telemetry:
    """Shared by both recorders: enabled only in a process connected to Ray."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags
        self.enabled = ray.is_initialized()
        self._metrics = _registered() if self.enabled else {}

    def _set(self, name: str, value: float | None) -> None:
        if self.enabled and value is not None:
            self._metrics[name].set(float(value), tags=self.tags)

    def _inc(self, name: str, value: float) -> None:
        if self.enabled and value > 0:  # Ray's counters refuse increments <= 0
            self._metrics[name].inc(float(value), tags=self.tags)

    def _observe(self, name: str, value: float, tags: dict[str, str]) -> None:
        if self.enabled:
            self._metrics[name].observe(float(value), tags=tags)


class TrainTelemetry(_Telemetry):
    """Live training metrics of one Ray Train worker.

    Every rank records its step time (to spot stragglers); only rank 0 records
    the job-level gauges, so each has one series per run.

    Pickles by its arguments: made in the driver and sent to a worker, it
    decides there whether to record.
    """

    def __init__(self, run_name: str, rank: int) -> None:
        super().__init__({"run": run_name})
        self.run_name, self.rank = run_name, rank
        self._rank_tags = {"run": run_name, "rank": str(rank)}

    def __reduce__(self) -> tuple[type, tuple[str, int]]:
        return TrainTelemetry, (self.run_name, self.rank)

    def step(self, loss: float, lr: float, clips_per_s: float, step_seconds: float) -> None:
        """One optimizer step: its loss, learning rate, clips per second (all ranks) and duration."""
        self._observe("vidray_train_step_seconds", step_seconds, self._rank_tags)
        if self.rank != 0:
            return
        self._set("vidray_train_loss", loss)
        self._set("vidray_train_lr", lr)
        self._set("vidray_train_clips_per_second", clips_per_s)
        self._inc("vidray_train_steps", 1)

    def epoch(self, epoch: int, train_loss: float, clips_per_s: float) -> None:
        """An epoch finished; ``epoch`` counts the epochs completed (1 after the first)."""
        if self.rank != 0:
            return
        self._set("vidray_train_epoch", epoch)
        self._set("vidray_train_epoch_loss", train_loss)
        self._set("vidray_train_epoch_clips_per_second", clips_per_s)

    def evaluation(self, top1: float | None, map_: float | None) -> None:
        """An evaluation finished; a metric the task does not compute is ``None`` and left alone."""
        if self.rank != 0:
            return
        self._set("vidray_val_top1", top1)
        self._set("vidray_val_map", map_)


class IngestTelemetry(_Telemetry):
    """Live metrics of one decode task (clips decoded, videos skipped, decode time).

    Pickles by its arguments, as :class:`TrainTelemetry`.
    """

    def __init__(self, dataset: str, run_name: str) -> None:
        super().__init__({"run": run_name, "dataset": dataset})
        self.dataset, self.run_name = dataset, run_name

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return IngestTelemetry, (self.dataset, self.run_name)

    def clips(self, n: int) -> None:
        """``n`` clips were decoded."""
        self._inc("vidray_ingest_clips", n)

    def skipped(self, n: int) -> None:
        """``n`` videos were skipped as unreadable."""
        self._inc("vidray_ingest_skipped", n)

    def decode_seconds(self, seconds: float) -> None:
        """Decoding one clip took ``seconds``."""
        self._observe("vidray_ingest_decode_seconds", seconds, self.tags)


class FarmTelemetry(_Telemetry):
    """Device farm metrics: each measurement (in the device's actor) and each device fault (in the client)."""

    def __init__(self) -> None:
        super().__init__({})

    def measured(self, kind: str, device: str, median_ms: float) -> None:
        tags = {"kind": kind, "device": device}
        self._observe("vidray_farm_latency_ms", median_ms, tags)
        if self.enabled:
            self._metrics["vidray_farm_measurements"].inc(1.0, tags=tags)

    def fault(self, kind: str, device: str) -> None:
        if self.enabled:
            self._metrics["vidray_farm_faults"].inc(1.0, tags={"kind": kind, "device": device})
