"""SRVGGNetCompact (Real-ESRGAN's compact network): the network and its Real-ESRGAN checkpoint layout."""

from srkit.archs.registry import register_arch
from srkit.archs.srvgg import layouts
from srkit.archs.srvgg.net import SRVGGNetCompact

ENTRY = register_arch(
    "srvgg_compact",
    SRVGGNetCompact,
    presets={
        "realesr-animevideov3": {"num_feat": 64, "num_conv": 16},
        "realesr-general-x4v3": {"num_feat": 64, "num_conv": 32},
    },
    layouts=layouts.FORMATS,
    summary="SRVGGNetCompact (Real-ESRGAN compact): plain convs + PReLU, pixel shuffle, nearest skip",
)

__all__ = ["ENTRY", "SRVGGNetCompact"]
