"""The one Ray Train engine, its pluggable tasks, optimizers and schedulers.

``vidray.train.fit(ExperimentConfig(...))`` runs a training job on the Ray
cluster; tasks (:data:`TASKS`), optimizers (:data:`OPTIMIZERS`) and
schedulers (:data:`SCHEDULERS`) are registries, chosen by name in the config.
Tasks: ``classification`` (:mod:`vidray.train.tasks`) and the self-supervised
``simclr``, ``moco``, ``byol`` (:mod:`vidray.train.ssl`).
"""

from vidray.train.config import ExperimentConfig
from vidray.train.optim import OPTIMIZERS, build_optimizer
from vidray.train.schedulers import SCHEDULERS, build_scheduler
from vidray.train.ssl import BYOLTask, MoCoTask, SimCLRTask
from vidray.train.tasks import TASKS, ClassificationTask, Task, TaskContext
from vidray.train.trainer import FitResult, fit

__all__ = [
    "BYOLTask",
    "MoCoTask",
    "OPTIMIZERS",
    "SCHEDULERS",
    "SimCLRTask",
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
