"""Inference: ``--model`` resolution (:mod:`srkit.infer.upscalers`), seamless tiling
(:mod:`srkit.infer.tiling`) and the file pipeline of ``srkit upscale`` (:mod:`srkit.infer.upscale`).

Names are loaded on first access (PEP 562) so that ``srkit --help`` does not import PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from srkit.infer.upscalers import load_upscaler

__all__ = ["load_upscaler"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'srkit.infer' has no attribute {name!r}")
    value = getattr(importlib.import_module("srkit.infer.upscalers"), name)
    globals()[name] = value
    return value
