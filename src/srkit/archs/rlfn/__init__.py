"""RLFN (Kong et al. 2022): residual local feature blocks with a light ESA, and the authors' layout."""

from srkit.archs.registry import register_arch
from srkit.archs.rlfn import layouts
from srkit.archs.rlfn.net import RLFN

ENTRY = register_arch(
    "rlfn",
    RLFN,
    presets={"rlfn-s": {"num_feat": 48}},
    layouts=layouts.FORMATS,
    summary="RLFN (Kong et al. 2022, NTIRE 2022 efficient SR): residual local feature blocks, light ESA",
)

__all__ = ["ENTRY", "RLFN"]
