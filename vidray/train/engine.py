"""The training loop every Ray Train worker runs, for every task.

One loop: build the model and the task's module around it, wrap it in DDP,
restore the last checkpoint if there is one, then per epoch: decode this
worker's shard of the epoch's clips (a Ray Data pipeline of its own), train on
it with accumulation and autocast, evaluate on schedule, and report to Ray
Train with a checkpoint every N epochs.

Reproducible: on the same device type, a config, seed and world size give the
same per-step losses and metrics. The shard's clips and their order are fixed
(:mod:`vidray.ingest.clips`); the model is initialised from the seed; every
random draw of an epoch (dropout, MixUp, ...) comes from generators reseeded
from ``(seed, rank, epoch)`` at the epoch's start, and torch runs its
deterministic algorithms. Checkpoints sit at epoch boundaries, so the epoch
they hold is all the data position and RNG state a restart needs: a resumed
run continues exactly as the uninterrupted one.

MLflow records follow the checkpoints: rank 0 keeps its metrics pending until
a checkpoint holding them is persisted, then logs them. A worker killed
between two checkpoints therefore loses nothing that was logged and logs
nothing twice: the restarted run replays from the checkpoint, and a
checkpoint whose metrics never reached MLflow (a failure right after it was
persisted) has them logged on restore.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import tempfile
import time
from typing import Any, Iterator

import numpy as np
import ray
import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from torch import nn

from vidray.models import create_model
from vidray.models.factory import spec_of
from vidray.tracking import RunHandle
from vidray.tracking.telemetry import TrainTelemetry
from vidray.train.checkpoints import STATE_FILE, checkpoint_name, load_state
from vidray.train.config import ExperimentConfig, model_args
from vidray.train.optim import build_optimizer
from vidray.train.plan import TrainPlan
from vidray.train.schedulers import build_scheduler
from vidray.train.tasks import TASKS, Task, TaskContext

logger = logging.getLogger(__name__)

EPOCH_METRIC = "epoch"  # logged once per persisted epoch: the marker restores reconcile against
Metric = tuple[str, float, int]  # (key, value, step), as RunHandle.log_metrics takes them


def train_loop_per_worker(payload: dict[str, Any]) -> None:
    """Ray Train's entry point; ``payload`` is built by :func:`vidray.train.trainer.fit`."""
    Worker(payload).run()


class Worker:
    def __init__(self, payload: dict[str, Any]) -> None:
        self.config = ExperimentConfig.model_validate(payload["config"])
        self.run_handle: RunHandle | None = payload["run"]
        self.plan: TrainPlan = payload["plan"]  # clip sources, counts, classes: computed by the driver
        self.ingest_state = self.plan.train.state
        context = ray.train.get_context()
        self.rank, self.world_size = context.get_world_rank(), context.get_world_size()
        self.device = ray.train.torch.get_device()
        self.telemetry = TrainTelemetry(self.config.name, self.rank)
        use_deterministic_algorithms(self.device)
        if self.device.type == "cpu":
            torch.set_num_threads(max(1, int(self.config.scaling.cpus_per_worker)))

    # ------------------------------------------------------------------ setup
    def build(self) -> None:
        config = self.config
        num_classes = self.plan.num_classes
        seed_everything(config.seed)  # the same initial model on every rank (and in every run)
        model = create_model(config.model.name, num_classes=num_classes, **model_args(config))
        spec = spec_of(config.model.name)
        self.task: Task = TASKS.build(config.task.name, **config.task.args)
        context = TaskContext(num_classes, self.plan.classes, spec, self.device, self.rank, self.world_size)
        module = self.task.setup(model, context)
        self.module = ray.train.torch.prepare_model(module)  # to the device; DDP when world_size > 1
        self.trained = torch.compile(self.module) if config.compile else self.module
        self.optimizer = build_optimizer(self.module, config.optimizer)
        per_worker = self.plan.train_clips // self.world_size
        self.batches_per_epoch = per_worker // config.batch_size
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"{per_worker} training clips per worker are fewer than batch_size {config.batch_size}: "
                "lower batch_size or scaling.num_workers"
            )
        self.steps_per_epoch = max(1, self.batches_per_epoch // config.grad_accum_steps)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.scheduler = build_scheduler(
            self.optimizer, config.scheduler, steps_per_epoch=self.steps_per_epoch, epochs=config.epochs
        )
        use_bf16 = config.precision == "bf16" or (config.precision == "auto" and self.device.type == "cuda")
        self.autocast = (
            torch.autocast(self.device.type, dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()
        )

    def restore(self) -> None:
        """Continues from the latest committed checkpoint (after a failure) or the one the job resumes."""
        self.start_epoch, self.global_step, self.pending = 0, 0, []
        state = self._latest_state()
        if state is None:
            return
        unwrap(self.module).load_state_dict(state["model_state"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        self.scheduler.load_state_dict(state["scheduler_state"])
        self.start_epoch, self.global_step = state["epoch"] + 1, state["global_step"]
        logger.info("rank %d: resumed after epoch %d (step %d)", self.rank, state["epoch"], self.global_step)
        if self.rank == 0 and self.run_handle is not None:
            self._log_unflushed(state)
            self.run_handle.set_tags({"vidray.restored_from_epoch": str(state["epoch"] + 1)})

    def _latest_state(self) -> dict[str, Any] | None:
        """The newest checkpoint that is complete: the one Ray Train registered (or, before this
        run has one, the checkpoint the job resumes), or a later one
        whose epoch already reached MLflow (rank 0 logs an epoch only once its checkpoint is
        persisted, but Ray registers it asynchronously: a failure in between would otherwise
        replay, and log again, an epoch the run already recorded)."""
        checkpoint = ray.train.get_checkpoint()  # this run's, after a failure
        if checkpoint is None and self.plan.resume_from:
            checkpoint = ray.train.Checkpoint(self.plan.resume_from)  # the run the job resumes
        state = load_state(checkpoint) if checkpoint is not None else None
        logged = self.run_handle.last_step(EPOCH_METRIC) if self.run_handle is not None else None
        if logged is not None and logged > (state["epoch"] + 1 if state is not None else 0):
            path = f"{self.plan.run_path}/{checkpoint_name(logged - 1)}"
            state = load_state(ray.train.Checkpoint(path))
        return state

    def _log_unflushed(self, state: dict[str, Any]) -> None:
        """Logs the checkpoint's metrics if the run that saved it died before logging them."""
        persisted_epoch = state["epoch"] + 1
        logged = self.run_handle.last_step(EPOCH_METRIC)
        if logged is None or logged < persisted_epoch:
            self.run_handle.log_metrics([tuple(m) for m in state["metrics"]])

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        self.build()
        self.restore()
        config = self.config
        for epoch in range(self.start_epoch, config.epochs):
            seed_everything(config.seed, self.rank, epoch + 1)
            metrics = self.train_epoch(epoch)
            last = epoch == config.epochs - 1
            scheduled = (epoch + 1) % config.eval_every_n_epochs == 0 or last
            if self.plan.val is not None and self.plan.val_videos and scheduled:
                metrics += self.evaluate(epoch)
            metrics.append((EPOCH_METRIC, float(epoch + 1), epoch + 1))
            self.pending += metrics
            if (epoch + 1) % config.checkpoint.every_n_epochs == 0 or last:
                self.report(epoch, checkpoint=True)
            else:
                self.report(epoch, checkpoint=False)

    def train_epoch(self, epoch: int) -> list[Metric]:
        config = self.config
        self.trained.train()
        loss_sum, clip_count, step_loss, step_clips = 0.0, 0, 0.0, 0
        step_metrics: list[Metric] = []
        epoch_start = step_start = time.perf_counter()
        shard = self.plan.train.epoch(epoch, rank=self.rank, world_size=self.world_size, equal=True)
        batches = self._while_every_rank_has_one(self._batches(shard, config.batch_size, drop_last=True))
        for index, batch in enumerate(batches):
            boundary = (index + 1) % config.grad_accum_steps == 0
            with self._no_sync(not boundary), self.autocast:
                out = self.task.training_step(self.trained, batch)
            (out.loss / config.grad_accum_steps).backward()
            step_loss += out.loss.item() * out.clips
            step_clips += out.clips
            if not boundary:
                continue
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            lr = self.optimizer.param_groups[0]["lr"]
            self.scheduler.step()
            self.global_step += 1
            out.metrics.update(self.task.optimizer_stepped(unwrap(self.module), self.global_step, self.total_steps))
            now = time.perf_counter()
            self.telemetry.step(step_loss / step_clips, lr, step_clips * self.world_size / (now - step_start), now - step_start)
            step_metrics += [
                ("train/loss", step_loss / step_clips, self.global_step),
                ("train/lr", lr, self.global_step),
                ("train/clips_per_s", step_clips * self.world_size / (now - step_start), self.global_step),
            ] + [(f"train/{k}", v, self.global_step) for k, v in out.metrics.items()]
            loss_sum, clip_count = loss_sum + step_loss, clip_count + step_clips
            step_loss, step_clips, step_start = 0.0, 0, now
        seconds = time.perf_counter() - epoch_start
        totals = self._sum([loss_sum, float(clip_count)])
        self.telemetry.epoch(epoch + 1, totals[0] / max(totals[1], 1.0), totals[1] / seconds)
        step = epoch + 1
        epoch_metrics = [
            ("epoch/train_loss", totals[0] / max(totals[1], 1.0), step),
            ("epoch/train_clips", totals[1], step),
            ("epoch/train_clips_per_s", totals[1] / seconds, step),
            ("epoch/train_seconds", seconds, step),
            ("epoch/decode_errors", float(ray.get(self.ingest_state.skipped.remote("train"))), step),
        ]
        return step_metrics + epoch_metrics if self.rank == 0 else []

    @torch.no_grad()
    def evaluate(self, epoch: int) -> list[Metric]:
        # Evaluation runs the unwrapped module: DDP's forward broadcasts buffers, a collective
        # that would hang when shards hold different numbers of eval batches.
        model = unwrap(self.module)
        model.eval()
        evaluator = self.task.evaluator(self.plan.val_videos, self.plan.val_views)
        if evaluator is None:
            return []
        start = time.perf_counter()
        shard = self.plan.val.epoch(0, rank=self.rank, world_size=self.world_size)  # every view once, same each time
        for batch in self._batches(shard, self.config.eval_batch_size or self.config.batch_size, drop_last=False):
            with self.autocast:
                evaluator.add(model, batch)
        output = evaluator.finish()  # all workers' views combined
        if self.rank != 0:
            return []
        self.telemetry.evaluation(output.metrics.get("top1"), output.metrics.get("mAP"))
        step = epoch + 1
        if self.run_handle is not None:
            final = step == self.config.epochs
            for name, data in output.artifacts.items():
                self.run_handle.log_artifact_bytes(data, f"evaluation/epoch_{step:03d}/{name}")
                if final:
                    self.run_handle.log_artifact_bytes(data, f"evaluation/{name}")
        metrics = [(f"val/{k}", v, step) for k, v in output.metrics.items()]
        metrics.append(("val/seconds", time.perf_counter() - start, step))
        metrics.append(("val/decode_errors", float(ray.get(self.ingest_state.skipped.remote("val"))), step))
        return metrics

    def report(self, epoch: int, checkpoint: bool) -> None:
        summary = {key: value for key, value, _ in self.pending if key.startswith(("epoch/", "val/"))}
        summary.update(epoch=epoch + 1, global_step=self.global_step)
        if not checkpoint:
            ray.train.report(summary)
            return
        with tempfile.TemporaryDirectory() as folder:
            saved = None
            if self.rank == 0:
                torch.save(self._state(epoch), os.path.join(folder, STATE_FILE))
                saved = ray.train.Checkpoint.from_directory(folder)
            ray.train.report(summary, checkpoint=saved, checkpoint_dir_name=checkpoint_name(epoch))
        if self.rank == 0 and self.run_handle is not None:
            self.run_handle.log_metrics(self.pending)  # persisted with the checkpoint: now safe to log
        self.pending = []

    def _state(self, epoch: int) -> dict[str, Any]:
        """Everything a restart needs, loadable with ``weights_only=True`` (no pickled objects)."""
        model = self.task.deployable(unwrap(self.module))
        return {
            "model_state": unwrap(self.module).state_dict(),
            "deployable_state": model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict(),
            "epoch": epoch,
            "global_step": self.global_step,
            "metrics": [list(m) for m in self.pending],
            "model_name": self.config.model.name,
            "num_classes": self.plan.num_classes,
            "classes": self.plan.classes or [],
            "input_shape": list(self.plan.input_shape),
            "mlflow_run_id": self.run_handle.run_id if self.run_handle is not None else "",
        }

    # ------------------------------------------------------------------ helpers
    def _batches(self, shard: Any, batch_size: int, drop_last: bool) -> Iterator[dict[str, torch.Tensor]]:
        return shard.iter_torch_batches(
            batch_size=batch_size,
            drop_last=drop_last,
            prefetch_batches=self.config.ingest.prefetch_batches,
            device=self.device,
        )

    def _while_every_rank_has_one(self, batches: Iterator[dict[str, torch.Tensor]]) -> Iterator[dict[str, torch.Tensor]]:
        """The batches while every rank still has one: shards hold equal clip counts, but unreadable
        videos can leave ranks with different batch counts, and DDP needs equal step counts."""
        if self.world_size == 1:
            yield from batches
            return
        iterator = iter(batches)
        while True:
            batch = next(iterator, None)
            have = torch.tensor([0 if batch is None else 1], device=self.device)
            dist.all_reduce(have, op=dist.ReduceOp.MIN)
            if not have.item():
                return
            yield batch

    def _no_sync(self, skip_sync: bool) -> contextlib.AbstractContextManager:
        if skip_sync and isinstance(self.module, nn.parallel.DistributedDataParallel):
            return self.module.no_sync()
        return contextlib.nullcontext()

    def _sum(self, values: list[float]) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(tensor)
        return tensor.tolist()


def use_deterministic_algorithms(device: torch.device) -> None:
    """torch's deterministic kernels in this process. Some CUDA kernels have none: on GPU torch
    warns about them rather than refusing (README "Reproducibility")."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts, after this
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    torch.backends.mkldnn.deterministic = True  # oneDNN (CPU convolutions) has its own switch
    torch.utils.deterministic.fill_uninitialized_memory = False  # a debugging aid, not needed for determinism


def seed_everything(seed: int, *streams: int) -> None:
    """Seeds torch, numpy and ``random`` from ``seed`` and the ``streams`` (e.g. rank and epoch),
    independent of how many draws came before."""
    state = np.random.SeedSequence([seed, *streams]).generate_state(2)
    value = int(state[0]) << 32 | int(state[1])
    torch.manual_seed(value)
    np.random.seed(int(state[0]))
    random.seed(value)


def unwrap(module: nn.Module) -> nn.Module:
    """The model inside DDP / torch.compile wrappers."""
    while True:
        if isinstance(module, nn.parallel.DistributedDataParallel):
            module = module.module
        elif hasattr(module, "_orig_mod"):
            module = module._orig_mod
        else:
            return module

