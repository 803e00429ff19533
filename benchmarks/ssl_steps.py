"""Speed of self-supervised training steps: SimCLR, MoCo and BYOL against the supervised step.

Two measurements, both of the engine's own step (the task's ``training_step``,
backward, an AdamW step and ``optimizer_stepped``, i.e. the momentum update)
on random uint8 clips already in memory, so decoding plays no part:

* ``step``: one process, ``--threads`` threads. The supervised step
  (``classification``) trains on ``2 x --videos`` clips; each self-supervised
  step on ``--videos`` videos of 2 views, the same ``2 x --videos`` clips
  through the same backbone. Clips/s of each and the ratio to supervised:
  what the projection MLP, the loss and (MoCo, BYOL) the momentum encoder's
  extra forward pass cost.
* ``gather``: 2 worker processes (gloo, 1 thread each) training under DDP, as
  Ray Train's workers do, each with ``--videos`` videos per step. Per method:
  the step time, and the time of the method's own collectives measured alone
  in the same processes on tensors of the step's shapes: SimCLR's gather of
  the embeddings with its backward (the negatives of every worker), MoCo's
  shuffle-BN (gathering the key clips, the keys back) and queue update. Their
  share of the step is the all-gather overhead. DDP's gradient all-reduce is
  in every method's step, the supervised one included.

Each variant gets one warm-up step, then the median of ``--repeats`` timed
runs of ``--steps`` steps, the variants taking turns so machine noise hits
them alike.

Usage::

    .venv/bin/python benchmarks/ssl_steps.py
    .venv/bin/python benchmarks/ssl_steps.py --only step --videos 32 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # vidray from this checkout

from vidray.layers.distributed import cat_all_gather, differentiable_all_gather  # noqa: E402
from vidray.models import create_model  # noqa: E402
from vidray.train import TASKS, TaskContext  # noqa: E402
from vidray.train.engine import unwrap  # noqa: E402

# The synthetic recipes' backbone (experiments/configs/simclr_x3d_synthetic.yaml) and their task arguments.
MODEL = dict(input_clip_length=8, input_crop_size=32, width_factor=1.0, depth_factor=1.0, dropout_rate=0.0)
METHODS = {
    "classification": {},
    "simclr": {"temperature": 0.2, "mlp_dims": [512, 128]},
    "moco": {"mlp_dims": [512, 128], "queue_size": 4096},
    "byol": {"mlp_dims": [512, 128], "predictor_inner": 512},
}
CLIP = (3, 8, 32, 32)


class Trainer:
    """One method's module, optimizer and batch; :meth:`step` is one engine step."""

    def __init__(self, method: str, videos: int, rank: int = 0, world_size: int = 1) -> None:
        torch.manual_seed(0)
        self.task = TASKS.build(method, **METHODS[method])
        context = TaskContext(4, None, None, torch.device("cpu"), rank, world_size)
        module = self.task.setup(create_model("create_x3d", num_classes=4, **MODEL), context)
        self.module = nn.parallel.DistributedDataParallel(module) if world_size > 1 else module
        self.optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-3)
        if method == "classification":
            self.batch = {"video": torch.randint(0, 256, (2 * videos, *CLIP), dtype=torch.uint8),
                          "label": torch.randint(0, 4, (2 * videos,))}
        else:
            self.batch = {"video": torch.randint(0, 256, (videos, 2, *CLIP), dtype=torch.uint8)}
        self.clips, self.steps = 2 * videos, 0

    def step(self) -> None:
        self.module.train()
        out = self.task.training_step(self.module, self.batch)
        out.loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.steps += 1
        self.task.optimizer_stepped(unwrap(self.module), self.steps, 1000)


def timed(fn: Callable[[], Any], steps: int) -> float:
    """Seconds per call of ``fn`` over ``steps`` calls."""
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def step_benchmark(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    trainers = {method: Trainer(method, args.videos) for method in METHODS}
    for trainer in trainers.values():
        trainer.step()  # warm-up
    seconds: dict[str, list[float]] = {method: [] for method in METHODS}
    for _ in range(args.repeats):
        for method, trainer in trainers.items():
            seconds[method].append(timed(trainer.step, args.steps))
    rate = {method: trainers[method].clips / statistics.median(s) for method, s in seconds.items()}
    print(f"\nstep: {2 * args.videos} clips {list(CLIP)} per step through the small X3D, {args.threads} thread(s), "
          f"median of {args.repeats} x {args.steps} steps")
    print(f"  {'task':<16} {'clips/s':>8} {'vs supervised':>14}")
    for method in METHODS:
        print(f"  {method:<16} {rate[method]:>8.1f} {rate[method] / rate['classification']:>13.2f}x")


def _gather_worker(rank: int, init: str, args: argparse.Namespace, results: Any) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    trainers = {method: Trainer(method, args.videos, rank, 2) for method in METHODS}
    for trainer in trainers.values():
        trainer.step()
    embeddings = torch.randn(2 * args.videos, 128, requires_grad=True)  # SimCLR: both views' projections
    clips = torch.randn(args.videos, *CLIP)  # MoCo's key view, gathered for shuffle-BN
    keys = torch.randn(args.videos, 128)

    def simclr_gather() -> None:
        torch.cat(differentiable_all_gather(embeddings)).sum().backward()

    def moco_collectives() -> None:
        cat_all_gather(clips), cat_all_gather(keys), cat_all_gather(keys)  # clips, shuffled keys, enqueue

    collectives = {"simclr": simclr_gather, "moco": moco_collectives}
    seconds: dict[str, list[float]] = {name: [] for name in [*METHODS, *(f"{m} collectives" for m in collectives)]}
    for _ in range(args.repeats):
        for method, trainer in trainers.items():
            dist.barrier()
            seconds[method].append(timed(trainer.step, args.steps))
        for method, fn in collectives.items():
            dist.barrier()
            seconds[f"{method} collectives"].append(timed(fn, args.steps))
    if rank == 0:
        results.update({name: statistics.median(s) for name, s in seconds.items()})
    dist.destroy_process_group()


def gather_benchmark(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_gather_worker, args=(f"file://{os.path.join(tmp, 'init')}", args, results), nprocs=2)
        results = dict(results)
    print(f"\ngather: 2 DDP workers (gloo, 1 thread each), {args.videos} videos x 2 views per worker per step, "
          f"median of {args.repeats} x {args.steps} steps")
    print(f"  {'task':<16} {'ms/step':>8} {'global clips/s':>15} {'vs supervised':>14} {'collectives ms':>15} {'share':>6}")
    for method in METHODS:
        step = results[method]
        line = f"  {method:<16} {1000 * step:>8.1f} {4 * args.videos / step:>15.1f} {results['classification'] / step:>13.2f}x"
        if f"{method} collectives" in results:
            own = results[f"{method} collectives"]
            line += f" {1000 * own:>15.2f} {own / step:>6.1%}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("step", "gather"), help="run one measurement (default: both)")
    parser.add_argument("--videos", type=int, default=16, help="videos per step (per worker for gather)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the step measurement")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per variant (the median is reported)")
    args = parser.parse_args()
    if args.only in (None, "step"):
        step_benchmark(args)
    if args.only in (None, "gather"):
        gather_benchmark(args)


if __name__ == "__main__":
    main()
