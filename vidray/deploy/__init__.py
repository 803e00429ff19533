"""Deployment: a model as an ExecuTorch program for phones, quantized to int8 (library half: no Ray, no MLflow).

    from vidray.deploy import export, load_program
    bundle = export(model, clip, quantize="int8", calibration=clips)   # a DeployBundle
    bundle.save("x3d_s-int8")                                          # program.pte + bundle.json
    program = load_program("x3d_s-int8")                               # ExecuTorch's runtime, spec checked
    logits, = program(clip)

Needs the ``deploy`` extra (``pip install vidray[deploy]``: executorch, torchao).
"""

from vidray.deploy.bundle import DeployBundle, TensorSpec
from vidray.deploy.delegation import Delegation, delegation_of
from vidray.deploy.export import BACKENDS, QUANTIZATIONS, deployable_program, export
from vidray.deploy.fold_time import FoldError, fold_time
from vidray.deploy.program import Program, load_program, pin_runtime
from vidray.deploy.stream import ProgramStream, StreamStep, export_stream

__all__ = [
    "BACKENDS",
    "Delegation",
    "DeployBundle",
    "FoldError",
    "Program",
    "ProgramStream",
    "QUANTIZATIONS",
    "StreamStep",
    "TensorSpec",
    "delegation_of",
    "deployable_program",
    "export",
    "export_stream",
    "fold_time",
    "load_program",
    "pin_runtime",
]
