"""The ``vidray`` command line."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Sequence

from vidray.errors import ConfigError, VidrayError


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except VidrayError as exc:
        if args.verbose:  # the whole chain of causes, for a bug report
            logging.getLogger("vidray.cli").error("failed", exc_info=exc)
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
        help="train and evaluate on Ray, tracked in MLflow (default: the synthetic dataset)",
        description="Runs a training job (an experiment config) on the Ray cluster at RAY_ADDRESS, or on a "
        "local Ray it starts: decodes with Ray Data, trains with Ray Train, evaluates, checkpoints, and logs the "
        "run, its metrics and the final model to MLflow (default: a sqlite store ./mlflow.db with artifacts in "
        "./mlartifacts). Without --config it runs the embedded defaults: it writes the synthetic motion dataset, "
        "trains a small X3D for a few minutes on 2 CPU cores, and prints where to look.",
    )
    run.add_argument("--config", metavar="FILE", help="YAML or JSON experiment config (see experiments/configs/)")
    run.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                     help="override a config field by its dotted path, e.g. --set epochs=2 --set scaling.num_workers=1 "
                     "(the value is read as YAML)")
    run.add_argument("--resume", metavar="CHECKPOINT",
                     help="continue a run from its checkpoint folder (or run folder): after a crash, or for more epochs")
    run.add_argument("--pretrained", metavar="SOURCE",
                     help="start the model's encoder from a self-supervised run: its checkpoint or run folder (local "
                     "or s3://), runs:/RUN_ID, or models:/NAME/VERSION (or @ALIAS) of its registered encoder; sets "
                     "task.args.encoder_checkpoint, and the run is tagged with the pretraining run")
    run.add_argument("--linear-probe", action="store_true",
                     help="freeze the encoder and train only the classifier (sets task.args.freeze_encoder); "
                     "without --pretrained this is the randomly initialised baseline")
    run.set_defaults(handler=_run)

    _add_export_parser(commands)
    _add_farm_parser(commands)

    decode = commands.add_parser(
        "decode",
        help="decode one labelled epoch of a dataset (no training), to check data and measure speed",
        description="Build the configured dataset and decode one labelled epoch with a progress bar, "
        "then print a summary. Without --config the embedded defaults use the synthetic dataset.",
    )
    decode.add_argument("--config", help="YAML or JSON job config (fields: name, seed, data)")
    decode.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    decode.set_defaults(handler=_decode)

    synthetic = commands.add_parser("synthetic", help="write the synthetic motion dataset (Kinetics layout)")
    synthetic.add_argument("--root", help="output folder or s3:// URI (default: ./vidray-data/synthetic)")
    synthetic.add_argument("--num-classes", type=int, default=4)
    synthetic.add_argument("--train-per-class", type=int, default=24)
    synthetic.add_argument("--val-per-class", type=int, default=8)
    synthetic.add_argument("--size", type=int, nargs=2, default=(112, 112), metavar=("HEIGHT", "WIDTH"))
    synthetic.add_argument("--fps", type=float, default=15.0)
    synthetic.add_argument("--duration", type=float, default=2.0, help="seconds per video")
    synthetic.add_argument("--seed", type=int, default=0)
    synthetic.add_argument("--background", choices=("texture", "plain"), default="texture",
                           help="a random texture per video, or one grey for all (self-supervised data)")
    synthetic.add_argument("--bar-angle", type=float, metavar="DEGREES", help="fixed bar angle (default: random per video)")
    synthetic.add_argument("--bar-color", type=int, nargs=3, metavar=("R", "G", "B"), help="fixed bar colour (default: random)")
    synthetic.add_argument("--bar-length", type=float, default=0.45,
                           help="bar length as a fraction of the shorter side; 1 with --bar-angle 90: a full-height stripe")
    synthetic.set_defaults(handler=_synthetic)

    _add_prepare_parser(commands)

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

    listing = commands.add_parser(
        "list", help="list registered components (decoders, clip samplers, datasets, transforms, losses, models, "
        "model builders, tasks, optimizers, schedulers)")
    listing.add_argument("registry", nargs="?", help="which registry (default: all)")
    listing.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'uniform*'")
    listing.set_defaults(handler=_list)
    return parser


def _add_export_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="export a trained or zoo model to an int8 (or fp32) ExecuTorch program, evaluate it, register it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Export a model to an ExecuTorch program for phones (XNNPACK): 3-D convolutions
folded exactly into 2-D ones, int8 quantization with PT2E calibrated on real
clips (the training split through the evaluation transform), lowered to
XNNPACK. The program is then run by ExecuTorch's runtime on the validation
clips beside the eager model: top-1 of both (for a model trained on that
data), their agreement, and the drop are recorded.

The bundle (program.pte + bundle.json with sha256, input/output spec,
quantization recipe, calibration hash, delegation, evaluation) is saved under
--output, logged to MLflow beside the source model (deploy/NAME-SHA) and
registered as a new version of NAME (default SOURCE-QUANTIZE-BACKEND), its
tags holding size, sha256, accuracy and delegated fraction. A zoo stream
model (--hub movinet_a0_stream, ...) becomes a stream program: its state is
program inputs and outputs, fed --chunk-frames frames per call.

Options default to the --config file's deploy: section, then to the values
shown. Nothing is unpickled: logged models are read as torch.export archives.""",
        epilog="""\
examples:
  vidray export --model-uri models:/x3d-synthetic/1
  vidray export --model-uri runs:/RUN_ID --quantize fp32
  vidray export --hub x3d_s --checkpoint X3D_S.pyth --calibration-batches 32
  vidray export --hub movinet_a0_stream --chunk-frames 1""",
    )
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-uri", metavar="URI",
                        help="a model logged by vidray run: models:/NAME/VERSION, models:/NAME@ALIAS, models:/MODEL_ID "
                        "or runs:/RUN_ID (its run's config gives the data and normalisation)")
    source.add_argument("--hub", metavar="NAME", help="a zoo model (`vidray models` lists them), e.g. x3d_s")
    export.add_argument("--config", metavar="FILE",
                        help="experiment config: its deploy: section sets defaults, its data (train split to "
                        "calibrate, val to evaluate) replaces the source's, its tracking.uri is the store")
    export.add_argument("--checkpoint", metavar="PATH", help="with --hub: weights to load (local path or s3://)")
    export.add_argument("--quantize", choices=("int8", "fp32"), help="program precision (default: int8)")
    export.add_argument("--backend", choices=("xnnpack",), help="the delegate (default: xnnpack)")
    export.add_argument("--calibration-batches", type=int, metavar="N",
                        help="clips the int8 quantizer observes (default: 16)")
    export.add_argument("--eval-clips", type=int, metavar="N", help="validation clips compared (default: all)")
    export.add_argument("--chunk-frames", type=int, metavar="N", help="stream programs: frames per call (default: 1)")
    export.add_argument("--register", metavar="NAME",
                        help="registered model to add the program to (default: SOURCE-QUANTIZE-BACKEND)")
    export.add_argument("--output", metavar="DIR",
                        help="bundle folder, must not hold a bundle (default: ./vidray-deploy/NAME-SHA)")
    export.add_argument("--tracking-uri", metavar="URI",
                        help="MLflow store (default: the config's, else MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    export.add_argument("--no-tracking", action="store_true", help="only save the bundle locally (no MLflow)")
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from vidray.deploy.config import DeployConfig
    from vidray.jobs.export import export_model, logged_source, print_export_summary, zoo_source
    from vidray.tracking import TrackingConfig, resolve_tracking_uri
    from vidray.train.experiment import load_experiment

    config = load_experiment(args.config)[0] if args.config else None
    flags = {"quantize": args.quantize, "backend": args.backend, "calibration_batches": args.calibration_batches,
             "eval_clips": args.eval_clips, "chunk_frames": args.chunk_frames, "register": args.register}
    base = config.deploy.model_dump() if config and config.deploy else {}
    try:
        deploy = DeployConfig.model_validate({**base, **{k: v for k, v in flags.items() if v is not None}})
    except ValueError as exc:
        raise ConfigError(f"vidray export: {exc}") from None
    tracking = config.tracking if config else TrackingConfig()
    if args.tracking_uri:
        tracking = tracking.model_copy(update={"uri": args.tracking_uri})
    if args.model_uri:
        if args.checkpoint:
            raise ConfigError("vidray export: --checkpoint goes with --hub (a logged model has its weights)")
        source = logged_source(args.model_uri, resolve_tracking_uri(tracking), config)
    else:
        source = zoo_source(args.hub, args.checkpoint, config.data if config else None, config.seed if config else 0)
    result = export_model(source, deploy, tracking=None if args.no_tracking else tracking, output=args.output)
    print_export_summary(result)
    return 0


def _add_farm_parser(commands: argparse._SubParsersAction) -> None:
    farm = commands.add_parser(
        "farm",
        help="the device farm: list its devices, measure an ExecuTorch program's latency on a device kind",
        description="Devices are Ray actors on the nodes that own them (a node advertises device:<id>). Without "
        "--config the farm is this machine's CPUs, one 1-thread local device per core (kind cpu-1t). Ray: the "
        "cluster at --address or RAY_ADDRESS, else a local Ray the farm starts.",
    )
    actions = farm.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="start the farm's devices and print where each runs")
    bench = actions.add_parser("bench", help="measure a program (bundle folder or .pte) on a device of a kind")
    bench.add_argument("program", metavar="PROGRAM", help="a bundle folder (vidray export's output) or a .pte file")
    bench.add_argument("--device-kind", required=True, metavar="KIND", help="the kind of device to measure on")
    bench.add_argument("--warmup", type=int, metavar="N", help="untimed runs first (default: the config's, 3)")
    bench.add_argument("--repeats", type=int, metavar="N", help="timed runs (default: the config's, 20)")
    bench.add_argument("--json", action="store_true", help="print the result as JSON (every sample)")
    profile = actions.add_parser(
        "profile", help="build a latency predictor for a device kind: profile kernels on it, fit, register in MLflow",
        description="Draws random X3D variants, splits their programs into kernels, exports a sample of each kernel "
        "type alone and measures it on the device kind, fits one random forest per kernel type, scales kernel sums to "
        "whole programs measured on the kind, reports its accuracy "
        "on held-out variants measured whole, and registers it as a new version of latency-KIND-QUANTIZE.")
    profile.add_argument("--device-kind", required=True, metavar="KIND", help="the device kind to profile")
    profile.add_argument("--quantize", choices=("int8", "fp32"), default="int8", help="program precision (default: int8)")
    profile.add_argument("--architectures", type=int, default=12, metavar="N",
                         help="random X3D variants to draw kernels from (default: 12)")
    profile.add_argument("--per-type", type=int, default=40, metavar="N", help="kernels profiled per type (default: 40)")
    profile.add_argument("--calibrate", type=int, default=4, metavar="N",
                         help="of the variants, how many are measured whole to scale kernel sums to programs (default: 4)")
    profile.add_argument("--held-out", type=int, default=5, metavar="N",
                         help="variants measured whole to report the predictor's accuracy (default: 5)")
    profile.add_argument("--seed", type=int, default=0, help="draws of variants and kernels (default: 0)")
    predict = actions.add_parser("predict", help="a zoo model's predicted latency on a device kind")
    predict.add_argument("model", metavar="MODEL", help="a zoo name (`vidray models`), at its default input")
    predict.add_argument("--device-kind", required=True, metavar="KIND", help="the device kind")
    predict.add_argument("--quantize", choices=("int8", "fp32"), default="int8", help="program precision (default: int8)")
    predict.add_argument("--version", help="the predictor's registered version or @alias (default: the newest)")
    for action in (profile, predict):
        action.add_argument("--tracking-uri", metavar="URI",
                            help="MLflow store (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)")
    for action in (listing, bench, profile):
        action.add_argument("--config", metavar="FILE", help="farm config (YAML/JSON), e.g. "
                            "experiments/configs/farm_local.yaml")
        action.add_argument("--address", metavar="ADDRESS", help="Ray cluster address (default: RAY_ADDRESS)")
    farm.set_defaults(handler=_farm)


def _farm(args: argparse.Namespace) -> int:
    from vidray.farm.commands import run

    return run(args)


def _add_prepare_parser(commands: argparse._SubParsersAction) -> None:
    prepare = commands.add_parser(
        "prepare",
        help="transcode a dataset across the Ray cluster into a training form, with a new manifest",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Transcode every video of a manifest or dataset into a training form, one Ray
task per video (one CPU each): short side N, constant frame rate, a keyframe
every K frames (H.264 yuv420p in mp4 with faststart), audio kept as AAC at its
sample rate (mono, or stereo). Time t of a new file shows time t of its source,
so segment annotations stay valid.

Outputs mirror the source tree below OUTPUT (always .mp4), and
OUTPUT/manifest.jsonl lists them with the same labels, classes and annotations,
plus each file's duration; read it with the 'manifest' dataset.

Resumable: a file appears under its final name only when complete (written
under a temporary name and renamed, or uploaded to S3 whole), so a rerun skips
finished files and redoes the rest. OUTPUT/prepare.json records the settings;
a rerun with other settings is refused. Videos that cannot be read are
skipped, listed in the summary and left out of the manifest.

Connects to the cluster at --address or RAY_ADDRESS, else starts a local Ray.
Flags override the --config file's fields.""",
        epilog="""\
config file (PrepareConfig; every field also has a flag except data and env_vars):
  data:                   # source: any dataset of the data layer (or manifest: URI)
    dataset: kinetics
    data_path: s3://bucket/kinetics400/annotations/train.csv
    video_path_prefix: s3://bucket/kinetics400/train
  output: s3://bucket/kinetics400-320p/train
  short_side: 320
  fps: 30
  keyframe_interval: 16
  env_vars: {AWS_ENDPOINT_URL: http://minio:9000}   # environment of the tasks""",
    )
    prepare.add_argument("--config", metavar="FILE", help="YAML or JSON config (see below)")
    prepare.add_argument("--manifest", metavar="URI", help="source: a manifest file (local or s3://)")
    prepare.add_argument("--output", metavar="URI", help="output folder or s3:// URI (absolute on a cluster)")
    prepare.add_argument("--short-side", type=int, metavar="N", help="short side in pixels, even (default: 320)")
    prepare.add_argument("--fps", type=float, help="constant output frame rate (default: 30)")
    prepare.add_argument("--keyframe-interval", type=int, metavar="K", help="frames between keyframes (default: 16)")
    prepare.add_argument("--crf", type=int, help="x264 quality, 0-51: lower is better and bigger (default: 23)")
    prepare.add_argument("--preset", help="x264 speed preset, ultrafast ... veryslow (default: veryfast)")
    prepare.add_argument("--tune", help="x264 tune, e.g. fastdecode: no CABAC or deblocking, cheaper to decode")
    prepare.add_argument("--no-audio", dest="audio", action="store_false", default=None, help="drop the audio")
    prepare.add_argument("--num-cpus-per-task", type=float, metavar="C", help="CPUs and FFmpeg threads per task (default: 1)")
    prepare.add_argument("--max-in-flight", type=int, metavar="N", help="tasks submitted at once (default: 2x the tasks that fit)")
    prepare.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local Ray)")
    prepare.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    prepare.set_defaults(handler=_prepare)


def _prepare(args: argparse.Namespace) -> int:
    import ray

    from vidray.config import load_config, read_config_file
    from vidray.ingest.prepare import PrepareConfig, prepare_dataset

    fields = read_config_file(args.config) if args.config else {}
    flags = ("manifest", "output", "short_side", "fps", "keyframe_interval", "crf", "preset", "tune", "audio",
             "num_cpus_per_task", "max_in_flight")
    overrides = {name: getattr(args, name) for name in flags if getattr(args, name) is not None}
    if "manifest" in overrides:
        fields.pop("data", None)  # --manifest replaces the config file's source
    config = load_config(args.config if args.config and not overrides else {**fields, **overrides}, PrepareConfig)
    if not ray.is_initialized():
        ray.init(address=args.address, log_to_driver=False)
    summary = prepare_dataset(config, progress=not args.no_progress)
    print(f"\nprepared {config.output}: summary")
    print("\n".join(summary.lines()))
    return 0


def _run(args: argparse.Namespace) -> int:
    from vidray.train.experiment import load_experiment, print_summary
    from vidray.train.trainer import fit

    overrides = list(args.set)
    if args.pretrained:
        overrides.append(f"task.args.encoder_checkpoint={json.dumps(args.pretrained)}")
    if args.linear_probe:
        overrides.append("task.args.freeze_encoder=true")
    config, text = load_experiment(args.config, overrides)
    print(f"{config.name}: training {config.model.name} for {config.epochs} epochs on "
          f"{config.scaling.num_workers} Ray Train worker(s)", flush=True)
    result = fit(config, config_text=text, resume=args.resume)
    print_summary(config, result)
    if config.deploy is not None:
        from vidray.jobs.export import export_model, logged_source, print_export_summary

        print(f"\n{config.name}: exporting the model ({config.deploy.quantize}, {config.deploy.backend})", flush=True)
        try:
            source = logged_source(result.model_uri, result.tracking_uri, config)
            print_export_summary(export_model(source, config.deploy, tracking=config.tracking, keep_local=False))
        except VidrayError as exc:
            raise VidrayError(f"the model trained and is logged as {result.model_uri} (run {result.run_id}), but its "
                              f"export failed: {exc}; retry with `vidray export --model-uri {result.model_uri}`") from exc
    return 0


def _decode(args: argparse.Namespace) -> int:
    from vidray.config import load_config
    from vidray.jobs.decode_epoch import DecodeEpochConfig, run

    config = load_config(args.config, DecodeEpochConfig) if args.config else DecodeEpochConfig()
    summary = run(config, progress=not args.no_progress)
    print(f"\n{config.name}: summary")
    print("\n".join(summary.lines()))
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from vidray.data.synthetic import SyntheticSpec, default_root, write_synthetic_dataset

    try:
        spec = SyntheticSpec(
            num_classes=args.num_classes, train_per_class=args.train_per_class, val_per_class=args.val_per_class,
            height=args.size[0], width=args.size[1], fps=args.fps, duration=args.duration, seed=args.seed,
            background=args.background, bar_angle=args.bar_angle,
            bar_color=tuple(args.bar_color) if args.bar_color else None, bar_length=args.bar_length,
        )
    except ValueError as exc:
        raise ConfigError(f"vidray synthetic: {exc}") from None
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
    from vidray.models.factory import MODEL_BUILDERS
    from vidray.train.optim import OPTIMIZERS
    from vidray.train.schedulers import SCHEDULERS
    from vidray.train.tasks import TASKS
    from vidray.transforms import TRANSFORMS

    registries = {r.name: r for r in (DECODERS, CLIP_SAMPLERS, DATASETS, TRANSFORMS, LOSSES, MODELS, MODEL_BUILDERS,
                                      TASKS, OPTIMIZERS, SCHEDULERS)}
    if args.registry and args.registry not in registries:
        raise VidrayError(f"unknown registry {args.registry!r}; choose from {', '.join(registries)}")
    for name in [args.registry] if args.registry else registries:
        print(f"{name}: {', '.join(registries[name].list(args.pattern)) or '(none)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
