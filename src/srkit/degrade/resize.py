"""MATLAB-compatible image resizing (``imresize`` semantics) in pure PyTorch.

Convention followed: MATLAB Image Processing Toolbox ``imresize`` (as used to make the standard
super-resolution benchmarks' LR images):

- output size ``ceil(scale * in)`` per dimension unless an explicit ``size`` is given (then
  ``scale = out / in`` per dimension);
- centred sampling grid: output pixel ``x`` (1-based) samples input position
  ``u = x / scale + 0.5 * (1 - 1 / scale)``, so HR and LR pixel centres are aligned with no
  half-pixel shift;
- when downscaling with antialiasing the kernel is stretched by ``1 / scale`` (``h(t) = s * k(s t)``,
  support widened by ``1 / s``);
- taps falling outside the image are mirrored with edge repetition (MATLAB ``'symmetric'``);
- the weights of every output sample are normalised to sum to 1;
- the dimension with the smallest scale is resized first; ties resize rows (height) first;
- ``uint8`` images: every 1-D pass is computed in float64 and then rounded half away from zero and
  clamped to ``[0, 255]``; float images are neither rounded nor clamped.

Kernels: ``bicubic`` (Keys cubic, ``a = -0.5``, MATLAB ``'cubic'``), ``bilinear`` (triangle),
``nearest`` (box of width 1, never antialiased, as in MATLAB), ``area`` (box, antialiased: block
averaging for integer downscale factors) and ``lanczos3`` (Lanczos window, ``a = 3``).

Every 1-D pass is a loop over the kernel taps, each a ``index_select`` plus a multiply-add, so it runs
unchanged on any device and sums the taps in the same order as MATLAB.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import overload

import numpy as np
import torch

from srkit.errors import ConfigError

KERNELS: tuple[str, ...] = ("bicubic", "bilinear", "nearest", "area", "lanczos3")

KernelFn = Callable[[torch.Tensor], torch.Tensor]


def cubic(t: torch.Tensor) -> torch.Tensor:
    """Keys (1981) cubic convolution kernel with ``a = -0.5`` (MATLAB ``'cubic'``), support ``[-2, 2]``."""
    a = torch.abs(t)
    a2 = a * a
    a3 = a2 * a
    inner = 1.5 * a3 - 2.5 * a2 + 1.0
    outer = -0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0
    zero = torch.zeros_like(t)
    return torch.where(a <= 1.0, inner, torch.where(a <= 2.0, outer, zero))


def triangle(t: torch.Tensor) -> torch.Tensor:
    """Triangle (linear interpolation) kernel ``max(0, 1 - |t|)``, support ``[-1, 1]``."""
    return torch.clamp(1.0 - torch.abs(t), min=0.0)


def box(t: torch.Tensor) -> torch.Tensor:
    """Box kernel, 1 on the half-open interval ``[-0.5, 0.5)`` and 0 elsewhere (MATLAB ``'box'``)."""
    return ((t >= -0.5) & (t < 0.5)).to(t.dtype)


def lanczos3(t: torch.Tensor) -> torch.Tensor:
    """Lanczos kernel with ``a = 3``: ``sinc(t) * sinc(t / 3)`` for ``|t| < 3``, else 0.

    ``sinc`` is the normalised sinc ``sin(pi t) / (pi t)`` with ``sinc(0) = 1``.
    """
    inside = torch.abs(t) < 3.0
    return torch.where(inside, torch.sinc(t) * torch.sinc(t / 3.0), torch.zeros_like(t))


@dataclass(frozen=True)
class KernelSpec:
    """A resampling kernel: its function, its support width (in input pixels at scale 1) and whether
    it may be widened for antialiasing when downscaling."""

    fn: KernelFn
    width: float
    antialias: bool


_KERNEL_SPECS: dict[str, KernelSpec] = {
    "bicubic": KernelSpec(cubic, 4.0, True),
    "bilinear": KernelSpec(triangle, 2.0, True),
    "nearest": KernelSpec(box, 1.0, False),
    "area": KernelSpec(box, 1.0, True),
    "lanczos3": KernelSpec(lanczos3, 6.0, True),
}


def get_kernel(kernel: str) -> KernelSpec:
    """The :class:`KernelSpec` named ``kernel``; :class:`ConfigError` naming it and the valid names."""
    try:
        return _KERNEL_SPECS[kernel]
    except (KeyError, TypeError):
        raise ConfigError(
            f"kernel: unknown resize kernel {kernel!r}; valid kernels: {', '.join(KERNELS)}"
        ) from None


def contributions(
    in_length: int, out_length: int, scale: float, kernel: str, antialias: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tap indices and weights of a 1-D MATLAB-style resize, computed in float64 on the CPU.

    Returns ``(indices, weights)``, both of shape ``(out_length, taps)``: output sample ``j``
    (0-based) is ``sum_k weights[j, k] * input[indices[j, k]]``. Indices are 0-based and already
    mirrored into ``[0, in_length)`` (MATLAB ``'symmetric'`` padding); every row of ``weights`` sums
    to 1. Taps whose weight is zero for every output are dropped, as MATLAB does.
    """
    spec = get_kernel(kernel)
    if in_length < 1 or out_length < 1:
        raise ConfigError(f"size: resize lengths must be positive, got {in_length} -> {out_length}")
    if not scale > 0:
        raise ConfigError(f"scale: resize scale must be positive, got {scale}")
    widen = scale < 1.0 and antialias and spec.antialias
    width = spec.width / scale if widen else spec.width
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # 1-based input coordinate of each output sample
    left = torch.floor(u - width / 2.0)
    taps = math.ceil(width) + 2
    idx = left.unsqueeze(1) + torch.arange(taps, dtype=torch.float64).unsqueeze(0)  # 1-based
    dist = u.unsqueeze(1) - idx
    weights = scale * spec.fn(scale * dist) if widen else spec.fn(dist)
    weights = weights / weights.sum(dim=1, keepdim=True)
    indices = mirror_indices(idx.to(torch.int64) - 1, in_length)
    keep = torch.any(weights != 0, dim=0)
    return indices[:, keep].contiguous(), weights[:, keep].contiguous()


def mirror_indices(idx: torch.Tensor, length: int) -> torch.Tensor:
    """Map 0-based indices into ``[0, length)`` by symmetric reflection with edge repetition
    (``... 1 0 | 0 1 ... n-1 | n-1 n-2 ...``), i.e. MATLAB ``padarray(..., 'symmetric')``."""
    period = 2 * length
    m = torch.remainder(idx, period)
    return torch.where(m < length, m, period - 1 - m)


def output_length(in_length: int, scale: float) -> int:
    """MATLAB's output length ``ceil(scale * in_length)``.

    A product within ``1e-9`` (relative) of an integer counts as that integer, so that e.g.
    ``(1 / 3) * 510`` gives 170 whatever the last bit of the floating-point product.
    """
    exact = scale * in_length
    nearest = round(exact)
    if abs(exact - nearest) <= 1e-9 * max(1.0, abs(exact)):
        return max(1, int(nearest))
    return max(1, math.ceil(exact))


def round_half_away(x: torch.Tensor) -> torch.Tensor:
    """Round half away from zero (MATLAB ``round``), exact for every float value."""
    whole = torch.trunc(x)
    frac = x - whole
    return whole + torch.sign(x) * (torch.abs(frac) >= 0.5).to(x.dtype)


def _resolve_scales(
    in_hw: tuple[int, int],
    scale: float | tuple[float, float] | None,
    size: tuple[int, int] | None,
) -> tuple[tuple[float, float], tuple[int, int]]:
    """Per-dimension ``(scale_h, scale_w)`` and output ``(H, W)`` from either ``scale`` or ``size``."""
    if scale is None and size is not None:
        out_h, out_w = (int(v) for v in size)
        if out_h < 1 or out_w < 1:
            raise ConfigError(f"size: output size must be positive, got {tuple(size)}")
        return (out_h / in_hw[0], out_w / in_hw[1]), (out_h, out_w)
    if scale is None or size is not None:
        raise ConfigError("resize: give exactly one of scale and size")
    sh, sw = (float(scale), float(scale)) if isinstance(scale, (int, float)) else (float(v) for v in scale)
    if not (sh > 0 and sw > 0 and math.isfinite(sh) and math.isfinite(sw)):
        raise ConfigError(f"scale: resize scale must be positive and finite, got {scale}")
    return (sh, sw), (output_length(in_hw[0], sh), output_length(in_hw[1], sw))


def resize_dim_order(scales: tuple[float, float]) -> tuple[int, int]:
    """MATLAB's pass order: indices into ``(H, W)`` sorted by scale, stable (height first on ties)."""
    return (1, 0) if scales[1] < scales[0] else (0, 1)


def _resize_along(x: torch.Tensor, dim: int, indices: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """One 1-D pass along ``dim``: accumulate ``weights[:, k] * x[indices[:, k]]`` tap by tap.

    The last dim is resized as the second-to-last of a transposed contiguous copy, which gathers whole
    rows and is faster. Each tap is multiplied and then added (no fused multiply-add), in tap order.
    """
    if dim == x.dim() - 1:
        y = _resize_along(x.transpose(-1, -2).contiguous(), dim - 1, indices, weights)
        return y.transpose(-1, -2).contiguous()
    shape = [1] * x.dim()
    shape[dim] = weights.shape[0]
    idx = indices.to(x.device)
    w = weights.to(device=x.device, dtype=x.dtype)
    out = x.index_select(dim, idx[:, 0]).mul_(w[:, 0].reshape(shape))
    for k in range(1, idx.shape[1]):
        out.add_(x.index_select(dim, idx[:, k]).mul_(w[:, k].reshape(shape)))
    return out


def resize(
    x: torch.Tensor,
    scale: float | tuple[float, float] | None = None,
    *,
    size: tuple[int, int] | None = None,
    kernel: str = "bicubic",
    antialias: bool = True,
) -> torch.Tensor:
    """Resize the last two dims ``(H, W)`` of ``x`` like MATLAB ``imresize`` (see module docstring).

    ``x`` is ``(H, W)``, ``(C, H, W)`` or ``(B, C, H, W)`` on any device. ``scale`` is one factor or
    ``(scale_h, scale_w)``; alternatively ``size = (H_out, W_out)``. Float tensors are resized in
    their own precision (float16/bfloat16 in float32) and returned in the input dtype with no
    clamping or rounding; ``uint8`` tensors follow MATLAB's uint8 path (float64 passes, each rounded
    half away from zero and clamped to ``[0, 255]``) and come back as ``uint8``.
    """
    get_kernel(kernel)
    if x.dim() not in (2, 3, 4):
        raise ConfigError(
            f"resize: expected a (H,W), (C,H,W) or (B,C,H,W) tensor, got shape {tuple(x.shape)}"
        )
    is_uint8 = x.dtype == torch.uint8
    if not is_uint8 and not x.is_floating_point():
        raise ConfigError(f"resize: unsupported dtype {x.dtype}; use uint8 or a float dtype")
    in_hw = (int(x.shape[-2]), int(x.shape[-1]))
    scales, out_hw = _resolve_scales(in_hw, scale, size)
    if is_uint8:
        work_dtype = torch.float64
    elif x.dtype in (torch.float32, torch.float64):
        work_dtype = x.dtype
    else:
        work_dtype = torch.float32
    y = x.to(work_dtype)
    for axis in resize_dim_order(scales):
        indices, weights = contributions(in_hw[axis], out_hw[axis], scales[axis], kernel, antialias)
        y = _resize_along(y, x.dim() - 2 + axis, indices, weights)
        if is_uint8:
            y = torch.clamp(round_half_away(y), 0.0, 255.0)
    return y.to(x.dtype)


@overload
def mod_crop(x: torch.Tensor, scale: int) -> torch.Tensor: ...
@overload
def mod_crop(x: np.ndarray, scale: int) -> np.ndarray: ...
def mod_crop(x: torch.Tensor | np.ndarray, scale: int) -> torch.Tensor | np.ndarray:
    """Crop height and width down to multiples of ``scale``, keeping the top-left corner.

    Convention: tensors are ``(..., H, W)`` (last two dims); NumPy arrays are ``(H, W)`` or
    ``(H, W, C)`` (first two dims), as in the usual SR evaluation ``modcrop``. Returns a view.
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ConfigError(f"scale: mod_crop needs a positive integer scale, got {scale!r}")
    if x.ndim < 2:
        raise ConfigError(f"mod_crop: expected at least 2 dims, got shape {tuple(x.shape)}")
    if isinstance(x, torch.Tensor):
        h, w = int(x.shape[-2]), int(x.shape[-1])
        return x[..., : h - h % scale, : w - w % scale]
    h, w = int(x.shape[0]), int(x.shape[1])
    return x[: h - h % scale, : w - w % scale, ...]
