"""The one LR -> SR path: :class:`Runner` turns a batch of low-resolution images into super-resolved ones
for any registered network, reading only its :class:`~srkit.archs.contract.NetInfo`.

``srkit eval``, ``srkit upscale`` (whole images and tiles), training validation, the tile-size probe and
ONNX export's reference output all call a runner; training feeds batches through :func:`to_net_space`
so a network trains on exactly what the runner gives it.

Per call (``(B, 1|3, h, w)`` in [0, 1] -> ``(B, 1|3, s*h, s*w)`` float32, clamped):

1. colour space (:mod:`srkit.colour`): gray input to an RGB network is replicated to three channels
   and the output averaged back; RGB input to a luminance network (``color == 'y'``: FSRCNN, VDSR) runs
   on Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255 with Cb and Cr upscaled by MATLAB-style float
   bicubic (:func:`srkit.degrade.resize`); gray input to a luminance network is R = G = B;
2. networks that take the upsampled image (``input == 'upsampled'``: VDSR) get the bicubic-upsampled
   image;
3. padding at the bottom and right to ``size_multiple`` (reflection; replication when the image is
   smaller than the pad) and cropping back;
4. autocast in the chosen precision (one the network supports), channels-last when autocasting, with
   the network's ``fp32_modules`` run in float32 (:func:`srkit.archs.speed.fp32_islands`);
5. the forward pass (iterative networks bring a runner subclass with their sampling loop);
6. clamp to [0, 1].
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.contract import NetInfo
from srkit.archs.registry import ARCH_ENTRIES, net_info
from srkit.archs.speed import (
    compile_for_inference,
    fp32_island_modules,
    fp32_islands,
    prepare_for_inference,
)
from srkit.colour import gray_to_y, rgb_to_ycbcr, to_uint8, y_to_gray, ycbcr_to_rgb
from srkit.degrade import resize
from srkit.devices import AUTOCAST_DTYPES, resolve_device, resolve_precision
from srkit.errors import ConfigError, SrkitError


class Upscaler(Protocol):
    """The interface behind ``srkit eval``, ``srkit upscale`` and the API: ``(B, C, h, w)`` in [0, 1] and an
    integer scale -> ``(B, C, s*h, s*w)``. :class:`Runner` (networks) and
    :class:`InterpolationUpscaler` (baselines) implement it."""

    @property
    def name(self) -> str: ...

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


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom and right of ``(B, C, H, W)`` so ``H`` and ``W`` are multiples of ``multiple``:
    reflection, or edge replication where the image is too small to reflect (pad >= size)."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if not pad_h and not pad_w:
        return x
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def to_net_space(
    info: NetInfo, lr: torch.Tensor, hr: torch.Tensor, scale: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A training pair ``(input, target)`` as the network sees it: RGB in [0, 1] converted to Y for
    luminance networks (the target too) and the input bicubic-upsampled by ``scale`` for networks that
    take the upsampled image; RGB networks get the pair unchanged."""
    if info.color == "y" and lr.shape[1] == 3:
        lr, hr = rgb_to_ycbcr(lr)[:, :1], rgb_to_ycbcr(hr)[:, :1]
    if info.input == "upsampled" and scale != 1:
        lr = resize(lr, float(scale), kernel="bicubic")
    return lr, hr


class Runner:
    """A registered network behind the ``(lr, scale) -> sr`` interface (see the module docstring).

    Args:
        model: the network; moved to ``device`` and put in eval mode (and channels-last when
            ``channels_last``).
        name: what messages call the model (default: its arch name).
        device: ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
        precision: ``'fp32'``, ``'bf16'`` or ``'fp16'`` autocast, or ``'auto'`` (see
            :func:`srkit.devices.resolve_precision`); one the network lists in ``info.precisions``.
        channels_last: channels-last memory format for input and network (default: when autocasting).
        optimize: the runner owns ``model`` and may rewrite it for speed without changing its output
            (:func:`srkit.archs.speed.prepare_for_inference`: pixel-shuffle channel reorder with
            channels-last, bf16 weights stored once and out-of-place ReLU when autocasting); what was
            rewritten is :attr:`rewrites`. Leave it off for a network that is still being trained.
        compile: also ``torch.compile`` the optimised network (inductor with weight freezing,
            :func:`srkit.archs.speed.compile_for_inference`; needs ``optimize``). The first call of each
            input shape compiles (seconds); later calls of that shape are faster where inductor's bf16
            convolutions win (AMX CPUs; measured in ``docs/speed.md``), so it pays off for many calls of
            one shape (tiles, a folder of equal-sized images), not for one small image.

    When autocasting, the network's fp32 islands (``fp32_modules``, :attr:`fp32_modules`) run in float32
    with or without ``optimize``: the runner wraps them only for the duration of each call.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        name: str | None = None,
        device: str | torch.device = "auto",
        precision: str = "auto",
        channels_last: bool | None = None,
        optimize: bool = False,
        compile: bool = False,
    ) -> None:
        info = net_info(model)
        self.info = info
        self._name = name if name is not None else info.arch
        if info.in_channels != info.out_channels or info.in_channels not in (1, 3):
            raise ConfigError(
                f"model {self.name}: networks with {info.in_channels} input and {info.out_channels} output "
                "channels are not supported (1 = Y or 3 = RGB, the same in and out)"
            )
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        if self.precision not in info.precisions and str(precision).strip().lower() == "auto":
            # auto picks the fastest precision the network supports: bf16 where the device has it, else fp32
            fast_bf16 = self.device.type == "cuda" and torch.cuda.is_bf16_supported()
            self.precision = "bf16" if fast_bf16 and "bf16" in info.precisions else "fp32"
        if self.precision not in info.precisions:
            raise ConfigError(
                f"model {self.name}: {info.arch} does not run in {self.precision}; "
                f"use --precision {' or '.join(info.precisions)}"
            )
        self.channels_last = self.precision != "fp32" if channels_last is None else channels_last
        model = model.to(self.device).eval()
        if self.channels_last:  # torch's stubs lack Module.to(memory_format=...)
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.rewrites: dict[str, int] = {}
        if optimize:
            dtype = AUTOCAST_DTYPES.get(self.precision)
            self.rewrites = prepare_for_inference(
                model, autocast_dtype=dtype, channels_last=self.channels_last
            )
        self.model = model
        #: The submodules that run in float32 under autocast (the network's ``fp32_modules``; none in
        #: fp32).
        self.fp32_modules: tuple[str, ...] = ()
        self._islands: list[nn.Module] = []
        if self.precision != "fp32":
            self.fp32_modules = tuple(getattr(model, "fp32_modules", ()))
            self._islands = fp32_island_modules(model, self.fp32_modules)
        #: The compiled network (``compile=True``), else None.
        self.compiled: nn.Module | None = None
        if compile:
            if not optimize:
                raise ConfigError(f"model {self.name}: compiling needs a runner that owns the network")
            self.compiled = compile_for_inference(model, self._islands, self.device.type)

    @property
    def name(self) -> str:
        """What messages and reports call the model."""
        return self._name

    @property
    def scale(self) -> int:
        """The network's own factor (1 for networks that take the upsampled image)."""
        return self.info.scale

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of it (tiles are aligned to it)."""
        return self.info.size_multiple

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, arch={self.info.arch!r}, scale={self.scale}, "
            f"device={str(self.device)!r}, precision={self.precision!r})"
        )

    def supports_scale(self, scale: int) -> bool:
        """The network's scales; any integer >= 1 for networks that take the upsampled image."""
        return self.info.supports_scale(scale)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The precision's autocast context with the network's fp32 islands (a no-op for fp32)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return self._reduced_precision()

    @contextlib.contextmanager
    def _reduced_precision(self) -> Iterator[None]:
        device_type = self.device.type
        autocast = torch.autocast(device_type=device_type, dtype=AUTOCAST_DTYPES[self.precision])
        with autocast, fp32_islands(self._islands, device_type):
            yield

    def max_tile(self, scale: int) -> int | None:
        """The largest tile side (input pixels) worth running at ``scale``, whatever the free memory
        (``None``: no limit; networks whose cost grows faster than their pixel count set one)."""
        return None

    def step_tiles(self, tile: int, overlap: int) -> bool:
        """Hand the tiling to the runner: runners whose network runs many times per image (NetInfo's
        ``tiling`` ``'per_step'``: SR3) cut every network call into tiles of ``tile`` input pixels sharing
        ``overlap`` (0: whole image) themselves and return True, and the caller then passes whole images;
        the others return False and the caller tiles (:mod:`srkit.infer.tiling`)."""
        return False

    def network(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        """The network's output for ``x`` in its colour space and at its input size; iterative runners
        override this with their sampling loop."""
        net = self.model if self.compiled is None else self.compiled
        with self.autocast():
            return net(x, scale) if self.info.scale_arg else net(x)

    def _forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        """The network on ``x`` (already in its colour space): upsampling first if it takes the upsampled
        image, padding to ``size_multiple``, cropping back; float32 ``(B, C, scale*h, scale*w)``."""
        if self.info.input == "upsampled" and scale != 1:
            x = resize(x, float(scale), kernel="bicubic")
        h, w = x.shape[-2:]
        factor = scale if self.info.scale_arg else self.scale
        out_h, out_w = h * factor, w * factor
        x = pad_to_multiple(x, self.info.size_multiple)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.network(x, scale)
        if y.shape[-2] < out_h or y.shape[-1] < out_w:
            raise SrkitError(
                f"model {self.name}: the network returned {tuple(y.shape)} for input {tuple(x.shape)}; "
                f"expected at least {out_h}x{out_w}"
            )
        return y[..., :out_h, :out_w].float().contiguous()

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        """Upscale ``lr`` ``(B, 1|3, h, w)`` in [0, 1] by ``scale`` -> ``(B, 1|3, scale*h, scale*w)``."""
        return self.with_luma(lr, scale)[0]

    def with_luma(self, lr: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(sr, luma)``: ``sr`` as :meth:`__call__` returns it and, for a luminance network given RGB,
        the network's own Y output ``(B, 1, H, W)`` in [0, 1] (BT.601 studio range) before it is joined
        with bicubic chroma, else ``None``. Evaluation scores a luminance network on this Y (the convention
        of the VDSR, LapSRN and FSRCNN authors), not on Y re-derived from the rebuilt RGB."""
        if not self.supports_scale(scale):
            raise SrkitError(f"model {self.name}: upscales by {self.info.scales_text()} only, not x{scale}")
        if lr.dim() != 4 or lr.shape[1] not in (1, 3):
            raise SrkitError(
                f"model {self.name}: expected a (B, 1 or 3, H, W) image tensor, got shape {tuple(lr.shape)}"
            )
        channels = lr.shape[1]
        x = lr.to(device=self.device, dtype=torch.float32)
        luma: torch.Tensor | None = None
        with torch.inference_mode():
            if self.info.color == "y" and channels == 3:
                ycbcr = rgb_to_ycbcr(x)
                y = self._forward(ycbcr[:, :1], scale)
                luma = y.clamp(0.0, 1.0)
                chroma = resize(ycbcr[:, 1:], float(scale), kernel="bicubic")
                out = ycbcr_to_rgb(torch.cat([y, chroma], dim=1))
            elif self.info.color == "y":
                out = y_to_gray(self._forward(gray_to_y(x), scale))
            else:
                out = self._run_rgb(x, channels, scale)
            out = out.clamp_(0.0, 1.0)
        return out.to(lr.device), None if luma is None else luma.to(lr.device)

    def _run_rgb(self, x: torch.Tensor, channels: int, scale: int) -> torch.Tensor:
        if channels == 1:
            return self._forward(x.expand(-1, 3, -1, -1), scale).mean(dim=1, keepdim=True)
        return self._forward(x, scale)


def make_runner(
    model: nn.Module,
    *,
    name: str | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
    channels_last: bool | None = None,
    optimize: bool = False,
    compile: bool = False,
) -> Runner:
    """The runner of ``model``'s architecture (its registry entry's, else :class:`Runner`)."""
    info = net_info(model)
    cls = ARCH_ENTRIES[info.arch].runner or Runner
    return cls(
        model,
        name=name,
        device=device,
        precision=precision,
        channels_last=channels_last,
        optimize=optimize,
        compile=compile,
    )
