"""FSRCNN (Dong et al. 2016): the luminance network and its FSRCNN-pytorch checkpoint layout."""

from srkit.archs.fsrcnn import layouts
from srkit.archs.fsrcnn.net import FSRCNN
from srkit.archs.registry import register_arch

ENTRY = register_arch(
    "fsrcnn", FSRCNN, layouts=layouts.FORMATS, summary="FSRCNN (Dong et al. 2016), on Y, deconvolution"
)

__all__ = ["ENTRY", "FSRCNN"]
