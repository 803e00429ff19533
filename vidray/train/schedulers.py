"""Learning-rate schedules chosen by name from the config, stepped after every optimizer step.

Each registered entry is a factory ``(optimizer, *, steps_per_epoch, epochs,
**args) -> LRScheduler``; the engine supplies ``steps_per_epoch`` (optimizer
steps, i.e. after gradient accumulation) and ``epochs``, the config the rest.
Durations in ``args`` are in epochs (floats allowed) and converted to steps
here, so a schedule means the same thing at any batch size or worker count.

The built-in schedules are :class:`~torch.optim.lr_scheduler.LambdaLR` over a
``functools.partial`` of a module-level function: the learning rate is a pure
function of the step, so ``state_dict()`` / ``load_state_dict()`` resume it
exactly, and the scheduler pickles. All multiply each parameter group's own
learning rate (``lr`` times the optimizer's ``lr_scale``), so factors, not
absolute rates, appear here: ``min_lr_factor`` is a fraction of the peak rate.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
from typing import Annotated, Any

import torch
from pydantic import ConfigDict, Field, NonNegativeFloat, PositiveFloat, validate_call
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from vidray.config import ComponentConfig
from vidray.errors import ConfigError
from vidray.registry import Registry
from vidray.train.optim import call_component

logger = logging.getLogger(__name__)

SCHEDULERS: Registry = Registry("schedulers")

_validate = validate_call(config=ConfigDict(arbitrary_types_allowed=True))
_Factor = Annotated[float, Field(ge=0, le=1)]


@SCHEDULERS.register("cosine")
@_validate
def cosine(
    optimizer: Any,
    *,
    steps_per_epoch: int,
    epochs: int,
    warmup_epochs: NonNegativeFloat = 0.0,
    warmup_start_factor: _Factor = 0.01,
    min_lr_factor: _Factor = 0.0,
) -> LambdaLR:
    """Linear warmup from ``warmup_start_factor * lr`` to ``lr`` over ``warmup_epochs``,
    then a half cosine from ``lr`` down to ``min_lr_factor * lr`` at the end of training.

    The cosine spans the steps after warmup (timm; PySlowFast's
    ``COSINE_AFTER_WARMUP``), so the peak ``lr`` is reached exactly when
    warmup ends; the rate after the last step is ``min_lr_factor * lr``.
    """
    warmup_steps = _warmup_steps(warmup_epochs, steps_per_epoch, epochs)
    factor = functools.partial(
        _cosine_factor,
        warmup_steps=warmup_steps,
        warmup_start_factor=warmup_start_factor,
        total_steps=steps_per_epoch * epochs,
        min_lr_factor=min_lr_factor,
    )
    return LambdaLR(optimizer, factor)


@SCHEDULERS.register("constant")
@_validate
def constant(
    optimizer: Any,
    *,
    steps_per_epoch: int,
    epochs: int,
    warmup_epochs: NonNegativeFloat = 0.0,
    warmup_start_factor: _Factor = 0.01,
) -> LambdaLR:
    """``lr`` throughout, after an optional linear warmup (fine-tuning, linear probes)."""
    warmup_steps = _warmup_steps(warmup_epochs, steps_per_epoch, epochs)
    factor = functools.partial(_piecewise_factor, warmup_steps=warmup_steps, warmup_start_factor=warmup_start_factor)
    return LambdaLR(optimizer, factor)


@SCHEDULERS.register("multistep")
@_validate
def multistep(
    optimizer: Any,
    *,
    steps_per_epoch: int,
    epochs: int,
    milestones: list[PositiveFloat],
    gamma: PositiveFloat = 0.1,
    warmup_epochs: NonNegativeFloat = 0.0,
    warmup_start_factor: _Factor = 0.01,
) -> LambdaLR:
    """``lr`` times ``gamma`` once per milestone passed (milestones in epochs, increasing,
    inside the training), after an optional linear warmup; the decay applies from the
    first step at or after a milestone, as in ``torch.optim.lr_scheduler.MultiStepLR``."""
    if not milestones:
        raise ConfigError("milestones must list at least one epoch")
    if any(b <= a for a, b in zip(milestones, milestones[1:])):
        raise ConfigError(f"milestones must be strictly increasing, got {milestones}")
    if milestones[-1] >= epochs:
        raise ConfigError(f"milestones must lie inside the training (< epochs = {epochs}), got {milestones}")
    warmup_steps = _warmup_steps(warmup_epochs, steps_per_epoch, epochs)
    factor = functools.partial(
        _piecewise_factor,
        warmup_steps=warmup_steps,
        warmup_start_factor=warmup_start_factor,
        milestone_steps=tuple(round(m * steps_per_epoch) for m in milestones),
        gamma=gamma,
    )
    return LambdaLR(optimizer, factor)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: ComponentConfig, *, steps_per_epoch: int, epochs: int
) -> LRScheduler:
    """The scheduler ``config`` names; call its ``step()`` after every optimizer step."""
    _check_positive("steps_per_epoch", steps_per_epoch, config.name)
    _check_positive("epochs", epochs, config.name)
    scheduler = call_component(
        "scheduler",
        config.name,
        SCHEDULERS.get(config.name),
        config.args,
        optimizer,
        steps_per_epoch=steps_per_epoch,
        epochs=epochs,
    )
    logger.info("scheduler %s over %d epochs x %d steps: %s", config.name, epochs, steps_per_epoch, config.args)
    return scheduler


def check_scheduler_args(config: ComponentConfig, epochs: int) -> None:
    """Raises the :class:`ConfigError` (or ``RegistryError``) that :func:`build_scheduler`
    would, for config validation before any work.

    Builds the schedule once over a throwaway optimizer with one step per
    epoch: every check of the built-in schedules is in epochs, so none depends
    on the real ``steps_per_epoch``, and the check cannot drift from the build.
    """
    throwaway = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    build_scheduler(throwaway, config, steps_per_epoch=1, epochs=epochs)


def _check_positive(field: str, value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"scheduler {name!r}: {field} must be a positive integer, got {value!r}")


def _warmup_steps(warmup_epochs: float, steps_per_epoch: int, epochs: int) -> int:
    """``warmup_epochs`` in steps: at least one step when asked for any warmup."""
    if warmup_epochs > epochs:
        raise ConfigError(f"warmup_epochs ({warmup_epochs}) is longer than the training (epochs = {epochs})")
    if warmup_epochs == 0:
        return 0
    return min(max(1, round(warmup_epochs * steps_per_epoch)), steps_per_epoch * epochs)


def _warmup_factor(step: int, warmup_steps: int, warmup_start_factor: float) -> float:
    if step >= warmup_steps:
        return 1.0
    return warmup_start_factor + (1.0 - warmup_start_factor) * step / warmup_steps


def _cosine_factor(
    step: int, *, warmup_steps: int, warmup_start_factor: float, total_steps: int, min_lr_factor: float
) -> float:
    if step < warmup_steps:
        return _warmup_factor(step, warmup_steps, warmup_start_factor)
    span = total_steps - warmup_steps
    progress = min(1.0, (step - warmup_steps) / span) if span > 0 else 1.0
    return min_lr_factor + (1.0 - min_lr_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _piecewise_factor(
    step: int,
    *,
    warmup_steps: int,
    warmup_start_factor: float,
    milestone_steps: tuple[int, ...] = (),
    gamma: float = 1.0,
) -> float:
    decay = gamma ** bisect.bisect_right(milestone_steps, step)
    return _warmup_factor(step, warmup_steps, warmup_start_factor) * decay
