"""Optimizers chosen by name from the config (``optimizer: {name: sgd, args: {lr: 0.1}}``).

Each registered entry is a factory ``(params, *, lr, ...) -> torch.optim.Optimizer``
whose arguments are the config's ``args``. :func:`build_optimizer` adds what
the PySlowFast/MViT recipes need around it: two parameter groups (no weight
decay on norm layers, biases, positional embeddings and class tokens), and a
learning-rate scale (the linear scaling rule for the global batch size).

Argument mistakes (unknown names, a missing ``lr``, a negative weight decay)
surface as one :class:`~vidray.errors.ConfigError` naming the optimizer and
the argument; :func:`check_optimizer_args` raises them at config-validation
time, before any cluster work. Numbers given as strings (YAML reads ``1e-3``
as the string ``"1e-3"``) are accepted, as pydantic's lax mode does.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import logging
import math
from typing import Annotated, Any, Callable, Iterable, Mapping, Sequence, TypeVar

import torch
from pydantic import ConfigDict, Field, NonNegativeFloat, PositiveFloat, ValidationError, validate_call
from torch import nn

from vidray.config import ComponentConfig
from vidray.errors import ConfigError
from vidray.registry import Registry
from vidray.train.lars import LARS

logger = logging.getLogger(__name__)

R = TypeVar("R")

OPTIMIZERS: Registry = Registry("optimizers")

# Arguments build_optimizer consumes itself; the rest go to the registered factory.
ZERO_WD_ARG = "zero_weight_decay_norm_bias"
NO_WD_ARG = "no_weight_decay"

# Parameter names (last component) that never get weight decay under zero_weight_decay_norm_bias:
# MViT's positional embeddings (pos_embed, pos_embed_spatial/temporal/class), relative position tables
# (MViTv2's rel_pos_h/w/t) and class tokens, as in PySlowFast's MViT.no_weight_decay().
_NO_WD_PATTERNS = ("pos_embed*", "rel_pos*", "cls_token")

_validate = validate_call(config=ConfigDict(arbitrary_types_allowed=True))
_Beta = Annotated[float, Field(ge=0, lt=1)]


@OPTIMIZERS.register("sgd")
@_validate
def sgd(
    params: Any,
    *,
    lr: PositiveFloat,
    momentum: _Beta = 0.9,
    nesterov: bool = False,
    dampening: NonNegativeFloat = 0.0,
    weight_decay: NonNegativeFloat = 0.0,
) -> torch.optim.SGD:
    """SGD with momentum 0.9 by default, the optimizer of the PySlowFast / X3D recipes."""
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, nesterov=nesterov, dampening=dampening, weight_decay=weight_decay
    )


@OPTIMIZERS.register("adamw")
@_validate
def adamw(
    params: Any,
    *,
    lr: PositiveFloat,
    betas: tuple[_Beta, _Beta] = (0.9, 0.999),
    eps: PositiveFloat = 1e-8,
    weight_decay: NonNegativeFloat = 0.01,
    amsgrad: bool = False,
) -> torch.optim.AdamW:
    """AdamW (decoupled weight decay), the optimizer of the MViT recipes."""
    return torch.optim.AdamW(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


@OPTIMIZERS.register("adam")
@_validate
def adam(
    params: Any,
    *,
    lr: PositiveFloat,
    betas: tuple[_Beta, _Beta] = (0.9, 0.999),
    eps: PositiveFloat = 1e-8,
    weight_decay: NonNegativeFloat = 0.0,
    amsgrad: bool = False,
) -> torch.optim.Adam:
    """Adam (L2 weight decay added to the gradient)."""
    return torch.optim.Adam(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


@OPTIMIZERS.register("lars")
@_validate
def lars(
    params: Any,
    *,
    lr: PositiveFloat,
    momentum: _Beta = 0.9,
    weight_decay: NonNegativeFloat = 0.0,
    trust_coefficient: PositiveFloat = 0.001,
) -> LARS:
    """LARS (see :mod:`vidray.train.lars`), the optimizer of the SimCLR / BYOL pretraining recipes."""
    return LARS(params, lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient)


def build_optimizer(model: nn.Module, config: ComponentConfig, *, lr_scale: float = 1.0) -> torch.optim.Optimizer:
    """The optimizer ``config`` names over ``model``'s trainable parameters.

    The optimizer always has two parameter groups, ``"decay"`` and
    ``"no_decay"`` (weight decay 0; possibly empty), so its state dict has the
    same layout whatever the options. Config ``args`` besides the factory's:

    - ``zero_weight_decay_norm_bias`` (default true, like PySlowFast's
      ``BN.WEIGHT_DECAY: 0``): parameters with ``ndim <= 1`` (norm scales and
      shifts, biases), positional embeddings, relative position tables, class
      tokens, and the names the model's own ``no_weight_decay()`` returns (the
      timm / PySlowFast convention) go to ``"no_decay"``.
    - ``no_weight_decay``: more parameter names or shell patterns (matched
      against the full dotted name or its last component) for ``"no_decay"``;
      an entry that matches nothing is an error, not a silent no-op.

    ``lr_scale`` multiplies the configured ``lr`` (e.g. global batch / 256).
    Frozen parameters (``requires_grad=False``) are left out.
    """
    factory_args, zero_norm_bias, extra_names = _split_args(config)
    if isinstance(lr_scale, bool) or not isinstance(lr_scale, (int, float)) or not (0 < lr_scale < math.inf):
        raise ConfigError(f"optimizer {config.name!r}: lr_scale must be a positive number, got {lr_scale!r}")
    groups = weight_decay_param_groups(
        model, zero_weight_decay_norm_bias=zero_norm_bias, no_weight_decay=extra_names, who=f"optimizer {config.name!r}"
    )
    if not groups[0]["params"] and not groups[1]["params"]:
        raise ConfigError(f"optimizer {config.name!r}: {type(model).__name__} has no trainable parameters")
    optimizer = call_component("optimizer", config.name, OPTIMIZERS.get(config.name), factory_args, groups)
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * lr_scale
    logger.info(
        "optimizer %s: lr %.4g (scale %.4g), %d tensors with weight decay, %d without",
        config.name,
        optimizer.param_groups[0]["lr"],
        lr_scale,
        len(groups[0]["params"]),
        len(groups[1]["params"]),
    )
    return optimizer


def check_optimizer_args(config: ComponentConfig) -> None:
    """Raises the :class:`ConfigError` (or ``RegistryError`` for an unknown name) that
    :func:`build_optimizer` would, without a model: for config validation, before any work.

    The factory runs once over a throwaway one-element parameter, so torch's own
    value checks run too and the check cannot drift from the build. Only the
    ``no_weight_decay`` names are left unchecked (they need the model).
    """
    factory_args, _, _ = _split_args(config)
    throwaway = nn.Parameter(torch.zeros(1))
    call_component("optimizer", config.name, OPTIMIZERS.get(config.name), factory_args, [throwaway])


def weight_decay_param_groups(
    model: nn.Module,
    *,
    zero_weight_decay_norm_bias: bool = True,
    no_weight_decay: Sequence[str] = (),
    who: str = "optimizer",
) -> list[dict[str, Any]]:
    """``[{"name": "decay", "params": [...]}, {"name": "no_decay", "params": [...], "weight_decay": 0.0}]``."""
    patterns = list(no_weight_decay)
    if zero_weight_decay_norm_bias:
        patterns += _NO_WD_PATTERNS
        if callable(getattr(model, "no_weight_decay", None)):
            patterns += list(model.no_weight_decay())
    used: set[str] = set()
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        hits = [p for p in patterns if _name_matches(name, p)]
        used.update(hits)
        if hits or (zero_weight_decay_norm_bias and param.ndim <= 1):
            no_decay.append(param)
        else:
            decay.append(param)
    unused = [p for p in no_weight_decay if p not in used]
    if unused:
        raise ConfigError(f"{who}: {NO_WD_ARG} entries {unused} match no trainable parameter of {type(model).__name__}")
    return [
        {"name": "decay", "params": decay},
        {"name": "no_decay", "params": no_decay, "weight_decay": 0.0},
    ]


def call_component(
    kind: str, name: str, fn: Callable[..., R], args: Mapping[str, Any], *leading: Any, **fixed: Any
) -> R:
    """``fn(*leading, **fixed, **args)`` where ``args`` come from a config.

    ``fixed`` are the arguments the engine supplies (a config may not set
    them). Unknown or missing arguments and rejected values become one
    :class:`ConfigError` that names ``kind``, ``name`` and the argument.
    """
    where = f"{kind} {name!r}"
    params = list(inspect.signature(fn).parameters.values())[len(leading) :]
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in fixed]
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params)
    for key in args:
        if key in fixed:
            raise ConfigError(f"{where}: argument {key!r} is set by the engine, not in the config")
        if key not in accepted and not takes_any:
            close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown argument {key!r}{hint}; accepted: {', '.join(accepted)}")
    missing = [
        p.name
        for p in params
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in args
        and p.name not in fixed
    ]
    if missing:
        raise ConfigError(f"{where}: missing required argument(s) {', '.join(map(repr, missing))}")
    try:
        return fn(*leading, **fixed, **args)
    except ValidationError as exc:
        problems = "; ".join(
            f"argument {'.'.join(map(str, e['loc']))!r}: {e['msg']} (got {e['input']!r})"
            for e in exc.errors(include_url=False)
        )
        raise ConfigError(f"{where}: {problems}") from None
    except ValueError as exc:  # torch's own checks, and ConfigErrors naming a field
        raise ConfigError(f"{where}: {exc}") from None


def _split_args(config: ComponentConfig) -> tuple[dict[str, Any], bool, list[str]]:
    """The factory's arguments, and the two build_optimizer consumes (type-checked)."""
    args = dict(config.args)
    zero_norm_bias = args.pop(ZERO_WD_ARG, True)
    names = args.pop(NO_WD_ARG, [])
    if not isinstance(zero_norm_bias, bool):
        raise ConfigError(f"optimizer {config.name!r}: {ZERO_WD_ARG} must be true or false, got {zero_norm_bias!r}")
    if isinstance(names, str) or not isinstance(names, Iterable) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"optimizer {config.name!r}: {NO_WD_ARG} must be a list of parameter names, got {names!r}")
    return args, zero_norm_bias, list(names)


def _name_matches(name: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name.rsplit(".", 1)[-1], pattern)
