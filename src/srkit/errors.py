"""Error types. Every user-facing failure is an ``SrkitError`` whose message is one line naming the
file (or key) and the reason; the CLI prints it without a traceback."""

from __future__ import annotations

from pathlib import Path


class SrkitError(Exception):
    """A failure the user can act on; ``str(err)`` is a complete one-line message."""


class ImageError(SrkitError):
    """An image file could not be read or written."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ConfigError(SrkitError):
    """A configuration value is missing or invalid; the message names the key."""


class DatasetError(SrkitError):
    """A dataset could not be found, downloaded or verified."""
