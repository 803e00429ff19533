"""Latency of a model on a device kind, predicted from its kernels: profile them on the farm, fit, sum.

nn-Meter's method on ExecuTorch programs: the kernels of sampled architectures
(:func:`sample_kernels`) are exported alone and measured on a device kind
(:func:`profile`); one random forest per kernel type learns latency from the
kernel's sizes (:meth:`LatencyPredictor.fit`); a model's latency is the program's
fixed cost plus the sum of its kernels' predictions (:meth:`LatencyPredictor.predict`).
A predictor is a folder of skops files (scikit-learn without pickle) and a JSON
record, so loading one never runs code.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import statistics
import time
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from vidray.errors import FarmError
from vidray.farm.predictor.kernels import KERNEL_TYPES, Kernel, kernels_of

RECORD_FILE = "predictor.json"


@dataclasses.dataclass(frozen=True)
class Profile:
    """Measured kernels of one device kind: each kernel's latency (program cost removed) and that cost."""

    device_kind: str
    quantize: str
    runtime_version: str
    overhead_ms: float  # the cost of running any program (a one-add program's median latency)
    samples: tuple[tuple[Kernel, float], ...]


def architecture_kernels(models: Iterable[tuple[nn.Module, Any]]) -> list[Kernel]:
    """Every distinct kernel of the given ``(model, example input)`` pairs' programs."""
    from vidray.deploy import deployable_program

    seen: dict[Kernel, None] = {}
    for model, example in models:
        for kernel in kernels_of(deployable_program(model, example)):
            seen.setdefault(kernel)
    return list(seen)


def sample_kernels(kernels: Sequence[Kernel], per_type: int, seed: int = 0) -> list[Kernel]:
    """At most ``per_type`` kernels of each type, drawn without replacement, reproducibly."""
    rng = random.Random(seed)
    picked: list[Kernel] = []
    for kind in KERNEL_TYPES:
        of_type = [kernel for kernel in kernels if kernel.type == kind]
        picked += rng.sample(of_type, min(per_type, len(of_type)))
    return picked


def profile(farm: Any, device_kind: str, kernels: Sequence[Kernel], quantize: str = "int8") -> Profile:
    """Each kernel exported alone (``quantize``) and measured on ``device_kind`` through ``farm``
    (a started :class:`~vidray.farm.DeviceFarm`); measurements run on every device of the kind at once."""
    from vidray.deploy import export

    def program(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> Any:
        calibration = [tuple(torch.rand_like(t) for t in inputs) for _ in range(2)] if quantize == "int8" else None
        return export(module, inputs, quantize=quantize, calibration=calibration)

    programs = [program(*kernel.module()) for kernel in kernels]  # all exported first: exporting beside a
    baseline = farm.measure(program(_OneAdd(), (torch.rand(1, 8),)), device_kind)  # local device would slow it
    results = [future.result() for future in [farm.submit(bundle, device_kind) for bundle in programs]]
    overhead = baseline.median_ms
    samples = tuple((kernel, max(result.median_ms - overhead, 0.0)) for kernel, result in zip(kernels, results))
    return Profile(device_kind, quantize, baseline.runtime_version, overhead, samples)


class _OneAdd(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1


class LatencyPredictor:
    """Per kernel type, a regressor from the kernel's features to its latency (ms) on one device kind."""

    def __init__(self, record: dict[str, Any], regressors: dict[str, Any]) -> None:
        self.record, self.regressors = record, regressors

    @property
    def device_kind(self) -> str:
        return self.record["device_kind"]

    @classmethod
    def fit(cls, data: Profile, *, trees: int = 100, seed: int = 0) -> "LatencyPredictor":
        from sklearn.ensemble import RandomForestRegressor

        regressors, counts = {}, {}
        for kind in KERNEL_TYPES:
            rows = [(kernel.features(), latency) for kernel, latency in data.samples if kernel.type == kind]
            if not rows:
                continue
            forest = RandomForestRegressor(n_estimators=trees, random_state=seed, min_samples_leaf=1)
            forest.fit([features for features, _ in rows], [latency for _, latency in rows])
            regressors[kind], counts[kind] = forest, len(rows)
        record = {"device_kind": data.device_kind, "quantize": data.quantize, "runtime_version": data.runtime_version,
                  "overhead_ms": data.overhead_ms, "kernels_profiled": counts, "trees": trees, "seed": seed,
                  "fitted_at": time.time()}
        return cls(record, regressors)

    def predict_kernels(self, kernels: Sequence[Kernel]) -> list[float]:
        """Each kernel's predicted latency (ms), in order; a kernel type never profiled is an error."""
        missing = sorted({kernel.type for kernel in kernels} - set(self.regressors))
        if missing:
            raise FarmError(f"latency predictor for {self.device_kind}: no profiled kernels of type(s) "
                            f"{', '.join(missing)}; profile architectures that contain them")
        predictions = [0.0] * len(kernels)
        for kind, regressor in self.regressors.items():
            indices = [i for i, kernel in enumerate(kernels) if kernel.type == kind]
            if indices:
                for index, value in zip(indices, forest_predict(regressor, [kernels[i].features() for i in indices])):
                    predictions[index] = float(value)
        return predictions

    def predict(self, model: nn.Module | Sequence[Kernel], example_inputs: Any = None) -> float:
        """Predicted latency (ms) of a model's program (or of a kernel list): fixed cost plus kernels."""
        if isinstance(model, nn.Module):
            from vidray.deploy import deployable_program

            model = kernels_of(deployable_program(model, example_inputs))
        return self.record["overhead_ms"] + self.record.get("scale", 1.0) * sum(self.predict_kernels(model))

    def calibrated(self, kernel_lists: Sequence[Sequence[Kernel]], measured_ms: Sequence[float]) -> "LatencyPredictor":
        """A copy whose kernel sum is scaled to whole programs measured on the device: a kernel alone pays for
        its input and output in memory, inside a program its neighbour's output is still in cache (once
        measured here: a small X3D's kernels alone summed to 1.33x its program). The scale is the median ratio."""
        ratios = [(measured - self.record["overhead_ms"]) / sum(self.predict_kernels(kernels))
                  for kernels, measured in zip(kernel_lists, measured_ms)]
        if not ratios:
            raise FarmError("calibrated: no whole programs measured to calibrate on")
        return LatencyPredictor({**self.record, "scale": statistics.median(ratios), "calibrated_on": len(ratios)},
                                self.regressors)

    # ------------------------------------------------------------------ files
    def save(self, folder: str) -> str:
        """Writes ``predictor.json`` and one ``<type>.skops`` per regressor into a new ``folder``."""
        import skops.io

        os.makedirs(folder, exist_ok=True)
        if os.path.exists(os.path.join(folder, RECORD_FILE)):
            raise FarmError(f"{folder}: already holds a latency predictor; save each to a new folder")
        for kind, regressor in self.regressors.items():
            skops.io.dump(regressor, os.path.join(folder, f"{kind}.skops"))
        with open(os.path.join(folder, RECORD_FILE), "w") as file:
            json.dump({**self.record, "regressors": sorted(self.regressors)}, file, indent=2)
        return folder

    @classmethod
    def load(cls, folder: str) -> "LatencyPredictor":
        """Reads a saved predictor; only scikit-learn's and numpy's own types are accepted in its files."""
        import skops.io

        try:
            with open(os.path.join(folder, RECORD_FILE)) as file:
                record = json.load(file)
        except FileNotFoundError:
            raise FarmError(f"{folder}: no {RECORD_FILE}: not a latency predictor folder") from None
        regressors = {}
        for kind in record.pop("regressors"):
            path = os.path.join(folder, f"{kind}.skops")
            untrusted = [name for name in skops.io.get_untrusted_types(file=path)
                         if not name.startswith(("sklearn.", "numpy."))]
            if untrusted:
                raise FarmError(f"{path}: refused: it holds types outside scikit-learn and numpy: {untrusted}")
            regressors[kind] = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
        return cls(record, regressors)


def forest_predict(forest: Any, rows: Sequence[Sequence[float]]) -> Any:
    """A random forest's prediction (the mean of its trees'), tree by tree in this thread: what
    ``forest.predict`` computes, without its per-call thread pool (~20 ms against ~1.5 ms for 100 trees
    here), which would dominate a NAS loop's query."""
    import numpy as np

    features = np.ascontiguousarray(rows, dtype=np.float32)
    return np.mean([tree.predict(features, check_input=False) for tree in forest.estimators_], axis=0)


def accuracy(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """How close predictions came: fraction within ±5 % and ±10 % of the measurement, and RMSE (ms)."""
    errors = [abs(p - m) / m for p, m in zip(predicted, measured)]
    return {"within_5pct": sum(e <= 0.05 for e in errors) / len(errors),
            "within_10pct": sum(e <= 0.10 for e in errors) / len(errors),
            "rmse_ms": statistics.fmean((p - m) ** 2 for p, m in zip(predicted, measured)) ** 0.5}
