"""Decoder backends; importing this package registers them.

``"pyav"`` is always available. ``"torchcodec"`` (also ``"torchvision"``, whose
video decoding moved to torchcodec) and ``"decord"`` are registered whether or
not their libraries are installed; those are imported only when a video is
opened, and a missing one raises :class:`MissingDependencyError` naming the
package to install (``pip install 'vidray[decoders]'`` installs both).
"""

from vidray.data.decoders import decord_backend, pyav, torchcodec_backend  # noqa: F401  (registration)
from vidray.errors import MissingDependencyError

__all__ = ["MissingDependencyError"]
