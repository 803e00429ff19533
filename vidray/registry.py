"""The one registry type vidray uses for every pluggable component.

Components register where they are defined::

    DECODERS = Registry("decoders")

    @DECODERS.register("pyav")
    class EncodedVideoPyAV: ...

and are built by name with keyword arguments (``DECODERS.build("pyav", ...)``).
Other packages add components through the entry-point group
``vidray.<registry name>`` (e.g. ``vidray.datasets``); each entry point names
an object that is registered under the entry point's name.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
from importlib.metadata import entry_points
from typing import Any, Callable, Generic, Iterator, TypeVar

from vidray.errors import RegistryError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to constructors (classes or factory functions) plus metadata."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[str, T] = {}
        self._metadata: dict[str, dict[str, Any]] = {}
        self._plugins_loaded = False

    @property
    def entry_point_group(self) -> str:
        return f"vidray.{self.name}"

    def register(self, name: str | None = None, **metadata: Any) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` (default: its ``__name__``)."""

        def decorator(obj: T) -> T:
            self.add(name or obj.__name__, obj, **metadata)  # type: ignore[attr-defined]
            return obj

        return decorator

    def add(self, name: str, obj: T, **metadata: Any) -> None:
        """Registers ``obj`` under ``name``; a second object under a taken name is an error."""
        existing = self._entries.get(name)
        if existing is not None and existing is not obj:
            raise RegistryError(
                f"{self.name} registry: name {name!r} is already taken by "
                f"{_qualname(existing)}; cannot register {_qualname(obj)}"
            )
        self._entries[name] = obj
        self._metadata[name] = dict(metadata)

    def get(self, name: str) -> T:
        """The object registered under ``name``; unknown names list the closest ones."""
        self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self._entries), n=5, cutoff=0.5)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise RegistryError(
                f"unknown {self.name} entry {name!r}{hint} "
                f"(registered: {', '.join(sorted(self._entries)) or 'none'})"
            ) from None

    def build(self, name: str, **kwargs: Any) -> Any:
        """Calls the constructor registered under ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)  # type: ignore[operator]

    def metadata(self, name: str) -> dict[str, Any]:
        """The metadata given at registration (a copy)."""
        self.get(name)
        return dict(self._metadata[name])

    def list(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a shell-style wildcard, e.g. ``"x3d*"``."""
        self._load_plugins()
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        self._load_plugins()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {len(self._entries)} entries)"

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=self.entry_point_group):
            if ep.name in self._entries:
                continue
            try:
                self.add(ep.name, ep.load())
            except Exception as exc:  # a broken plug-in must not break vidray itself
                logger.warning("skipping %s plug-in %r (%s): %s", self.name, ep.name, ep.value, exc)


def _qualname(obj: object) -> str:
    module = getattr(obj, "__module__", "?")
    return f"{module}.{getattr(obj, '__qualname__', repr(obj))}"
