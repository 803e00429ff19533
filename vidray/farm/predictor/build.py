"""A predictor built end to end on a farm: variants drawn, kernels profiled, fitted, calibrated, checked.

One procedure for ``vidray farm profile`` and ``benchmarks/farm.py``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch

from vidray.farm.predictor.kernels import kernels_of
from vidray.farm.predictor.predictor import (
    LatencyPredictor,
    accuracy,
    architecture_kernels,
    profile,
    sample_kernels,
)
from vidray.farm.predictor.variants import random_x3d_variants


@dataclasses.dataclass(frozen=True)
class BuiltPredictor:
    predictor: LatencyPredictor
    kernels_profiled: int
    profile_seconds: float
    held_out: list[tuple[str, float, float]]  # (variant, predicted ms, measured ms)
    scores: dict[str, float]  # accuracy() on the held-out variants; empty without any


def build_predictor(farm: Any, device_kind: str, *, quantize: str = "int8", architectures: int = 12,
                    per_type: int = 40, calibrate: int = 4, held_out: int = 5, seed: int = 0) -> BuiltPredictor:
    """Profiles ``per_type`` kernels of each type from ``architectures`` random X3D variants on ``device_kind``,
    fits, scales to ``calibrate`` of those variants measured whole, and checks on ``held_out`` other variants."""
    from vidray.deploy import deployable_program, export

    variants = list(random_x3d_variants(architectures + held_out, seed=seed))
    train, checked = variants[:architectures], variants[architectures:]
    kernels = sample_kernels(architecture_kernels((model, clip) for _, model, clip in train), per_type, seed)

    def programs(chosen: list) -> list:  # exported before any is measured: exporting beside a local device slows it
        return [export(model, clip, quantize=quantize, calibration=[torch.rand_like(clip)] if quantize == "int8" else None)
                for _, model, clip in chosen]

    def measured(bundles: list) -> list[float]:
        return [future.result().median_ms for future in [farm.submit(bundle, device_kind) for bundle in bundles]]

    start = time.perf_counter()
    data = profile(farm, device_kind, kernels, quantize=quantize)
    profile_seconds = time.perf_counter() - start
    whole, checked_ms = measured(programs(train[:calibrate])), measured(programs(checked))
    predictor = LatencyPredictor.fit(data, seed=seed)
    if whole:
        predictor = predictor.calibrated([kernels_of(deployable_program(m, c)) for _, m, c in train[:calibrate]], whole)
    predicted = [predictor.predict(model, clip) for _, model, clip in checked]
    rows = [(description, p, m) for (description, _, _), p, m in zip(checked, predicted, checked_ms)]
    return BuiltPredictor(predictor, len(kernels), profile_seconds, rows,
                          accuracy(predicted, checked_ms) if checked else {})
