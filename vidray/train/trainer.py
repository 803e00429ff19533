"""``fit``: the driver side of a training job.

Order matters for users' time and data: everything that can be checked
without a cluster is checked first (config, datasets, one decoded clip, the
tracking store), then the run is created, then Ray does the work. A job that
fails keeps its MLflow run (marked FAILED) and its checkpoints; resuming a
finished job continues its run in a new checkpoint folder, so nothing a user
made is overwritten.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import ray
import ray.train
import torch
from ray.train.torch import TorchTrainer
from torch import nn
from torch.utils.data import SequentialSampler

from vidray.data import LabeledVideoDataset, VideoManifest
from vidray.data.config import DataConfig, build_dataset
from vidray.errors import CheckpointError, ConfigError, DataError, TrackingError
from vidray.ingest.clips import ClipSource, decode_tasks_per_shard
from vidray.ingest.state import create_ingest_state
from vidray.models import create_model
from vidray.models.checkpoint import check_state_dict
from vidray.models.factory import spec_of
from vidray.tracking import (
    RunHandle,
    config_hash,
    flatten_params,
    log_model,
    resume_run,
    run_tags,
    start_run,
)
from vidray.tracking.store import resolve_tracking_uri
from vidray.train.checkpoints import latest_checkpoint, load_state, read_state
from vidray.train.config import ExperimentConfig, model_args
from vidray.train.engine import train_loop_per_worker
from vidray.train.plan import TrainPlan
from vidray.train.pretrained import CHECKPOINT_TAG, pin_pretrained_encoder
from vidray.train.tasks import TASKS, Task, TaskContext

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    """Where a finished job left its record."""

    run_id: str
    tracking_uri: str
    experiment_id: str
    checkpoint: str  # the final checkpoint folder (local path or s3:// URI)
    metrics: dict[str, Any] = field(default_factory=dict)  # the last epoch's summary
    model_uri: str | None = None
    registered: str | None = None  # "name/version" when registered


RESOLVED_CONFIG = "config.resolved.json"  # the validated config, as `vidray export` reads it back


def fit(config: ExperimentConfig, *, config_text: str | None = None, resume: str | None = None) -> FitResult:
    """Trains and evaluates ``config`` on the Ray cluster (``RAY_ADDRESS``, or a local one).

    ``resume``: a checkpoint folder of an earlier run (or its run folder, whose
    latest checkpoint is taken) to continue, e.g. for more epochs; its MLflow
    run continues too.
    """
    resume_state = read_state(resume) if resume else None
    config, lineage = pin_pretrained_encoder(config)
    train_data, val_data = _datasets(config)
    plan = _plan(config, train_data, val_data)
    if resume_state is not None:
        _check_resumable(config, plan, resume_state, resume)

    run = _tracking_run(config, config_text, train_data, resume_state, lineage)
    try:
        result = _train(config, run, plan, train_data, val_data, resume)
        final = _log_final_model(config, run, result.checkpoint)
    except BaseException:
        run.finish("FAILED")
        raise
    checkpoint = checkpoint_uri(result.checkpoint)
    run.set_tags({CHECKPOINT_TAG: checkpoint})
    run.finish("FINISHED")
    return FitResult(
        run_id=run.run_id,
        tracking_uri=run.uri,
        experiment_id=run.experiment_id,
        checkpoint=checkpoint,
        metrics=dict(result.metrics),
        model_uri=final.model_uri,
        registered=f"{final.registered_name}/{final.registered_version}" if final.registered_name else None,
    )


def checkpoint_uri(checkpoint: "ray.train.Checkpoint") -> str:
    """Where a checkpoint lies, as ``--resume`` takes it: Ray's ``Checkpoint.path`` is relative
    to its filesystem (``bucket/key`` on S3), so the scheme is put back."""
    scheme = getattr(checkpoint.filesystem, "type_name", "local")
    return checkpoint.path if scheme == "local" else f"{scheme}://{checkpoint.path}"


# ---------------------------------------------------------------------- before the cluster
def _datasets(config: ExperimentConfig) -> tuple[LabeledVideoDataset, LabeledVideoDataset | None]:
    train = _build(config.data.train, config.seed, "data.train")
    val = _build(config.data.val, config.seed, "data.val", SequentialSampler) if config.data.val else None
    return train, val


def _build(data: DataConfig, seed: int, where: str, sampler: Any = None) -> LabeledVideoDataset:
    try:
        return build_dataset(data, seed=seed, video_sampler=sampler)
    except (DataError, FileNotFoundError) as exc:
        raise DataError(f"{where}: {exc}") from None


def _plan(config: ExperimentConfig, train: LabeledVideoDataset, val: LabeledVideoDataset | None) -> TrainPlan:
    """What every worker must agree on, computed once: classes, clip counts, the input shape."""
    classes = train.classes
    configured = config.model.args.get("num_classes")
    if classes is None and configured is None:
        raise ConfigError("model.args.num_classes: the dataset names no classes, so set the number of classes")
    if classes is not None and configured is not None and configured != len(classes):
        raise ConfigError(f"model.args.num_classes: {configured}, but the training data has {len(classes)} classes")
    train_clips = len(train)
    if train_clips == 0:
        raise DataError("data.train: no clips (every video is unreadable or shorter than a clip)")
    per_worker = train_clips // config.scaling.num_workers
    if per_worker < config.batch_size * config.grad_accum_steps:
        raise ConfigError(
            f"batch_size: {train_clips} training clips over {config.scaling.num_workers} workers give {per_worker} "
            f"per worker, fewer than one optimizer step of batch_size {config.batch_size} x grad_accum_steps "
            f"{config.grad_accum_steps}"
        )
    return TrainPlan(
        classes=classes,
        num_classes=len(classes) if classes is not None else configured,
        train_clips=train_clips,
        val_videos=val.num_videos if val is not None else 0,
        val_views=val.clips_per_video() if val is not None else [],
        input_shape=_input_shape(train),
    )


def _input_shape(dataset: LabeledVideoDataset) -> tuple[int, ...]:
    """The ``[C, T, H, W]`` of a training clip (``[V, C, T, H, W]`` for samples of ``V`` views, as the
    self-supervised tasks train on): decodes one, which also proves the data path works."""
    for video_index, slot in dataset.clip_order(0)[:16]:
        sample = dataset.load_clip(video_index, slot, 0)
        if sample is not None:
            video = sample.get("video")
            views = video if isinstance(video, (list, tuple)) else [video]
            shapes = {tuple(v.shape) if isinstance(v, torch.Tensor) and v.dim() == 4 else None for v in views}
            if None in shapes or len(shapes) != 1:
                got = [list(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__ for v in views]
                raise DataError(
                    f"data.train: samples must hold a 'video' tensor [C, T, H, W] or a list of views of one "
                    f"shape, got {got}"
                )
            (shape,) = shapes
            return (len(views), *shape) if isinstance(video, (list, tuple)) else shape
    raise DataError("data.train: the first 16 clips could not be decoded; see the log for each video's error")


def _check_resumable(config: ExperimentConfig, plan: TrainPlan, state: dict[str, Any], resume: str) -> None:
    """A checkpoint of another model or class count is refused before any work, naming the mismatch."""
    if state["model_name"] != config.model.name:
        raise CheckpointError(f"{resume}: checkpoint of model {state['model_name']!r}, but the config trains {config.model.name!r}")
    _, deployable = _deployable(config, plan.num_classes, plan.classes)
    check_state_dict(deployable, state["deployable_state"], source=resume)
    if state["epoch"] + 1 >= config.epochs:
        raise ConfigError(f"epochs: {config.epochs}, but {resume} already finished epoch {state['epoch'] + 1}; raise epochs to train more")


def _deployable(config: ExperimentConfig, num_classes: int, classes: list[str] | None) -> tuple[Task, nn.Module]:
    """The task and, on the CPU, the fresh model it saves (the classifier; an SSL task's encoder)."""
    model = create_model(config.model.name, num_classes=num_classes, **model_args(config))
    task = TASKS.build(config.task.name, **config.task.args)
    context = TaskContext(num_classes, classes, spec_of(config.model.name), torch.device("cpu"))
    return task, task.deployable(task.setup(model, context))


def _tracking_run(
    config: ExperimentConfig,
    config_text: str | None,
    train: LabeledVideoDataset,
    resume_state: dict[str, Any] | None,
    lineage: dict[str, str],
) -> RunHandle:
    """A new run (tagged with the pretraining run it starts from, if any), or the resumed one."""
    if resume_state is not None and resume_state.get("mlflow_run_id"):
        run = resume_run(resolve_tracking_uri(config.tracking), resume_state["mlflow_run_id"])
        run.set_tags({"vidray.resumed_from": resume_state["folder"]})
        return run
    dumped = config.model_dump(mode="json")
    tags = run_tags(
        config_hash=config_hash(dumped),
        manifest_hash=VideoManifest.from_dataset(train).sha256(),
        extra={"vidray.task": config.task.name, "vidray.model": config.model.name, **lineage},
    )
    text = config_text if config_text is not None else _yaml(dumped)
    run = start_run(config.tracking, name=config.name, params=flatten_params(dumped), tags=tags, config_text=text)
    # What `vidray export` rebuilds the data and normalisation from (config.yaml is the text as asked).
    try:
        run.log_text(config.model_dump_json(indent=2), RESOLVED_CONFIG)
    except TrackingError:
        run.finish("FAILED")
        raise
    return run


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


# ---------------------------------------------------------------------- on the cluster
def _train(
    config: ExperimentConfig,
    run: RunHandle,
    plan: TrainPlan,
    train: LabeledVideoDataset,
    val: LabeledVideoDataset | None,
    resume: str | None,
) -> ray.train.Result:
    _connect(config)
    state = create_ingest_state()
    ingest = config.ingest
    sources = {
        name: ClipSource.create(
            data, name=name, state=state, decode_workers=ingest.decode_workers, clips_per_task=ingest.clips_per_task,
            num_cpus=ingest.decode_cpus, resources=ingest.decode_resources, run_name=config.name,
            object_store_memory=ingest.object_store_memory_mb * 2**20 if ingest.object_store_memory_mb else None,
        )
        for name, data in (("train", train), ("val", val)) if data is not None
    }
    scaling = config.scaling
    ray_run_name = f"{config.name}-{run.run_id[:8]}" + ("-resumed" if resume else "")
    storage = _storage_path(config.checkpoint.storage_path)
    # Ray Train V2 has no resume_from_checkpoint: the workers start from this one when the run has none yet.
    plan = plan.on_cluster(
        train=sources["train"], val=sources.get("val"), run_path=f"{storage.rstrip('/')}/{ray_run_name}",
        resume_from=latest_checkpoint(resume) if resume else None,
    )
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"config": config.model_dump(mode="json"), "run": run, "plan": plan},
        scaling_config=ray.train.ScalingConfig(
            num_workers=scaling.num_workers,
            use_gpu=scaling.use_gpu,
            resources_per_worker={"CPU": scaling.cpus_per_worker, **scaling.resources_per_worker},
        ),
        run_config=ray.train.RunConfig(
            name=ray_run_name,
            storage_path=storage,
            failure_config=ray.train.FailureConfig(max_failures=config.checkpoint.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=config.checkpoint.num_to_keep),
        ),
    )
    run.set_tags({"vidray.ray_run": ray_run_name})
    result = trainer.fit()
    if result.checkpoint is None:
        raise CheckpointError(f"run {run.run_id}: training finished without a checkpoint")
    skipped = ray.get(state.skip_reasons.remote("train")) + ray.get(state.skip_reasons.remote("val"))
    if skipped:
        run.log_text("\n".join(f"{path}\t{reason}" for path, reason in skipped) + "\n", "ingest/skipped_videos.tsv")
    return result


def _cpus_needed(config: ExperimentConfig) -> float:
    """Logical CPUs the job holds at once: its trainers and one pipeline's decode tasks (training
    and evaluation data are decoded one after the other), at least one per trainer (each decodes
    its own shard)."""
    workers = config.scaling.num_workers
    trainers = 0 if config.scaling.use_gpu else workers * config.scaling.cpus_per_worker
    decode_tasks = workers * (decode_tasks_per_shard(config.ingest.decode_workers, workers) or 1)
    return trainers + decode_tasks * config.ingest.decode_cpus


def _connect(config: ExperimentConfig) -> None:
    """Joins ``RAY_ADDRESS`` (or an already connected cluster), else starts a local Ray.

    A local Ray gets enough logical CPUs for the trainers and the decode tasks
    together: they overlap in time (decoding feeds training), so on a small
    machine they share its cores rather than wait for each other. A cluster
    with fewer CPUs than the job holds at once would wait forever, so that is
    an error here.
    """
    needed = _cpus_needed(config)
    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init(log_to_driver=True)
        else:
            ray.init(num_cpus=max(int(needed + 0.999), os.cpu_count() or 1), log_to_driver=True)
    available = ray.cluster_resources().get("CPU", 0.0)
    if available < needed:
        raise ConfigError(
            f"scaling/ingest: the job holds {needed:g} CPUs at once ({config.scaling.num_workers} trainers x "
            f"{config.scaling.cpus_per_worker:g} + decode tasks), but the Ray cluster has {available:g}; "
            "lower scaling.num_workers or ingest.decode_workers, or add nodes"
        )


def _storage_path(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


# ---------------------------------------------------------------------- after training
def _log_final_model(config: ExperimentConfig, run: RunHandle, checkpoint: ray.train.Checkpoint) -> Any:
    """Rebuilds the task's deployable model from the final checkpoint and logs it (pickle-free)."""
    state = load_state(checkpoint)
    task, deployable = _deployable(config, state["num_classes"], state["classes"] or None)
    deployable.load_state_dict(state["deployable_state"])
    deployable.eval()
    return log_model(
        run,
        deployable,
        task.example_input(state["input_shape"]),
        register_as=config.tracking.register_model,
        metadata={
            "model_name": config.model.name,
            "classes": state["classes"],
            "epochs": state["epoch"] + 1,
            "input": "float32 clips [B, C, T, H, W] (a list per pathway): uint8 pixels normalised as (x - 255 mean) / (255 std)",
            "mean": list(task.to_input.mean.flatten().div(255).tolist()),
            "std": list(task.to_input.std.flatten().div(255).tolist()),
        },
    )
