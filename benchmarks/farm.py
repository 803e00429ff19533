"""The device farm and its latency predictor, on this machine's local devices (one per core, 1 thread).

Four measurements, printed, each taken in one run:

* ``predictor``: a predictor profiled on random X3D variants (``--architectures``,
  ``--per-type`` kernels per type, ``--calibrate`` of them measured whole), then
  ``--held-out`` other variants (default 30) measured whole and predicted: the
  fraction within ±10 % and ±5 % of the measurement, and RMSE. nn-Meter reports
  99.0 % within ±10 % on a mobile CPU; goal >= 95 %.
* ``stability``: one program measured ``--stability-runs`` times (5) on one device:
  coefficient of variation of the medians; goal <= 5 %.
* ``throughput``: programs measured per minute by a farm of 1 and of 2 local devices
  (the same ``--throughput-programs`` programs, exported beforehand); the ratio.
* ``query``: the predictor's time per architecture, for the kernel regression
  alone (the NAS loop's cost once a candidate's kernels are known) and with the
  graph split (``torch.export`` + fold): goal <= 10 ms.

Programs are int8 (``--quantize``), as deployed. Nothing else should run meanwhile.

    .venv/bin/python benchmarks/farm.py
    .venv/bin/python benchmarks/farm.py --only stability throughput --json farm.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # vidray from this checkout

from vidray.deploy import deployable_program, export  # noqa: E402
from vidray.farm import DeviceFarm  # noqa: E402
from vidray.farm.predictor import LatencyPredictor, build_predictor, kernels_of, random_x3d_variants  # noqa: E402
from vidray.farm.spec import local_farm  # noqa: E402

KIND = "cpu-1t"


def program(model: torch.nn.Module, clip: torch.Tensor, quantize: str):
    return export(model, clip, quantize=quantize, calibration=[torch.rand_like(clip)] if quantize == "int8" else None)


def measure_all(farm: DeviceFarm, bundles: list) -> list[float]:
    return [future.result().median_ms for future in [farm.submit(bundle, KIND) for bundle in bundles]]


def predictor_accuracy(args: argparse.Namespace) -> dict:
    with DeviceFarm(local_farm()) as farm:
        built = build_predictor(farm, KIND, quantize=args.quantize, architectures=args.architectures,
                                per_type=args.per_type, calibrate=args.calibrate, held_out=args.held_out, seed=args.seed)
    for description, p, m in built.held_out:
        print(f"  {description:45} predicted {p:8.2f} ms  measured {m:8.2f} ms  {(p - m) / m:+6.1%}")
    scores = built.scores
    print(f"predictor: {built.kernels_profiled} kernels profiled in {built.profile_seconds:.0f} s, scale "
          f"{built.predictor.record.get('scale', 1.0):.3f}; {len(built.held_out)} held-out variants: within 10% "
          f"{scores['within_10pct']:.1%}, within 5% {scores['within_5pct']:.1%}, RMSE {scores['rmse_ms']:.2f} ms "
          "(goal: >= 95% within 10%)")
    held_out = list(random_x3d_variants(args.architectures + args.held_out, seed=args.seed))[args.architectures:]
    held_kernels = [kernels_of(deployable_program(m, c)) for _, m, c in held_out]
    return {"scores": scores, "predictor": built.predictor, "held_out": held_out, "held_kernels": held_kernels}


def stability(args: argparse.Namespace) -> dict:
    (_, model, clip), = random_x3d_variants(1, seed=args.seed + 1)
    bundle = program(model, clip, args.quantize)
    config = local_farm()
    with DeviceFarm(config.model_copy(update={"devices": config.devices[:1]})) as farm:
        medians = [farm.measure(bundle, KIND).median_ms for _ in range(args.stability_runs)]
    cv = statistics.stdev(medians) / statistics.mean(medians)
    print(f"stability: {args.stability_runs} measurements of one program on one device: medians "
          f"{', '.join(f'{m:.2f}' for m in medians)} ms, CV {cv:.2%} (goal <= 5%)")
    return {"medians_ms": medians, "cv": cv}


def throughput(args: argparse.Namespace) -> dict:
    bundles = [program(m, c, args.quantize) for _, m, c in random_x3d_variants(args.throughput_programs, seed=args.seed + 2)]
    rates = {}
    for devices in (1, 2):
        config = local_farm()
        with DeviceFarm(config.model_copy(update={"devices": config.devices[:devices]})) as farm:
            start = time.perf_counter()
            measure_all(farm, bundles)
            rates[devices] = len(bundles) / (time.perf_counter() - start) * 60
    print(f"throughput: {rates[1]:.1f} programs/min with 1 device, {rates[2]:.1f} with 2 ({rates[2] / rates[1]:.2f}x)")
    return {"per_minute": rates, "ratio": rates[2] / rates[1]}


def query_time(args: argparse.Namespace, predictor: LatencyPredictor, held_out: list, held_kernels: list) -> dict:
    start = time.perf_counter()
    for kernels in held_kernels:
        predictor.predict(kernels)
    regression_ms = (time.perf_counter() - start) / len(held_kernels) * 1e3
    start = time.perf_counter()
    for _, model, clip in held_out[:5]:
        predictor.predict(model, clip)
    whole_ms = (time.perf_counter() - start) / min(5, len(held_out)) * 1e3
    print(f"query: {regression_ms:.2f} ms per architecture from its kernels, {whole_ms:.0f} ms with the graph split "
          "(goal <= 10 ms)")
    return {"regression_ms": regression_ms, "with_split_ms": whole_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=("predictor", "stability", "throughput"),
                        default=["predictor", "stability", "throughput"])
    parser.add_argument("--quantize", choices=("int8", "fp32"), default="int8")
    parser.add_argument("--architectures", type=int, default=12)
    parser.add_argument("--per-type", type=int, default=40)
    parser.add_argument("--calibrate", type=int, default=4)
    parser.add_argument("--held-out", type=int, default=30)
    parser.add_argument("--stability-runs", type=int, default=5)
    parser.add_argument("--throughput-programs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    figures: dict = {}
    if "predictor" in args.only:
        found = predictor_accuracy(args)
        figures["predictor"] = found["scores"]
        figures["query"] = query_time(args, found["predictor"], found["held_out"], found["held_kernels"])
    if "stability" in args.only:
        figures["stability"] = stability(args)
    if "throughput" in args.only:
        figures["throughput"] = throughput(args)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
