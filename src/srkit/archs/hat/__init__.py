"""HAT (Chen et al. 2023): the hybrid attention transformer (HAT-S, HAT, HAT-L), its official checkpoint
layout and its presets."""

from srkit.archs.hat import layouts
from srkit.archs.hat.net import HAT, HAT_SCALES
from srkit.archs.registry import register_arch

_COMMON = {
    "num_heads": [6] * 6,
    "window_size": 16,
    "conv_scale": 0.01,
    "overlap_ratio": 0.5,
    "mlp_ratio": 2.0,
    "upsampler": "pixelshuffle",
    "resi_connection": "1conv",
}

#: The official settings (``options/test/HAT*_SRx*.yml``); ``scale`` is given separately. The bare
#: constructor's defaults are HAT.
PRESETS = {
    "hat-s": {**_COMMON, "embed_dim": 144, "depths": [6] * 6, "compress_ratio": 24, "squeeze_factor": 24},
    "hat": {**_COMMON, "embed_dim": 180, "depths": [6] * 6, "compress_ratio": 3, "squeeze_factor": 30},
    "hat-l": {
        **_COMMON,
        "embed_dim": 180,
        "depths": [6] * 12,
        "num_heads": [6] * 12,
        "compress_ratio": 3,
        "squeeze_factor": 30,
    },
}

ENTRY = register_arch(
    "hat",
    HAT,
    presets=PRESETS,
    layouts=layouts.FORMATS,
    scales=HAT_SCALES,
    summary="HAT (Chen et al. 2023): window + channel attention and overlapping cross-attention",
)

__all__ = ["ENTRY", "HAT", "PRESETS"]
