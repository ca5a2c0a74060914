"""srkit: single-image super-resolution toolkit.

Import cost is kept low: subpackages are imported where they are used, so one missing optional
dependency never breaks ``import srkit``. :func:`load_model` and :class:`SRModel` (:mod:`srkit.api`)
are loaded on first access (PEP 562), so ``import srkit`` does not import PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from srkit.errors import SrkitError
from srkit.version import __version__

if TYPE_CHECKING:
    from srkit.api import SRModel, load_model

__all__ = ["SRModel", "SrkitError", "__version__", "load_model"]

_LAZY = {"load_model": "srkit.api", "SRModel": "srkit.api"}


def __getattr__(name: str) -> Any:
    """Import :mod:`srkit.api` when ``srkit.load_model`` or ``srkit.SRModel`` is first used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'srkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
