"""Colour and quantisation conventions of the SR literature, in one place.

- **Luma/chroma: ITU-R BT.601 studio-swing YCbCr** as MATLAB ``rgb2ycbcr`` computes it on a double image:
  ``[Y, Cb, Cr] = offset + M @ [R, G, B]`` with RGB in [0, 1] and the result on the 0..255 scale
  (:data:`YCBCR_MATRIX`, :data:`YCBCR_OFFSET`); ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` lies in
  [16, 235]. Evaluation measures PSNR/SSIM on this Y (unrounded, :func:`rgb_to_y`); luminance networks
  (FSRCNN, VDSR) are fed Y / 255 (:func:`rgb_to_ycbcr`).
- **Quantisation: round half up** (``floor(clip(x, 0, 1) * max + 0.5)``), MATLAB's ``im2uint8`` for
  non-negative values, which is how published SR outputs are saved before they are measured
  (:func:`quantize`, :func:`to_uint8` on tensors in [0, 1]; :func:`quantize_uint8` on arrays in 0..255).

This module depends on nothing but numpy and PyTorch, so every layer of srkit can use it.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "UINT8_MAX",
    "UINT16_MAX",
    "YCBCR_MATRIX",
    "YCBCR_OFFSET",
    "Y_OFFSET",
    "Y_WEIGHTS",
    "gray_to_y",
    "quantize",
    "quantize_uint8",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "to_uint8",
    "y_to_gray",
    "ycbcr_to_rgb",
]

#: ``[Y, Cb, Cr] = YCBCR_OFFSET + YCBCR_MATRIX @ [R, G, B]`` for RGB in [0, 1], result on 0..255.
YCBCR_MATRIX: tuple[tuple[float, float, float], ...] = (
    (65.481, 128.553, 24.966),
    (-37.797, -74.203, 112.0),
    (112.0, -93.786, -18.214),
)
YCBCR_OFFSET: tuple[float, float, float] = (16.0, 128.0, 128.0)
#: The luma row of :data:`YCBCR_MATRIX`; its sum is 219 (the luma excursion).
Y_WEIGHTS: tuple[float, float, float] = YCBCR_MATRIX[0]
#: Black level of the luma (studio swing): Y(black) = 16, Y(white) = 16 + 219 = 235.
Y_OFFSET: float = YCBCR_OFFSET[0]
#: Largest 8-bit and 16-bit levels.
UINT8_MAX = 255
UINT16_MAX = 65535

_FORWARD = torch.tensor(YCBCR_MATRIX, dtype=torch.float64) / 255.0
_INVERSE = torch.linalg.inv(_FORWARD)
_OFFSET = torch.tensor(YCBCR_OFFSET, dtype=torch.float64) / 255.0


# --------------------------------------------------------------------------------------------------
# torch: (B, C, H, W) tensors in [0, 1]
# --------------------------------------------------------------------------------------------------


def _mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 colour matrix to the channel dim of ``(B, 3, H, W)``."""
    return torch.einsum("ij,bjhw->bihw", matrix.to(device=x.device, dtype=x.dtype), x)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB in [0, 1] -> YCbCr (BT.601 studio swing) divided by 255, in [0, 1].

    ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255``; no rounding, no clamping.
    """
    return _mix(_FORWARD, rgb) + _OFFSET.to(device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """The exact inverse of :func:`rgb_to_ycbcr` (no clamping)."""
    offset = _OFFSET.to(device=ycbcr.device, dtype=ycbcr.dtype).view(1, 3, 1, 1)
    return _mix(_INVERSE, ycbcr - offset)


def gray_to_y(gray: torch.Tensor) -> torch.Tensor:
    """Y of a gray image (R = G = B = ``gray``): ``(16 + 219 gray) / 255``."""
    return (16.0 + 219.0 * gray) / 255.0


def y_to_gray(y: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`gray_to_y`."""
    return (255.0 * y - 16.0) / 219.0


def quantize(x: torch.Tensor, maximum: int = UINT8_MAX) -> torch.Tensor:
    """Float tensor in ``[0, 1]`` -> its integer levels ``floor(clip(x, 0, 1) * maximum + 0.5)``, still
    float, in ``x``'s dtype and on its device.

    Round half up after clamping, as MATLAB's ``im2uint8`` (``maximum`` 255) and ``im2uint16`` (65535)
    do for non-negative values. NaN stays NaN; callers that may see NaN replace it first.
    """
    return torch.floor(x.clamp(0, 1) * maximum + 0.5)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float tensor in ``[0, 1]`` -> uint8 tensor of the same shape and device: ``floor(x * 255 + 0.5)``
    after clamping (round half up, as MATLAB's ``im2uint8``, see :func:`quantize`), the quantisation
    ``srkit eval`` and the training data use."""
    return quantize(x, UINT8_MAX).to(torch.uint8)


# --------------------------------------------------------------------------------------------------
# numpy: (H, W, 3) arrays on the 0..255 scale (evaluation)
# --------------------------------------------------------------------------------------------------


def quantize_uint8(img: np.ndarray) -> np.ndarray:
    """Return ``img`` as ``uint8``: integer arrays must already lie in 0..255; float arrays are clipped
    to [0, 255] and rounded half up (``floor(x + 0.5)``, MATLAB's ``uint8()`` for non-negative values).

    Raises ``ValueError`` for non-finite values or integers outside 0..255, ``TypeError`` for other dtypes.
    """
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() > UINT8_MAX):
            raise ValueError(f"integer image values must lie in 0..255, got {arr.min()}..{arr.max()}")
        return arr.astype(np.uint8)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError("image contains non-finite values (NaN or inf)")
        return np.floor(np.clip(arr.astype(np.float64), 0.0, 255.0) + 0.5).astype(np.uint8)
    raise TypeError(f"image dtype must be uint8, integer or float, got {arr.dtype}")


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Luma of an RGB image with values 0..255: ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255``.

    This is MATLAB ``rgb2ycbcr`` (ITU-R BT.601, studio swing) applied to RGB in [0, 1], without the final
    rounding, so the result is float64 in [16, 235]. The input is used as given (no rounding);
    ``(..., 3)`` arrays are accepted and the last axis is reduced, so ``(H, W, 3) -> (H, W)``.
    """
    arr = np.asarray(img)
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise ValueError(f"rgb_to_y expects an (H, W, 3) RGB image, got shape {arr.shape}")
    rgb = arr.astype(np.float64)
    wr, wg, wb = Y_WEIGHTS
    return Y_OFFSET + (wr * rgb[..., 0] + wg * rgb[..., 1] + wb * rgb[..., 2]) / 255.0
