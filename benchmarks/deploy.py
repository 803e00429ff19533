"""Latency of ExecuTorch programs (fp32 and int8, XNNPACK) against eager PyTorch, batch 1, pinned threads.

For each model (``--models``, zoo names; default X3D-XS, X3D-S, MoViNet-A0,
EfficientX3D-XS and the MoViNet-A0 stream):

* ``eager``: the zoo model in fp32 PyTorch (``torch.inference_mode``), the baseline;
* ``fp32 pte``: :func:`vidray.deploy.export` with ``quantize="fp32"`` (the gain from lowering alone);
* ``int8 pte``: the same with PT2E int8 (the gain from quantization on top).

Weights are random (latency does not depend on them); inputs and the
``--calibration`` int8 calibration clips are standard-normal, the range of
normalised clips (MoViNet's [0, 1] inputs are uniform). A stream model is timed
per call of ``--chunk-frames`` frames (its state fed back each call), and
compared with re-running a base MoViNet on a ``--window``-frame clip for every
new frame, the alternative a stream avoids (goal: >= 8x per frame).

Timing: the process is pinned to the first N CPUs (``os.sched_setaffinity``),
torch runs N intra-op threads and ExecuTorch's threadpool N threads, for N in
``--threads`` (1 and 2); after ``--warmup`` calls, the median of ``--repeats``
calls, the variants taking turns so that machine noise hits them alike.
Ratios are eager time / program time (> 1: the program is faster). Program
sizes are printed too (int8 should be ~4x smaller).

Usage::

    .venv/bin/python benchmarks/deploy.py
    .venv/bin/python benchmarks/deploy.py --models x3d_s --threads 1 --repeats 20 --json deploy.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # vidray from this checkout

from vidray.deploy import Program, ProgramStream, export, export_stream, pin_runtime  # noqa: E402
from vidray.models import create_model, model_spec  # noqa: E402

DEFAULT_MODELS = ("x3d_xs", "x3d_s", "movinet_a0", "efficient_x3d_xs", "movinet_a0_stream")


@dataclass
class Row:
    model: str
    input: str
    threads: int
    eager_ms: float
    fp32_ms: float
    int8_ms: float
    fp32_mb: float
    int8_mb: float
    int8_work_delegated: float
    extra: dict = field(default_factory=dict)

    @property
    def ratios(self) -> tuple[float, float]:
        return self.eager_ms / self.fp32_ms, self.eager_ms / self.int8_ms


ALL_CPUS = sorted(os.sched_getaffinity(0))  # before any pinning narrows it


def pin(threads: int) -> None:
    if threads > len(ALL_CPUS):
        raise SystemExit(f"--threads {threads}: this process may use {len(ALL_CPUS)} CPUs")
    pin_runtime(threads, ALL_CPUS[:threads])


def median_ms(calls: dict[str, Callable[[], object]], warmup: int, repeats: int) -> dict[str, float]:
    """Median wall time of each call, the calls taking turns."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in samples.items()}


def clip_model(name: str, args: argparse.Namespace) -> tuple[list[Row], dict]:
    torch.manual_seed(0)
    model = create_model(name).eval()
    spec = model_spec(name)
    if len(spec.input.pathways) != 1:
        raise SystemExit(f"--models {name}: multi-pathway models are not benchmarked here")
    (shape,) = spec.input.default_shapes
    draw = torch.rand if spec.std == (1.0, 1.0, 1.0) else torch.randn  # MoViNet takes [0, 1]; others normalised
    clip = draw(1, *shape)
    calibration = [draw(1, *shape) for _ in range(args.calibration)]
    fp32, int8 = export(model, clip, quantize="fp32"), export(model, clip, quantize="int8", calibration=calibration)
    rows = []
    for threads in args.threads:
        pin(threads)  # before the programs load: resetting ExecuTorch's threadpool under a loaded one crashes
        programs = {"fp32": Program(fp32.program, fp32.inputs, fp32.outputs, f"{name} fp32"),
                    "int8": Program(int8.program, int8.inputs, int8.outputs, f"{name} int8")}
        with torch.inference_mode():
            times = median_ms({"eager": lambda: model(clip), "fp32": lambda: programs["fp32"](clip),
                               "int8": lambda: programs["int8"](clip)}, args.warmup, args.repeats)
        rows.append(Row(name, "x".join(map(str, shape)), threads, times["eager"], times["fp32"], times["int8"],
                        fp32.size_bytes / 1e6, int8.size_bytes / 1e6, int8.metadata["delegation"]["work_fraction"]))
        programs.clear()  # free the programs before the next threadpool reset
    return rows, {"fp32": fp32.metadata["delegation"], "int8": int8.metadata["delegation"]}


def stream_model(name: str, args: argparse.Namespace) -> tuple[list[Row], dict]:
    """Per call of a stream program (``--chunk-frames`` frames) against the eager stream step; and per frame
    against re-running the base model on a ``--window``-frame clip."""
    torch.manual_seed(0)
    model = create_model(name).eval()
    base = create_model(name.removesuffix("_stream")).eval()
    size = model_spec(name).input.default_shapes[0][2:]
    chunk = torch.rand(1, 3, args.chunk_frames, *size)
    window = torch.rand(1, 3, args.window, *size)
    calibration = [torch.rand(1, 3, args.chunk_frames * 8, *size) for _ in range(max(1, args.calibration // 8))]
    fp32 = export_stream(model, chunk_frames=args.chunk_frames, frame_size=tuple(size), quantize="fp32")
    int8 = export_stream(model, chunk_frames=args.chunk_frames, frame_size=tuple(size), calibration=calibration)
    state = model.init_state(1, tuple(size))
    base_int8 = export(base, window, quantize="int8",
                       calibration=[torch.rand_like(window) for _ in range(max(1, args.calibration // 8))])
    rows = []
    for threads in args.threads:
        pin(threads)  # before the programs load (see clip_model)
        streams = {kind: ProgramStream(Program(b.program, b.inputs, b.outputs, f"{name} {kind}"))
                   for kind, b in (("fp32", fp32), ("int8", int8))}
        base_program = Program(base_int8.program, base_int8.inputs, base_int8.outputs, "base int8")
        with torch.inference_mode():
            times = median_ms({"eager": lambda: model(chunk, state), "fp32": lambda: streams["fp32"](chunk),
                               "int8": lambda: streams["int8"](chunk), "window_int8": lambda: base_program(window)},
                              args.warmup, args.repeats)
        per_frame = times["int8"] / args.chunk_frames
        rows.append(Row(name, f"{args.chunk_frames}-frame chunk", threads, times["eager"], times["fp32"], times["int8"],
                        fp32.size_bytes / 1e6, int8.size_bytes / 1e6, int8.metadata["delegation"]["work_fraction"],
                        {"window_int8_ms": times["window_int8"], "per_frame_vs_window": times["window_int8"] / per_frame}))
        streams.clear()  # free the programs before the next threadpool reset
        base_program = None
    return rows, {"fp32": fp32.metadata["delegation"], "int8": int8.metadata["delegation"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--calibration", type=int, default=8, help="random clips observed by the int8 quantizer")
    parser.add_argument("--chunk-frames", type=int, default=1, help="frames per call of a stream program")
    parser.add_argument("--window", type=int, default=16, help="frames the base model re-runs per new frame")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    rows, reports = [], {}
    for name in args.models:
        started = time.perf_counter()
        measured, reports[name] = (stream_model if name.endswith("_stream") else clip_model)(name, args)
        rows += measured
        print(f"{name}: exported and timed in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    print(f"\n{'model':<20} {'input':<18} {'thr':>3} {'eager ms':>9} {'fp32 pte':>9} {'int8 pte':>9} "
          f"{'eager/fp32':>10} {'eager/int8':>10} {'MB fp32':>8} {'MB int8':>8} {'int8 in XNNPACK':>15}")
    for row in rows:
        lowered, quantized = row.ratios
        print(f"{row.model:<20} {row.input:<18} {row.threads:>3} {row.eager_ms:>9.1f} {row.fp32_ms:>9.1f} "
              f"{row.int8_ms:>9.1f} {lowered:>9.2f}x {quantized:>9.2f}x {row.fp32_mb:>8.2f} {row.int8_mb:>8.2f} "
              f"{row.int8_work_delegated:>15.2%}")
        if row.extra:
            print(f"{'':<20} per frame: int8 stream {row.int8_ms:.1f} ms vs int8 base on a {args.window}-frame window "
                  f"{row.extra['window_int8_ms']:.1f} ms: {row.extra['per_frame_vs_window']:.1f}x")
    for name, report in reports.items():
        print(f"{name}: int8 partitions {report['int8']['partitions']}, outside XNNPACK: "
              f"{', '.join(report['int8']['outside']) or 'nothing'}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(row) for row in rows], indent=2))


if __name__ == "__main__":
    main()
