"""The ``vidray`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from vidray.errors import VidrayError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except VidrayError as exc:
        print(f"vidray: error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidray",
        description="Ray-native video understanding, PyTorchVideo-compatible.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run the main job (default: write the synthetic dataset and decode a labelled epoch)",
        description="Build the configured dataset and decode one labelled epoch with a progress bar, "
        "then print a summary. Without --config the embedded defaults use the synthetic dataset.",
    )
    run.add_argument("--config", help="YAML or JSON job config (fields: name, seed, data)")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.set_defaults(handler=_run)

    synthetic = commands.add_parser("synthetic", help="write the synthetic motion dataset (Kinetics layout)")
    synthetic.add_argument("--root", help="output folder or s3:// URI (default: ./vidray-data/synthetic)")
    synthetic.add_argument("--num-classes", type=int, default=4)
    synthetic.add_argument("--train-per-class", type=int, default=24)
    synthetic.add_argument("--val-per-class", type=int, default=8)
    synthetic.add_argument("--size", type=int, nargs=2, default=(112, 112), metavar=("HEIGHT", "WIDTH"))
    synthetic.add_argument("--fps", type=float, default=15.0)
    synthetic.add_argument("--duration", type=float, default=2.0, help="seconds per video")
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.set_defaults(handler=_synthetic)

    probe = commands.add_parser("probe", help="print a video's duration, frame rate, size and streams")
    probe.add_argument("path", help="video file, frame folder or s3:// URI")
    probe.add_argument("--decoder", default="pyav")
    probe.set_defaults(handler=_probe)

    models = commands.add_parser(
        "models",
        help="print the model zoo: parameters, GFLOPs at the default input, input, published top-1",
        description="Builds each zoo model on the meta device (no weights, no download) and counts its "
        "parameters and multiply-accumulates (GFLOPs, the model-zoo tables' unit) at its default input.",
    )
    models.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'x3d*'")
    models.set_defaults(handler=_models)

    listing = commands.add_parser("list", help="list registered components (decoders, clip_samplers, datasets, transforms, losses, models)")
    listing.add_argument("registry", nargs="?", help="which registry (default: all)")
    listing.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'uniform*'")
    listing.set_defaults(handler=_list)
    return parser


def _run(args: argparse.Namespace) -> int:
    from vidray.config import load_config
    from vidray.jobs.decode_epoch import DecodeEpochConfig, run

    config = load_config(args.config, DecodeEpochConfig) if args.config else DecodeEpochConfig()
    summary = run(config, progress=not args.no_progress)
    print(f"\n{config.name}: summary")
    print("\n".join(summary.lines()))
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from vidray.data.synthetic import (
        SyntheticSpec,
        default_root,
        write_synthetic_dataset,
    )

    spec = SyntheticSpec(
        num_classes=args.num_classes, train_per_class=args.train_per_class, val_per_class=args.val_per_class,
        height=args.size[0], width=args.size[1], fps=args.fps, duration=args.duration, seed=args.seed,
    )
    dataset = write_synthetic_dataset(args.root or default_root(), spec)
    print(f"synthetic dataset at {dataset.root}: classes {', '.join(dataset.classes)}")
    for split, csv in dataset.csv.items():
        print(f"  {split}: annotations {csv}, videos {dataset.video_dir[split]}")
    return 0


def _probe(args: argparse.Namespace) -> int:
    from vidray import io as vio
    from vidray.data import EncodedVideo, FrameVideo

    video = FrameVideo.from_directory(args.path) if vio.is_dir(args.path) else EncodedVideo.from_path(args.path, decoder=args.decoder)
    with video:
        height, width = video.get_frames([0])["video"].shape[-2:]
        print(f"{args.path}\n  duration {video.duration:.3f} s, {video.fps:.3f} fps, {video.num_frames} frames, {width}x{height}")
        rate = getattr(video, "audio_sample_rate", None)
        print(f"  audio: {f'{rate} Hz' if rate else 'none'}")
    return 0


def _models(args: argparse.Namespace) -> int:
    from vidray.models import list_models
    from vidray.models.summary import HEADER, format_table, summarize

    names = list_models(args.pattern)
    if not names:
        raise VidrayError(f"no zoo model matches {args.pattern!r}; `vidray models` lists them all")
    print(format_table([HEADER] + [summarize(name).row() for name in names]))
    return 0


def _list(args: argparse.Namespace) -> int:
    from vidray.data import CLIP_SAMPLERS, DATASETS, DECODERS
    from vidray.losses import LOSSES
    from vidray.models import MODELS
    from vidray.transforms import TRANSFORMS

    registries = {r.name: r for r in (DECODERS, CLIP_SAMPLERS, DATASETS, TRANSFORMS, LOSSES, MODELS)}
    if args.registry and args.registry not in registries:
        raise VidrayError(f"unknown registry {args.registry!r}; choose from {', '.join(registries)}")
    for name in [args.registry] if args.registry else registries:
        print(f"{name}: {', '.join(registries[name].list(args.pattern)) or '(none)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
