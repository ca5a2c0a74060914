"""Paths that users and tests configure through environment variables.

- ``SRKIT_CACHE``: where downloaded datasets and weights go (default: the user's cache dir / srkit).
- ``SRKIT_SHARED``: the reference data folder with ``data/`` and ``weights/`` (default: ``../shared``
  beside the repository checkout). Only tests and benchmarks use it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def cache_dir() -> Path:
    """The cache folder: ``$SRKIT_CACHE`` or ``$XDG_CACHE_HOME/srkit`` or ``~/.cache/srkit``."""
    env = os.environ.get("SRKIT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "srkit"


def shared_dir() -> Path:
    """The reference-data folder: ``$SRKIT_SHARED`` or ``../shared`` beside the checkout."""
    env = os.environ.get("SRKIT_SHARED")
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared"


def sample_image_path() -> Path:
    """The bundled sample photograph (CC0, see ``assets/SOURCES.md``)."""
    return Path(__file__).resolve().parent / "assets" / "coffee.png"
