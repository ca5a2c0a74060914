"""Upscalers: anything that maps a low-resolution image to a high-resolution one.

An upscaler takes a float tensor ``(B, C, h, w)`` with values in [0, 1] and an integer scale and returns
``(B, C, s*h, s*w)``. ``srkit eval`` and ``srkit upscale`` only talk to this interface, so interpolation
baselines and trained networks are measured the same way.

- :class:`InterpolationUpscaler`: MATLAB-exact interpolation baselines (bicubic, ...).
- :class:`ModelUpscaler`: any srkit network; it adapts gray/RGB input to the network's colour space
  (luminance-only networks run on Y of BT.601 YCbCr with bicubic chroma), upsamples first for networks
  that expect it (VDSR), pads to the network's ``window_multiple`` and picks a precision for the device.
- :func:`load_upscaler`: what ``srkit eval --model`` accepts (kernel names, srkit weight files).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from srkit.degrade import KERNELS, resize
from srkit.errors import ConfigError, SrkitError
from srkit.io.images import to_uint8
from srkit.io.safe_load import CHECKPOINT_SUFFIXES
from srkit.io.thirdparty import load_any_model


class Upscaler(Protocol):
    """The interface every model behind ``srkit eval`` implements."""

    name: str

    def supports_scale(self, scale: int) -> bool: ...

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor: ...


@dataclass(frozen=True)
class InterpolationUpscaler:
    """An interpolation baseline with MATLAB ``imresize`` semantics.

    The low-resolution input is quantised to uint8 and resized on the uint8 path (rounding after each 1-D
    pass), which is what ``imresize(LR, s, 'bicubic')`` on a uint8 image does in the MATLAB scripts behind
    the published bicubic rows of SR tables.
    """

    kernel: str

    @property
    def name(self) -> str:
        return self.kernel

    def supports_scale(self, scale: int) -> bool:
        return scale >= 1

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        lr_u8 = to_uint8(lr)
        return resize(lr_u8, float(scale), kernel=self.kernel).to(lr.dtype) / 255


# --------------------------------------------------------------------------------------------------
# Colour: ITU-R BT.601 studio-swing YCbCr, as MATLAB ``rgb2ycbcr`` and the SR literature use it
# --------------------------------------------------------------------------------------------------

#: ``[Y, Cb, Cr] = (offset + M @ [R, G, B]) / 255`` for RGB in [0, 1]: MATLAB ``rgb2ycbcr`` on a double
#: image, divided by 255 so that Y lies in [16/255, 235/255] (what Y-channel networks such as FSRCNN and
#: VDSR are fed). Y is the luma that :func:`srkit.metrics.rgb_to_y` measures.
YCBCR_MATRIX: tuple[tuple[float, float, float], ...] = (
    (65.481, 128.553, 24.966),
    (-37.797, -74.203, 112.0),
    (112.0, -93.786, -18.214),
)
YCBCR_OFFSET: tuple[float, float, float] = (16.0, 128.0, 128.0)

_FORWARD = torch.tensor(YCBCR_MATRIX, dtype=torch.float64) / 255.0
_INVERSE = torch.linalg.inv(_FORWARD)
_OFFSET = torch.tensor(YCBCR_OFFSET, dtype=torch.float64) / 255.0


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


# --------------------------------------------------------------------------------------------------
# Devices and precision
# --------------------------------------------------------------------------------------------------

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def cpu_has_fast_bf16() -> bool:
    """True when oneDNN is available and the CPU computes bfloat16 natively (AMX tiles or
    AVX512-BF16), i.e. when bf16 autocast is faster than float32 rather than emulated."""
    if not torch.backends.mkldnn.is_available():
        return False
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, probe, None)  # private helpers; absent in some builds
        try:
            if check is not None and check():
                return True
        except Exception:  # a probe that fails means "unknown": fall back to float32
            continue
    return False


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``'auto'`` -> CUDA when available, else the CPU; any other value must name an available device.

    Raises:
        ConfigError: an unparsable device or CUDA asked for where there is none.
    """
    if isinstance(device, str) and device.strip().lower() == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device: {device!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {device!r} asked for, but CUDA is not available here; use cpu or auto")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """The concrete precision (``'fp32'``, ``'bf16'``, ``'fp16'``) for ``precision`` on ``device``.

    ``'auto'``: fp16 autocast on CUDA; bf16 autocast on a CPU with native bf16 (see
    :func:`cpu_has_fast_bf16`); fp32 otherwise.
    """
    key = precision.strip().lower() if isinstance(precision, str) else precision
    if key not in PRECISIONS:
        raise ConfigError(f"precision: {precision!r} is not supported; valid: {', '.join(PRECISIONS)}")
    if key != "auto":
        return key
    if device.type == "cuda":
        return "fp16"
    if device.type == "cpu" and cpu_has_fast_bf16():
        return "bf16"
    return "fp32"


# --------------------------------------------------------------------------------------------------
# Networks as upscalers
# --------------------------------------------------------------------------------------------------


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom and right of ``(B, C, H, W)`` so ``H`` and ``W`` are multiples of ``multiple``:
    reflection, or edge replication where the image is too small to reflect (pad >= size)."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if not pad_h and not pad_w:
        return x
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


class ModelUpscaler:
    """An srkit network (any ``nn.Module`` with srkit's attributes) behind the :class:`Upscaler` interface.

    Per call: the input ``(B, C, h, w)`` (``C`` = 1 gray or 3 RGB, values in [0, 1]) is brought into
    the network's colour space: gray input to an RGB network is replicated to three channels and the
    output averaged back to one; RGB input to a luminance network (``input_space == 'y'``: FSRCNN,
    VDSR) runs the network on Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255 (see
    :func:`rgb_to_ycbcr`), upscales Cb and Cr with bicubic interpolation (MATLAB-style float
    :func:`srkit.degrade.resize`) and converts back to RGB; gray input to a luminance network is
    treated as R = G = B. Networks that expect an upsampled input (``expects_upsampled_input``: VDSR)
    get the bicubic-upsampled image. The input is padded at the bottom and right to a multiple of
    ``window_multiple`` (reflection; replication when the image is smaller than the pad) and the
    output cropped back. The result is clamped to [0, 1], float32, on the input's device.

    Args:
        model: the network; moved to ``device`` and put in eval mode (and channels-last when
            autocasting).
        name: what reports call the model.
        device: ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
        precision: ``'fp32'``, ``'bf16'`` or ``'fp16'`` autocast, or ``'auto'`` (see
            :func:`resolve_precision`).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        name: str,
        device: str | torch.device = "auto",
        precision: str = "auto",
    ) -> None:
        scale = getattr(model, "scale", None)
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            raise ConfigError(f"model {name}: the network has no integer 'scale' attribute")
        in_ch = getattr(model, "in_channels", 3)
        out_ch = getattr(model, "out_channels", in_ch)
        if in_ch != out_ch or in_ch not in (1, 3):
            raise ConfigError(
                f"model {name}: networks with {in_ch} input and {out_ch} output channels are not supported "
                "(1 = Y or 3 = RGB, the same in and out)"
            )
        self.name = name
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.input_space = getattr(model, "input_space", "rgb" if in_ch == 3 else "y")
        self.window_multiple = max(1, int(getattr(model, "window_multiple", 1)))
        self.expects_upsampled_input = bool(getattr(model, "expects_upsampled_input", False))
        self.channels_last = self.precision != "fp32"
        model = model.to(self.device).eval()
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model

    @property
    def scale(self) -> int:
        """The network's own factor (1 for networks that expect upsampled input)."""
        return int(self.model.scale)

    def __repr__(self) -> str:
        return (
            f"ModelUpscaler(name={self.name!r}, arch={getattr(self.model, 'arch_name', '?')!r}, "
            f"scale={self.scale}, device={str(self.device)!r}, precision={self.precision!r})"
        )

    def supports_scale(self, scale: int) -> bool:
        """The network's scale; any integer >= 1 for networks that work on upsampled input."""
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            return False
        return self.expects_upsampled_input or scale == self.scale

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=_AUTOCAST_DTYPES[self.precision])

    def _forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        """The network on ``x`` (already in its colour space): upsampling first if it expects that,
        padding to ``window_multiple``, cropping back; float32 ``(B, C, scale*h, scale*w)``."""
        if self.expects_upsampled_input and scale != 1:
            x = resize(x, float(scale), kernel="bicubic")
        h, w = x.shape[-2:]
        out_h, out_w = h * self.scale, w * self.scale
        x = pad_to_multiple(x, self.window_multiple)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            y = self.model(x)
        if y.shape[-2] < out_h or y.shape[-1] < out_w:
            raise SrkitError(
                f"model {self.name}: the network returned {tuple(y.shape)} for input {tuple(x.shape)}; "
                f"expected at least {out_h}x{out_w}"
            )
        return y[..., :out_h, :out_w].float().contiguous()

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        """Upscale ``lr`` ``(B, 1|3, h, w)`` in [0, 1] by ``scale`` -> ``(B, 1|3, scale*h, scale*w)``."""
        if not self.supports_scale(scale):
            raise SrkitError(f"model {self.name}: upscales by x{self.scale} only, not x{scale}")
        if lr.dim() != 4 or lr.shape[1] not in (1, 3):
            raise SrkitError(
                f"model {self.name}: expected a (B, 1 or 3, H, W) image tensor, got shape {tuple(lr.shape)}"
            )
        channels = lr.shape[1]
        x = lr.to(device=self.device, dtype=torch.float32)
        with torch.inference_mode():
            if self.input_space == "y":
                out = self._run_y(x, channels, scale)
            else:
                out = self._run_rgb(x, channels, scale)
            out = out.clamp_(0.0, 1.0)
        return out.to(lr.device)

    def _run_rgb(self, x: torch.Tensor, channels: int, scale: int) -> torch.Tensor:
        if channels == 1:
            return self._forward(x.expand(-1, 3, -1, -1), scale).mean(dim=1, keepdim=True)
        return self._forward(x, scale)

    def _run_y(self, x: torch.Tensor, channels: int, scale: int) -> torch.Tensor:
        if channels == 1:
            return y_to_gray(self._forward(gray_to_y(x), scale))
        ycbcr = rgb_to_ycbcr(x)
        luma = self._forward(ycbcr[:, :1], scale)
        chroma = resize(ycbcr[:, 1:], float(scale), kernel="bicubic")
        return ycbcr_to_rgb(torch.cat([luma, chroma], dim=1))


# --------------------------------------------------------------------------------------------------
# Resolving --model
# --------------------------------------------------------------------------------------------------


def _weights_file(path: Path, device: str | torch.device, precision: str) -> Upscaler:
    """An srkit weight file or a known third-party checkpoint (:func:`srkit.io.thirdparty.load_any_model`;
    the scale of FSRCNN files comes from their name)."""
    return ModelUpscaler(load_any_model(path), name=path.stem, device=device, precision=precision)


#: Weight-file loaders by suffix: srkit ``.safetensors`` files and third-party checkpoints of known layouts
#: (``.pth``/``.pt``/``.ckpt``/``.bin``, or ``.safetensors`` without srkit metadata), read safely and
#: converted by :mod:`srkit.io.thirdparty`.
CHECKPOINT_LOADERS: dict[str, Callable[[Path, str | torch.device, str], Upscaler]] = dict.fromkeys(
    CHECKPOINT_SUFFIXES, _weights_file
)


def load_upscaler(
    name_or_path: str | Path, *, device: str | torch.device = "auto", precision: str = "auto"
) -> Upscaler:
    """Resolve ``--model`` to an upscaler.

    Accepted, in this order:

    1. an interpolation baseline, named after its kernel (``bicubic``, ``bilinear``, ``nearest``,
       ``area``, ``lanczos3``);
    2. a named model of :data:`srkit.models.MODELS` (e.g. ``edsr-baseline-x4``), resolved to its weight
       file inside the package (a one-line error when the weights are not installed);
    3. a path to a weight file with a suffix in :data:`CHECKPOINT_LOADERS` (an srkit ``.safetensors``
       file, see :mod:`srkit.io.checkpoint`, or a third-party checkpoint of a layout
       :mod:`srkit.io.thirdparty` knows) -> :class:`ModelUpscaler` named after the
       file stem, on ``device`` with ``precision``.

    Raises:
        SrkitError: one line: a weight file that cannot be loaded (naming the file and why), or
            anything else (listing what is accepted).
    """
    text = str(name_or_path).strip()
    key = text.lower()
    if key in KERNELS:
        return InterpolationUpscaler(key)
    from srkit.models import find_model, model_weights

    if find_model(key) is not None:  # named models shipped with srkit, before paths
        weights = model_weights(key)
        return CHECKPOINT_LOADERS[weights.suffix.lower()](weights, device, precision)
    path = Path(text).expanduser()
    loader = CHECKPOINT_LOADERS.get(path.suffix.lower())
    if loader is not None:
        return loader(path, device, precision)
    accepted = (
        f"an interpolation baseline ({', '.join(KERNELS)}) or a path to a weights file "
        f"({', '.join(CHECKPOINT_LOADERS)})"
    )
    if path.is_file():
        raise ConfigError(
            f"{text}: unsupported model file type {path.suffix or '(none)'!r}; accepted: {accepted}"
        )
    raise ConfigError(f"model: unknown model {text!r}; accepted: {accepted}")
