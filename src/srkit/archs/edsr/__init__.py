"""EDSR (Lim et al. 2017): the network, its BasicSR and EDSR-PyTorch checkpoint layouts, its presets."""

from srkit.archs.edsr import layouts
from srkit.archs.edsr.net import DIV2K_RGB_MEAN, EDSR, EDSR_SCALES
from srkit.archs.registry import register_arch

_FULL = {"num_feat": 256, "num_block": 32, "res_scale": 0.1}

#: ``'edsr'`` as a preset is the paper's full EDSR; the bare constructor's defaults are EDSR-baseline.
ENTRY = register_arch(
    "edsr",
    EDSR,
    presets={
        "edsr-baseline": {"num_feat": 64, "num_block": 16, "res_scale": 1.0},
        "edsr": _FULL,
        "edsr-full": _FULL,
    },
    layouts=layouts.FORMATS,
    scales=EDSR_SCALES,
    summary="EDSR (Lim et al. 2017): residual blocks without batch norm, residual scaling",
)

__all__ = ["DIV2K_RGB_MEAN", "EDSR", "ENTRY"]
