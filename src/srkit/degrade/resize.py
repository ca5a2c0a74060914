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

How a 1-D pass is computed: the contributions (tap indices and weights of every output sample) are
computed once per ``(in_length, out_length, scale, kernel, antialias, device, dtype)`` and cached
(:func:`pass_plan`). The pass then runs over blocks of output rows small enough to stay in cache: one
``index_select`` gathers the input rows of all taps of the block, one multiplication weights them, and
the taps are added in tap order, every product rounded before it is added (no fused multiply-add, no
matrix multiply or ``sum`` whose summation order is unspecified). That is, bit for bit, the arithmetic
of a loop over the taps accumulating ``out += w_k * x[i_k]``, in MATLAB's tap order, on any device. A
width pass runs as a height pass of the transposed image (gathering whole rows is fast, gathering
single elements is not); on the uint8 path the transposes and the intermediate image are uint8, and
the rounding is one add, one clamp and a truncating conversion (:func:`store_rounded_uint8`).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Iterator
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


@dataclass(frozen=True, eq=False)
class PassPlan:
    """The contributions of one 1-D pass laid out for the blocked gather of :func:`_row_pass`.

    ``rows[k, j]`` is the input index of tap ``k`` of output ``j`` and ``weights[k, j, 0]`` its weight
    (``contributions`` transposed to tap-major), on the pass's device and in its working dtype.
    """

    rows: torch.Tensor
    weights: torch.Tensor

    @property
    def taps(self) -> int:
        """Taps per output sample."""
        return int(self.rows.shape[0])

    @property
    def out_length(self) -> int:
        """Output samples of the pass."""
        return int(self.rows.shape[1])


@functools.lru_cache(maxsize=64)
def pass_plan(
    in_length: int,
    out_length: int,
    scale: float,
    kernel: str,
    antialias: bool,
    device: torch.device,
    dtype: torch.dtype,
) -> PassPlan:
    """The :class:`PassPlan` of :func:`contributions` on ``device`` in ``dtype``, cached per argument set.

    The tensors are shared between callers (read-only by convention); :func:`contributions` itself
    returns fresh tensors.
    """
    with torch.inference_mode(False):  # the plan may serve autograd later: no inference tensors
        indices, weights = contributions(in_length, out_length, scale, kernel, antialias)
        rows = indices.t().contiguous().to(device)
        w = weights.t().contiguous().to(device=device, dtype=dtype).unsqueeze(-1)
    return PassPlan(rows, w)


#: Gathered taps per block of a pass on the CPU (4 MB in float64): large enough that the per-call overhead
#: of the block's two dozen tensor operations is small, small enough to stay in the last-level cache
#: (measured in ``benchmarks/resize_speed.py``). Other devices take much larger blocks.
_CPU_BLOCK = 1 << 19
_DEVICE_BLOCK = 1 << 24
#: The largest double below 0.5: ``floor(y + _JUST_BELOW_HALF)`` rounds every double ``0 <= y < 2**52``
#: half away from zero (``y + 0.5`` would round ``0.49999999999999994`` up to 1).
_JUST_BELOW_HALF = 0.49999999999999994


def store_rounded_uint8(acc: torch.Tensor, out: torch.Tensor, scratch: torch.Tensor | None = None) -> None:
    """Write ``clamp(round_half_away(acc), 0, 255)`` into the uint8 tensor ``out``; ``acc`` is clobbered.

    Computed as ``trunc(clamp(acc + _JUST_BELOW_HALF, 0, 255))``, which is exact: rounding commutes with
    clamping to integer bounds, and for ``0 <= y < 2**52`` the float64 sum ``y + _JUST_BELOW_HALF`` never
    rounds across an integer, so its floor is ``y`` rounded half away from zero (a value below 0 adds up
    to less than 0.5 and clamps to 0). The conversion to int32 truncates; int32 -> uint8 then only
    narrows. ``scratch`` (int32, any shape) is reused for the int32 values when given.
    """
    acc.add_(_JUST_BELOW_HALF).clamp_(0.0, 255.0)
    ints = acc.to(torch.int32) if scratch is None else scratch.resize_(acc.shape).copy_(acc)
    out.copy_(ints)


_WORKSPACE = threading.local()
#: Workspace buffers above this size (bytes) are freed after a pass instead of kept for the next one.
_WORKSPACE_KEEP = 64 << 20


def _workspace(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A scratch tensor of ``dtype`` that the caller ``resize_``-s to the shape it needs.

    On the CPU it is kept per thread and dtype between passes: writing into freshly allocated memory
    costs a page fault per 4 KiB, as much as the conversions themselves for a block that fits in cache.
    It is made outside inference mode, so it serves calls inside and outside ``torch.inference_mode()``.
    Other devices get a new tensor (their caching allocators already reuse memory).
    """
    if device.type != "cpu":
        return torch.empty(0, dtype=dtype, device=device)
    buffers: dict[torch.dtype, torch.Tensor] = _WORKSPACE.__dict__.setdefault("buffers", {})
    buf = buffers.get(dtype)
    if buf is None:
        with torch.inference_mode(False):  # an inference tensor could not be written outside that mode
            buf = buffers[dtype] = torch.empty(0, dtype=dtype)
    return buf


def _trim_workspace() -> None:
    """Free this thread's workspace buffers that grew above :data:`_WORKSPACE_KEEP` bytes."""
    buffers: dict[torch.dtype, torch.Tensor] = _WORKSPACE.__dict__.get("buffers", {})
    for dtype in [d for d, b in buffers.items() if b.untyped_storage().nbytes() > _WORKSPACE_KEEP]:
        del buffers[dtype]


def _blocks(n: int, out_length: int, per_block: int) -> Iterator[tuple[slice, slice]]:
    """``(images, outputs)`` slices covering ``(n, out_length)`` with about ``per_block`` output rows
    each: groups of whole images when one image's rows fit, else row ranges of one image."""
    if per_block >= out_length:
        step = per_block // out_length
        for n0 in range(0, n, step):
            yield slice(n0, min(n, n0 + step)), slice(0, out_length)
        return
    for n0 in range(n):
        for j0 in range(0, out_length, per_block):
            yield slice(n0, n0 + 1), slice(j0, min(out_length, j0 + per_block))


def _weighted_taps(
    src: torch.Tensor, rows: torch.Tensor, weights: torch.Tensor, gathered: torch.Tensor, work: torch.Tensor
) -> torch.Tensor:
    """``sum_k weights[k, j] * src[:, rows[k, j]]`` for the ``(n, L, W)`` block ``src``: ``(n, J, W)``.

    One ``index_select`` gathers the input rows of every tap (tap-major) into the buffer ``gathered``
    (``src``'s dtype); they are converted into the buffer ``work`` (the working dtype; the same tensor as
    ``gathered`` when the dtypes agree), multiplied by their weights in one operation and summed in tap
    order: each product is rounded before it is added (no fused multiply-add), the same arithmetic as a
    loop over the taps. The result is a view into ``work`` (or, for a ``src`` that requires grad, into a
    new tensor: the pass stays differentiable).
    """
    n, width = src.shape[0], src.shape[2]
    taps, length = rows.shape
    if src.requires_grad and torch.is_grad_enabled():  # ``out=`` does not support autograd
        g = src.index_select(1, rows.reshape(-1))
    else:
        g = torch.index_select(src, 1, rows.reshape(-1), out=gathered.resize_(n, taps * length, width))
    if work is not gathered:
        g = work.resize_(g.shape).copy_(g)
    products = g.view(n, taps, length, width).mul_(weights)
    acc = products[:, 0]
    for k in range(1, taps):
        acc.add_(products[:, k])
    return acc


def _row_pass(x: torch.Tensor, plan: PassPlan, work_dtype: torch.dtype, to_uint8: bool) -> torch.Tensor:
    """Resize dim 1 of the contiguous ``(N, L, W)`` tensor ``x``: ``(N, plan.out_length, W)``.

    Block by block (:data:`_CPU_BLOCK` gathered taps, so that a block stays in cache), the taps are
    gathered, weighted and summed by :func:`_weighted_taps`. With ``to_uint8`` each block is rounded half
    away from zero and clamped into a uint8 result; otherwise the result has ``work_dtype``.
    """
    n, _, width = x.shape
    taps, out_length = plan.taps, plan.out_length
    out = torch.empty((n, out_length, width), dtype=torch.uint8 if to_uint8 else work_dtype, device=x.device)
    block = _CPU_BLOCK if x.device.type == "cpu" else _DEVICE_BLOCK
    gathered, work, scratch = (_workspace(dtype, x.device) for dtype in (x.dtype, work_dtype, torch.int32))
    for images, outputs in _blocks(n, out_length, max(1, block // (taps * max(1, width)))):
        acc = _weighted_taps(x[images], plan.rows[:, outputs], plan.weights[:, outputs], gathered, work)
        if to_uint8:
            store_rounded_uint8(acc, out[images, outputs], scratch)
        else:
            out[images, outputs].copy_(acc)
    _trim_workspace()
    return out


def _resize_along(x: torch.Tensor, axis: int, plan: PassPlan, work_dtype: torch.dtype) -> torch.Tensor:
    """One 1-D pass over axis ``axis`` (0: height, 1: width) of the ``(N, H, W)`` tensor ``x``.

    The width pass runs as a height pass of the transposed image (whole rows gather fast, single
    elements do not). A uint8 ``x`` gives a uint8 result (the MATLAB uint8 path: rounded after each
    pass); any other gives ``work_dtype``.
    """
    to_uint8 = x.dtype == torch.uint8
    if axis == 1:
        y = _row_pass(x.transpose(1, 2).contiguous(), plan, work_dtype, to_uint8)
        return y.transpose(1, 2).contiguous()
    return _row_pass(x.contiguous(), plan, work_dtype, to_uint8)


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
    y = (x if is_uint8 else x.to(work_dtype)).reshape(-1, *in_hw)
    for axis in resize_dim_order(scales):
        plan = pass_plan(in_hw[axis], out_hw[axis], scales[axis], kernel, antialias, x.device, work_dtype)
        y = _resize_along(y, axis, plan, work_dtype)
    return y.reshape(*x.shape[:-2], *out_hw).to(x.dtype)


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


def center_crop(x: torch.Tensor, side: int | None) -> torch.Tensor | None:
    """The centred ``side x side`` crop of the last two dims of ``x`` (top-left offset rounded down), ``x``
    itself for ``side=None``, or ``None`` when ``x`` is smaller than ``side`` (the centre-crop protocol of
    ``srkit eval --center-crop``, SR3's 64 -> 256 evaluation)."""
    if side is None:
        return x
    height, width = x.shape[-2:]
    if height < side or width < side:
        return None
    top, left = (height - side) // 2, (width - side) // 2
    return x[..., top : top + side, left : left + side]
