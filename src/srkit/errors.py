"""Error types. Every user-facing failure is an ``SrkitError`` whose message is one line naming the
file (or key) and the reason; the CLI prints it without a traceback. :func:`one_line` turns a caught
exception into the reason part of such a message."""

from __future__ import annotations

import re
from pathlib import Path

# Terminal colour codes (ANSI SGR sequences), which some libraries put into their messages.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class SrkitError(Exception):
    """A failure the user can act on; ``str(err)`` is a complete one-line message."""


class ImageError(SrkitError):
    """An image file could not be read or written."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class PixelLimitError(ImageError):
    """An image has more pixels than the allowed limit (the decompression-bomb guard of
    :func:`srkit.io.read_image` and :func:`srkit.io.read_header`)."""


class ConfigError(SrkitError):
    """A configuration value is missing or invalid; the message names the key."""


class DatasetError(SrkitError):
    """A dataset could not be found, downloaded or verified."""


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """``str(exc)`` on one line: colour codes removed, whitespace collapsed, the exception's type name
    when it has no text, and cut to ``limit`` characters (ending in ``...``) when given."""
    text = " ".join(_ANSI.sub("", str(exc)).split()) or type(exc).__name__
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
