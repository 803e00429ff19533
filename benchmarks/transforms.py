"""Speed of the video training transforms: vidray's ``create_video_transform`` against PyTorchVideo 0.1.5's.

Both libraries build their pipelines with the same call,
``create_video_transform(mode, num_samples=..., aug_type=...)`` and otherwise
the defaults (short side scaled to a random 256-320, random 224 crop, flip
with p=0.5, uint8 -> float, normalise with mean 0.45 / std 0.225; val: short
side 256, centre crop 224), and run on the same clips in the same process:

* the workload is a batch of ``--batch`` (8) uint8 clips ``[C, T, H, W]`` =
  ``[3, --frames, --height, --width]`` ([3, 16, 256, 340], i.e. 16 frames of
  340x256), uniform random pixels from ``--seed``;
* ``vidray``: ``vidray.transforms.create_video_transform``, which crops before
  it converts, resizes and normalises (see its module docstring);
* ``PTV``: ``pytorchvideo.transforms.create_video_transform`` of the real
  PyTorchVideo 0.1.5 from PyPI, made importable on current torchvision by
  ``benchmarks/_ptv_compat.py`` (an alias for the removed
  ``torchvision.transforms.functional_tensor``; on CUDA also a device fix for
  its temporal subsampling), its code otherwise untouched.

Rows (milliseconds per batch, both libraries on the same clips):

* ``train default T16``: the default training transform applied clip by clip,
  as a data-loader worker does, with ``num_samples`` = all 16 frames (so only
  the spatial and value pipeline is timed); ``T8`` also subsamples to 8 frames;
* ``train randaug T16``: the same with ``aug_type="randaug"`` (RandAugment,
  magnitude 9, 2 layers, p=0.5);
* ``val T16``: ShortSideScale + CenterCrop + normalise, clip by clip;
* ``train default T16 batch``: vidray's transform applied once to the whole
  batch ``[B, C, T, H, W]`` (each clip still draws its own scale, crop and
  flip), as when augmenting on the GPU after the loader; PyTorchVideo's
  transforms take no batch, so its column is again clip by clip. On the CPU
  this row also pays for a fresh float32 batch buffer per call (77 MB at the
  defaults: above glibc's 32 MB mmap ceiling, so every call maps it anew and
  page-faults it in), which per-clip buffers, reused by malloc, do not.

Timing: ``torch.set_num_threads(--threads)`` (default: every core this process
may use), one warm-up run per library and row, then for each of ``--draws``
seeds the fastest of ``--repeats`` runs, the libraries taking turns; the torch
generator is re-seeded before every run, so the repeats of one seed do the same
work (the same scales, crops, flips, RandAugment operations) and the fastest
discards only the machine's noise, while the seeds average over the draws.
With ``--device cuda`` the clips are on the GPU before timing, both libraries
run on the GPU tensors, and every run is bracketed by ``torch.cuda.synchronize``.
A library that fails on a row (PyTorchVideo's RandAugment on CUDA, say) shows
``n/a`` and the reason under the table.

The check line compares the two val outputs of the first clip (max absolute
difference in normalised units): at ``min_size`` 256 nothing is resized for
340x256 frames; at 224 both resize, and vidray rounds the resized frames to
uint8 before normalising (about 0.5 / 255 / 0.225 = 0.009 at most). On these
random pixels a difference of order 1 means the two crop windows are not
aligned (e.g. a one-pixel shift of the centre crop).

Target: vidray >= 2x PyTorchVideo on the CPU for the training transforms; on
CUDA the speed-up is reported, not judged.

Run::

    .venv/bin/pip install -e ".[bench]"      # PyTorchVideo 0.1.5 (and its declared dependencies)
    .venv/bin/python benchmarks/transforms.py
    .venv/bin/python benchmarks/transforms.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _ptv_compat, also when imported from elsewhere
import _ptv_compat

TARGET_VS_PYTORCHVIDEO = 2.0
LIBRARIES = ("vidray", "pytorchvideo")

Runner = Callable[[], Any]  # transforms the whole workload once and returns the outputs


# ---------------------------------------------------------------- the two libraries
def vidray_factory() -> tuple[Callable[..., Any] | None, str]:
    """vidray's ``create_video_transform``, or ``None`` and why it does not import."""
    try:
        from vidray.transforms import create_video_transform
    except Exception as error:  # noqa: BLE001  (any import failure becomes a reason in the table)
        try:  # the package may still be assembling its exports
            from vidray.transforms.transforms_factory import create_video_transform
        except Exception:  # noqa: BLE001
            return None, f"vidray.transforms: {type(error).__name__}: {error}"
    return create_video_transform, ""


def pytorchvideo_factory(device: torch.device) -> Callable[..., Any]:
    ptv_transforms = _ptv_compat.import_pytorchvideo_transforms()
    if device.type != "cpu":
        _ptv_compat.fix_device_temporal_subsample()
    return ptv_transforms.create_video_transform


# ---------------------------------------------------------------- rows
@dataclass(frozen=True)
class Case:
    """One row: how both libraries' pipelines are built, and whether vidray gets the whole batch."""

    mode: str
    aug_type: str
    num_samples: int
    batched: bool = False

    @property
    def label(self) -> str:
        name = "val" if self.mode == "val" else f"train {self.aug_type}"
        return f"{name} T{self.num_samples}" + (" batch" if self.batched else "")

    def kwargs(self) -> dict[str, Any]:
        return {"mode": self.mode, "num_samples": self.num_samples, "aug_type": self.aug_type}


def make_cases(frames: int) -> list[Case]:
    cases = [Case("train", "default", frames)]
    if frames >= 2:
        cases.append(Case("train", "default", frames // 2))
    cases += [Case("train", "randaug", frames), Case("val", "default", frames), Case("train", "default", frames, True)]
    return cases


def make_workload(batch: int, frames: int, height: int, width: int, seed: int) -> torch.Tensor:
    """uint8 ``[B, 3, T, H, W]``, uniform random pixels (reproducible from ``seed``)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, frames, height, width), dtype=torch.uint8, generator=generator)


def per_clip(transform: Callable[[torch.Tensor], Any], clips: list[torch.Tensor]) -> Runner:
    return lambda: [transform(clip) for clip in clips]


def whole_batch(transform: Callable[[torch.Tensor], Any], batch: torch.Tensor) -> Runner:
    return lambda: transform(batch)


def describe(output: Any) -> str:
    """``8x[3,16,224,224] float32`` for a list of clips, ``[8,3,16,224,224] float32`` for a batch."""

    def one(tensor: torch.Tensor) -> str:
        return f"[{','.join(map(str, tensor.shape))}] {str(tensor.dtype).removeprefix('torch.')}"

    if isinstance(output, torch.Tensor):
        return one(output)
    if isinstance(output, list) and output and all(isinstance(o, torch.Tensor) for o in output):
        kinds = sorted({one(o) for o in output})
        return f"{len(output)}x{kinds[0]}" if len(kinds) == 1 else " | ".join(kinds)
    return type(output).__name__


# ---------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seed(seed: int) -> None:
    torch.manual_seed(seed)  # both libraries draw every parameter from torch's generator
    random.seed(seed)


def run_once(runner: Runner, seed: int, device: torch.device) -> tuple[float, Any]:
    _seed(seed)
    _sync(device)
    began = time.perf_counter()
    output = runner()
    _sync(device)
    return time.perf_counter() - began, output


@dataclass
class Row:
    case: str
    ms: dict[str, float | None]  # per batch; None: the library could not run the row
    outputs: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        vidray, ptv = self.ms["vidray"], self.ms["pytorchvideo"]
        return None if vidray is None or ptv is None else ptv / vidray


def time_case(label: str, runners: dict[str, Runner | None], errors: dict[str, str], args: argparse.Namespace) -> Row:
    """Per library: warm-up, then the mean over ``args.draws`` seeds of the fastest of ``args.repeats`` runs."""
    errors = dict(errors)
    outputs: dict[str, str] = {}
    live: dict[str, Runner] = {}
    for name, runner in runners.items():
        if runner is None:
            continue
        try:
            for _ in range(args.warmup):
                _, output = run_once(runner, args.seed, args.device)
            outputs[name] = describe(output)
            live[name] = runner
        except Exception as error:  # noqa: BLE001  (reported as n/a with the reason)
            errors[name] = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    totals = dict.fromkeys(live, 0.0)
    names = list(live)
    for draw in range(args.draws):
        fastest = dict.fromkeys(names, float("inf"))
        for repeat in range(args.repeats):
            shift = (draw + repeat) % max(len(names), 1)  # take turns: who goes first alternates
            for name in names[shift:] + names[:shift]:
                seconds, output = run_once(live[name], args.seed + draw, args.device)
                del output
                fastest[name] = min(fastest[name], seconds)
        for name in names:
            totals[name] += fastest[name]
    ms = {name: (totals[name] / args.draws * 1000 if name in live else None) for name in LIBRARIES}
    return Row(label, ms, {name: outputs.get(name, "n/a") for name in LIBRARIES}, errors)


def val_difference(
    vidray_create: Callable[..., Any], ptv_create: Callable[..., Any], clip: torch.Tensor, min_size: int
) -> float:
    """Max ``|vidray - PTV|`` of the val transforms' outputs for one clip (normalised units)."""
    kwargs = {"mode": "val", "num_samples": clip.shape[1], "min_size": min_size, "crop_size": min(224, min_size)}
    ours = vidray_create(**kwargs)(clip)
    theirs = ptv_create(**kwargs)(clip)
    return float((ours.float() - theirs.float()).abs().max())


# ---------------------------------------------------------------- report
def format_table(rows: list[Row], args: argparse.Namespace) -> str:
    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}"

    def ratio(row: Row) -> str:
        if row.ratio is None:
            return "n/a"
        if args.device.type != "cpu" or row.case.startswith("val"):
            return f"{row.ratio:.2f}x"
        return f"{row.ratio:.2f}x {'ok' if row.ratio >= TARGET_VS_PYTORCHVIDEO else 'MISS'}"

    width = max(len(row.case) for row in rows)
    out_width = max(len(row.outputs["vidray"]) for row in rows)
    header = (
        f"{'row':<{width}}  {'vidray ms':>9}  {'PTV ms':>8}  {'PTV/vidray':<11}  "
        f"{'vidray output':<{out_width}}  PTV output"
    )
    lines = [header, "-" * (len(header) + 12)]
    for row in rows:
        lines.append(
            f"{row.case:<{width}}  {ms(row.ms['vidray']):>9}  {ms(row.ms['pytorchvideo']):>8}  "
            f"{ratio(row):<11}  {row.outputs['vidray']:<{out_width}}  {row.outputs['pytorchvideo']}"
        )
    b, t, h, w = args.batch, args.frames, args.height, args.width
    lines.append(
        f"ms per batch of {b} uint8 clips [3, {t}, {h}, {w}] (C, T, H, W) on {args.device_name}; "
        f"mean over {args.draws} seeds of the fastest of {args.repeats} runs"
    )
    lines.append(
        f"PTV = PyTorchVideo 0.1.5 create_video_transform, clip by clip in every row; "
        f"target on the CPU: vidray >= {TARGET_VS_PYTORCHVIDEO:g}x on the train rows"
    )
    lines.append("'batch': vidray transforms the whole [B, C, T, H, W] batch in one call (per-clip draws)")
    for row in rows:
        for name, reason in row.errors.items():
            lines.append(f"n/a: {row.case}, {'PTV' if name == 'pytorchvideo' else name}: {reason}")
    return "\n".join(lines)


# ---------------------------------------------------------------- command line
def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    parser.add_argument(
        "--threads",
        type=_positive,
        default=_usable_cores(),
        help="torch.set_num_threads (default: %(default)s, all cores)",
    )
    parser.add_argument("--batch", type=_positive, default=8, help="clips per batch (default: 8)")
    parser.add_argument("--frames", type=_positive, default=16, help="frames per clip, T (default: 16)")
    parser.add_argument("--height", type=_positive, default=256, help="frame height (default: 256)")
    parser.add_argument("--width", type=_positive, default=340, help="frame width (default: 340)")
    parser.add_argument(
        "--repeats", type=_positive, default=5, help="timed runs per seed; the fastest counts (default: 5)"
    )
    parser.add_argument("--draws", type=_positive, default=3, help="seeds (random draws) averaged per row (default: 3)")
    parser.add_argument("--warmup", type=_positive, default=1, help="untimed runs per library and row (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pixels and the first draw (default: 0)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results to FILE as JSON")
    args = parser.parse_args(argv)
    try:
        args.device = torch.device(args.device)
    except RuntimeError as error:
        parser.error(str(error))
    if args.device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    if args.device.type not in ("cpu", "cuda"):
        parser.error(f"--device must be cpu or cuda, got {args.device}")
    if min(args.height, args.width) < 256:
        parser.error("frames must be at least 256 pixels on the short side (the transforms' min_size)")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.device.type == "cuda":
        args.device_name = f"{args.device} ({torch.cuda.get_device_name(args.device)})"
    else:
        args.device_name = f"cpu, {args.threads} thread{'s' * (args.threads > 1)}"

    ptv_create = pytorchvideo_factory(args.device)
    vidray_create, vidray_error = vidray_factory()
    import pytorchvideo
    import torchvision

    print(
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, pytorchvideo {pytorchvideo.__version__}, "
        f"{args.device_name}",
        file=sys.stderr,
    )

    batch = make_workload(args.batch, args.frames, args.height, args.width, args.seed).to(args.device)
    pristine = batch.clone()
    clips = list(batch.unbind(0))

    rows = []
    for case in make_cases(args.frames):
        print(f"timing {case.label} ...", file=sys.stderr, flush=True)
        runners: dict[str, Runner | None] = {}
        errors: dict[str, str] = {}
        for name, create in (("vidray", vidray_create), ("pytorchvideo", ptv_create)):
            if create is None:
                runners[name], errors[name] = None, vidray_error
                continue
            try:
                transform = create(**case.kwargs())
            except Exception as error:  # noqa: BLE001
                runners[name], errors[name] = None, f"building the transform: {type(error).__name__}: {error}"
                continue
            batched = case.batched and name == "vidray"
            runners[name] = whole_batch(transform, batch) if batched else per_clip(transform, clips)
        rows.append(time_case(case.label, runners, errors, args))

    print(format_table(rows, args))
    check: dict[str, float | str] = {}
    if vidray_create is not None:
        for min_size in (256, 224):
            try:
                check[str(min_size)] = val_difference(vidray_create, ptv_create, clips[0], min_size)
            except Exception as error:  # noqa: BLE001
                check[str(min_size)] = f"failed: {type(error).__name__}: {error}"

        def fmt(value: float | str) -> str:
            return f"{value:.4f}" if isinstance(value, float) else value

        print(
            f"check: val outputs of clip 0, max |vidray - PTV| (normalised units) = {fmt(check['256'])} "
            f"at min_size 256 (no resize), {fmt(check['224'])} at min_size 224 (resized)"
        )
    if not torch.equal(batch, pristine):
        print("WARNING: a transform modified its input clips in place", file=sys.stderr)
    if args.json:
        config = {k: str(v) if isinstance(v, torch.device) else v for k, v in vars(args).items() if k != "json"}
        versions = {
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "pytorchvideo": pytorchvideo.__version__,
        }
        report = {
            "config": config,
            "versions": versions,
            "rows": [{**asdict(row), "ratio": row.ratio} for row in rows],
            "val_max_abs_difference": check,
        }
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
