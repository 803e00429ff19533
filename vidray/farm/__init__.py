"""The device farm (platform half): devices as Ray actors on the nodes that own them, measuring programs.

    from vidray.farm import DeviceFarm, load_farm_config
    with DeviceFarm(load_farm_config("experiments/configs/farm_local.yaml")) as farm:
        result = farm.measure("vidray-deploy/x3d_s-int8-xnnpack-1a2b3c", "cpu-1t")
        print(result.median_ms, result.p90_ms)

It measures programs made by :mod:`vidray.deploy`, never models, and knows
nothing of who asks (NAS trials, promotion gates).
"""

from vidray.farm.backends import DEVICE_BACKENDS, Backend, Measurement
from vidray.farm.cache import ResultCache
from vidray.farm.farm import DeviceFarm, FarmProgram
from vidray.farm.predictor import LatencyPredictor, predict
from vidray.farm.result import Fault, LatencyResult
from vidray.farm.spec import DeviceSpec, FarmConfig, load_farm_config

__all__ = [
    "DEVICE_BACKENDS",
    "Backend",
    "DeviceFarm",
    "DeviceSpec",
    "FarmConfig",
    "FarmProgram",
    "Fault",
    "LatencyPredictor",
    "LatencyResult",
    "Measurement",
    "ResultCache",
    "load_farm_config",
    "predict",
]
