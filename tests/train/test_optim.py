"""Optimizers by name: weight-decay parameter groups, lr scaling, and config errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidray.config import ComponentConfig
from vidray.errors import ConfigError, RegistryError
from vidray.train.optim import OPTIMIZERS, build_optimizer, check_optimizer_args

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TinyViT(nn.Module):
    """The parameter kinds the recipes treat differently: conv/linear weights, biases,
    norm scales, a positional embedding, a class token, and a frozen tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv3d(3, 4, 1)
        self.norm3d = nn.BatchNorm3d(4)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.pos_embed_spatial = nn.Parameter(torch.zeros(1, 8, 4))
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 2)
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def sgd(**args) -> ComponentConfig:
    return ComponentConfig(name="sgd", args={"lr": 0.1, "weight_decay": 1e-4, **args})


def group_ids(optimizer: torch.optim.Optimizer) -> dict[str, set[int]]:
    return {group["name"]: {id(p) for p in group["params"]} for group in optimizer.param_groups}


def test_norm_bias_embeddings_and_tokens_get_no_weight_decay() -> None:
    model = TinyViT()
    groups = group_ids(build_optimizer(model, sgd()))
    assert groups["decay"] == {id(model.patch.weight), id(model.head.weight)}
    assert groups["no_decay"] == {
        id(p)
        for p in (
            model.patch.bias,
            model.norm3d.weight,
            model.norm3d.bias,
            model.cls_token,
            model.pos_embed_spatial,
            model.norm.weight,
            model.norm.bias,
            model.head.bias,
        )
    }


def test_no_decay_group_has_zero_weight_decay_and_decay_group_the_configured_one() -> None:
    optimizer = build_optimizer(TinyViT(), sgd())
    assert [(g["name"], g["weight_decay"]) for g in optimizer.param_groups] == [("decay", 1e-4), ("no_decay", 0.0)]


def test_one_step_shrinks_only_decayed_parameters() -> None:
    model = TinyViT()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    optimizer = build_optimizer(model, ComponentConfig(name="sgd", args={"lr": 1.0, "weight_decay": 0.5}))
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    assert torch.all(model.head.weight == 0.5)  # 1 - lr * wd * 1
    assert torch.all(model.head.bias == 1.0) and torch.all(model.pos_embed_spatial == 1.0)


def test_switching_zero_weight_decay_off_decays_everything_trainable() -> None:
    model = TinyViT()
    groups = group_ids(build_optimizer(model, sgd(zero_weight_decay_norm_bias=False)))
    assert groups["no_decay"] == set()
    assert groups["decay"] == {id(p) for p in model.parameters() if p.requires_grad}


def test_frozen_parameters_are_left_out() -> None:
    model = TinyViT()
    groups = group_ids(build_optimizer(model, sgd()))
    frozen = {id(model.frozen.weight), id(model.frozen.bias)}
    assert not frozen & (groups["decay"] | groups["no_decay"])


def test_no_weight_decay_names_and_patterns_join_the_no_decay_group() -> None:
    model = TinyViT()
    groups = group_ids(build_optimizer(model, sgd(no_weight_decay=["head.weight", "patch.*"])))
    assert groups["decay"] == set()
    assert {id(model.head.weight), id(model.patch.weight)} <= groups["no_decay"]


def test_model_no_weight_decay_method_is_honoured() -> None:
    class WithSkipList(TinyViT):
        def no_weight_decay(self) -> set[str]:
            return {"head.weight"}

    model = WithSkipList()
    assert id(model.head.weight) in group_ids(build_optimizer(model, sgd()))["no_decay"]


def test_no_weight_decay_entry_matching_nothing_is_an_error() -> None:
    with pytest.raises(ConfigError, match="pos_embd"):
        build_optimizer(TinyViT(), sgd(no_weight_decay=["pos_embd"]))


def test_lr_scale_multiplies_every_group_lr() -> None:
    optimizer = build_optimizer(TinyViT(), sgd(), lr_scale=4.0)
    assert [g["lr"] for g in optimizer.param_groups] == [pytest.approx(0.4), pytest.approx(0.4)]


def test_sgd_defaults_to_momentum_0_9_and_takes_nesterov() -> None:
    plain = build_optimizer(TinyViT(), sgd())
    nesterov = build_optimizer(TinyViT(), sgd(nesterov=True))
    assert isinstance(plain, torch.optim.SGD)
    assert plain.param_groups[0]["momentum"] == 0.9 and not plain.param_groups[0]["nesterov"]
    assert nesterov.param_groups[0]["nesterov"]


@pytest.mark.parametrize(("name", "cls"), [("adamw", torch.optim.AdamW), ("adam", torch.optim.Adam)])
def test_adam_family_built_by_name(name: str, cls: type) -> None:
    optimizer = build_optimizer(TinyViT(), ComponentConfig(name=name, args={"lr": 1e-3, "betas": [0.9, 0.95]}))
    assert type(optimizer) is cls
    assert optimizer.param_groups[0]["betas"] == (0.9, 0.95)


def test_registry_holds_the_four_optimizers() -> None:
    assert OPTIMIZERS.list() == ["adam", "adamw", "lars", "sgd"]


def test_lars_scales_a_weight_step_by_its_trust_ratio_and_steps_biases_plainly() -> None:
    layer = nn.Linear(2, 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 4.0]]))  # norm 5
        layer.bias.fill_(1.0)
    optimizer = build_optimizer(layer, ComponentConfig(name="lars", args={"lr": 2.0, "weight_decay": 0.1, "momentum": 0.5}))
    for step in range(2):
        layer.weight.grad = torch.tensor([[0.0, 1.0]])
        layer.bias.grad = torch.tensor([0.5])
        before_w, before_b = layer.weight.detach().clone(), layer.bias.detach().clone()
        optimizer.step()
        update = torch.tensor([[0.0, 1.0]]) + 0.1 * before_w  # gradient + decay
        expected = 0.001 * before_w.norm() / update.norm() * update
        if step == 0:
            first_w, first_b = expected, torch.tensor([0.5])
            torch.testing.assert_close(layer.weight.detach(), before_w - 2.0 * expected)
            torch.testing.assert_close(layer.bias.detach(), before_b - 2.0 * 0.5)  # no decay, no trust ratio
        else:  # momentum: buffer = 0.5 * previous + current
            torch.testing.assert_close(layer.weight.detach(), before_w - 2.0 * (0.5 * first_w + expected))
            torch.testing.assert_close(layer.bias.detach(), before_b - 2.0 * (0.5 * first_b + 0.5))


def test_yaml_string_numbers_are_read_as_numbers() -> None:
    optimizer = build_optimizer(TinyViT(), ComponentConfig(name="adamw", args={"lr": "1e-3"}))
    assert optimizer.param_groups[0]["lr"] == 1e-3


def test_unknown_optimizer_names_the_close_ones() -> None:
    with pytest.raises(RegistryError, match="did you mean 'adamw'"):
        check_optimizer_args(ComponentConfig(name="adamww", args={"lr": 0.1}))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"lr": 0.1, "momentun": 0.9}, r"optimizer 'sgd': unknown argument 'momentun' \(did you mean 'momentum'\?\)"),
        ({}, r"optimizer 'sgd': missing required argument\(s\) 'lr'"),
        ({"lr": -0.1}, r"optimizer 'sgd': argument 'lr': Input should be greater than 0"),
        ({"lr": 0.1, "weight_decay": "lots"}, r"optimizer 'sgd': argument 'weight_decay'"),
        ({"lr": 0.1, "momentum": 0.0, "nesterov": True}, r"optimizer 'sgd': Nesterov momentum requires"),
        ({"lr": 0.1, "zero_weight_decay_norm_bias": "no"}, r"zero_weight_decay_norm_bias must be true or false"),
        ({"lr": 0.1, "no_weight_decay": "pos_embed"}, r"no_weight_decay must be a list"),
    ],
)
def test_bad_arguments_fail_at_config_time_naming_optimizer_and_argument(args: dict, message: str) -> None:
    config = ComponentConfig(name="sgd", args=args)
    with pytest.raises(ConfigError, match=message):
        check_optimizer_args(config)
    with pytest.raises(ConfigError, match=message):
        build_optimizer(TinyViT(), config)


def test_non_positive_lr_scale_is_an_error() -> None:
    with pytest.raises(ConfigError, match="lr_scale"):
        build_optimizer(TinyViT(), sgd(), lr_scale=0.0)


def test_model_without_trainable_parameters_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no trainable parameters"):
        build_optimizer(nn.Linear(2, 2).requires_grad_(False), sgd())
