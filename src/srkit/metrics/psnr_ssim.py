"""PSNR and SSIM computed the way published super-resolution tables compute them.

Evaluation convention (the MATLAB scripts behind the SRCNN/EDSR/RCAN/SwinIR tables, and BasicSR's
``calculate_psnr``/``calculate_ssim`` with ``test_y_channel``):

- both images are 8-bit: ``uint8`` arrays are used as they are; float arrays holding values in 0..255 are
  first clipped to [0, 255] and rounded half up (as MATLAB's ``uint8()`` does for non-negative values);
- ``crop_border`` pixels are shaved from each of the four borders;
- with ``y_channel=True`` an RGB image is reduced to the ITU-R BT.601 luma of MATLAB's ``rgb2ycbcr``,
  ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with RGB in [0, 1], kept unrounded (Y in [16, 235]);
  a single-channel (grayscale) image is scored on its own values, with or without ``y_channel``;
  with ``y_channel`` a single-channel SR beside an RGB HR is taken as Y already: a luminance network's
  own 8-bit Y output, scored against the HR's Y rounded to 8 bit, as MATLAB's ``rgb2ycbcr`` on a uint8
  image gives it in the VDSR and LapSRN authors' scripts (re-deriving Y from the RGB rebuilt with bicubic
  chroma instead reads LapSRN x4 on Set5 0.023 dB above its authors' number, keeping the HR's Y
  unrounded 0.010 dB above);
- PSNR is ``10 log10(255^2 / MSE)`` over all pixels (and all channels), ``inf`` for identical images;
- SSIM follows Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
  structural similarity", IEEE TIP 13(4), 2004 (their ``ssim_index.m``): an 11x11 Gaussian window with
  sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering (no padding), no downsampling, population
  statistics, and the mean of the SSIM map. On RGB without ``y_channel`` it is the mean of the
  per-channel SSIMs.

Everything is computed in float64. ``psnr_torch``/``ssim_torch`` are batched, differentiable versions for
training-time validation that skip the rounding step ("float mode"). The rounding
(:func:`~srkit.colour.quantize_uint8`), the luma (:func:`~srkit.colour.rgb_to_y`) and its constants come
from :mod:`srkit.colour` and are re-exported here.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from srkit.colour import Y_OFFSET, Y_WEIGHTS, quantize_uint8, rgb_to_y

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

#: Peak value used for 8-bit images and for the Y channel.
PIXEL_MAX = 255.0
#: SSIM constants of Wang et al. 2004.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


# ----------------------------------------------------------------------------------------------------------
# numpy: evaluation on 8-bit images
# ----------------------------------------------------------------------------------------------------------


def _check_same_shape(sr_shape: tuple[int, ...], hr_shape: tuple[int, ...]) -> None:
    if tuple(sr_shape) != tuple(hr_shape):
        raise ValueError(f"sr and hr shapes differ: sr {tuple(sr_shape)} vs hr {tuple(hr_shape)}")


def _is_luma_beside_rgb(sr_shape: tuple[int, ...], hr_shape: tuple[int, ...]) -> bool:
    """A single-channel SR (``(H, W)`` or ``(H, W, 1)``) beside an RGB HR ``(H, W, 3)``."""
    return len(hr_shape) == 3 and hr_shape[2] == 3 and (len(sr_shape) == 2 or sr_shape[2:] == (1,))


def crop_problem(height: int, width: int, crop_border: int, min_size: int = SSIM_WINDOW) -> str | None:
    """Why an image of ``height x width`` cannot be scored with ``crop_border`` pixels shaved from each
    border (fewer than ``min_size x min_size`` pixels left; SSIM needs :data:`SSIM_WINDOW`), or ``None``.
    ``srkit eval`` skips such images with this reason."""
    h, w = height - 2 * crop_border, width - 2 * crop_border
    if h >= min_size and w >= min_size:
        return None
    return (
        f"{width}x{height} with a border crop of {crop_border} leaves {max(w, 0)}x{max(h, 0)} pixels; "
        f"at least {min_size}x{min_size} are needed"
    )


def _check_crop(crop_border: int, height: int, width: int, min_size: int = 1) -> None:
    if isinstance(crop_border, bool) or not isinstance(crop_border, (int, np.integer)):
        raise TypeError(f"crop_border must be an int, got {type(crop_border).__name__}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if crop_problem(height, width, crop_border, min_size) is not None:
        h, w = height - 2 * crop_border, width - 2 * crop_border
        raise ValueError(
            f"image of {height}x{width} with crop_border={crop_border} leaves {max(h, 0)}x{max(w, 0)} "
            f"pixels; at least {min_size}x{min_size} are needed"
        )


def _prepare_pair(
    sr: np.ndarray, hr: np.ndarray, crop_border: int, y_channel: bool, min_size: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Validate, round to 8 bit, shave borders and select channels: two float64 ``(H, W, C)`` arrays with
    ``C == 1`` (grayscale, or Y when ``y_channel``) or ``C == 3`` (RGB)."""
    sr_arr, hr_arr = np.asarray(sr), np.asarray(hr)
    luma = y_channel and _is_luma_beside_rgb(sr_arr.shape, hr_arr.shape)
    if luma:
        _check_same_shape(sr_arr.shape[:2], hr_arr.shape[:2])
        sr_arr = sr_arr.reshape(hr_arr.shape[:2])
    else:
        _check_same_shape(sr_arr.shape, hr_arr.shape)
    shape = sr_arr.shape
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3))):
        raise ValueError(f"images must have shape (H, W), (H, W, 1) or (H, W, 3), got {shape}")
    _check_crop(crop_border, shape[0], shape[1], min_size)
    out = []
    for arr in (sr_arr, hr_arr):
        img = quantize_uint8(arr).astype(np.float64)
        if img.ndim == 2:
            img = img[:, :, None]
        if crop_border:
            img = img[crop_border:-crop_border, crop_border:-crop_border, :]
        if y_channel and img.shape[2] == 3:
            img = rgb_to_y(img)[:, :, None]
            if luma:
                img = quantize_uint8(img).astype(np.float64)
        out.append(img)
    return out[0], out[1]


def _mse_to_psnr(mse: float, peak: float = PIXEL_MAX) -> float:
    """``10 log10(peak^2 / mse)``; ``inf`` when ``mse == 0``."""
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(peak * peak / mse))


def psnr(sr: np.ndarray, hr: np.ndarray, *, crop_border: int = 0, y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB between two 8-bit images, as in published SR tables.

    ``sr`` and ``hr`` have equal shape ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` (RGB); float input is
    clipped and rounded half up to 8 bit first (see :func:`quantize_uint8`). ``crop_border`` pixels are
    removed from each border; ``y_channel`` scores RGB images on :func:`rgb_to_y` (grayscale images are
    always scored on their own values). ``PSNR = 10 log10(255^2 / MSE)`` with the MSE over all remaining
    pixels and channels in float64; identical images give ``float('inf')``.
    """
    a, b = _prepare_pair(sr, hr, crop_border, y_channel)
    return _mse_to_psnr(float(np.mean((a - b) ** 2)))


def gaussian_window_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian of ``size`` taps centred on the middle tap (float64).

    Its outer product with itself is MATLAB ``fspecial('gaussian', 11, 1.5)``, the SSIM window of
    Wang et al. 2004 (no tap of that window falls below fspecial's ``eps * max`` cut-off).
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """'valid' 2-D correlation of ``(H, W, C)`` with the separable window ``outer(g, g)`` (MATLAB
    ``filter2(window, img, 'valid')``): the output is ``(H - k + 1, W - k + 1, C)``."""
    k = g.size
    h, w = img.shape[0] - k + 1, img.shape[1] - k + 1
    rows = sum(g[i] * img[i : i + h] for i in range(k))
    return sum(g[j] * rows[:, j : j + w] for j in range(k))


def _ssim_map(a: np.ndarray, b: np.ndarray, peak: float = PIXEL_MAX) -> np.ndarray:
    """SSIM map (Wang et al. 2004, eq. 13) of two float64 ``(H, W, C)`` images, channels independent."""
    g = gaussian_window_1d()
    c1 = (SSIM_K1 * peak) ** 2
    c2 = (SSIM_K2 * peak) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    var_a = _filter_valid(a * a, g) - mu_a * mu_a
    var_b = _filter_valid(b * b, g) - mu_b * mu_b
    cov = _filter_valid(a * b, g) - mu_a * mu_b
    num = (2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return num / den


def ssim(sr: np.ndarray, hr: np.ndarray, *, crop_border: int = 0, y_channel: bool = False) -> float:
    """Structural similarity (Wang et al. 2004) between two 8-bit images, as in published SR tables.

    Inputs, rounding, ``crop_border`` and ``y_channel`` as in :func:`psnr`. SSIM uses an 11x11 Gaussian
    window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, 'valid' filtering without downsampling and
    population statistics, and is the mean of the SSIM map; for RGB (without ``y_channel``) it is the mean
    of the three per-channel SSIMs. The image left after cropping must be at least 11x11.
    """
    a, b = _prepare_pair(sr, hr, crop_border, y_channel, min_size=SSIM_WINDOW)
    per_channel = _ssim_map(a, b).mean(axis=(0, 1))
    return float(per_channel.mean())


# ----------------------------------------------------------------------------------------------------------
# torch: batched, differentiable, no rounding (training-time validation)
# ----------------------------------------------------------------------------------------------------------


def _prepare_torch(
    sr: torch.Tensor,
    hr: torch.Tensor,
    crop_border: int,
    y_channel: bool,
    data_range: float,
    min_size: int = 1,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Validate and shave borders; with ``y_channel`` and three channels return Y on the 0..255 scale.
    Returns ``(sr, hr, peak)`` with ``peak`` the L to measure with (255 for Y, else ``data_range``)."""
    _check_same_shape(tuple(sr.shape), tuple(hr.shape))
    if sr.ndim != 4 or sr.shape[1] not in (1, 3):
        raise ValueError(f"tensors must have shape (B, C, H, W) with C in (1, 3), got {tuple(sr.shape)}")
    if not (sr.is_floating_point() and hr.is_floating_point()):
        raise TypeError(f"tensors must be floating point, got {sr.dtype} and {hr.dtype}")
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    _check_crop(crop_border, sr.shape[2], sr.shape[3], min_size)
    dtype = torch.promote_types(sr.dtype, hr.dtype)
    sr, hr = sr.to(dtype), hr.to(dtype)
    if crop_border:
        sr = sr[:, :, crop_border:-crop_border, crop_border:-crop_border]
        hr = hr[:, :, crop_border:-crop_border, crop_border:-crop_border]
    if y_channel and sr.shape[1] == 3:
        weights = torch.tensor(Y_WEIGHTS, dtype=dtype, device=sr.device).view(1, 3, 1, 1) / data_range
        sr = Y_OFFSET + (sr * weights).sum(dim=1, keepdim=True)
        hr = Y_OFFSET + (hr * weights).sum(dim=1, keepdim=True)
        return sr, hr, PIXEL_MAX
    return sr, hr, float(data_range)


def psnr_torch(
    sr: torch.Tensor,
    hr: torch.Tensor,
    *,
    crop_border: int = 0,
    y_channel: bool = False,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Per-image PSNR in dB of ``(B, C, H, W)`` float tensors with values in ``[0, data_range]``: ``(B,)``.

    Same convention as :func:`psnr` but without rounding to 8 bit, differentiable, computed in the
    promoted input dtype. Without ``y_channel`` (or for ``C == 1``) the peak is ``data_range``; with
    ``y_channel`` RGB is converted to Y on the 0..255 scale (``Y = 16 + 65.481 R + 128.553 G + 24.966 B``
    with RGB rescaled to [0, 1]) and the peak is 255. Identical images give ``inf``.
    """
    a, b, peak = _prepare_torch(sr, hr, crop_border, y_channel, data_range)
    mse = ((a - b) ** 2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(peak * peak / mse)


def ssim_torch(
    sr: torch.Tensor,
    hr: torch.Tensor,
    *,
    crop_border: int = 0,
    y_channel: bool = False,
    data_range: float = 1.0,
) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) of ``(B, C, H, W)`` float tensors in ``[0, data_range]``: ``(B,)``.

    Same window, constants and 'valid' filtering as :func:`ssim`, without rounding to 8 bit,
    differentiable, in the promoted input dtype; L is ``data_range`` (255 on the Y channel, see
    :func:`psnr_torch`). Multi-channel results are the mean of the per-channel SSIMs.
    """
    a, b, peak = _prepare_torch(sr, hr, crop_border, y_channel, data_range, min_size=SSIM_WINDOW)
    channels = a.shape[1]
    g = torch.as_tensor(gaussian_window_1d(), dtype=a.dtype, device=a.device)
    # the five local statistics of every channel go through one grouped, separable 'valid' convolution
    stacked = torch.cat([a, b, a * a, b * b, a * b], dim=1)
    groups = 5 * channels
    kernel_h = g.view(1, 1, -1, 1).expand(groups, 1, -1, 1)
    kernel_w = g.view(1, 1, 1, -1).expand(groups, 1, 1, -1)
    filtered = F.conv2d(F.conv2d(stacked, kernel_h, groups=groups), kernel_w, groups=groups)
    mu_a, mu_b, e_aa, e_bb, e_ab = filtered.split(channels, dim=1)
    c1 = (SSIM_K1 * peak) ** 2
    c2 = (SSIM_K2 * peak) ** 2
    var_a = e_aa - mu_a * mu_a
    var_b = e_bb - mu_b * mu_b
    cov = e_ab - mu_a * mu_b
    num = (2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    return (num / den).mean(dim=(2, 3)).mean(dim=1)
