"""A data-layer dataset as Ray Datasets of decoded clips, one per epoch and shard.

A :class:`ClipSource` is made once per dataset by the driver (the dataset goes
to the object store, the decode task size is chosen); each training worker then
asks it for its shard of an epoch, :meth:`ClipSource.epoch`, a one-stage
streaming pipeline: the shard's clip numbers feed a pool of decode tasks (one
CPU each, on any node), which look each number up in the epoch's clip order
(:meth:`~vidray.data.LabeledVideoDataset.clip_order`) and decode it with the
dataset's own sampler, decoder and transforms.

Reproducible by construction: a clip is a pure function of ``(seed, epoch,
video, slot)``, rank ``r`` of ``W`` gets the clips ``r, r + W, r + 2W, ...`` of
the epoch's order, and the pipeline keeps its input order (Ray Data's
``preserve_order``), so the batches a worker trains on depend on ``(seed,
epoch, world size, manifest)`` only: not on which task finished first, nor on
the task size, which is chosen by timing.

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
:class:`~vidray.ingest.state.IngestState` before the task's clips are
returned; the epoch goes on.
"""

from __future__ import annotations

import logging
import statistics
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
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
        columns: Sequence[str] = CLIP_COLUMNS,
        torch_threads: int = 1,
        run_name: str = "",
    ) -> None:
        torch.set_num_threads(torch_threads)  # one decode task per CPU: no oversubscription
        self._dataset, self._name, self._state = dataset, name, state
        self._columns = tuple(columns)
        self._order: tuple[int, list[tuple[int, int]]] | None = None
        self._telemetry = IngestTelemetry(name, run_name)
        dataset.skip_listener = self._record_skip

    def __call__(self, batch: dict[str, np.ndarray], epoch: int) -> Iterator[dict[str, np.ndarray]]:
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
        if self._state is not None:  # waited for: the count is complete once the task's clips arrive
            ray.get(self._state.record_skip.remote(self._name, path, str(exc)))


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
    batch: dict[str, np.ndarray], *, key: str, dataset: list[Any], epoch: int, **options: Any
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
    yield from decoder(batch, epoch)


def clips_per_task_for(
    dataset: LabeledVideoDataset, decode_workers: int, *, task_seconds: float = TASK_SECONDS, probes: int = 3
) -> int:
    """Clips per decode task so that a task decodes for about ``task_seconds``.

    Times ``probes`` clips of epoch 0 here (the median, after one untimed
    decode that opens files and warms caches), assuming the decode nodes are
    as fast as this one; at most ``len(dataset) / (4 * decode_workers)`` so
    every worker has several tasks per epoch. Only speed depends on it: the
    clips and their order do not (module docstring).
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


def decode_tasks_per_shard(decode_workers: int | None, world_size: int) -> int | None:
    """Decode tasks each training worker's pipeline runs at a time: ``decode_workers`` split among
    the ``world_size`` workers, at least one each (``None``: as free CPUs allow)."""
    return None if decode_workers is None else max(1, decode_workers // world_size)


@dataclass(frozen=True)
class ClipSource:
    """A dataset ready to be decoded by Ray Data, any epoch, any shard; made once by the driver.

    Pickles small (the dataset itself is in the object store), so the driver
    sends it to every training worker, which calls :meth:`epoch` each epoch.
    Make one with :meth:`create`.
    """

    name: str
    num_clips: int
    clips_per_task: int
    decode_workers: int | None  # decode tasks at a time over all shards; None: as many as free CPUs allow
    num_cpus: float
    resources: dict[str, float] | None
    columns: tuple[str, ...]
    run_name: str
    state: Any  # an IngestState actor, or None
    object_store_memory: int | None  # bytes of object store one pipeline may hold; None: Ray Data's default
    key: str = field(default_factory=lambda: uuid.uuid4().hex)  # names this source's decoders in the task processes
    dataset_ref: tuple[Any, ...] = ()  # (ObjectRef,): a tuple so Ray passes the reference, not the dataset

    @classmethod
    def create(
        cls,
        dataset: LabeledVideoDataset,
        *,
        name: str,
        state: Any = None,
        decode_workers: int | None = 2,
        clips_per_task: int | None = None,
        num_cpus: float = 1.0,
        resources: dict[str, float] | None = None,
        columns: Sequence[str] = CLIP_COLUMNS,
        run_name: str = "",
        object_store_memory: int | None = None,
    ) -> "ClipSource":
        """Puts ``dataset`` in the object store and, unless ``clips_per_task`` is given, times a few
        clips to size the decode tasks (:func:`clips_per_task_for`)."""
        num_clips = len(dataset)
        if num_clips == 0:
            raise DataError(f"dataset {name!r}: no clips to decode (every video is unreadable or too short)")
        if clips_per_task is None:
            workers = decode_workers or max(1, int(ray.cluster_resources().get("CPU", 1) // num_cpus))
            clips_per_task = clips_per_task_for(dataset, workers)
            logger.info("dataset %r: %d clips per decode task (~%.0f s each)", name, clips_per_task, TASK_SECONDS)
        return cls(
            name=name, num_clips=num_clips, clips_per_task=clips_per_task, decode_workers=decode_workers,
            num_cpus=num_cpus, resources=resources or None, columns=tuple(columns), run_name=run_name, state=state,
            object_store_memory=object_store_memory, dataset_ref=(ray.put(dataset),),
        )

    def shard_numbers(self, rank: int = 0, world_size: int = 1, *, equal: bool = False) -> range:
        """Positions in the epoch's clip order that rank ``rank`` of ``world_size`` decodes: every
        ``world_size``-th from ``rank``; ``equal``: as many for every rank (the remainder is dropped,
        as DDP needs equal step counts)."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        stop = (self.num_clips // world_size) * world_size if equal else self.num_clips
        return range(rank, stop, world_size)

    def epoch(self, epoch: int, *, rank: int = 0, world_size: int = 1, equal: bool = False) -> "ray.data.Dataset":
        """The clips of ``epoch`` for rank ``rank`` of ``world_size`` (all clips by default), in order."""
        numbers = self.shard_numbers(rank, world_size, equal=equal)
        if not numbers:
            raise DataError(f"dataset {self.name!r}: {self.num_clips} clips leave none for rank {rank} of {world_size}")
        # Built in the caller (no read tasks), so no CPU is held back from the decode tasks.
        source = ray.data.from_items(
            [{"id": i} for i in numbers], override_num_blocks=max(1, -(-len(numbers) // self.clips_per_task))
        )
        workers = decode_tasks_per_shard(self.decode_workers, world_size)
        options = {"name": self.name, "state": self.state, "columns": self.columns, "run_name": self.run_name}
        clips = source.map_batches(
            decode_clips,
            fn_kwargs={"key": self.key, "dataset": list(self.dataset_ref), "epoch": epoch, **options},
            batch_size=self.clips_per_task,
            batch_format="numpy",
            compute=ray.data.TaskPoolStrategy(size=workers),
            num_cpus=self.num_cpus,
            resources=self.resources,
        )
        execution = clips.context.execution_options
        execution.preserve_order = True  # the shard's clips in the order of its numbers (module docstring)
        if self.object_store_memory is not None:
            execution.resource_limits = execution.resource_limits.copy(object_store_memory=self.object_store_memory)
        clips.context.enable_progress_bars = False  # one bar per worker and epoch would flood the job's log
        clips.set_name(f"{self.name}-epoch{epoch}-rank{rank}")
        return clips


def clip_dataset(dataset: LabeledVideoDataset, *, name: str, epoch: int = 0, **options: Any) -> "ray.data.Dataset":
    """All clips of one ``epoch`` of ``dataset`` as a lazily executed, streaming, ordered Ray Dataset.

    ``options`` are :meth:`ClipSource.create`'s: ``state`` (an
    :class:`~vidray.ingest.state.IngestState` that counts skipped videos),
    ``decode_workers``, ``clips_per_task``, ``num_cpus``, ``resources`` (e.g.
    ``{"decode": 1}`` to keep decoding on the nodes that offer it), ``columns``,
    ``run_name`` (tags the live ingest metrics), ``object_store_memory``.
    Training makes a :class:`ClipSource` once and takes a shard of it per epoch.
    """
    return ClipSource.create(dataset, name=name, **options).epoch(epoch)
