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
    from vidray.farm.predictor import build_predictor, log_predictor

    print(f"profiling kernels of {args.architectures} X3D variants on {args.device_kind} ({args.quantize})", flush=True)
    with _farm(args) as farm:
        built = build_predictor(farm, args.device_kind, quantize=args.quantize, architectures=args.architectures,
                                per_type=args.per_type, calibrate=args.calibrate, held_out=args.held_out, seed=args.seed)
    for description, p, m in built.held_out:
        print(f"  {description:45} predicted {p:8.2f} ms, measured {m:8.2f} ms ({(p - m) / m:+.1%})")
    scores = built.scores
    registered = log_predictor(built.predictor, _tracking(args), {f"held_out_{k}": f"{v:.4f}" for k, v in scores.items()})
    print(f"registered {registered} ({built.kernels_profiled} kernels profiled)"
          + (f": within 10% on {scores['within_10pct']:.0%} of {len(built.held_out)} held-out variants, "
             f"RMSE {scores['rmse_ms']:.2f} ms" if scores else ""))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from vidray.farm.predictor import load_predictor, predict

    predictor = load_predictor(args.device_kind, args.quantize, tracking=_tracking(args), version=args.version)
    latency = predict(args.model, args.device_kind, predictor=predictor)
    print(f"{args.model} on {args.device_kind} ({args.quantize}): {latency:.2f} ms predicted by "
          f"{predictor.record['registered']}")
    return 0
