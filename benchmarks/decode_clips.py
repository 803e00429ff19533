"""Throughput of producing training clips: vidray's decoder against PyTorchVideo and the PyAV floor.

Every clip is produced the way a training data loader produces one sample:
open the file, seek, decode, return the frames. Three methods, all
single-threaded (FFmpeg ``thread_count=1``, ``torch.set_num_threads(1)`` as in
a DataLoader worker):

* ``vidray``: ``EncodedVideo.from_path(..., threads=1).get_clip(start, end,
  uniform_frame_filter(num_frames))`` -> uint8 ``[C, T, H, W]``.
* ``(a) pytorchvideo``: PyTorchVideo 0.1.5's ``EncodedVideo.from_path`` +
  ``EncodedVideoPyAV.get_clip`` + ``UniformTemporalSubsample``, replicated:
  read the file into memory, seek 1024 pts before the clip start, decode to the
  clip end, convert EVERY frame of the window ``[ceil(start), ceil(end))`` (in
  pts, as ``secs_to_pts(round_mode="ceil")``) to RGB, stack as float32, then
  keep ``num_frames`` of them.
* ``(b) floor``: seek to the keyframe before the first needed frame and decode
  every frame up to the last needed one, with no colour conversion: the least
  work a PyAV decoder does when it skips no frame.

Sources are synthesised (a panned texture, moving disks, sensor noise) so that
x264's defaults (keyint 250, B-frames, b-pyramid) produce realistic I/P/B
frames; they are cached in ``--workdir``. Clip starts are uniform at random
(seeded) over the part of the video where ``num_frames * stride / fps`` fits.
The methods take turns clip by clip, and each clip counts the fastest of
``--repeats`` runs, so that a busy machine slows all methods alike.

Peak memory per clip is how far resident memory rises above its level just
before the clip while that one clip is produced: Linux's ``VmHWM``, reset
through ``/proc/self/clear_refs``, minus ``VmRSS``; the largest over the first
``--memory-clips`` clips of a row. It counts everything a clip costs: FFmpeg's
frame buffers and reference frames, numpy and torch arrays (transient copies
included), the returned clip; tracemalloc would miss FFmpeg's and torch's
allocations. Each method runs in a fresh process with glibc's mmap threshold
fixed (every large buffer mapped on its own and unmapped when freed) and heap
trimmed before each clip, so the figure is the peak of bytes live at once,
not an artefact of what earlier clips left in the allocator. Linux/glibc only.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import io
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

import vidray.data.decoders  # noqa: F401  (registers the "pyav" decoder)
from vidray.data.encoded_video import EncodedVideo
from vidray.data.video import uniform_frame_filter, uniform_subsample_indices
from vidray.data.video_writer import write_video

TARGET_VS_PYTORCHVIDEO = 1.5
TARGET_VS_FLOOR = 0.9

Window = tuple[float, float]


# ---------------------------------------------------------------- the three methods
def clip_vidray(path: str, start: float, end: float, num_frames: int) -> torch.Tensor:
    with EncodedVideo.from_path(path, decode_audio=False, decoder="pyav", threads=1) as video:
        return video.get_clip(start, end, uniform_frame_filter(num_frames))["video"]


def clip_pytorchvideo(path: str, start: float, end: float, num_frames: int) -> torch.Tensor:
    """PyTorchVideo 0.1.5's ``from_path(path, decode_audio=False).get_clip`` then ``UniformTemporalSubsample``."""
    with open(path, "rb") as fh:  # from_path reads the whole file (g_pathmgr) into a BytesIO
        container = av.open(io.BytesIO(fh.read()))
    try:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        time_base, origin = stream.time_base, stream.start_time or 0
        start_pts = math.ceil(start / time_base) + origin  # secs_to_pts(..., round_mode="ceil")
        end_pts = math.ceil(end / time_base) + origin
        container.seek(int(max(start_pts - 1024, 0)), any_frame=False, backward=True, stream=stream)
        frames = {}
        for frame in container.decode(video=0):
            if start_pts <= frame.pts < end_pts:
                frames[frame.pts] = frame
            elif frame.pts >= end_pts:
                break
        video_and_pts = [(torch.from_numpy(frames[pts].to_rgb().to_ndarray()), pts) for pts in sorted(frames)]
    finally:
        container.close()
    video = torch.stack([frame for frame, _ in video_and_pts]).permute(3, 0, 1, 2).to(torch.float32)
    steps = video.shape[1]
    indices = torch.clamp(torch.linspace(0, steps - 1, num_frames), 0, steps - 1).long()
    return torch.index_select(video, 1, indices)


def clip_floor(path: str, start: float, end: float, num_frames: int) -> int:
    """Decodes from the keyframe to the last frame the clip keeps; returns the number of frames decoded."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        fps, time_base, origin = float(stream.average_rate), stream.time_base, stream.start_time or 0
        first = math.ceil(start * fps - 1e-6)
        last = first + uniform_subsample_indices(math.ceil(end * fps - 1e-6) - first, num_frames)[-1]
        # Half a frame early, so that a timestamp rounded down still counts as the last frame.
        last_pts = origin + int((last - 0.5) / fps / time_base)
        container.seek(origin + int(first / fps / time_base), any_frame=False, backward=True, stream=stream)
        decoded = 0
        for frame in container.decode(stream):
            decoded += 1
            if frame.pts >= last_pts:
                break
        return decoded


METHODS: dict[str, Callable[[str, float, float, int], Any]] = {
    "vidray": clip_vidray,
    "pytorchvideo": clip_pytorchvideo,
    "floor": clip_floor,
}


# ---------------------------------------------------------------- sources and windows
def synthesise_frames(height: int, width: int, seconds: float, fps: float, seed: int) -> np.ndarray:
    """uint8 ``[T, H, W, 3]`` that x264 must really predict: a panned texture, moving disks, fresh noise."""
    rng = np.random.default_rng(seed)
    count = round(seconds * fps)
    step_y, step_x = max(1, height // 240), max(1, width // 320)  # pan in pixels per frame
    big_h, big_w = height + step_y * count, width + step_x * count
    coarse = torch.from_numpy(rng.uniform(0, 255, (3, big_h // 32 + 2, big_w // 32 + 2)).astype(np.float32))
    smooth = torch.nn.functional.interpolate(coarse[None], (big_h, big_w), mode="bilinear", align_corners=True)
    texture = smooth[0].permute(1, 2, 0).numpy() + rng.normal(0, 10, (big_h, big_w, 3)).astype(np.float32)
    # A period of 7 frames is longer than x264's 3 reference frames: the noise is never predictable.
    noise = rng.normal(0, 2.5, (7, height, width, 3)).astype(np.float32)
    disks = [(0.30, 0.18, 2.1, (230, 60, 40)), (0.20, 0.12, 3.3, (40, 200, 90)), (0.40, 0.08, 1.4, (250, 240, 60))]
    frames = np.empty((count, height, width, 3), np.uint8)
    for t in range(count):
        frame = texture[t * step_y : t * step_y + height, t * step_x : t * step_x + width] + noise[t % 7]
        for k, (amplitude, radius_frac, period_s, colour) in enumerate(disks):
            phase = 2 * math.pi * t / (fps * period_s) + k
            cy, cx = height * (0.5 + amplitude * math.sin(phase)), width * (0.5 + amplitude * math.cos(1.3 * phase))
            radius = radius_frac * min(height, width)
            y0, y1 = max(0, int(cy - radius)), min(height, int(cy + radius) + 1)
            x0, x1 = max(0, int(cx - radius)), min(width, int(cx + radius) + 1)
            yy, xx = np.ogrid[y0:y1, x0:x1]
            frame[y0:y1, x0:x1][(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] = colour
        np.clip(frame, 0, 255, out=frame)
        frames[t] = frame
    return frames


def ensure_source(workdir: Path, width: int, height: int, seconds: float, fps: float, seed: int) -> Path:
    """The cached H.264 source of this size, encoded with x264's defaults on first use."""
    path = workdir / f"synthetic_{width}x{height}_{seconds:g}s_{fps:g}fps_seed{seed}.mp4"
    if not path.exists():
        print(f"encoding {path.name} ...", file=sys.stderr, flush=True)
        write_video(path, synthesise_frames(height, width, seconds, fps, seed), fps)
    return path


def clip_windows(duration: float, clip_duration: float, count: int, rng: np.random.Generator) -> list[Window]:
    starts = rng.uniform(0.0, duration - clip_duration, count)
    return [(float(start), float(start) + clip_duration) for start in starts]


# ---------------------------------------------------------------- measurements
@dataclass(frozen=True)
class Case:
    """One row of the table: a source, a sampling and the clip windows every method produces."""

    source: str  # WxH
    sampling: str  # frames x stride
    path: str
    windows: list[Window]
    num_frames: int


def clips_per_second(case: Case, repeats: int) -> dict[str, float]:
    """Clips per second of each method over the same windows.

    The methods take turns clip by clip (in rotating order) so that drift in
    the machine's speed hits all alike; each clip counts its fastest of
    ``repeats`` runs, which discards stalls caused by other processes.
    """
    names = list(METHODS)
    seconds = dict.fromkeys(names, 0.0)
    for i, (start, end) in enumerate(case.windows):
        fastest = dict.fromkeys(names, math.inf)
        for _ in range(repeats):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                began = time.perf_counter()
                METHODS[name](case.path, start, end, case.num_frames)
                fastest[name] = min(fastest[name], time.perf_counter() - began)
        for name in names:
            seconds[name] += fastest[name]
    return {name: len(case.windows) / total for name, total in seconds.items()}


def same_frames_as_pytorchvideo(case: Case) -> bool:
    """Whether vidray and (a) return the same pixels for the first window (which also warms every method up)."""
    start, end = case.windows[0]
    clip_floor(case.path, start, end, case.num_frames)
    ours = clip_vidray(case.path, start, end, case.num_frames)
    return torch.equal(ours, clip_pytorchvideo(case.path, start, end, case.num_frames).to(torch.uint8))


def _proc_status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_mib_per_clip(method: str, cases: list[Case], memory_clips: int) -> list[float]:
    """Per case, the largest rise of resident memory while one clip is produced (run in a fresh process)."""
    torch.set_num_threads(1)
    libc = ctypes.CDLL("libc.so.6")
    produce = METHODS[method]
    peaks = []
    for case in cases:
        produce(case.path, *case.windows[0], case.num_frames)  # first use: codec tables, swscale, arenas
        rises = []
        for start, end in case.windows[:memory_clips]:
            gc.collect()
            libc.malloc_trim(0)  # hand freed heap back, or it would absorb this clip's allocations unseen
            before = _proc_status_mib("VmRSS")
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")  # resets VmHWM to the current RSS
            clip = produce(case.path, start, end, case.num_frames)
            rises.append(_proc_status_mib("VmHWM") - before)
            del clip
        peaks.append(max(rises))
    return peaks


def measure_memory(cases: list[Case], memory_clips: int) -> dict[str, list[float]]:
    """Peak MiB per clip of every method and case, each method in a fresh process.

    A fresh process, because what one method leaves behind in the allocators
    changes what the next one seems to need; a fixed mmap threshold, so that
    glibc maps every large buffer on its own and unmaps it when freed, which
    makes the peak that of the bytes live at once, the same in every run.
    """
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(64 * 1024)  # glibc reads it at start-up: children only
    try:
        with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
            return {name: pool.apply(peak_mib_per_clip, (name, cases, memory_clips)) for name in METHODS}
    finally:
        del os.environ["MALLOC_MMAP_THRESHOLD_"]


@dataclass
class Row:
    source: str  # WxH
    sampling: str  # frames x stride
    clips: int
    clips_per_s: dict[str, float]
    peak_mib: dict[str, float]
    same_frames_as_pytorchvideo: bool

    @property
    def vs_pytorchvideo(self) -> float:
        return self.clips_per_s["vidray"] / self.clips_per_s["pytorchvideo"]

    @property
    def vs_floor(self) -> float:
        return self.clips_per_s["vidray"] / self.clips_per_s["floor"]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "vs_pytorchvideo": self.vs_pytorchvideo, "vs_floor": self.vs_floor}


def format_table(rows: list[Row]) -> str:
    def verdict(ratio: float, target: float) -> str:
        return f"{ratio:5.2f}x {'ok' if ratio >= target else 'MISS'}"

    header = (
        f"{'source':<10} {'clip':<5} {'vidray/s':>9} {'(a)/s':>8} {'(b)/s':>8}   "
        f"{'vs (a)':<10} {'vs (b)':<10} {'MiB vidray':>10} {'MiB (a)':>8} {'MiB (b)':>8}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        rate, mib = row.clips_per_s, row.peak_mib
        lines.append(
            f"{row.source:<10} {row.sampling:<5} {rate['vidray']:9.1f} {rate['pytorchvideo']:8.1f} "
            f"{rate['floor']:8.1f}   {verdict(row.vs_pytorchvideo, TARGET_VS_PYTORCHVIDEO):<10} "
            f"{verdict(row.vs_floor, TARGET_VS_FLOOR):<10} {mib['vidray']:10.1f} "
            f"{mib['pytorchvideo']:8.1f} {mib['floor']:8.1f}"
        )
    lines.append(f"(a) PyTorchVideo 0.1.5 get_clip + UniformTemporalSubsample (target >= {TARGET_VS_PYTORCHVIDEO}x)")
    lines.append(f"(b) PyAV keyframe-to-last-frame decode, no colour conversion (target >= {TARGET_VS_FLOOR}x)")
    lines.extend(
        f"WARNING: {row.source} {row.sampling}: vidray's frames differ from PyTorchVideo's"
        for row in rows
        if not row.same_frames_as_pytorchvideo
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- command line
def _pair(text: str) -> tuple[int, int]:
    first, _, second = text.partition("x")
    try:
        return int(first), int(second)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected AxB with integers, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        type=_pair,
        nargs="+",
        default=[(340, 256), (1280, 720)],
        metavar="WxH",
        help="source resolutions (default: 340x256 1280x720)",
    )
    parser.add_argument(
        "--samplings",
        type=_pair,
        nargs="+",
        default=[(8, 8), (16, 4)],
        metavar="FRAMESxSTRIDE",
        help="clip samplings (default: 8x8 16x4)",
    )
    parser.add_argument("--clips", type=int, default=10, help="timed clips per row (default: 10)")
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs per clip and method; the fastest counts (default: 2)"
    )
    parser.add_argument(
        "--memory-clips", type=int, default=3, help="how many of those are run again for peak memory (default: 3)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="source length (default: 10)")
    parser.add_argument("--fps", type=float, default=30.0, help="source frame rate (default: 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the content and the clip starts")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "vidray-bench-decode-clips",
        help="where the sources are cached (default: %(default)s)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE as JSON")
    args = parser.parse_args(argv)
    if args.repeats < 1 or not 1 <= args.memory_clips <= args.clips:
        parser.error("need --repeats >= 1 and 1 <= --memory-clips <= --clips")
    if not os.path.exists("/proc/self/clear_refs"):
        parser.error("peak memory is read from Linux's /proc/self; run on Linux")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    args.workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    print(
        f"PyAV {av.__version__}, FFmpeg libavcodec {av.library_versions['libavcodec']}, "
        f"torch {torch.__version__}, single-threaded",
        file=sys.stderr,
    )

    cases = []
    for width, height in args.sizes:
        path = str(ensure_source(args.workdir, width, height, args.seconds, args.fps, args.seed))
        with EncodedVideo.from_path(path, decode_audio=False) as video:
            duration, fps = video.duration, video.fps
        for num_frames, stride in args.samplings:
            clip_duration = num_frames * stride / fps
            if clip_duration >= duration:
                raise SystemExit(f"a {num_frames}x{stride} clip ({clip_duration:.2f} s) does not fit in {path}")
            windows = clip_windows(duration, clip_duration, args.clips, rng)
            cases.append(Case(f"{width}x{height}", f"{num_frames}x{stride}", path, windows, num_frames))

    timings = []
    for case in cases:
        print(f"timing {case.source} {case.sampling} ...", file=sys.stderr, flush=True)
        timings.append((same_frames_as_pytorchvideo(case), clips_per_second(case, args.repeats)))
    print("measuring peak memory ...", file=sys.stderr, flush=True)
    memory = measure_memory(cases, args.memory_clips)
    rows = [
        Row(case.source, case.sampling, args.clips, rates, {name: memory[name][i] for name in METHODS}, same)
        for i, (case, (same, rates)) in enumerate(zip(cases, timings, strict=True))
    ]
    print(format_table(rows))
    if args.json:
        versions = {"pyav": av.__version__, "libavcodec": av.library_versions["libavcodec"], "torch": torch.__version__}
        report = json.dumps(
            {"config": vars(args), "versions": versions, "rows": [row.to_json() for row in rows]}, indent=2, default=str
        )
        args.json.write_text(report + "\n")


if __name__ == "__main__":
    main()
