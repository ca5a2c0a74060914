"""SwinIR (Liang et al. 2021): the network in every official variant, its official checkpoint layout, its
presets, and the window-attention pieces HAT shares."""

from srkit.archs.registry import register_arch
from srkit.archs.swinir import layouts
from srkit.archs.swinir.net import SWINIR_SCALES, SwinIR

_M = {"embed_dim": 180, "depths": [6] * 6, "num_heads": [6] * 6, "window_size": 8, "mlp_ratio": 2.0}

#: The official variants (``main_test_swinir.py``'s ``define_model``); ``scale`` is given separately except
#: where the variant fixes it. The bare constructor's defaults are the classical SwinIR-M.
PRESETS = {
    "swinir-s": {
        "embed_dim": 60,
        "depths": [6] * 4,
        "num_heads": [6] * 4,
        "window_size": 8,
        "mlp_ratio": 2.0,
        "upsampler": "pixelshuffledirect",
        "resi_connection": "1conv",
    },
    "swinir-m": {**_M, "upsampler": "pixelshuffle", "resi_connection": "1conv"},
    "swinir-m-real": {**_M, "upsampler": "nearest+conv", "resi_connection": "1conv", "scale": 4},
    "swinir-l": {
        "embed_dim": 240,
        "depths": [6] * 9,
        "num_heads": [8] * 9,
        "window_size": 8,
        "mlp_ratio": 2.0,
        "upsampler": "nearest+conv",
        "resi_connection": "3conv",
        "scale": 4,
    },
    "swinir-m-denoise": {**_M, "upsampler": "", "resi_connection": "1conv", "scale": 1, "img_size": 128},
    "swinir-m-jpeg": {
        **_M,
        "window_size": 7,
        "upsampler": "",
        "resi_connection": "1conv",
        "scale": 1,
        "img_range": 255.0,
        "img_size": 126,
    },
}

ENTRY = register_arch(
    "swinir",
    SwinIR,
    presets=PRESETS,
    layouts=layouts.FORMATS,
    scales=SWINIR_SCALES,
    summary="SwinIR (Liang et al. 2021): residual groups of shifted-window attention",
)

__all__ = ["ENTRY", "PRESETS", "SwinIR"]
