"""Decoder backends; importing this package registers them."""

from vidray.data.decoders import pyav  # noqa: F401  (registration)
