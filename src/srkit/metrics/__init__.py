"""Image quality metrics computed as published super-resolution tables compute them.

``psnr``/``ssim`` score 8-bit images (MATLAB/BasicSR convention: rounding, border shave, BT.601 Y);
``psnr_torch``/``ssim_torch`` are their batched, differentiable float-mode counterparts. See
:mod:`srkit.metrics.psnr_ssim` for the exact convention.
"""

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
    "PIXEL_MAX",
    "SSIM_K1",
    "SSIM_K2",
    "SSIM_SIGMA",
    "SSIM_WINDOW",
    "Y_OFFSET",
    "Y_WEIGHTS",
    "crop_problem",
    "gaussian_window_1d",
    "psnr",
    "psnr_torch",
    "quantize_uint8",
    "rgb_to_y",
    "ssim",
    "ssim_torch",
]
