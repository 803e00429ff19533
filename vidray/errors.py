"""One exception hierarchy for vidray.

Every error a user can trigger derives from :class:`VidrayError`, so callers
can catch vidray's failures without catching unrelated bugs. Messages name the
object (file, line, field, registry entry) and what was expected.
"""

from __future__ import annotations


class VidrayError(Exception):
    """Root of every error vidray raises on purpose."""


class ConfigError(VidrayError, ValueError):
    """A configuration file or object is invalid (every bad field is listed)."""


class RegistryError(VidrayError, KeyError):
    """A registry lookup or registration failed."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class LayoutError(VidrayError, ValueError):
    """A tensor does not have the layout, dtype or size an operation needs."""


class DataError(VidrayError):
    """Input data (media or annotations) cannot be used."""


class MediaNotFoundError(DataError, FileNotFoundError):
    """A video, frame folder or annotation file does not exist."""


class DecodeError(DataError):
    """A media file is corrupt, truncated, empty, or lacks the needed stream."""


class ClipOutOfRangeError(DecodeError):
    """A requested clip lies (partly) outside the media's duration."""


class AnnotationError(DataError):
    """An annotation file is malformed (the message names file and line)."""


class UnknownLabelError(AnnotationError):
    """An annotation refers to a class name that the label map does not contain."""


class MissingDependencyError(VidrayError, ImportError):
    """A component needs an optional package that is not installed (or cannot load)."""


class CheckpointError(VidrayError):
    """A checkpoint cannot be loaded into the requested model."""


class TrackingError(VidrayError):
    """The experiment tracker (MLflow) cannot be reached or refused a request."""


class DeployError(VidrayError):
    """A model cannot be turned into a deployable program, or a program cannot be run as recorded."""


class FarmError(VidrayError):
    """A device farm cannot start a device, or cannot measure a program on any device of a kind."""
