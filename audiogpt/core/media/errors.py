"""The one exception every media step raises, so callers catch a single type."""

from __future__ import annotations


class MediaError(ValueError):
    """A file cannot be used. ``str()`` is one plain sentence for a chat user."""
