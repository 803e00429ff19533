"""``LabeledVideoDataset``: labelled clips from a list of videos, map-style and iterable.

PyTorchVideo's dataset was only an ``IterableDataset``: no ``len``, no
``random_split``, no samplers, and with several workers every worker shuffled
the videos on its own, so clips were duplicated and others dropped. vidray
fixes that by making every clip a pure function of ``(video, epoch, seed)``,
its random augmentation included (the transform draws from torch's generator
seeded for that clip, whichever process or worker runs it):

* **iterable** (``DataLoader(dataset)``, PyTorchVideo's way): the clips of an
  epoch are ordered by ``video_sampler`` from one seed shared by all workers,
  then split into contiguous shards, one per worker: each clip exactly once;
* **map-style** (``dataset[i]``, ``len(dataset)``, ``random_split``, any
  sampler through :meth:`map_style`): item ``i`` is the ``i``-th clip in
  video order.

A video that cannot be read is skipped, logged and counted
(:attr:`skipped_samples`, shared by all DataLoader workers), never a crash of
the epoch: iteration moves on; map-style access returns ``None``, which
:func:`vidray.data.collate.collate_skipping_none` drops from a batch.
"""

from __future__ import annotations

import bisect
import logging
import multiprocessing
import multiprocessing.context
import os
import random
import threading
from typing import Any, Callable, Iterator, Protocol, Sequence

import torch
from torch.utils.data import RandomSampler, Sampler, get_worker_info

from vidray import io as vio
from vidray.data.clip_sampling import ClipInfo, ClipInfoList, ClipSampler
from vidray.data.encoded_video import EncodedVideo
from vidray.data.flow import FlowStream
from vidray.data.frame_video import FrameVideo
from vidray.data.imu import IMUStream
from vidray.data.video import ClipWindow, FrameFilter, Video, uniform_frame_filter
from vidray.errors import ConfigError, DataError
from vidray.registry import Registry

logger = logging.getLogger(__name__)

# Keys of an annotation dict that steer loading and are not copied into samples.
SEGMENT_KEY = "segment"  # (start_sec, end_sec): sample clips only inside this part of the video
DURATION_KEY = "duration"  # known length in seconds, saves probing the file
FRAME_PATHS_KEY = "frame_paths"  # explicit frame files of a FrameVideo
FPS_KEY = "fps"  # frame rate of a frame folder
LOADING_KEYS = frozenset({SEGMENT_KEY, DURATION_KEY, FRAME_PATHS_KEY, FPS_KEY})

DATASETS: Registry[Callable[..., "LabeledVideoDataset"]] = Registry("datasets")

Transform = Callable[[dict[str, Any]], dict[str, Any] | None]


class ClipStream(Protocol):
    """A stream loaded beside a clip's video (optical flow, IMU) when the video's info names its file."""

    info_keys: frozenset[str]  # the info keys it reads; they steer loading and stay out of samples

    def load_clips(self, info: dict[str, Any], video: Video, windows: Sequence[ClipWindow]) -> list[dict[str, Any]]:
        """Sample entries for each window (``{}`` where ``info`` names no file of this stream)."""


def default_streams() -> list[ClipStream]:
    """``"flow"`` for videos whose info has ``"flow_path"``, ``"imu"`` for those with ``"imu_path"``."""
    return [FlowStream(), IMUStream()]


class SharedInt:
    """An integer shared by the DataLoader worker processes of one dataset
    (skip counts, the epoch set by :meth:`LabeledVideoDataset.set_epoch`).

    Backed by shared memory while the dataset travels to worker processes
    (forked or spawned, persistent or not); any other copy (pickling for Ray,
    ``deepcopy``) starts its own process-local value, so a Ray actor holding a
    copy creates no shared-memory semaphores (their tracker process does not
    survive Ray's worker teardown quietly).
    """

    def __init__(self, start: int = 0) -> None:
        # A spawn-context lock also survives fork; a fork-context one cannot be sent to spawned workers.
        self._value = multiprocessing.get_context("spawn").Value("q", start)

    def increment(self) -> None:
        with self._value.get_lock():
            self._value.value += 1

    @property
    def value(self) -> int:
        return int(self._value.value)

    @value.setter
    def value(self, value: int) -> None:
        self._value.value = value

    def __getstate__(self) -> dict[str, Any]:
        if multiprocessing.context.get_spawning_popen() is not None:
            return {"shared": self._value}
        return {"start": self.value}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._value = state["shared"] if "shared" in state else _LocalValue(state["start"])


class _LocalValue:
    """The ``multiprocessing.Value`` interface for a value that stays in one process."""

    def __init__(self, value: int) -> None:
        self.value = value
        self._lock = threading.Lock()

    def get_lock(self) -> threading.Lock:
        return self._lock


class VideoSamplerView:
    """What ``dataset.video_sampler`` returns: the video sampler, whose ``set_epoch``
    sets the dataset's epoch (PyTorchVideo's DDP recipe calls
    ``dataset.video_sampler.set_epoch(epoch)``)."""

    def __init__(self, dataset: "LabeledVideoDataset", sampler: Sampler) -> None:
        self._dataset, self._sampler = dataset, sampler

    def set_epoch(self, epoch: int) -> None:
        self._dataset.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        return iter(self._dataset._video_order(self._dataset._epoch_key()))

    def __len__(self) -> int:
        return len(self._sampler)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sampler, name)


class LabeledVideoDataset(torch.utils.data.IterableDataset):
    """Clips and labels from ``(path, annotation dict)`` pairs.

    Args:
        labeled_video_paths: ``(path, info)`` per video; ``path`` is a video
            file, a frame folder or an ``s3://`` URI; ``info`` (e.g.
            ``{"label": 3}``) is copied into every sample of the video. The
            keys ``segment``, ``duration``, ``frame_paths`` and ``fps`` steer
            loading instead (see the module constants), as do the keys of
            ``streams`` (``flow_path``, ``imu_path``, ``imu_options``).
        clip_sampler: chooses the clips of each video.
        video_sampler: the order of videos in iteration (a sampler class such
            as ``RandomSampler``, ``SequentialSampler`` or
            ``DistributedSampler``, or an instance).
        transform: applied to each sample dict; returning ``None`` drops it.
        decode_audio / decode_video: which streams to decode.
        decoder: registered decoder name for encoded files.
        frames_per_clip: decode only this many evenly spaced frames of each
            clip (what ``UniformTemporalSubsample(frames_per_clip)`` would
            keep) instead of every frame in the window.
        decoder_args: extra decoder arguments, e.g. ``{"short_side_size": 256}``.
        seed: fixes random clip choice and video order (per epoch, see
            :meth:`set_epoch`); ``None`` draws one at construction.
        classes: class names, ``classes[label]`` names a label.
        missing_videos: annotated videos whose files do not exist (left out
            when the annotations were read; kept here to be reported).
        streams: extra streams added to each sample, aligned with its clip
            (default :func:`default_streams`: optical flow and IMU).
    """

    def __init__(
        self,
        labeled_video_paths: Sequence[tuple[str, dict[str, Any] | None]],
        clip_sampler: ClipSampler,
        video_sampler: type[Sampler] | Sampler = RandomSampler,
        transform: Transform | None = None,
        decode_audio: bool = True,
        decode_video: bool = True,
        decoder: str = "pyav",
        *,
        frames_per_clip: int | None = None,
        decoder_args: dict[str, Any] | None = None,
        seed: int | None = None,
        classes: Sequence[str] | None = None,
        missing_videos: Sequence[str] = (),
        streams: Sequence[ClipStream] | None = None,
    ) -> None:
        self._videos = [(str(path), dict(info or {})) for path, info in labeled_video_paths]
        if not self._videos:
            detail = f" ({len(missing_videos)} annotated videos are missing)" if missing_videos else ""
            raise DataError(f"LabeledVideoDataset: the list of videos is empty{detail}")
        if frames_per_clip is not None and frames_per_clip < 1:
            raise ValueError(f"frames_per_clip must be >= 1, got {frames_per_clip}")
        self._clip_sampler = clip_sampler
        self._video_sampler = video_sampler
        self._transform = transform
        self._decode_audio = decode_audio
        self._decode_video = decode_video
        self._decoder = decoder
        self._frame_filter = uniform_frame_filter(frames_per_clip) if frames_per_clip else None
        self._decoder_args = dict(decoder_args or {})
        self._seed = seed if seed is not None else random.SystemRandom().randrange(2**63)
        self.classes = list(classes) if classes is not None else None
        self.missing_videos = list(missing_videos)
        self._streams = list(streams) if streams is not None else default_streams()
        self._reserved_keys = LOADING_KEYS.union(*(stream.info_keys for stream in self._streams))
        self._epoch = SharedInt(-1)  # -1: not set; iterations count epochs instead
        self._iterations = 0
        self._clip_counts: list[int] | None = None
        self._offsets: list[int] | None = None
        self._skipped = SharedInt()
        # Called with (path, error) for every skipped sample, e.g. to count skips across a cluster.
        self.skip_listener: Callable[[str, Exception], None] | None = None
        self._check_video_sampler()
        self._open_video: tuple[int, str, Video] | None = None  # (pid, path, video)
        self._clip_cache: tuple[tuple[int, Any, Any], dict[str, Any]] | None = None

    # ------------------------------------------------------------------ public API
    @property
    def num_videos(self) -> int:
        return len(self._videos)

    @property
    def labeled_video_paths(self) -> list[tuple[str, dict[str, Any]]]:
        return list(self._videos)

    @property
    def skipped_samples(self) -> int:
        """Samples skipped because their video could not be read (all workers together)."""
        return self._skipped.value

    @property
    def video_sampler(self) -> VideoSamplerView:
        return VideoSamplerView(self, self._build_video_sampler())

    def set_epoch(self, epoch: int) -> None:
        """Fixes the epoch: clip choice and order then depend only on ``(seed, epoch)``,
        in every DataLoader worker, persistent ones included."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._epoch.value = int(epoch)

    def __len__(self) -> int:
        """Clips per epoch (probes video durations once if the sampler needs them)."""
        return self._clip_offsets()[-1]

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        """The ``index``-th clip in video order; ``None`` if its video cannot be read."""
        offsets = self._clip_offsets()
        if index < 0:
            index += offsets[-1]
        if not 0 <= index < offsets[-1]:
            raise IndexError(f"clip index {index} out of range for a dataset of {offsets[-1]} clips")
        video_index = bisect.bisect_right(offsets, index) - 1
        return self._load_sample(video_index, index - offsets[video_index], self._epoch_key())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """One epoch in ``video_sampler`` order, sharded across DataLoader workers."""
        self._iterations += 1  # without set_epoch, each pass over this copy is a new epoch
        epoch_key = self._epoch_key()
        items = self._clip_order(epoch_key)
        worker = get_worker_info()
        if worker is not None:
            begin = len(items) * worker.id // worker.num_workers
            end = len(items) * (worker.id + 1) // worker.num_workers
            items = items[begin:end]
        for video_index, slot in items:
            sample = self._load_sample(video_index, slot, epoch_key)
            if sample is not None:
                yield sample
        self._close_video()

    def clip_order(self, epoch: int) -> list[tuple[int, int]]:
        """``(video_index, clip_slot)`` of every clip of ``epoch``, in ``video_sampler`` order.

        With :meth:`load_clip` this lets any executor (Ray Data's decode actors)
        load an epoch's clips in any split: each pair is a pure function of
        ``(seed, epoch)``, whoever loads it.
        """
        return self._clip_order(self._epoch_key_of(epoch))

    def clips_per_video(self) -> list[int]:
        """Clips each video yields per epoch (0 for unreadable ones; probes durations once if needed)."""
        return list(self._clip_count_list())

    def load_clip(self, video_index: int, clip_slot: int, epoch: int) -> dict[str, Any] | None:
        """One clip of :meth:`clip_order`; ``None`` (skipped, logged, counted) if its video is unreadable."""
        return self._load_sample(video_index, clip_slot, self._epoch_key_of(epoch))

    def map_style(self) -> torch.utils.data.Dataset:
        """A map-style view (``torch.utils.data.Dataset``) for samplers such as
        ``DistributedSampler`` or ``WeightedRandomSampler``."""
        return torch.utils.data.Subset(self, range(len(self)))

    # ------------------------------------------------------------------ epoch bookkeeping
    def _epoch_key(self) -> str:
        """Identifies an epoch identically in every worker of one DataLoader pass.

        Set by :meth:`set_epoch`; otherwise the passes over the dataset are
        counted, and worker processes add the DataLoader's base seed, which
        changes every epoch (and follows ``torch.manual_seed``).
        """
        if self._epoch.value >= 0:
            return self._epoch_key_of(self._epoch.value)
        worker = get_worker_info()
        if worker is None:
            return f"{self._seed}:i{self._iterations}"
        return f"{self._seed}:w{worker.seed - worker.id}:i{self._iterations}"

    def _epoch_key_of(self, epoch: int) -> str:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        return f"{self._seed}:{epoch}"

    def _clip_order(self, epoch_key: str) -> list[tuple[int, int]]:
        counts = self._clip_count_list()
        return [(v, slot) for v in self._video_order(epoch_key) for slot in range(counts[v])]

    def _build_video_sampler(self) -> Sampler:
        sampler = self._video_sampler
        return sampler(range(self.num_videos)) if isinstance(sampler, type) else sampler

    def _check_video_sampler(self) -> None:
        """Builds the video sampler once, so a sampler that cannot work (e.g.
        ``DistributedSampler`` without a process group) fails now, not in a worker."""
        try:
            self._build_video_sampler()
        except (ValueError, RuntimeError, TypeError) as exc:
            name = getattr(self._video_sampler, "__name__", type(self._video_sampler).__name__)
            raise ConfigError(f"LabeledVideoDataset: video_sampler {name} cannot be built: {exc}") from None

    def _video_order(self, epoch_key: str) -> list[int]:
        """The sampler's video order, drawn from torch's RNG seeded by the epoch key,
        so every worker (and every rank) computes the same order."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(random.Random(epoch_key).randrange(2**63))
            sampler = self._build_video_sampler()
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(max(self._epoch.value, 0))
            return [int(i) for i in sampler]

    # ------------------------------------------------------------------ clip index
    def _clip_count_list(self) -> list[int]:
        if self._clip_counts is None:
            fixed = self._clip_sampler.clips_per_video
            if fixed is not None:
                self._clip_counts = [fixed] * self.num_videos
            else:
                self._clip_counts = [self._count_clips(v) for v in range(self.num_videos)]
        return self._clip_counts

    def _clip_offsets(self) -> list[int]:
        if self._offsets is None:
            offsets = [0]
            for count in self._clip_count_list():
                offsets.append(offsets[-1] + count)
            self._offsets = offsets
        return self._offsets

    def _count_clips(self, video_index: int) -> int:
        """Clips a duration-dependent (deterministic) sampler makes of one video; 0 if unreadable."""
        path, info = self._videos[video_index]
        try:
            duration = self._sampling_window(video_index)[1]
        except DataError as exc:
            worker = get_worker_info()
            if worker is None or worker.id == 0:  # every worker probes every video: count once
                self._record_skip(path, exc)
            return 0
        return len(self._clip_sampler.sample_all(duration, info, random.Random(0)))

    def _sampling_window(self, video_index: int) -> tuple[float, float]:
        """(offset, length) in seconds of the part of the video clips are sampled from."""
        _, info = self._videos[video_index]
        if SEGMENT_KEY in info:
            start, end = (float(t) for t in info[SEGMENT_KEY])
            return start, end - start
        if DURATION_KEY in info:
            return 0.0, float(info[DURATION_KEY])
        return 0.0, self._video(video_index).duration

    # ------------------------------------------------------------------ loading
    def _video(self, video_index: int) -> Video:
        """The open video, reusing the last one opened (consecutive clips, AVA's
        keyframes and EPIC's narrations usually share a file).

        A video opened by another process (a forked DataLoader worker inherits
        it) is never reused: its file offset is shared with that process.
        """
        path, info = self._videos[video_index]
        if self._open_video is not None:
            pid, open_path, video = self._open_video
            if pid == os.getpid() and open_path == path:
                return video
            if pid != os.getpid():
                self._open_video = self._clip_cache = None
        self._close_video()
        video = self.open_video(path, info)
        self._open_video = (os.getpid(), path, video)
        return video

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_open_video"] = state["_clip_cache"] = None  # open files do not travel
        return state

    def open_video(self, path: str, info: dict[str, Any]) -> Video:
        """Opens one video: explicit frame paths, a frame folder, or an encoded file."""
        if FRAME_PATHS_KEY in info:
            return FrameVideo.from_frame_paths(info[FRAME_PATHS_KEY], fps=info.get(FPS_KEY, 30.0), **self._frame_args())
        if vio.is_dir(path):
            return FrameVideo.from_directory(path, fps=info.get(FPS_KEY, 30.0), **self._frame_args())
        return EncodedVideo.from_path(
            path,
            decode_video=self._decode_video,
            decode_audio=self._decode_audio,
            decoder=self._decoder,
            **self._decoder_args,
        )

    def _frame_args(self) -> dict[str, Any]:
        return {k: v for k, v in self._decoder_args.items() if k in ("short_side_size", "multithreaded_io")}

    def _close_video(self) -> None:
        if self._open_video is not None:
            self._open_video[2].close()
            self._open_video = None

    def _load_sample(self, video_index: int, slot: int, epoch_key: str) -> dict[str, Any] | None:
        path, info = self._videos[video_index]
        try:
            offset, length = self._sampling_window(video_index)
            clips = self._clip_sampler.sample_all(length, info, random.Random(f"{epoch_key}:{video_index}"))
            if slot >= len(clips):
                raise DataError(f"{path}: has {len(clips)} clips now, expected more than {slot}")
            clip = clips[slot]
            video = self._video(video_index)
            windows = [
                video.plan_window(start, end, self.frame_filter(video_index, clip, view, epoch_key))
                for view, (start, end) in enumerate(self.clip_windows(video_index, clip, offset, length))
            ]
            loaded = self._load_windows(video_index, video, windows, many=isinstance(clip, ClipInfoList))
        except DataError as exc:
            self._record_skip(path, exc)
            return None
        sample = {
            **loaded,
            "video_name": video.name,
            "video_index": video_index,
            "clip_index": clip.clip_index,
            "aug_index": clip.aug_index,
            **{k: v for k, v in info.items() if k not in self._reserved_keys},
            **self.clip_annotation(info, clip, windows, video),
        }
        if self._transform is None:
            return sample
        with torch.random.fork_rng(devices=[]):  # the augmentation's draws belong to this clip alone
            torch.manual_seed(random.Random(f"{epoch_key}:{video_index}:{slot}").randrange(2**63))
            return self._transform(sample)

    # ------------------------------------------------------------------ hooks for datasets
    def clip_windows(
        self, video_index: int, clip: ClipInfo | ClipInfoList, offset: float, length: float
    ) -> list[tuple[Any, Any]]:
        """Video-time windows to decode for a sampled clip (one per clip of a
        :class:`ClipInfoList`); they end at the sampling window's end at the latest,
        so a segment's clip never shows frames from outside the segment."""
        starts = clip.clip_start_sec if isinstance(clip, ClipInfoList) else [clip.clip_start_sec]
        ends = clip.clip_end_sec if isinstance(clip, ClipInfoList) else [clip.clip_end_sec]
        return [(offset + start, offset + min(end, length)) for start, end in zip(starts, ends)]

    def frame_filter(
        self, video_index: int, clip: ClipInfo | ClipInfoList, view: int, epoch_key: str
    ) -> FrameFilter | None:
        """Which frames of a window to decode (``frames_per_clip`` evenly spaced by default).

        ``epoch_key`` seeds any randomness, so all workers agree on a sample.
        """
        return self._frame_filter

    def clip_annotation(
        self, info: dict[str, Any], clip: ClipInfo | ClipInfoList, windows: list[ClipWindow], video: Video
    ) -> dict[str, Any]:
        """Per-clip targets added to a sample; datasets whose labels vary in time override it.

        ``windows`` hold each decoded clip's window and frame indices (frame ``i``
        is shown at ``i / video.fps``).
        """
        return {}

    # ------------------------------------------------------------------ decoding
    def _load_windows(self, video_index: int, video: Video, windows: list[ClipWindow], many: bool) -> dict[str, Any]:
        """Decoded streams of a clip (lists of them for several windows), cached for its augmentations."""
        key = (video_index, tuple(windows))
        if self._clip_cache is not None and self._clip_cache[0] == key:
            decoded = self._clip_cache[1]
        else:
            decoded = self._decode_windows(video_index, video, windows)
            self._clip_cache = (key, decoded)
        if many:
            return {name: [d[name] for d in decoded] for name in decoded[0] if decoded[0][name] is not None}
        return {name: value for name, value in decoded[0].items() if value is not None}

    def _decode_windows(self, video_index: int, video: Video, windows: list[ClipWindow]) -> list[dict[str, Any]]:
        keep = ("video", "audio") if self._decode_video else ("audio",)
        decoded = [{k: clip.get(k) for k in keep} for clip in video.read_windows(windows)]
        info = self._videos[video_index][1]
        for stream in self._streams:
            for entries, extra in zip(decoded, stream.load_clips(info, video, windows)):
                entries.update(extra)
        return decoded

    def _record_skip(self, path: str, exc: Exception) -> None:
        self._skipped.increment()
        logger.warning("skipping %s: %s (%d skipped so far)", path, exc, self._skipped.value)
        if self.skip_listener is not None:
            self.skip_listener(path, exc)
