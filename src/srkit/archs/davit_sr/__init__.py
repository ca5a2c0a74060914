"""The DaViT-like window/channel-attention SR transformer of the seed write-up (``transformerSR``): the
network, the published weights' two key layouts, its presets."""

from srkit.archs.davit_sr import layouts
from srkit.archs.davit_sr.net import ATTN_SCALINGS, DAVIT_SCALES, DaViTSR
from srkit.archs.registry import register_arch

#: ``'davit-sr-seed'`` is the published model's setting (the constructor's defaults, 12,753,968
#: parameters at x4); ``'davit-sr-small'`` a CPU-sized one with the same head width (16 channels).
ENTRY = register_arch(
    "davit_sr",
    DaViTSR,
    presets={
        "davit-sr-seed": {},
        "davit-sr-small": {"dim": 64, "num_pairs": 4, "num_heads": 4},
    },
    layouts=layouts.FORMATS,
    scales=DAVIT_SCALES,
    summary="window/channel-attention SR transformer (DaViT-like, the seed's transformerSR)",
)

__all__ = ["ATTN_SCALINGS", "DAVIT_SCALES", "ENTRY", "DaViTSR"]
