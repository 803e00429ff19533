"""The transforms registry, composition, and building a pipeline from a config.

A config names transforms like any other component::

    transform:
      - name: ApplyTransformToKey
        args:
          key: video
          transform:
            - {name: UniformTemporalSubsample, args: {num_samples: 8}}
            - {name: RandomShortSideScaleCrop, args: {min_size: 256, max_size: 320, crop_size: 224}}
            - {name: Normalize, args: {mean: [0.45, 0.45, 0.45], std: [0.225, 0.225, 0.225]}}

Arguments named ``transform``, ``transforms`` or ``transforms_list`` may hold
nested specs, which are built first.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from torch import nn

from vidray.config import ComponentConfig
from vidray.errors import ConfigError
from vidray.registry import Registry

TRANSFORMS: Registry = Registry("transforms")

_NESTED_ARGS = ("transform", "transforms", "transforms_list")


@TRANSFORMS.register()
class Compose(nn.Module):
    """Applies transforms in order (an ``nn.Module``, so ``.to(device)`` and ``print`` work)."""

    def __init__(self, transforms: Iterable[Callable[[Any], Any]]) -> None:
        super().__init__()
        self.transforms = list(transforms)
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise ConfigError(f"Compose: transform {i} is not callable: {t!r}")
            if isinstance(t, nn.Module):
                self.add_module(str(i), t)

    def forward(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x

    def __len__(self) -> int:
        return len(self.transforms)

    def __getitem__(self, index: int) -> Callable[[Any], Any]:
        return self.transforms[index]


def build_transform(spec: ComponentConfig | Mapping[str, Any] | Iterable[Any]) -> Callable[[Any], Any]:
    """The transform a spec names: ``{name, args}``, or a list of specs (composed in order)."""
    import vidray.transforms  # noqa: F401  (registers the built-in transforms)

    if isinstance(spec, ComponentConfig):
        spec = spec.model_dump()
    if isinstance(spec, Mapping):
        if set(spec) - {"name", "args"} or "name" not in spec:
            raise ConfigError(f"transform spec needs 'name' and optional 'args', got keys {sorted(spec)}")
        args = dict(spec.get("args") or {})
        for key in _NESTED_ARGS:
            if key in args and _is_spec(args[key]):
                args[key] = build_transform(args[key])
        try:
            return TRANSFORMS.build(spec["name"], **args)
        except TypeError as exc:  # wrong argument names for the constructor
            raise ConfigError(f"transform {spec['name']!r}: bad arguments {sorted(args)}: {exc}") from None
    if isinstance(spec, Iterable) and not isinstance(spec, (str, bytes)):
        return Compose(build_transform(item) for item in spec)
    raise ConfigError(f"transform spec must be a mapping or a list of mappings, got {spec!r}")


def _is_spec(value: Any) -> bool:
    if isinstance(value, (Mapping, ComponentConfig)):
        return True
    return isinstance(value, list) and all(isinstance(v, (Mapping, ComponentConfig)) for v in value)
