"""Dataset preparation as a Ray job: a whole dataset transcoded across the cluster into a training form.

``prepare_dataset`` reads the videos of a manifest or of any data-layer
dataset, runs one Ray task per video (one CPU each, a bounded number in
flight) that transcodes it with :func:`~vidray.ingest.transcode.transcode_video`,
and writes ``<output>/manifest.jsonl``: the same videos, labels and classes,
pointing at the new files (paths relative to the manifest, so the prepared
folder can be copied or synced elsewhere and still read).

Output files mirror the source files relative to their common folder
(``<output>/move_right/abc.mp4``), always as ``.mp4``. The job is resumable: a
file counts as finished only under its final name, which appears only once
the file is complete (see :mod:`vidray.ingest.transcode`), so a rerun after a
crash skips the finished files and redoes the rest. A video that cannot be
transcoded is skipped, logged, counted, listed in the summary and left out of
the new manifest; the job goes on.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

import av
import ray
from pydantic import Field, ValidationInfo, field_validator
from tqdm import tqdm

from vidray import io as vio
from vidray.config import Config
from vidray.data.config import DataConfig, build_dataset
from vidray.data.manifest import VideoManifest, read_manifest, write_manifest
from vidray.errors import ConfigError, DataError, VidrayError
from vidray.ingest.transcode import X264_PRESETS, X264_TUNES, TranscodeSpec, probe_duration, transcode_video

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
SETTINGS_NAME = "prepare.json"  # the training form an output folder holds; a rerun must ask for the same
SETTINGS_KEY = "prepared"  # manifest header field recording the training form


class PrepareConfig(Config):
    """What to prepare, where to, and in which form.

    The source is either ``manifest`` (a manifest URI) or ``data`` (any
    dataset of the data layer, e.g. Kinetics from its CSV); exactly one.
    """

    data: DataConfig | None = None
    manifest: str | None = None
    output: str = Field(min_length=1)  # local folder or s3:// URI
    short_side: int = Field(320, gt=0, multiple_of=2)  # pixels; even, as yuv420p needs
    fps: float = Field(30.0, gt=0)  # constant output frame rate
    keyframe_interval: int = Field(16, ge=1)  # frames between keyframes
    crf: int = Field(23, ge=0, le=51)  # x264 quality: lower is better and bigger
    preset: Literal[X264_PRESETS] = "veryfast"  # x264 speed: faster encodes give bigger files
    tune: Literal[X264_TUNES] | None = None  # e.g. "fastdecode": no CABAC or deblocking, cheaper to decode
    audio: bool = True  # keep audio: AAC at the source's sample rate (mono stays mono, more channels become stereo)
    num_cpus_per_task: float = Field(1.0, gt=0)  # CPUs each transcode task holds (and FFmpeg threads)
    max_in_flight: int | None = Field(None, ge=1)  # tasks submitted at once (default: twice the tasks that fit)
    env_vars: dict[str, str] = {}  # environment of the tasks, e.g. AWS_ENDPOINT_URL for an S3-compatible store

    @field_validator("manifest")
    @classmethod
    def _one_source(cls, manifest: str | None, info: ValidationInfo) -> str | None:
        if "data" not in info.data:  # data itself is invalid; that error is reported already
            return manifest
        given = [name for name, value in (("manifest", manifest), ("data", info.data["data"])) if value is not None]
        if len(given) != 1:
            raise ValueError(
                f"set exactly one source, manifest (a manifest URI) or data (a dataset config); got "
                f"{' and '.join(given) or 'neither'}"
            )
        return manifest

    def spec(self) -> TranscodeSpec:
        return TranscodeSpec(
            short_side=self.short_side, fps=self.fps, keyframe_interval=self.keyframe_interval,
            crf=self.crf, preset=self.preset, tune=self.tune, audio=self.audio,
        )


@dataclass(frozen=True)
class VideoResult:
    """What one task did with one source video."""

    source: str
    destination: str
    status: Literal["prepared", "skipped", "failed"]  # skipped: finished by an earlier run
    duration: float | None = None  # seconds of the prepared file
    reason: str = ""  # why it failed


@dataclass
class PrepareSummary:
    """Counts of a run; ``failed`` lists ``(source, reason)`` of the videos left out."""

    manifest: str
    videos: int = 0  # distinct source videos (missing ones included)
    prepared: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    manifest_sha256: str = ""

    def lines(self) -> list[str]:
        rate = self.prepared / self.seconds if self.seconds else 0.0
        rows = [
            f"videos      {self.videos} in {self.seconds:.1f} s ({rate:.2f} transcoded/s)",
            f"prepared    {self.prepared}",
            f"skipped     {self.skipped} (finished by an earlier run)",
            f"failed      {len(self.failed)}",
            f"manifest    {self.manifest} (sha256 {self.manifest_sha256[:12]})",
        ]
        rows += [f"  failed: {source}: {reason}" for source, reason in self.failed]
        return rows


def prepare_video(source: str, destination: str, spec: TranscodeSpec, threads: int = 1) -> VideoResult:
    """One task: transcode ``source`` unless ``destination`` is finished already; never raises for bad media."""
    try:
        if vio.exists(destination):
            return VideoResult(source, destination, "skipped", probe_duration(destination))
        result = transcode_video(source, destination, spec, threads)
        return VideoResult(source, destination, "prepared", result.duration)
    except (VidrayError, av.error.FFmpegError, OSError) as exc:
        logger.warning("%s: not prepared: %s", source, exc)
        return VideoResult(source, destination, "failed", reason=str(exc))


def output_paths(sources: list[str]) -> dict[str, str]:
    """Each source's output path relative to the output folder: its path below the sources'
    common folder, with the extension ``.mp4``. Two sources with the same output are an error."""
    folders = [_path_parts(vio.dirname(source)) for source in sources]
    common = len(os.path.commonprefix(folders))
    relative: dict[str, str] = {}
    taken: dict[str, str] = {}
    for source, parts in zip(sources, folders, strict=True):
        stem = os.path.splitext(vio.basename(source))[0]
        path = str(PurePosixPath(*parts[common:], f"{stem}.mp4"))
        if path in taken:
            raise DataError(f"{source} and {taken[path]} would both be prepared as {path}; rename one of them")
        relative[source], taken[path] = path, source
    return relative


def prepare_dataset(config: PrepareConfig, progress: bool = True) -> PrepareSummary:
    """Transcodes the configured dataset on the Ray cluster this process is connected to.

    Connect first (``ray.init()``); without that, Ray starts a local cluster
    on first use. Raises :class:`~vidray.errors.DataError` when no video at
    all could be prepared.
    """
    start = time.perf_counter()
    source, missing = _read_source(config)
    spec = config.spec()
    output = _absolute(config.output)
    _claim_output(output, spec)
    sources = list(dict.fromkeys(path for path, _ in source.videos))  # a video listed twice is prepared once
    relative = output_paths(sources)
    destinations = {s: vio.join(output, *relative[s].split("/")) for s in sources}
    results = _run_tasks(config, spec, destinations, progress)
    failed = missing + [(r.source, r.reason) for r in results.values() if r.status == "failed"]
    for path, reason in failed:
        logger.warning("left out of the prepared dataset: %s: %s", path, reason)
    done = {s: r for s, r in results.items() if r.status != "failed"}
    if not done:
        detail = "; ".join(f"{path}: {reason}" for path, reason in failed[:3])
        raise DataError(f"{output}: none of the {len(sources)} videos could be prepared ({detail})")
    videos = [
        (relative[path], {**info, "duration": done[path].duration}) for path, info in source.videos if path in done
    ]
    extra = {**source.extra, SETTINGS_KEY: spec.to_dict()}
    manifest_uri = vio.join(output, MANIFEST_NAME)
    sha256 = write_manifest(manifest_uri, VideoManifest(videos, source.classes, source.source, extra))
    statuses = [r.status for r in results.values()]
    return PrepareSummary(
        manifest=manifest_uri, videos=len(sources) + len(missing), prepared=statuses.count("prepared"),
        skipped=statuses.count("skipped"), failed=failed, seconds=time.perf_counter() - start, manifest_sha256=sha256,
    )


def _read_source(config: PrepareConfig) -> tuple[VideoManifest, list[tuple[str, str]]]:
    """The source's videos (absolute paths: tasks run in other working directories), and the
    annotated videos whose files are missing (as failures)."""
    if config.manifest is not None:
        manifest, missing = read_manifest(config.manifest), []
    else:
        dataset = build_dataset(config.data)
        manifest = VideoManifest.from_dataset(dataset, source=config.data.dataset)
        missing = [(path, "no such file (listed in the annotations)") for path in dataset.missing_videos]
    manifest.videos = [(_absolute(path), info) for path, info in manifest.videos]
    return manifest, missing


def _claim_output(output: str, spec: TranscodeSpec) -> None:
    """Records the training form in the output folder; a folder holding another form is refused,
    since its finished files would be skipped as if they had the new one."""
    uri = vio.join(output, SETTINGS_NAME)
    wanted = spec.to_dict()
    if vio.exists(uri):
        held = json.loads(vio.read_text(uri))
        if held != wanted:
            changed = ", ".join(f"{k}: {held.get(k)!r} -> {v!r}" for k, v in wanted.items() if held.get(k) != v)
            raise ConfigError(f"{output} holds videos prepared with other settings ({changed}); choose another output")
        return
    vio.write_bytes(uri, (json.dumps(wanted, indent=2) + "\n").encode())


def _run_tasks(
    config: PrepareConfig, spec: TranscodeSpec, destinations: dict[str, str], progress: bool
) -> dict[str, VideoResult]:
    """One task per video, at most ``max_in_flight`` at once, results collected as they finish."""
    options: dict[str, Any] = {"num_cpus": config.num_cpus_per_task}
    if config.env_vars:
        options["runtime_env"] = {"env_vars": dict(config.env_vars)}
    task = ray.remote(prepare_video).options(**options)
    threads = max(1, int(config.num_cpus_per_task))
    limit = config.max_in_flight or max(1, 2 * int(ray.cluster_resources().get("CPU", 1) // config.num_cpus_per_task))
    queue = iter(destinations.items())
    pending: dict[ray.ObjectRef, str] = {}
    results: dict[str, VideoResult] = {}
    counts = dict.fromkeys(("prepared", "skipped", "failed"), 0)
    with tqdm(total=len(destinations), unit="video", desc="prepare", disable=not progress) as bar:
        while True:
            for source, destination in queue:
                pending[task.remote(source, destination, spec, threads)] = source
                if len(pending) >= limit:
                    break
            if not pending:
                return results
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                source = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died (out of memory, a crash in FFmpeg)
                    reason = f"task failed: {getattr(exc, 'cause', None) or exc}"
                    result = VideoResult(source, destinations[source], "failed", reason=reason)
                results[source] = result
                counts[result.status] += 1
                bar.set_postfix(counts, refresh=False)
                bar.update(1)


def _absolute(path: str) -> str:
    return path if vio.is_s3(path) else os.path.abspath(path)


def _path_parts(folder: str) -> list[str]:
    """A folder as comparable parts: ``["s3:", bucket, ...]`` or the absolute local path's parts."""
    if vio.is_s3(folder):
        return ["s3:", *[part for part in folder[len(vio.S3_PREFIX):].split("/") if part]]
    return list(PurePosixPath(os.path.abspath(folder).replace(os.sep, "/")).parts)
