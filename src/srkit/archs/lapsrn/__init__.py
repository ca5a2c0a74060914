"""LapSRN (Lai et al. 2017, Laplacian pyramid): the luminance network with a x2 output per level, and
the pytorch-LapSRN checkpoint layout."""

from srkit.archs.lapsrn import layouts
from srkit.archs.lapsrn.net import FeatureBlock, LapSRN
from srkit.archs.registry import register_arch

ENTRY = register_arch(
    "lapsrn",
    LapSRN,
    layouts=layouts.FORMATS,
    scales=(2, 4, 8),
    summary="LapSRN (Lai et al. 2017), on Y: Laplacian pyramid, one x2 output per level",
)

__all__ = ["ENTRY", "FeatureBlock", "LapSRN"]
