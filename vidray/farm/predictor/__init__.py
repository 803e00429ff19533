"""Latency predicted from a program's kernels (nn-Meter's method), fitted on kernels measured on the farm."""

from vidray.farm.predictor.kernels import KERNEL_TYPES, Kernel, kernels_of
from vidray.farm.predictor.predictor import (
    LatencyPredictor,
    Profile,
    accuracy,
    architecture_kernels,
    profile,
    sample_kernels,
)

__all__ = [
    "KERNEL_TYPES",
    "Kernel",
    "LatencyPredictor",
    "Profile",
    "accuracy",
    "architecture_kernels",
    "kernels_of",
    "profile",
    "sample_kernels",
]
