"""Training-clip throughput from a prepared copy of a dataset against the original long-GOP files.

Why prepare: a random training clip from a file with a keyframe every 10 s
decodes on average 5 s of full-resolution video it throws away; the prepared
copy (``vidray prepare``: short side N, constant frame rate, a keyframe every
K frames) lets the decoder start next to the clip and decode small frames.

1. Writes the "original" dataset once and caches it in ``--workdir``: several
   videos of ``--size`` at ``--fps`` with a keyframe interval of
   ``--source-gop`` frames (x264's defaults otherwise: preset medium,
   B-frames), a mono AAC track, and a manifest. The content is
   :func:`decode_clips.synthesise_frames` (a panned texture, moving disks,
   sensor noise), so x264 produces realistic I/P/B frames.
2. Prepares it with the Ray job (:func:`vidray.ingest.prepare.prepare_dataset`)
   on a local Ray (or ``RAY_ADDRESS``); the prepared copy is cached as well (a
   rerun skips finished files; ``--fresh`` transcodes again to time it).
3. Times random training clips from both manifests through the ``manifest``
   dataset, as a data-loader worker produces them (one thread): the ``random``
   clip sampler, ``--frames`` frames per ``--clip-duration`` s clip, video only,
   the original decoded with ``short_side_size`` so both give clips of the
   same size. Both datasets have the same seed, so they draw the same videos
   and windows; they take turns clip by clip (in alternating order) so that a
   busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import av
import numpy as np
import ray
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # decode_clips, also when imported from elsewhere
from decode_clips import synthesise_frames

from vidray.data import DATASETS, VideoManifest, make_clip_sampler, write_manifest
from vidray.data.video_writer import write_video
from vidray.ingest.prepare import PrepareConfig, PrepareSummary, prepare_dataset

TARGET_RATIO = 5.0
CLASSES = ["even", "odd"]
AUDIO_RATE = 44100


# ---------------------------------------------------------------- the datasets
def ensure_original(workdir: Path, args: argparse.Namespace) -> str:
    """The cached original dataset's manifest, written on first use."""
    width, height = args.size
    folder = workdir / f"original_{width}x{height}_{args.seconds:g}s_{args.fps:g}fps_gop{args.source_gop}"
    manifest = folder / "manifest.jsonl"
    videos = []
    for i in range(args.videos):
        label = i % len(CLASSES)
        path = folder / CLASSES[label] / f"video_{i:03d}.mp4"
        if not path.exists():
            print(f"encoding {path.relative_to(workdir)} ...", file=sys.stderr, flush=True)
            frames = synthesise_frames(height, width, args.seconds, args.fps, seed=args.seed + i)
            t = np.arange(int(args.seconds * AUDIO_RATE)) / AUDIO_RATE
            audio = (0.3 * np.sin(2 * np.pi * (220 + 40 * i) * t)).astype(np.float32)
            # keyint_min = keyint and no scene cuts: exactly one keyframe every source_gop frames.
            gop = str(args.source_gop)
            options = {"g": gop, "keyint_min": gop, "sc_threshold": "0"}
            write_video(path, frames, args.fps, audio=audio, audio_sample_rate=AUDIO_RATE, codec_options=options)
        videos.append((str(path.relative_to(folder)), {"label": label}))
    if not manifest.exists():
        write_manifest(manifest, VideoManifest(videos, CLASSES, "benchmarks/prepare.py"))
    return str(manifest)


def prepare(original: str, workdir: Path, args: argparse.Namespace) -> PrepareSummary:
    tune = f"_{args.tune}" if args.tune else ""
    output = workdir / f"prepared_{args.short_side}p_{args.prepared_fps:g}fps_k{args.keyframe_interval}{tune}"
    if args.fresh and output.exists():
        shutil.rmtree(output)
    config = PrepareConfig(
        manifest=original, output=str(output), short_side=args.short_side, fps=args.prepared_fps,
        keyframe_interval=args.keyframe_interval, tune=args.tune,
    )
    return prepare_dataset(config, progress=True)


def keyframe_interval(path: str) -> int:
    """The largest distance in frames between keyframes (or the frame count, for one keyframe);
    read from packet flags in decoding order, nothing decoded."""
    with av.open(path) as container:
        flags = [packet.is_keyframe for packet in container.demux(video=0) if packet.size]
    keys = [i for i, key in enumerate(flags) if key] + [len(flags)]
    return max(np.diff(keys)) if len(keys) > 2 else len(flags)


def folder_mib(manifest: str) -> float:
    folder = Path(manifest).parent
    return sum(p.stat().st_size for p in folder.rglob("*.mp4")) / 2**20


# ---------------------------------------------------------------- timing
def clips(manifest: str, args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """Training clips for ever (epoch after epoch), as a data-loader worker produces them."""
    dataset = DATASETS.build(
        "manifest", data_path=manifest, clip_sampler=make_clip_sampler("random", clip_duration=args.clip_duration),
        frames_per_clip=args.frames, decode_audio=False, decoder_args={"short_side_size": args.short_side},
        seed=args.seed,
    )
    for epoch in range(1_000_000):
        dataset.set_epoch(epoch)
        yield from dataset


@dataclass
class Row:
    name: str
    source: str  # WxH, keyframe interval
    clips: int
    clips_per_s: float
    clip_shape: list[int]
    mib: float


def time_clips(manifests: dict[str, str], count: int, args: argparse.Namespace) -> dict[str, tuple[float, list[int]]]:
    """Seconds per method over ``count`` clips each, taking turns clip by clip."""
    streams = {name: clips(path, args) for name, path in manifests.items()}
    shapes = {name: list(next(stream)["video"].shape) for name, stream in streams.items()}  # warm-up
    seconds = dict.fromkeys(manifests, 0.0)
    names = list(manifests)
    for i in range(count):
        for name in names[i % 2 :] + names[: i % 2]:
            began = time.perf_counter()
            next(streams[name])
            seconds[name] += time.perf_counter() - began
    return {name: (seconds[name], shapes[name]) for name in names}


def format_table(rows: list[Row], summary: PrepareSummary) -> str:
    header = f"{'copy':<10} {'video':<26} {'clips':>5} {'clips/s':>8} {'ms/clip':>8} {'clip [C,T,H,W]':<18} {'MiB':>7}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.name:<10} {row.source:<26} {row.clips:5d} {row.clips_per_s:8.1f} {1000 / row.clips_per_s:8.1f} "
            f"{str(row.clip_shape):<18} {row.mib:7.1f}"
        )
    ratio = rows[1].clips_per_s / rows[0].clips_per_s
    verdict = "ok" if ratio >= TARGET_RATIO else "MISS"
    lines.append(f"prepared / original: {ratio:.1f}x clips/s ({verdict}, target >= {TARGET_RATIO:g}x)")
    lines.append(
        f"prepare job: {summary.videos} videos in {summary.seconds:.1f} s "
        f"({summary.prepared} transcoded, {summary.skipped} already done, {len(summary.failed)} failed)"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- command line
def _size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    try:
        return int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=6, help="videos in the dataset (default: 6)")
    parser.add_argument("--size", type=_size, default=(960, 540), metavar="WxH", help="original WxH (default: 960x540)")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each video (default: 12)")
    parser.add_argument("--fps", type=float, default=30.0, help="original frame rate (default: 30)")
    parser.add_argument("--source-gop", type=int, default=300, help="original keyframe interval, frames (default: 300)")
    parser.add_argument("--short-side", type=int, default=128, help="prepared and decoded short side (default: 128)")
    parser.add_argument("--prepared-fps", type=float, default=30.0, help="prepared frame rate (default: 30)")
    parser.add_argument("--keyframe-interval", type=int, default=16, help="prepared keyframe interval (default: 16)")
    parser.add_argument("--tune", choices=["fastdecode"], help="x264 tune of the prepared copy (default: none)")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip (default: 8)")
    parser.add_argument("--clip-duration", type=float, default=1.6, help="seconds per clip (default: 1.6)")
    parser.add_argument("--clips", type=int, default=60, help="timed clips per copy (default: 60)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray the job runs on (default: 2)")
    parser.add_argument("--fresh", action="store_true", help="transcode again instead of reusing the cached copy")
    parser.add_argument("--seed", type=int, default=0, help="seed of the content and of the clip choice")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vidray-bench-prepare",
        help="where both copies are cached (default: %(default)s)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE as JSON")
    args = parser.parse_args(argv)
    if args.clip_duration >= args.seconds or args.videos < 1 or args.clips < 1:
        parser.error("need --clip-duration < --seconds, --videos >= 1 and --clips >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    libavcodec = av.library_versions["libavcodec"]
    print(f"PyAV {av.__version__}, FFmpeg libavcodec {libavcodec}, ray {ray.__version__}", file=sys.stderr)
    original = ensure_original(workdir, args)
    if not ray.is_initialized():
        local = not os.environ.get("RAY_ADDRESS")
        cpus, dashboard = (args.num_cpus, False) if local else (None, None)
        ray.init(num_cpus=cpus, include_dashboard=dashboard, log_to_driver=False)
    summary = prepare(original, workdir, args)
    print(f"timing {args.clips} clips from each copy ...", file=sys.stderr, flush=True)
    manifests = {"original": original, "prepared": summary.manifest}
    timings = time_clips(manifests, args.clips, args)
    rows = []
    for name, manifest in manifests.items():
        first = str(Path(manifest).parent / json.loads(Path(manifest).read_text().splitlines()[1])["path"])
        with av.open(first) as container:
            stream = container.streams.video[0]
            source = f"{stream.codec_context.width}x{stream.codec_context.height} {float(stream.average_rate):g} fps"
        source += f", GOP {keyframe_interval(first)}"
        seconds, shape = timings[name]
        rows.append(Row(name, source, args.clips, args.clips / seconds, shape, folder_mib(manifest)))
    print(format_table(rows, summary))
    if args.json:
        versions = {"pyav": av.__version__, "libavcodec": av.library_versions["libavcodec"], "ray": ray.__version__}
        report = {
            "config": vars(args), "versions": versions, "rows": [asdict(row) for row in rows],
            "ratio": rows[1].clips_per_s / rows[0].clips_per_s, "prepare": asdict(summary),
        }
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
