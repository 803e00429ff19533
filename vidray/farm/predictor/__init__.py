"""Latency predicted from a program's kernels (nn-Meter's method), fitted on kernels measured on the farm."""

from vidray.farm.predictor.build import BuiltPredictor, build_predictor
from vidray.farm.predictor.kernels import KERNEL_TYPES, Kernel, kernels_of
from vidray.farm.predictor.predictor import (
    LatencyPredictor,
    Profile,
    accuracy,
    architecture_kernels,
    profile,
    sample_kernels,
)
from vidray.farm.predictor.store import load_predictor, log_predictor, predict, registered_name
from vidray.farm.predictor.variants import random_x3d_variants

__all__ = [
    "BuiltPredictor",
    "KERNEL_TYPES",
    "Kernel",
    "LatencyPredictor",
    "Profile",
    "accuracy",
    "architecture_kernels",
    "build_predictor",
    "kernels_of",
    "load_predictor",
    "log_predictor",
    "predict",
    "profile",
    "random_x3d_variants",
    "registered_name",
    "sample_kernels",
]
