"""BSRN (Li et al. 2022): blueprint separable residual network with ESA and CCA, and the authors' layout."""

from srkit.archs.bsrn import layouts
from srkit.archs.bsrn.net import BSRN
from srkit.archs.registry import register_arch

ENTRY = register_arch(
    "bsrn",
    BSRN,
    presets={"bsrn-s": {"num_feat": 48, "num_block": 5}},
    layouts=layouts.FORMATS,
    summary="BSRN (Li et al. 2022): blueprint separable convolutions, distillation blocks, ESA + CCA",
)

__all__ = ["BSRN", "ENTRY"]
