"""Image quality metrics computed as published super-resolution tables compute them.

``psnr``/``ssim`` score 8-bit images (MATLAB/BasicSR convention: rounding, border shave, BT.601 Y);
``psnr_torch``/``ssim_torch`` are their batched, differentiable float-mode counterparts. See
:mod:`srkit.metrics.psnr_ssim` for the exact convention. Generative-SR metrics (FID, IS and SR3's
consistency) are in :mod:`srkit.metrics.fid`, on the FID Inception-v3 of :mod:`srkit.metrics.inception`.
"""

from srkit.metrics.fid import (
    FeatureStats,
    FIDResult,
    consistency,
    fid_from_features,
    fid_from_stats,
    frechet_distance,
    inception_score,
    min_images,
)
from srkit.metrics.inception import FID_WEIGHTS_URL, FIDInceptionV3, InceptionFeatures
from srkit.metrics.psnr_ssim import (
    PIXEL_MAX,
    SSIM_K1,
    SSIM_K2,
    SSIM_SIGMA,
    SSIM_WINDOW,
    Y_OFFSET,
    Y_WEIGHTS,
    crop_problem,
    gaussian_window_1d,
    psnr,
    psnr_torch,
    quantize_uint8,
    rgb_to_y,
    ssim,
    ssim_torch,
)

__all__ = [
    "FID_WEIGHTS_URL",
    "PIXEL_MAX",
    "SSIM_K1",
    "SSIM_K2",
    "SSIM_SIGMA",
    "SSIM_WINDOW",
    "Y_OFFSET",
    "Y_WEIGHTS",
    "FIDInceptionV3",
    "FIDResult",
    "FeatureStats",
    "InceptionFeatures",
    "consistency",
    "crop_problem",
    "fid_from_features",
    "fid_from_stats",
    "frechet_distance",
    "gaussian_window_1d",
    "inception_score",
    "min_images",
    "psnr",
    "psnr_torch",
    "quantize_uint8",
    "rgb_to_y",
    "ssim",
    "ssim_torch",
]
