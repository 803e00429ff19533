"""The latency predictor: a model split into its program's kernels, kernels profiled on the farm, a fit that
predicts, saved and loaded without pickle."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch

from vidray.errors import FarmError
from vidray.farm import DeviceFarm, FarmConfig
from vidray.farm.predictor import Kernel, LatencyPredictor, architecture_kernels, kernels_of, profile, sample_kernels
from vidray.farm.predictor.predictor import forest_predict
from vidray.models import create_model

pytestmark = pytest.mark.timeout(900)


def small_x3d(width: float = 1.0, size: int = 48):
    torch.manual_seed(0)
    model = create_model("create_x3d", num_classes=10, input_clip_length=4, input_crop_size=size, width_factor=width,
                         depth_factor=0.5).eval()
    return model, torch.rand(1, 3, 4, size, size)


def test_a_model_splits_into_the_kernels_its_program_runs():
    from vidray.deploy import deployable_program

    kernels = kernels_of(deployable_program(*small_x3d()))
    counts = collections.Counter(kernel.type for kernel in kernels)
    assert {"conv", "pwconv", "dwconv", "linear", "pool", "elementwise", "activation"} <= set(counts)
    stem = next(kernel for kernel in kernels if kernel.type == "conv")
    assert stem.shapes == ((4, 3, 48, 48),) and stem.args[1:3] == (3, 3)  # frames folded into the batch
    module, inputs = stem.module()
    assert module(*inputs).shape == (4, stem.args[0], 24, 24)
    conv_relu = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    (fused,) = kernels_of(deployable_program(conv_relu, torch.rand(1, 3, 16, 16)))
    assert fused.op == "conv2d+relu" and fused.args[-1] == 1  # a ReLU right after a convolution is its clamp


def test_kernels_profiled_on_the_farm_fit_a_predictor_that_loads_without_pickle(ray_cluster, tmp_path):
    ray_cluster.connect()
    kernels = architecture_kernels([small_x3d(1.0), small_x3d(2.0, 64)])
    picked = sample_kernels(kernels, per_type=2, seed=0)
    assert sample_kernels(kernels, per_type=2, seed=0) == picked  # reproducible draws
    devices = [{"id": device_id, "kind": "cpu", "options": {"cpus": [core]}}
               for core, device_id in enumerate(ray_cluster.DEVICES.values())]
    with DeviceFarm(FarmConfig.model_validate({"devices": devices, "warmup": 1, "repeats": 5})) as farm:
        data = profile(farm, "cpu", picked, quantize="fp32")
    assert len(data.samples) == len(picked) and data.overhead_ms > 0 and all(ms >= 0 for _, ms in data.samples)
    predictor = LatencyPredictor.fit(data, trees=10)
    loaded = LatencyPredictor.load(predictor.save(str(tmp_path / "predictor")))
    model, example = small_x3d(1.5, 56)
    assert loaded.predict(model, example) == pytest.approx(predictor.predict(model, example))
    assert loaded.predict(model, example) > data.overhead_ms
    rows = [kernel.features() for kernel in picked if kernel.type == "pwconv"]  # the fast path is the forest's mean
    np.testing.assert_allclose(forest_predict(predictor.regressors["pwconv"], rows),
                               predictor.regressors["pwconv"].predict(rows), rtol=1e-6)
    assert loaded.record["device_kind"] == "cpu" and loaded.record["quantize"] == "fp32"
    with pytest.raises(FarmError, match="already holds a latency predictor"):
        predictor.save(str(tmp_path / "predictor"))
    from vidray.farm import predict
    from vidray.farm.predictor import load_predictor, log_predictor
    from vidray.tracking import TrackingConfig

    tracking = TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert log_predictor(predictor, tracking) == "models:/latency-cpu-fp32/1"
    assert log_predictor(predictor, tracking) == "models:/latency-cpu-fp32/2"  # a new fit is a new version
    registered = load_predictor("cpu", "fp32", tracking=tracking)
    assert registered.record["registered"] == "models:/latency-cpu-fp32/2"
    assert predict(model, "cpu", example, quantize="fp32", tracking=tracking) == pytest.approx(
        predictor.predict(model, example))
    with pytest.raises(FarmError, match="no latency predictor for device kind 'pixel7'"):
        load_predictor("pixel7", "fp32", tracking=tracking)
    unknown = Kernel("copy", "permute", ((1, 2, 3),), (0, 2, 1))
    only_convs = LatencyPredictor(predictor.record, {"conv": predictor.regressors["conv"]})
    with pytest.raises(FarmError, match="no profiled kernels of type\\(s\\) copy"):
        only_convs.predict([unknown])
