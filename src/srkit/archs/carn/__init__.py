"""CARN-M (Ahn et al. 2018, cascading residual network, mobile): the multi-scale network and
the authors' checkpoint layout."""

from srkit.archs.carn import layouts
from srkit.archs.carn.net import CARN_SCALES, CARNM, MULTI_SCALES
from srkit.archs.registry import register_arch

ENTRY = register_arch(
    "carn_m",
    CARNM,
    layouts=layouts.FORMATS,
    scales=CARN_SCALES,
    summary="CARN-M (Ahn et al. 2018): cascading efficient residual blocks, x2/x3/x4 branches in one net",
)

__all__ = ["CARNM", "CARN_SCALES", "ENTRY", "MULTI_SCALES"]
