"""PAN (Zhao et al. 2020, pixel attention network): the network and the authors' checkpoint layout."""

from srkit.archs.pan import layouts
from srkit.archs.pan.net import PAN, PAN_SCALES, SCPA, PAConv
from srkit.archs.registry import register_arch

ENTRY = register_arch(
    "pan",
    PAN,
    layouts=layouts.FORMATS,
    scales=PAN_SCALES,
    summary="PAN (Zhao et al. 2020): SCPA blocks, pixel-attention upsampling",
)

__all__ = ["ENTRY", "PAN", "PAN_SCALES", "SCPA", "PAConv"]
