"""``vidray farm``'s actions: list the farm's devices, measure a program on a device kind."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from vidray.errors import ConfigError


def run(args: argparse.Namespace) -> int:
    """Runs ``vidray farm ACTION`` (the parser is in :mod:`vidray.cli`)."""
    return {"list": _list, "bench": _bench, "profile": _profile, "predict": _predict}[args.action](args)


def _farm(args: argparse.Namespace, **overrides: Any):
    import ray

    from vidray.farm import DeviceFarm, FarmConfig, load_farm_config
    from vidray.farm.spec import local_farm

    base = load_farm_config(args.config) if args.config else local_farm()
    try:
        config = FarmConfig.model_validate({**base.model_dump(), **{k: v for k, v in overrides.items() if v is not None}})
    except ValueError as exc:
        raise ConfigError(f"vidray farm: {exc}") from None
    address = args.address or os.environ.get("RAY_ADDRESS")
    if address and not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    return DeviceFarm(config)


def _list(args: argparse.Namespace) -> int:
    with _farm(args) as farm:
        devices = farm.devices()
    print(f"{'device':16} {'kind':12} {'backend':8} {'threads':>7}  {'node':14} runtime")
    for device in devices:
        print(f"{device['id']:16} {device['kind']:12} {device['backend']:8} {device['threads']:>7}  "
              f"{device['node_id'][:12]:14} {device['runtime_version']}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    with _farm(args, warmup=args.warmup, repeats=args.repeats) as farm:
        result = farm.measure(args.program, args.device_kind)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    source = "cache" if result.cached else f"device {result.device_id}"
    print(f"{args.program} on {result.device_kind} ({source}, {result.threads} thread(s), {result.runtime_version}):")
    print(f"  median {result.median_ms:.2f} ms, p90 {result.p90_ms:.2f} ms, min {result.min_ms:.2f} ms, "
          f"cv {result.cv:.1%} over {len(result.samples_ms)} runs")
    if result.faults:
        print(f"  devices that failed first: {'; '.join(result.faults)}")
    return 0


def _tracking(args: argparse.Namespace):
    from vidray.tracking import TrackingConfig

    return TrackingConfig(uri=args.tracking_uri) if args.tracking_uri else TrackingConfig()


def _profile(args: argparse.Namespace) -> int:
    import torch

    from vidray.deploy import deployable_program, export
    from vidray.farm.predictor import (
        LatencyPredictor,
        accuracy,
        architecture_kernels,
        kernels_of,
        log_predictor,
        profile,
        random_x3d_variants,
        sample_kernels,
    )

    variants = list(random_x3d_variants(args.architectures + args.held_out, seed=args.seed))
    train, held_out = variants[: args.architectures], variants[args.architectures:]
    kernels = sample_kernels(architecture_kernels((model, clip) for _, model, clip in train), args.per_type, args.seed)
    print(f"profiling {len(kernels)} kernels of {len(train)} X3D variants on {args.device_kind} ({args.quantize})",
          flush=True)
    def calibration(clip: "torch.Tensor") -> list | None:  # a program's int8 scales: the clips' own range
        return [torch.rand_like(clip)] if args.quantize == "int8" else None

    def measured(variants: list) -> list[float]:  # whole programs, exported first, measured together
        bundles = [export(model, clip, quantize=args.quantize, calibration=calibration(clip)) for _, model, clip in variants]
        return [future.result().median_ms for future in [farm.submit(bundle, args.device_kind) for bundle in bundles]]

    with _farm(args) as farm:
        data = profile(farm, args.device_kind, kernels, quantize=args.quantize)
        whole = measured(train[: args.calibrate])
        held_out_ms = measured(held_out)
    deployable = [kernels_of(deployable_program(model, clip)) for _, model, clip in train[: args.calibrate]]
    predictor = LatencyPredictor.fit(data, seed=args.seed)
    if whole:
        predictor = predictor.calibrated(deployable, whole)
    measured_ms = held_out_ms
    predicted = [predictor.predict(model, clip) for _, model, clip in held_out]
    scores = accuracy(predicted, measured_ms) if held_out else {}
    for (description, _, _), p, m in zip(held_out, predicted, measured_ms):
        print(f"  {description:45} predicted {p:8.2f} ms, measured {m:8.2f} ms ({(p - m) / m:+.1%})")
    registered = log_predictor(predictor, _tracking(args), {f"held_out_{k}": f"{v:.4f}" for k, v in scores.items()})
    print(f"registered {registered}" + (f": within 10% on {scores['within_10pct']:.0%} of {len(held_out)} held-out "
                                        f"variants, RMSE {scores['rmse_ms']:.2f} ms" if scores else ""))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from vidray.farm.predictor import load_predictor, predict

    predictor = load_predictor(args.device_kind, args.quantize, tracking=_tracking(args), version=args.version)
    latency = predict(args.model, args.device_kind, predictor=predictor)
    print(f"{args.model} on {args.device_kind} ({args.quantize}): {latency:.2f} ms predicted by "
          f"{predictor.record['registered']}")
    return 0
