"""LR schedules by name: values at key steps, resuming from a state dict, and config errors."""

from __future__ import annotations

import io
import math

import pytest
import torch

from vidray.config import ComponentConfig
from vidray.errors import ConfigError, RegistryError
from vidray.train.schedulers import SCHEDULERS, build_scheduler, check_scheduler_args

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    weights, bias = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(1))
    return torch.optim.SGD([{"params": [weights]}, {"params": [bias], "weight_decay": 0.0}], lr=lr)


def run(opt: torch.optim.Optimizer, scheduler, steps: int) -> list[float]:
    """The learning rate each of the next ``steps`` optimizer steps uses."""
    used = []
    for _ in range(steps):
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return used


def schedule(name: str, steps: int, steps_per_epoch: int = 10, epochs: int = 5, lr: float = 1.0, **args) -> list[float]:
    opt = optimizer(lr)
    scheduler = build_scheduler(
        opt, ComponentConfig(name=name, args=args), steps_per_epoch=steps_per_epoch, epochs=epochs
    )
    return run(opt, scheduler, steps)


def test_cosine_warmup_then_cosine_down_to_min_factor() -> None:
    # 10 warmup steps from 0.1 to 1, then a cosine over the remaining 40 steps down to 0.1
    lrs = schedule("cosine", 51, warmup_epochs=1, warmup_start_factor=0.1, min_lr_factor=0.1)
    assert lrs[0] == pytest.approx(0.1)  # start of warmup
    assert lrs[5] == pytest.approx(0.55)  # halfway through warmup
    assert lrs[10] == pytest.approx(1.0)  # end of warmup: the peak
    assert lrs[30] == pytest.approx(0.55)  # middle of the cosine: halfway between peak and floor
    assert lrs[20] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert lrs[50] == pytest.approx(0.1)  # after the last of the 50 steps
    assert all(a > b for a, b in zip(lrs[10:50], lrs[11:51]))


def test_cosine_without_warmup_starts_at_lr_and_scales_with_the_groups_lr() -> None:
    lrs = schedule("cosine", 51, lr=0.4)
    assert lrs[0] == pytest.approx(0.4)
    assert lrs[25] == pytest.approx(0.2)
    assert lrs[50] == pytest.approx(0.0)


def test_fractional_warmup_epochs_become_steps() -> None:
    lrs = schedule("cosine", 6, warmup_epochs=0.5, warmup_start_factor=0.0)
    assert lrs[:6] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])


def test_constant_with_warmup() -> None:
    lrs = schedule("constant", 50, warmup_epochs=0.4, warmup_start_factor=0.2)
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert lrs[5:] == pytest.approx([1.0] * 45)


def test_multistep_decays_at_each_milestone() -> None:
    lrs = schedule("multistep", 50, milestones=[2, 3.5], gamma=0.1, warmup_epochs=0.2, warmup_start_factor=0.5)
    assert lrs[:3] == pytest.approx([0.5, 0.75, 1.0])
    assert lrs[19] == pytest.approx(1.0)
    assert lrs[20] == pytest.approx(0.1)  # epoch 2
    assert lrs[34] == pytest.approx(0.1)
    assert lrs[35] == pytest.approx(0.01)  # epoch 3.5
    assert lrs[49] == pytest.approx(0.01)


def test_every_param_group_follows_the_schedule() -> None:
    opt = optimizer(0.5)
    opt.param_groups[1]["lr"] = 0.25
    build_scheduler(
        opt,
        ComponentConfig(name="cosine", args={"warmup_epochs": 1, "warmup_start_factor": 0.1}),
        steps_per_epoch=10,
        epochs=5,
    )
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.05, 0.025])


@pytest.mark.parametrize(
    "config",
    [
        ComponentConfig(name="cosine", args={"warmup_epochs": 1.5, "min_lr_factor": 0.01}),
        ComponentConfig(name="multistep", args={"milestones": [2, 4], "warmup_epochs": 1}),
    ],
)
def test_resuming_from_state_dicts_continues_identically(config: ComponentConfig) -> None:
    uninterrupted_opt = optimizer()
    uninterrupted = build_scheduler(uninterrupted_opt, config, steps_per_epoch=10, epochs=5)
    expected = run(uninterrupted_opt, uninterrupted, 50)

    first_opt = optimizer()
    first = build_scheduler(first_opt, config, steps_per_epoch=10, epochs=5)
    before = run(first_opt, first, 17)
    buffer = io.BytesIO()
    torch.save({"optimizer": first_opt.state_dict(), "scheduler": first.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)  # what a checkpoint restore does

    resumed_opt = optimizer()
    resumed = build_scheduler(resumed_opt, config, steps_per_epoch=10, epochs=5)
    resumed_opt.load_state_dict(saved["optimizer"])
    resumed.load_state_dict(saved["scheduler"])
    assert before + run(resumed_opt, resumed, 33) == expected


def test_registry_holds_the_three_schedules() -> None:
    assert SCHEDULERS.list() == ["constant", "cosine", "multistep"]


def test_unknown_scheduler_names_the_close_ones() -> None:
    with pytest.raises(RegistryError, match="did you mean 'cosine'"):
        check_scheduler_args(ComponentConfig(name="cosin"), epochs=5)


@pytest.mark.parametrize(
    ("name", "args", "epochs", "message"),
    [
        ("cosine", {"warmup_epochs": 6}, 5, r"scheduler 'cosine': warmup_epochs \(6.0\) is longer than the training"),
        ("cosine", {"min_lr_factor": 2}, 5, r"scheduler 'cosine': argument 'min_lr_factor'"),
        ("cosine", {"warmup_epochs": -1}, 5, r"scheduler 'cosine': argument 'warmup_epochs'"),
        ("cosine", {"min_lr": 0.0}, 5, r"unknown argument 'min_lr'"),
        ("cosine", {"epochs": 3}, 5, r"argument 'epochs' is set by the engine"),
        ("cosine", {}, 0, r"scheduler 'cosine': epochs must be a positive integer, got 0"),
        ("multistep", {"milestones": [2, 5]}, 5, r"scheduler 'multistep': milestones must lie inside the training"),
        ("multistep", {"milestones": [3, 2]}, 5, r"milestones must be strictly increasing"),
        ("multistep", {"milestones": [0, 2]}, 5, r"argument 'milestones.0': Input should be greater than 0"),
        ("multistep", {"milestones": []}, 5, r"milestones must list at least one epoch"),
        ("multistep", {}, 5, r"missing required argument\(s\) 'milestones'"),
    ],
)
def test_bad_arguments_fail_at_config_time_naming_the_field(name: str, args: dict, epochs: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_scheduler_args(ComponentConfig(name=name, args=args), epochs=epochs)


def test_non_positive_steps_per_epoch_is_an_error() -> None:
    with pytest.raises(ConfigError, match="steps_per_epoch must be a positive integer"):
        build_scheduler(optimizer(), ComponentConfig(name="cosine"), steps_per_epoch=0, epochs=5)
