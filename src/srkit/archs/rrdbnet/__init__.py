"""RRDBNet / ESRGAN (Wang et al. 2018) and Real-ESRGAN's pixel-unshuffle variants: the network, its
BasicSR / ESRGAN new-arch / old-arch checkpoint layouts, its presets."""

from srkit.archs.registry import register_arch
from srkit.archs.rrdbnet import layouts
from srkit.archs.rrdbnet.net import RRDB, RRDBNET_SCALES, ResidualDenseBlock, RRDBNet

_ESRGAN = {"num_feat": 64, "num_block": 23, "num_grow_ch": 32}

ENTRY = register_arch(
    "rrdbnet",
    RRDBNet,
    presets={"rrdbnet": _ESRGAN, "esrgan": _ESRGAN, "rrdbnet-16": {**_ESRGAN, "num_block": 16}},
    layouts=layouts.FORMATS,
    scales=RRDBNET_SCALES,
    summary="RRDBNet (ESRGAN generator; Real-ESRGAN x1/x2 with pixel unshuffle)",
)

__all__ = ["ENTRY", "RRDB", "RRDBNet", "ResidualDenseBlock"]
