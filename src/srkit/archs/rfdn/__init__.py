"""RFDN (Liu et al. 2020): residual feature distillation blocks with ESA, and the authors' layout."""

from srkit.archs.registry import register_arch
from srkit.archs.rfdn import layouts
from srkit.archs.rfdn.net import RFDN

ENTRY = register_arch(
    "rfdn",
    RFDN,
    presets={"rfdn-paper": {"num_feat": 48, "num_block": 6}},
    layouts=layouts.FORMATS,
    summary="RFDN (Liu et al. 2020, AIM 2020 efficient SR): residual feature distillation blocks, ESA",
)

__all__ = ["ENTRY", "RFDN"]
