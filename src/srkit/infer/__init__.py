"""Inference: upscalers behind one interface (:mod:`srkit.infer.upscalers`)."""

from srkit.infer.upscalers import (
    InterpolationUpscaler,
    ModelUpscaler,
    Upscaler,
    load_upscaler,
    rgb_to_ycbcr,
    ycbcr_to_rgb,
)

__all__ = [
    "InterpolationUpscaler",
    "ModelUpscaler",
    "Upscaler",
    "load_upscaler",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
]
