"""A data-layer dataset as a Ray Dataset of decoded clips, sharded across the cluster.

The pipeline is one streaming stage: the clip numbers ``0 .. clips_per_epoch - 1``
feed a pool of decode tasks (one CPU each, on any node), which look each
number up in the epoch's clip order
(:meth:`~vidray.data.LabeledVideoDataset.clip_order`) and decode it with the
dataset's own sampler, decoder and transforms. Everything the data layer
guarantees carries over: a clip is a pure function of ``(seed, epoch, video,
slot)``, so it does not matter which task decodes it, and a restarted epoch
decodes the same clips.

Tasks rather than actors: Ray Data starts a new actor pool for every
execution, i.e. every epoch, and a decode actor pays for importing torch and
the decoders each time; Ray keeps task worker processes alive between tasks,
so each process loads the dataset (from the object store) once and keeps it,
with its clip order and open file, in :data:`_DECODERS`.

Tasks are sized by time (:func:`clips_per_task_for`): when several tasks run,
Ray Data's streaming executor notices a finished one only at its next poll
(``ray.wait`` with a 0.1 s timeout, then a second pass for the end of the
task's output stream), so a decode process idles ~0.1-0.2 s between tasks.
Tasks of ~2 s keep that idle time under 10%; tasks of a few clips lose a
third of the CPU (measured with ``benchmarks/ingest.py``).

Clips stay ``uint8 [C, T, H, W]`` numpy arrays until the trainer moves them
to its device; the views of a multi-clip sample (``random_multi``, for
self-supervised methods) are stacked to ``[V, C, T, H, W]``. Videos that
cannot be read are skipped in the task, logged, and counted in
:class:`~vidray.ingest.state.IngestState`; the epoch goes on.
"""

from __future__ import annotations

import logging
import statistics
import time
import uuid
from collections import OrderedDict
from typing import Any, Iterator, Sequence

import numpy as np
import ray
import torch

from vidray.data import LabeledVideoDataset
from vidray.errors import DataError
from vidray.tracking.telemetry import IngestTelemetry

logger = logging.getLogger(__name__)

CLIP_COLUMNS = ("video", "label", "video_index", "clip_index", "aug_index")
TASK_SECONDS = 2.0  # decode time per task that makes Ray Data's per-task latency negligible (module docstring)
MIN_TASKS_PER_WORKER = 4  # per epoch: big tasks must not leave decode workers idle at the epoch's end


class ClipDecoder:
    """Decodes batches of clip numbers of one pipeline; one per pipeline per worker process."""

    def __init__(
        self,
        dataset: LabeledVideoDataset,
        name: str,
        state: Any = None,
        epoch: int | None = None,
        columns: Sequence[str] = CLIP_COLUMNS,
        torch_threads: int = 1,
        run_name: str = "",
    ) -> None:
        torch.set_num_threads(torch_threads)  # one decode task per CPU: no oversubscription
        self._dataset, self._name, self._state = dataset, name, state
        self._fixed_epoch, self._columns = epoch, tuple(columns)
        self._order: tuple[int, list[tuple[int, int]]] | None = None
        self._telemetry = IngestTelemetry(name, run_name)
        dataset.skip_listener = self._record_skip

    def __call__(self, batch: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
        epoch = self._current_epoch()
        order = self._clip_order(epoch)
        rows = []
        for clip_number in batch["id"]:
            video_index, slot = order[int(clip_number)]
            start = time.perf_counter()
            sample = self._dataset.load_clip(video_index, slot, epoch)
            if sample is not None:
                self._telemetry.decode_seconds(time.perf_counter() - start)
                rows.append(self._row(sample))
        self._telemetry.clips(len(rows))
        if rows:  # a batch whose videos all failed yields nothing
            yield {column: _stack(column, [row[column] for row in rows]) for column in rows[0]}

    def _current_epoch(self) -> int:
        if self._fixed_epoch is not None:
            return self._fixed_epoch
        return ray.get(self._state.epoch.remote(self._name)) if self._state is not None else 0

    def _clip_order(self, epoch: int) -> list[tuple[int, int]]:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, self._dataset.clip_order(epoch))
        return self._order[1]

    def _row(self, sample: dict[str, Any]) -> dict[str, np.ndarray]:
        row = {}
        for column in self._columns:
            if column not in sample:
                raise DataError(
                    f"dataset {self._name!r}: samples have no {column!r} entry "
                    f"(they have {sorted(sample)}); check the dataset and its transform"
                )
            value = sample[column]
            if isinstance(value, (list, tuple)) and value and isinstance(value[0], torch.Tensor):
                value = _stack(column, [view.numpy() for view in value])  # views of a multi-clip sample
            row[column] = value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        return row

    def _record_skip(self, path: str, exc: Exception) -> None:
        self._telemetry.skipped(1)
        if self._state is not None:
            self._state.record_skip.remote(self._name, path, str(exc))


def _stack(column: str, values: list[np.ndarray]) -> np.ndarray:
    shapes = {value.shape for value in values}
    if len(shapes) > 1:
        raise DataError(
            f"column {column!r}: clips of one batch differ in shape {sorted(shapes)}; "
            "add a transform that fixes the size (e.g. a crop and UniformTemporalSubsample)"
        )
    return np.stack(values)


_DECODERS: OrderedDict[str, ClipDecoder] = OrderedDict()  # this process's decoders, by pipeline key
MAX_DECODERS = 4  # pipelines a worker process keeps ready (train and val of a job or two)


def decode_clips(
    batch: dict[str, np.ndarray], *, key: str, dataset: list[Any], **options: Any
) -> Iterator[dict[str, np.ndarray]]:
    """The ``map_batches`` function: this process's decoder for pipeline ``key`` decodes ``batch``.

    ``dataset`` holds the dataset's object reference (in a list, so Ray passes
    the reference rather than the object to every task); it is fetched once
    per process.
    """
    decoder = _DECODERS.get(key)
    if decoder is None:
        decoder = _DECODERS[key] = ClipDecoder(ray.get(dataset[0]), **options)
        while len(_DECODERS) > MAX_DECODERS:
            _DECODERS.popitem(last=False)
    _DECODERS.move_to_end(key)
    yield from decoder(batch)


def clips_per_task_for(
    dataset: LabeledVideoDataset, decode_workers: int, *, task_seconds: float = TASK_SECONDS, probes: int = 3
) -> int:
    """Clips per decode task so that a task decodes for about ``task_seconds``.

    Times ``probes`` clips of epoch 0 here (the median, after one untimed
    decode that opens files and warms caches), assuming the decode nodes are
    as fast as this one; at most ``len(dataset) / (4 * decode_workers)`` so
    every worker has several tasks per epoch.
    """
    order = dataset.clip_order(0)
    if not order:
        raise DataError("no clips to decode (every video is unreadable or too short)")
    picks = [order[i * len(order) // (probes + 1)] for i in range(probes + 1)]
    seconds = []
    for index, (video_index, slot) in enumerate(picks):
        start = time.perf_counter()
        if dataset.load_clip(video_index, slot, 0) is not None and index > 0:
            seconds.append(time.perf_counter() - start)
    per_clip = statistics.median(seconds) if seconds else task_seconds  # unreadable probes: one clip per task
    wanted = max(1, round(task_seconds / max(per_clip, 1e-6)))
    return max(1, min(wanted, len(dataset) // (MIN_TASKS_PER_WORKER * decode_workers)))


def clip_dataset(
    dataset: LabeledVideoDataset,
    *,
    name: str,
    state: Any = None,
    epoch: int | None = None,
    decode_workers: int | None = 2,
    clips_per_task: int | None = None,
    num_cpus: float = 1.0,
    resources: dict[str, float] | None = None,
    columns: Sequence[str] = CLIP_COLUMNS,
    run_name: str = "",
) -> "ray.data.Dataset":
    """The clips of ``dataset`` as a lazily executed, streaming Ray Dataset.

    Args:
        dataset: any dataset of the data layer (its sampler, decoder and transforms apply).
        name: names the dataset in the state actor and in Ray's progress output.
        state: an :class:`~vidray.ingest.state.IngestState`; with ``epoch=None`` each
            execution decodes the epoch the state holds for ``name`` (the training
            engine advances it), and skipped videos are counted there.
        epoch: decode this fixed epoch every time (evaluation: the same clips each pass).
        decode_workers: decode tasks at a time (``None``: as many as the cluster's free CPUs allow).
        clips_per_task: clips per decode task (also the block size of the output);
            ``None``: :func:`clips_per_task_for` times a few clips and picks it.
        num_cpus: CPUs reserved per decode task.
        resources: custom resources per decode task, e.g. ``{"decode": 1}`` to keep
            decoding on the nodes that offer it.
        columns: sample entries kept as columns.
        run_name: tags the live ingest metrics (see :mod:`vidray.tracking.telemetry`).
    """
    num_clips = len(dataset)
    if num_clips == 0:
        raise DataError(f"dataset {name!r}: no clips to decode (every video is unreadable or too short)")
    if clips_per_task is None:
        workers = decode_workers or max(1, int(ray.cluster_resources().get("CPU", 1) // num_cpus))
        clips_per_task = clips_per_task_for(dataset, workers)
        logger.info("dataset %r: %d clips per decode task (~%.0f s each)", name, clips_per_task, TASK_SECONDS)
    # Built in the driver (no read tasks), so no CPU is held back from the decode actors.
    numbers = [{"id": i} for i in range(num_clips)]
    source = ray.data.from_items(numbers, override_num_blocks=max(1, -(-num_clips // clips_per_task)))
    options = {"name": name, "state": state, "epoch": epoch, "columns": tuple(columns), "run_name": run_name}
    clips = source.map_batches(
        decode_clips,
        fn_kwargs={"key": uuid.uuid4().hex, "dataset": [ray.put(dataset)], **options},
        batch_size=clips_per_task,
        batch_format="numpy",
        compute=ray.data.TaskPoolStrategy(size=decode_workers),
        num_cpus=num_cpus,
        resources=resources or None,
    )
    clips.set_name(name)
    return clips
