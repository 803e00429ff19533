"""Stand-in for ExecuTorch's ``executor_runner`` binary on a phone: the same flags and log lines.

The real one is C++ built for the phone's ABI (``examples/portable/executor_runner``
in ExecuTorch); no build of it ships on PyPI. This runs the program with
ExecuTorch's Python runtime and logs what the real one logs, in its ``ET_LOG``
format: ``Iteration i of N: X ms`` per run, then ``Model executed successfully N
time(s) in X ms.``; every input is ones, as the real runner sets them.
"""

import argparse
import sys
import time

import torch
from executorch.runtime import Runtime

parser = argparse.ArgumentParser()
parser.add_argument("--model_path", required=True)
parser.add_argument("--num_executions", type=int, default=1)
parser.add_argument("--cpu_threads", type=int, default=-1)
parser.add_argument("--print_output", default="summary")
args = parser.parse_args()

DTYPES = {4: torch.int64, 6: torch.float32}


def log(line: int, message: str) -> None:
    print(f"I 00:00:{time.monotonic() % 60:09.6f} executorch:executor_runner.cpp:{line}] {message}", flush=True)


try:
    program = Runtime.get().load_program(open(args.model_path, "rb").read())
except Exception as exc:
    log(380, f"Failed to parse model file {args.model_path}: {exc}")
    sys.exit(1)
method = program.load_method("forward")
meta = program.metadata("forward")
inputs = [torch.ones(tuple(meta.input_tensor_meta(i).sizes()), dtype=DTYPES[int(meta.input_tensor_meta(i).dtype())])
          for i in range(meta.num_inputs())]
total = 0.0
for iteration in range(1, args.num_executions + 1):
    start = time.perf_counter()
    method.execute(inputs)
    elapsed = (time.perf_counter() - start) * 1e3
    total += elapsed
    log(744, f"Iteration {iteration} of {args.num_executions}: {elapsed:f} ms")
log(753, f"Model executed successfully {args.num_executions} time(s) in {total:f} ms.")
