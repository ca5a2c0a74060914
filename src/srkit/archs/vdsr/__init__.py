"""VDSR (Kim et al. 2016): the luminance network on the upsampled image and its pytorch-vdsr layout."""

from srkit.archs.registry import register_arch
from srkit.archs.vdsr import layouts
from srkit.archs.vdsr.net import VDSR

ENTRY = register_arch(
    "vdsr", VDSR, layouts=layouts.FORMATS, summary="VDSR (Kim et al. 2016), on Y of the upsampled image"
)

__all__ = ["ENTRY", "VDSR"]
