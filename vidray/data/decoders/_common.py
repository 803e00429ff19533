"""Helpers shared by the decoder backends whose libraries are optional.

An optional backend is registered whatever is installed, so ``decoder="decord"``
is always a known name; its library is imported when a video is opened, and a
missing one is reported with the package to install instead of a bare
``ModuleNotFoundError`` from deep inside a data-loader worker.
"""

from __future__ import annotations

import importlib
import io
import os
from types import ModuleType
from typing import BinaryIO

from vidray.errors import VidrayError


class MissingDependencyError(VidrayError, ImportError):
    """A component needs an optional package that is not installed (or cannot load)."""


def import_optional(module: str, package: str, component: str) -> ModuleType:
    """Imports ``module``; failure names ``component`` and the pip package that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{component} needs the {package!r} package: pip install {package} "
            f"(or pip install 'vidray[decoders]'); importing {module!r} failed: {exc}"
        ) from exc


def local_path_or_bytes(file: BinaryIO | str | os.PathLike[str]) -> str | bytes:
    """What to hand a library that opens its own FFmpeg input, possibly more than once.

    A local file is passed by path: FFmpeg reads it natively, and the video and
    audio readers each keep their own position. Any other source (S3 objects,
    ``from_bytes``) is already in memory or must be read once, and is passed as
    bytes, since two readers cannot share one file object's position.
    """
    if isinstance(file, (str, os.PathLike)):
        return os.fspath(file)
    name = getattr(file, "name", None)
    if isinstance(file, (io.BufferedReader, io.FileIO)) and isinstance(name, str) and os.path.isfile(name):
        return name
    if isinstance(file, io.BytesIO):
        return file.getvalue()
    return file.read()
