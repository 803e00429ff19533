"""The one Ray Train engine, its pluggable tasks, optimizers and schedulers.

``vidray.train.fit(ExperimentConfig(...))`` runs a training job on the Ray
cluster; tasks (:data:`TASKS`), optimizers (:data:`OPTIMIZERS`) and
schedulers (:data:`SCHEDULERS`) are registries, chosen by name in the config.
"""

from vidray.train.config import ExperimentConfig
from vidray.train.optim import OPTIMIZERS, build_optimizer
from vidray.train.schedulers import SCHEDULERS, build_scheduler
from vidray.train.tasks import TASKS, ClassificationTask, Task, TaskContext
from vidray.train.trainer import FitResult, fit

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "TASKS",
    "ClassificationTask",
    "ExperimentConfig",
    "FitResult",
    "Task",
    "TaskContext",
    "build_optimizer",
    "build_scheduler",
    "fit",
]
