"""The size of an output when it is not the model's (``srkit upscale --outscale/--width/--height``):
:class:`OutputSize` says which size, :func:`resize_result` resizes the model's integer output to it."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from srkit.degrade import resize
from srkit.errors import ConfigError

__all__ = ["OutputSize", "resize_result"]


@dataclasses.dataclass(frozen=True)
class OutputSize:
    """The size of an output when it is not the model's: ``--outscale F`` (any factor, ``ceil(F * w)``
    by ``ceil(F * h)``, MATLAB ``imresize``'s size rule), ``--width W`` and/or ``--height H`` (one of
    them: the other follows the aspect ratio; both: the largest size inside ``W x H`` with the aspect
    kept). The model's output is resized to it with MATLAB-style bicubic (antialiased when shrinking), as
    Real-ESRGAN's ``--outscale`` resizes its model's output."""

    outscale: float | None = None
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        if self.outscale is not None and (self.width is not None or self.height is not None):
            raise ConfigError("--outscale: give either --outscale or --width/--height, not both")
        if self.outscale is not None and not (math.isfinite(self.outscale) and self.outscale > 0):
            raise ConfigError(f"--outscale: must be a positive number, got {self.outscale}")
        for flag, value in (("--width", self.width), ("--height", self.height)):
            if value is not None and value < 1:
                raise ConfigError(f"{flag}: must be a positive number of pixels, got {value}")

    @property
    def given(self) -> bool:
        return self.outscale is not None or self.width is not None or self.height is not None

    def tag(self, scale: int) -> str:
        """The output-name tag: ``x4`` (the model's scale), ``x3.5``, ``w1024``, ``h768`` or ``1024x768``."""
        if self.width is not None and self.height is not None:
            return f"{self.width}x{self.height}"
        if self.width is not None:
            return f"w{self.width}"
        if self.height is not None:
            return f"h{self.height}"
        return f"x{self.outscale if self.outscale is not None else scale:g}"

    def size(self, width: int, height: int) -> tuple[int, int] | None:
        """``(W, H)`` of the output of a ``width x height`` input, or ``None`` (the model's size)."""
        if self.outscale is not None:
            return max(1, math.ceil(self.outscale * width - 1e-9)), max(
                1, math.ceil(self.outscale * height - 1e-9)
            )
        if self.width is not None and self.height is not None:
            factor = min(self.width / width, self.height / height)
            return max(1, round(width * factor)), max(1, round(height * factor))
        if self.width is not None:
            return self.width, max(1, round(height * self.width / width))
        if self.height is not None:
            return max(1, round(width * self.height / height)), self.height
        return None


def resize_result(data: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Integer ``(H, W, C)`` pixels resized to ``size = (W, H)`` with MATLAB-style bicubic
    (:func:`srkit.degrade.resize`: uint8 on its uint8 path, uint16 through float and rounded back);
    alpha the same way, all channels alike."""
    width, height = size
    if data.shape[1] == width and data.shape[0] == height:
        return data
    planes = torch.from_numpy(np.ascontiguousarray(data)).permute(2, 0, 1)
    if data.dtype == np.uint8:
        out = resize(planes, size=(height, width), kernel="bicubic")
    else:
        peak = float(np.iinfo(data.dtype).max)
        scaled = resize(planes.float() / peak, size=(height, width), kernel="bicubic")
        out = (scaled.clamp_(0.0, 1.0) * peak).round_().to(torch.int32)
    return out.permute(1, 2, 0).numpy().astype(data.dtype)
