"""Upscalers: anything that maps a low-resolution image to a high-resolution one.

An upscaler takes a float tensor ``(B, C, h, w)`` with values in [0, 1] and an integer scale and returns
``(B, C, s*h, s*w)``. ``srkit eval`` and ``srkit upscale`` only talk to this interface, so interpolation
baselines and trained networks are measured the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from srkit.degrade import KERNELS, resize
from srkit.errors import ConfigError


class Upscaler(Protocol):
    """The interface every model behind ``srkit eval`` implements."""

    name: str

    def supports_scale(self, scale: int) -> bool: ...

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor: ...


@dataclass(frozen=True)
class InterpolationUpscaler:
    """An interpolation baseline with MATLAB ``imresize`` semantics.

    The low-resolution input is quantised to uint8 and resized on the uint8 path (rounding after each 1-D
    pass), which is what ``imresize(LR, s, 'bicubic')`` on a uint8 image does in the MATLAB scripts behind
    the published bicubic rows of SR tables.
    """

    kernel: str

    @property
    def name(self) -> str:
        return self.kernel

    def supports_scale(self, scale: int) -> bool:
        return scale >= 1

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        lr_u8 = (lr.clamp(0, 1) * 255).round().to(torch.uint8)
        return resize(lr_u8, float(scale), kernel=self.kernel).to(lr.dtype) / 255


def load_upscaler(name_or_path: str) -> Upscaler:
    """Resolve a model name given on the command line to an upscaler.

    Interpolation baselines are named after their kernel (``bicubic``, ``bilinear``, ``nearest``, ``area``,
    ``lanczos3``).
    """
    key = name_or_path.strip().lower()
    if key in KERNELS:
        return InterpolationUpscaler(key)
    raise ConfigError(
        f"model: unknown model {name_or_path!r}; available: {', '.join(KERNELS)} (interpolation baselines)"
    )
