"""Pixel conversions between srkit's float tensors (``(C, H, W)`` in ``[0, 1]``) and integer arrays
(``(H, W[, C])`` uint8/uint16), rounding as :mod:`srkit.colour` defines (round half up, MATLAB's
``im2uint8``)."""

from __future__ import annotations

import numpy as np
import torch

from srkit.colour import UINT8_MAX, UINT16_MAX, quantize

__all__ = ["composite_over", "image_to_uint8", "image_to_uint16", "uint8_to_tensor"]


def _quantize(pixels: torch.Tensor, maximum: int) -> torch.Tensor:
    """:func:`srkit.colour.quantize` of a float32 CPU copy of ``pixels``, NaN counted as 0."""
    return quantize(torch.nan_to_num(pixels.detach().to("cpu", torch.float32), nan=0.0), maximum)


def _chw_to_hwc(arr: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` -> ``(H, W, C)``, or ``(H, W)`` when C == 1."""
    return arr[0] if arr.shape[0] == 1 else np.ascontiguousarray(arr.transpose(1, 2, 0))


def _check_chw(pixels: torch.Tensor) -> None:
    if pixels.dim() != 3:
        raise ValueError(f"expected a (C, H, W) tensor, got shape {tuple(pixels.shape)}")


def image_to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """Float ``(C, H, W)`` in ``[0, 1]`` -> uint8 ``(H, W, C)``, or ``(H, W)`` when C == 1.

    Values are clipped to ``[0, 1]`` and rounded half up: ``floor(x * 255 + 0.5)`` (in float32).
    """
    _check_chw(pixels)
    return _chw_to_hwc(_quantize(pixels, UINT8_MAX).to(torch.uint8).numpy())


def image_to_uint16(pixels: torch.Tensor) -> np.ndarray:
    """Float ``(C, H, W)`` in ``[0, 1]`` -> uint16 ``(H, W, C)`` / ``(H, W)``, ``floor(x * 65535 + 0.5)``."""
    _check_chw(pixels)
    return _chw_to_hwc(_quantize(pixels, UINT16_MAX).numpy().astype(np.uint16))


def hwc_to_tensor(arr: np.ndarray, maximum: float) -> torch.Tensor:
    """``(H, W)`` or ``(H, W, C)`` array -> float32 ``(C, H, W)`` tensor divided by ``maximum`` (the
    integer maximum, or 1.0 for float samples already in [0, 1])."""
    chw = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    return torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32)).div_(float(maximum))


def uint8_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W)`` or ``(H, W, C)`` -> float32 ``(C, H, W)`` tensor in ``[0, 1]`` (value / 255)."""
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 (H, W) or (H, W, C) array, got {arr.dtype} {arr.shape}")
    return hwc_to_tensor(arr, UINT8_MAX)


def planes_to_ints(planes: torch.Tensor, depth: int) -> np.ndarray:
    """Float ``(C, H, W)`` -> contiguous uint8 (``depth`` 8) or uint16 (16) ``(H, W, C)``, rounded as
    :func:`image_to_uint8` rounds."""
    data = (
        _quantize(planes, UINT16_MAX if depth == 16 else UINT8_MAX)
        .numpy()
        .astype(np.uint16 if depth == 16 else np.uint8)
    )
    return np.ascontiguousarray(data.transpose(1, 2, 0))


# Elements converted at a time when a uint16 array is reduced to 8 bits (bounds the uint32 scratch).
_CONVERT_BLOCK = 1 << 18


def array_to_depth(arr: np.ndarray, depth: int) -> np.ndarray:
    """uint8/uint16 ``(H, W[, C])`` -> ``(H, W, C)`` of ``depth`` bits without any float copy.

    The values are those of the float path (``value / max``, then ``floor(x * new_max + 0.5)``), computed
    exactly in integers: uint8 -> uint16 is ``v * 257``; uint16 -> uint8 is ``floor(v / 257 + 0.5)``
    (``v / 257`` is never exactly halfway, so float rounding cannot differ). Same-depth input is returned
    as is (a view); a conversion makes one array of the new depth (plus a small scratch block).
    """
    data = arr[..., None] if arr.ndim == 2 else arr
    if depth == 16 and data.dtype == np.uint8:
        wide = data.astype(np.uint16)
        wide *= 257
        return wide
    if depth == 8 and data.dtype == np.uint16:
        narrow = np.empty(data.shape, dtype=np.uint8)
        rows = max(1, _CONVERT_BLOCK // max(1, data.shape[1] * data.shape[2]))
        for start in range(0, data.shape[0], rows):
            block = data[start : start + rows].astype(np.uint32)
            block += 128
            block //= 257
            narrow[start : start + rows] = block
        return narrow
    return data


def composite_over(data: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """uint8/uint16 ``(H, W, C)`` with alpha last (C = 2 or 4) composited over the 8-bit colour
    ``background``: ``(H, W, C - 1)`` of the same dtype, or RGB when gray meets a colour that is not
    gray. Each value is ``round(v * a + b * (1 - a))`` (half up), computed exactly in integers, a block of
    rows at a time (no full-size float copy)."""
    if data.ndim != 3 or data.shape[2] not in (2, 4):
        raise ValueError(f"expected (H, W, 2) or (H, W, 4) with alpha last, got shape {data.shape}")
    peak = UINT16_MAX if data.dtype == np.uint16 else UINT8_MAX
    colours = 1 if data.shape[2] == 2 and len(set(background)) == 1 else 3
    scale = 257 if data.dtype == np.uint16 else 1
    under = np.array(background[:colours], dtype=np.uint64) * scale
    out = np.empty((*data.shape[:2], colours), dtype=data.dtype)
    rows = max(1, _CONVERT_BLOCK // max(1, data.shape[1] * data.shape[2]))
    for start in range(0, data.shape[0], rows):
        block = data[start : start + rows].astype(np.uint64)
        alpha = block[..., -1:]
        colour = block[..., :-1]
        mixed = colour * alpha + under * (peak - alpha) + peak // 2
        out[start : start + rows] = mixed // peak
    return out
