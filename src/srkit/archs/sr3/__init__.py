"""SR3 (Saharia et al. 2021, "Image Super-Resolution via Iterative Refinement"): the noise-predicting
U-Net, its samplers and runner, the seed re-implementation's checkpoint layouts (novwaul/SR3), its presets.
See ``docs/sr3.md``."""

from srkit.archs.registry import register_arch
from srkit.archs.sr3 import layouts, sampling
from srkit.archs.sr3.net import SR3UNet
from srkit.archs.sr3.runner import SamplingOptions, SR3Runner

#: The seed's networks (novwaul/SR3 ``UNet/model.py``: attention at depth D-2 and the first middle block
#: only, frequency base 5000 with sqrt(gamma) unscaled), its code's training schedule (``main.py``:
#: T = 2000, betas 1e-4 .. 0.005) and its README's sampling schedules; 110,141,699 and 143,837,699
#: parameters.
_SEED = {
    "channel_mults": [1, 2, 4, 4, 8, 8],
    "num_res_blocks": 3,
    "attn_depths": [-2],
    "mid_attn": True,
    "emb_base": 5000.0,
    "emb_scale": 1.0,
    "train_beta_start": 1e-4,
    "train_beta_end": 0.005,
    "train_timesteps": 2000,
    "sample_steps": 100,
}

PRESETS = {
    "sr3-seed-64to256": {**_SEED, "scale": 4, "base_channels": 56, "sample_betas": [1e-4, 0.1]},
    "sr3-seed-32to128": {**_SEED, "scale": 4, "base_channels": 64, "sample_betas": [1e-6, 0.05]},
    # the SR3 paper's Table A.1 (channel dim, depth multipliers, ResNet blocks; recalled, see docs/sr3.md)
    "sr3-paper-16to128": {
        "scale": 8,
        "base_channels": 128,
        "channel_mults": [1, 2, 4, 8, 8],
        "num_res_blocks": 3,
    },
    "sr3-paper-64to256": {
        "scale": 4,
        "base_channels": 128,
        "channel_mults": [1, 2, 4, 4, 8, 8],
        "num_res_blocks": 3,
    },
    # CPU-sized: 1,625,187 parameters
    "sr3-small": {
        "scale": 4,
        "base_channels": 32,
        "channel_mults": [1, 2, 2],
        "num_res_blocks": 2,
        "attn_depths": [-1],
    },
}

ENTRY = register_arch(
    "sr3",
    SR3UNet,
    presets=PRESETS,
    layouts=layouts.FORMATS,
    runner=SR3Runner,
    summary="SR3 (Saharia et al. 2021): noise-predicting U-Net on the upsampled image, iterative sampling",
)

__all__ = ["ENTRY", "PRESETS", "SR3Runner", "SR3UNet", "SamplingOptions", "sampling"]
