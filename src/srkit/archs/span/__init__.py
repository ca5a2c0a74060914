"""SPAN (Wan et al. 2024, swift parameter-free attention): the network in its training-time and
re-parameterised forms, and both checkpoint layouts."""

from srkit.archs.registry import register_arch
from srkit.archs.span import layouts
from srkit.archs.span.net import SPAB, SPAN, Conv3XC

ENTRY = register_arch(
    "span",
    SPAN,
    presets={"span-ch48": {"feature_channels": 48}, "span-ch28": {"feature_channels": 28}},
    layouts=layouts.FORMATS,
    summary="SPAN (Wan et al. 2024): parameter-free attention, re-parameterisable convs",
)

__all__ = ["ENTRY", "SPAB", "SPAN", "Conv3XC"]
