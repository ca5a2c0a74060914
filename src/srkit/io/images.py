"""Image files in and out: PNG, JPEG, WebP, TIFF and BMP as float tensors, written back faithfully.

Reading gives an :class:`Image`: colour as a float32 ``(C, H, W)`` tensor in ``[0, 1]`` (C = 1 or 3),
alpha as a separate ``(1, H, W)`` tensor, and an :class:`ImageInfo` holding what is needed to write the
image back (bit depth, ICC profile, EXIF without orientation, dpi).

Design notes:

- Only PNG, JPEG, WebP, TIFF and BMP are decoded; the format comes from the file's signature, not its
  suffix. The pixel limit is checked on the header before any pixel is decoded. PIL's own
  decompression-bomb check runs in ``PIL.Image.open``, which this module bypasses by calling the
  registered plugin factories directly. Pillow repeats the check inside its TIFF and WebP plugins, so for
  images beyond Pillow's own limit (~89 Mpx by default) ``PIL.Image.MAX_IMAGE_PIXELS`` is raised to our
  limit for the duration of the read, under a lock, and restored; smaller images touch no PIL global.
- Pillow keeps 16-bit gray (``I;16``) but reduces 16-bit RGB, RGBA and gray+alpha to 8 bits. For those
  files the data is decoded by Pillow's own decoder twice with byte-swapped raw modes (once giving the
  high bytes, once the low bytes) and recombined, so no extra dependency is needed. Pillow cannot write
  them either, so 16-bit PNG and TIFF files are written by the small numpy encoders in this module.
- Every failure is one :class:`~srkit.errors.ImageError` naming the file and the reason.
"""

from __future__ import annotations

import contextlib
import io
import math
import numbers
import os
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from PIL import (
    BmpImagePlugin,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
    features,
)
from PIL import Image as PILImage

from srkit.errors import ImageError
from srkit.io.atomic import atomic_open

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS_ENV",
    "Image",
    "ImageInfo",
    "image_to_uint8",
    "image_to_uint16",
    "is_image_file",
    "read_image",
    "resolve_max_pixels",
    "uint8_to_tensor",
    "write_image",
]

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
DEFAULT_MAX_PIXELS: int = 20000 * 20000
MAX_PIXELS_ENV = "SRKIT_MAX_PIXELS"

_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP")
# Importing a plugin registers it in PIL.Image.OPEN; only these formats are ever decoded.
_PLUGINS = (PngImagePlugin, JpegImagePlugin, WebPImagePlugin, TiffImagePlugin, BmpImagePlugin)
_FORMAT_NAMES = "PNG, JPEG, WebP, TIFF or BMP"
#: File suffix -> the format srkit writes for it.
SUFFIX_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "MPO": "JPEG"}
_SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")
_EXIF_FORMATS = ("PNG", "JPEG", "WEBP")
_EXIF_PREFIX = b"Exif\x00\x00"
_ORIENTATION_TAG = 0x0112
_GRAY16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# 16-bit colour raw modes whose high and low bytes can be decoded separately (see _decode_split16).
_SPLIT16_BASES = ("RGB", "RGBA", "RGBX")
_PIL_LIMIT_LOCK = threading.RLock()
# Errors that Pillow, zlib and struct raise on corrupt, truncated or unsupported data.
_CODEC_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    IndexError,
    KeyError,
    TypeError,
    MemoryError,
)


@dataclass
class ImageInfo:
    """What is known about an image file; enough to write the image back faithfully.

    ``mode`` is the original PIL mode (``'P'``, ``'CMYK'``, ``'I;16'``...) even though the pixels are
    always gray or RGB. ``exif`` holds the raw EXIF block (``b"Exif\\0\\0"`` prefix) with the orientation
    tag removed, as the pixels are already upright; ``orientation`` is the EXIF orientation that was
    applied (1 = none). ``dpi`` is ``(x, y)`` when the file states it.
    """

    path: str | None
    format: str | None
    mode: str
    bit_depth: int
    has_alpha: bool
    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None
    orientation: int = 1


@dataclass
class Image:
    """Decoded pixels: ``pixels`` float32 ``(C, H, W)`` in ``[0, 1]`` with C = 1 (gray) or 3 (RGB), never
    alpha; ``alpha`` float32 ``(1, H, W)`` or ``None``; ``info`` describes the source file."""

    pixels: torch.Tensor
    alpha: torch.Tensor | None
    info: ImageInfo

    def __post_init__(self) -> None:
        if self.pixels.dim() != 3 or self.pixels.shape[0] not in (1, 3):
            raise ValueError(
                f"Image.pixels must be (C, H, W) with C = 1 or 3, got {tuple(self.pixels.shape)}"
            )
        if self.alpha is not None and tuple(self.alpha.shape) != (1, *self.pixels.shape[1:]):
            want, got = (1, *self.pixels.shape[1:]), tuple(self.alpha.shape)
            raise ValueError(f"Image.alpha must have shape (1, H, W) = {want}, got {got}")

    @classmethod
    def from_tensor(
        cls, pixels: torch.Tensor, alpha: torch.Tensor | None = None, *, bit_depth: int = 8
    ) -> Image:
        """Wrap ``(C, H, W)`` colour (and optional ``(1, H, W)`` alpha) with default metadata."""
        mode = ("L" if pixels.shape[0] == 1 else "RGB") + ("A" if alpha is not None else "")
        info = ImageInfo(path=None, format=None, mode=mode, bit_depth=bit_depth, has_alpha=alpha is not None)
        return cls(pixels=pixels, alpha=alpha, info=info)

    @property
    def height(self) -> int:
        """Rows of pixels."""
        return int(self.pixels.shape[1])

    @property
    def width(self) -> int:
        """Columns of pixels."""
        return int(self.pixels.shape[2])

    @property
    def channels(self) -> int:
        """Colour channels (1 or 3), alpha not counted."""
        return int(self.pixels.shape[0])

    @property
    def is_gray(self) -> bool:
        """True for one-channel (grayscale) images."""
        return self.channels == 1


# --------------------------------------------------------------------------------------------------
# Pixel conversions
# --------------------------------------------------------------------------------------------------


def _quantize(pixels: torch.Tensor, maximum: int) -> torch.Tensor:
    """``floor(clip(x, 0, 1) * maximum + 0.5)`` as float32; NaN becomes 0."""
    x = torch.nan_to_num(pixels.detach().to("cpu", torch.float32), nan=0.0)
    return torch.floor(x.clamp(0.0, 1.0) * maximum + 0.5)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float tensor in ``[0, 1]`` -> uint8 tensor of the same shape and device: ``floor(x * 255 + 0.5)``
    after clamping (round half up, as MATLAB's ``im2uint8``), the quantisation ``srkit eval`` and the
    training data use."""
    return torch.floor(x.clamp(0, 1) * 255 + 0.5).to(torch.uint8)


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
    return _chw_to_hwc(_quantize(pixels, 255).to(torch.uint8).numpy())


def image_to_uint16(pixels: torch.Tensor) -> np.ndarray:
    """Float ``(C, H, W)`` in ``[0, 1]`` -> uint16 ``(H, W, C)`` / ``(H, W)``, ``floor(x * 65535 + 0.5)``."""
    _check_chw(pixels)
    return _chw_to_hwc(_quantize(pixels, 65535).numpy().astype(np.uint16))


def _hwc_to_tensor(arr: np.ndarray, maximum: int) -> torch.Tensor:
    """``(H, W)`` or ``(H, W, C)`` integer array -> float32 ``(C, H, W)`` tensor divided by ``maximum``."""
    chw = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
    return torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32)).div_(float(maximum))


def uint8_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W)`` or ``(H, W, C)`` -> float32 ``(C, H, W)`` tensor in ``[0, 1]`` (value / 255)."""
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 (H, W) or (H, W, C) array, got {arr.dtype} {arr.shape}")
    return _hwc_to_tensor(arr, 255)


def is_image_file(path: str | Path) -> bool:
    """True when ``path`` has one of :data:`IMAGE_SUFFIXES` (case-insensitive); the file is not opened."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


@dataclass
class _Decoded:
    """Upright integer pixels ``(H, W, C)`` straight from the file; the last channel is alpha if flagged."""

    data: np.ndarray
    has_alpha: bool
    bit_depth: int
    from_cmyk: bool = False
    mode: str | None = None  # source mode when Pillow's differs (16-bit colour data)


def _one_line(exc: BaseException) -> str:
    """An exception as one short line of text."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def resolve_max_pixels(max_pixels: int | None, path: str | Path = "<image>") -> int:
    """The pixel limit: ``max_pixels`` if given, else ``$SRKIT_MAX_PIXELS``, else ``DEFAULT_MAX_PIXELS``."""
    if max_pixels is not None:
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
            raise ImageError(path, f"max_pixels must be a positive integer, got {max_pixels!r}")
        return max_pixels
    env = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not env:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(env)
    except ValueError:
        value = 0
    if value <= 0:
        raise ImageError(path, f"{MAX_PIXELS_ENV}={env!r} is not a positive integer")
    return value


def _check_file(path: Path) -> None:
    """Fail early, with a clear reason, for paths that cannot hold an image."""
    if path.is_dir():
        raise ImageError(path, "is a directory, not an image file")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except OSError as exc:
        raise ImageError(path, f"cannot access file ({_one_line(exc)})") from exc
    if size == 0:
        raise ImageError(path, "file is empty (0 bytes)")


def _plugin(name: str) -> tuple[Callable[..., PILImage.Image] | None, Callable[[bytes], Any] | None]:
    """The registered ``(factory, accept)`` pair of a Pillow format; JPEG uses the plain JPEG class so that
    multi-picture (MPO) files are read as their first picture without MPO's frame scanning."""
    factory, accept = PILImage.OPEN.get(name, (None, None))
    return (JpegImagePlugin.JpegImageFile if name == "JPEG" and factory else factory), accept


def _open_lazy(fp: IO[bytes], path: Path, limit: int) -> PILImage.Image:
    """Identify the format and parse the header only; no pixel is decoded and ``PIL.Image.open``'s
    decompression-bomb check does not run (WebP's own early check is matched to ``limit``)."""
    prefix = fp.read(16)
    for name in _FORMATS:
        factory, accept = _plugin(name)
        if factory is None or (accept is not None and not accept(prefix)):
            continue
        try:
            try:
                fp.seek(0)
                return factory(fp, str(path))
            except PILImage.DecompressionBombError:
                fp.seek(0)
                with _pil_limit(limit):
                    return factory(fp, str(path))
        except PILImage.DecompressionBombError as exc:
            raise ImageError(
                path, f"image has more pixels than the limit of {limit} ({_one_line(exc)})"
            ) from exc
        except _CODEC_ERRORS as exc:
            raise ImageError(path, f"corrupt or truncated {name} header ({_one_line(exc)})") from exc
    raise ImageError(path, f"not a {_FORMAT_NAMES} image (unrecognised file signature)")


@contextlib.contextmanager
def _pil_limit(limit: int) -> Iterator[None]:
    """Raise ``PIL.Image.MAX_IMAGE_PIXELS`` to ``limit`` for the duration (never lower it).

    Pillow still runs its bomb check inside the TIFF and WebP plugins, against this process-wide value.
    This is the one place where a PIL global is touched; callers enter it only for images larger than
    Pillow's own limit, under a lock, and the previous value is restored on exit.
    """
    with _PIL_LIMIT_LOCK:
        saved = PILImage.MAX_IMAGE_PIXELS
        if saved is not None and saved < limit:
            PILImage.MAX_IMAGE_PIXELS = limit
        try:
            yield
        finally:
            PILImage.MAX_IMAGE_PIXELS = saved


def _pil_limit_if_needed(size: tuple[int, int], limit: int) -> contextlib.AbstractContextManager[None]:
    """:func:`_pil_limit` when Pillow would warn about an image of ``size``; otherwise a no-op."""
    pil_max = PILImage.MAX_IMAGE_PIXELS
    if pil_max is not None and size[0] * size[1] > pil_max:
        return _pil_limit(limit)
    return contextlib.nullcontext()


def _check_pixel_limit(size: tuple[int, int], limit: int, path: Path) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(path, f"invalid image size {width}x{height}")
    if width * height > limit:
        raise ImageError(
            path,
            f"image is {width}x{height} = {width * height} pixels, more than the limit of {limit} "
            f"(raise it with max_pixels or {MAX_PIXELS_ENV})",
        )


def _load(im: PILImage.Image, path: Path) -> None:
    """Decode the pixel data, turning decoder failures into one ``ImageError``."""
    try:
        im.load()
    except _CODEC_ERRORS as exc:
        raise ImageError(
            path, f"cannot decode {im.format} data, file truncated or corrupt ({_one_line(exc)})"
        ) from exc


def _orientation(im: PILImage.Image) -> int:
    """The EXIF orientation (1-8) of a loaded image; 1 when absent or unreadable."""
    try:
        value = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except _CODEC_ERRORS:
        return 1
    return value if 1 <= value <= 8 else 1


def _upright(im: PILImage.Image, orientation: int) -> PILImage.Image:
    """Apply the EXIF orientation with ``ImageOps.exif_transpose`` (a no-op for orientation 1)."""
    if orientation == 1:
        return im
    try:
        return ImageOps.exif_transpose(im)
    except _CODEC_ERRORS:
        return im


def _swap_endian(rawmode: str) -> str:
    """``'RGB;16B'`` <-> ``'RGB;16L'``; ``';16N'`` (native order) becomes the non-native order."""
    base, order = rawmode[:-1], rawmode[-1]
    if order == "N":
        order = "L" if sys.byteorder == "little" else "B"
    return base + ("L" if order == "B" else "B")


def _tile_rawmode(tile: Any) -> str | None:
    """The raw mode of a Pillow tile descriptor ``(codec, extents, offset, args)``."""
    args = tile[3]
    if isinstance(args, str):
        return args
    return args[0] if isinstance(args, tuple) and args and isinstance(args[0], str) else None


def _with_rawmode(tile: Any, rawmode: str) -> Any:
    """A copy of a tile descriptor decoding through ``rawmode`` (a ``_Tile`` named tuple since Pillow 11)."""
    args = tile[3]
    new_args = rawmode if isinstance(args, str) else (rawmode, *args[1:])
    return tile._replace(args=new_args) if hasattr(tile, "_replace") else (*tile[:3], new_args)


def _wide_layout(im: PILImage.Image) -> tuple[str, str] | None:
    """For 16-bit data that Pillow would cut to 8 bits, ``(kind, rawmode)``: kind ``'split'`` for RGB/RGBA,
    ``'la16'`` for gray+alpha PNG. ``None`` when Pillow's normal decoding keeps every bit."""
    rawmodes = {_tile_rawmode(t) for t in im.tile}
    if len(rawmodes) != 1 or None in rawmodes:
        return None
    rawmode = str(rawmodes.pop())
    if im.format == "PNG" and rawmode == "LA;16B" and all(t[0] == "zip" for t in im.tile):
        return "la16", rawmode
    if im.format == "TIFF" and im.tag_v2.get(284, 1) != 1:  # type: ignore[attr-defined]
        return None  # planar: libtiff unpacks each plane with its own raw mode, ignoring ours
    base, sep, order = rawmode.partition(";16")
    if im.mode in ("RGB", "RGBA") and sep and base in _SPLIT16_BASES and order in ("B", "L", "N"):
        return "split", rawmode
    return None


def _reload(fp: IO[bytes], path: Path, limit: int, rawmode: str, orientation: int) -> np.ndarray:
    """Open and decode the file again with every tile unpacked through ``rawmode``; upright bytes."""
    fp.seek(0)
    im = _open_lazy(fp, path, limit)
    im.tile = [_with_rawmode(t, rawmode) for t in im.tile]
    _load(im, path)
    return np.asarray(_upright(im, orientation))


def _decode_split16(
    high: np.ndarray, fp: IO[bytes], path: Path, limit: int, rawmode: str, orientation: int
) -> np.ndarray:
    """16-bit RGB/RGBA: Pillow keeps the high byte of each sample (``high``); decoding again with the byte
    order swapped yields the low bytes. Both passes reuse Pillow's decompression and unfiltering."""
    low = _reload(fp, path, limit, _swap_endian(rawmode), orientation)
    return (high.astype(np.uint16) << 8) | low.astype(np.uint16)


def _decode_la16(fp: IO[bytes], path: Path, limit: int, orientation: int) -> np.ndarray:
    """16-bit gray+alpha PNG: each 4-byte pixel unpacked as 8-bit RGBA is (L hi, L lo, A hi, A lo)."""
    raw = _reload(fp, path, limit, "RGBA", orientation).astype(np.uint16)
    return np.stack([(raw[..., 0] << 8) | raw[..., 1], (raw[..., 2] << 8) | raw[..., 3]], axis=-1)


def _colour_key_alpha(data: np.ndarray, key: Any, maximum: int) -> np.ndarray | None:
    """The alpha plane of a tRNS colour key (an int for gray, a tuple for RGB), or ``None`` if unusable."""
    key_arr = np.asarray(key).reshape(-1)
    channels = 1 if data.ndim == 2 else data.shape[-1]
    if key_arr.dtype.kind not in "iu" or key_arr.size != channels:
        return None
    matches = data == key_arr[0] if data.ndim == 2 else (data == key_arr).all(axis=-1)
    return np.where(matches, 0, maximum).astype(data.dtype)


def _with_colour_key(data: np.ndarray, info: dict[str, Any], maximum: int) -> tuple[np.ndarray, bool]:
    """Append the alpha plane implied by ``info['transparency']`` (gray and RGB PNGs), if any."""
    alpha = _colour_key_alpha(data, info["transparency"], maximum) if "transparency" in info else None
    if alpha is None:
        return data, False
    colour = data[..., None] if data.ndim == 2 else data
    return np.concatenate([colour, alpha[..., None]], axis=-1), True


def _cmyk_to_rgb(im: PILImage.Image, icc: bytes | None) -> PILImage.Image:
    """CMYK -> RGB: through the embedded ICC profile into sRGB when there is a usable one, else Pillow's
    ``R = 255 * (1 - C) * (1 - K)``. Adobe's inverted CMYK JPEGs are already un-inverted by Pillow."""
    if icc:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImportError, OSError, ValueError, TypeError):  # ImageCms.PyCMSError is an OSError
            pass
    return im.convert("RGB")


# Modes decoded by a plain Pillow conversion, and what they become.
_CONVERSIONS = {
    "1": "L",
    "L": "L",
    "LA": "LA",
    "La": "LA",
    "RGB": "RGB",
    "RGBX": "RGB",
    "RGBA": "RGBA",
    "RGBa": "RGBA",
    "YCbCr": "RGB",
}


def _decode_standard(im: PILImage.Image, path: Path, orientation: int) -> _Decoded:
    """Modes Pillow decodes without loss: 1, L, LA, P, PA, RGB, RGBA, RGBX, RGBa, YCbCr, CMYK, I;16."""
    mode, info = im.mode, im.info
    if mode in _GRAY16_MODES:
        data = np.asarray(_upright(im, orientation)).astype(np.uint16)
        data, has_alpha = _with_colour_key(data, info, 65535)
        return _Decoded(data=data, has_alpha=has_alpha, bit_depth=16)
    if mode == "CMYK":
        rgb = _cmyk_to_rgb(_upright(im, orientation), info.get("icc_profile"))
        return _Decoded(data=np.asarray(rgb), has_alpha=False, bit_depth=8, from_cmyk=True)
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in info
        rgb = _upright(im, orientation).convert("RGBA" if has_alpha else "RGB")
        return _Decoded(data=np.asarray(rgb), has_alpha=has_alpha, bit_depth=8)
    target = _CONVERSIONS.get(mode)
    if target is None:
        raise ImageError(
            path,
            f"unsupported pixel mode {mode!r} (expected gray, RGB, palette or CMYK with "
            f"8 or 16 bits per channel)",
        )
    upright = _upright(im, orientation)
    data = np.asarray(upright if upright.mode == target else upright.convert(target))
    if target in ("LA", "RGBA"):
        return _Decoded(data=data, has_alpha=True, bit_depth=8)
    data, has_alpha = _with_colour_key(data, info, 255) if mode in ("L", "RGB") else (data, False)
    return _Decoded(data=data, has_alpha=has_alpha, bit_depth=8)


def _check_tiff_layout(im: PILImage.Image, wide: bool, path: Path) -> None:
    """Reject TIFFs with more than 8 bits per sample that Pillow would decode wrongly or cut to 8 bits
    (planar 16-bit RGB, premultiplied 16-bit RGBA). 16-bit gray and chunky 16-bit RGB(A) are fine."""
    if im.format != "TIFF" or wide or im.mode not in _CONVERSIONS:
        return
    bits = im.tag_v2.get(258, (8,))  # type: ignore[attr-defined]
    bits = bits if isinstance(bits, tuple) else (bits,)
    if max(bits) > 8:
        planar = "planar" if im.tag_v2.get(284, 1) == 2 else "chunky"  # type: ignore[attr-defined]
        raise ImageError(
            path, f"unsupported TIFF layout: {planar} {max(bits)}-bit samples as mode {im.mode!r}"
        )


def _decode(im: PILImage.Image, fp: IO[bytes], path: Path, limit: int) -> tuple[_Decoded, int]:
    """Decode the opened image; returns the upright pixels and the EXIF orientation that was applied."""
    wide = _wide_layout(im)
    _check_tiff_layout(im, wide is not None, path)
    _load(im, path)
    orientation = _orientation(im)
    if wide is None:
        return _decode_standard(im, path, orientation), orientation
    kind, rawmode = wide
    if kind == "la16":
        return _Decoded(
            data=_decode_la16(fp, path, limit, orientation), has_alpha=True, bit_depth=16, mode="LA;16"
        ), orientation
    high = np.asarray(_upright(im, orientation))
    data, keyed = _decode_split16(high, fp, path, limit, rawmode, orientation), False
    if im.mode == "RGB":
        data, keyed = _with_colour_key(data, im.info, 65535)
    return _Decoded(
        data=data, has_alpha=im.mode == "RGBA" or keyed, bit_depth=16, mode=f"{im.mode};16"
    ), orientation


def _exif_without_orientation(im: PILImage.Image, fmt: str) -> bytes | None:
    """The file's EXIF block (``Exif\\0\\0`` prefixed) minus the orientation tag; PNG, JPEG, WebP only."""
    raw = im.info.get("exif")
    if fmt not in _EXIF_FORMATS or not isinstance(raw, bytes) or not raw:
        return None
    raw = raw if raw.startswith(_EXIF_PREFIX) else _EXIF_PREFIX + raw
    try:
        exif = im.getexif()
        if _ORIENTATION_TAG not in exif:
            return raw
        del exif[_ORIENTATION_TAG]
        return exif.tobytes() if len(exif) else None
    except _CODEC_ERRORS:
        return None


def _dpi(info: dict[str, Any]) -> tuple[float, float] | None:
    """``info['dpi']`` as two positive floats, or ``None``."""
    try:
        x, y = (float(v) for v in info["dpi"])
    except (KeyError, TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _to_image(decoded: _Decoded, info: ImageInfo) -> Image:
    maximum = 65535 if decoded.bit_depth == 16 else 255
    data = decoded.data
    colour = data[..., :-1] if decoded.has_alpha else data
    if colour.ndim == 3 and colour.shape[-1] == 1:
        colour = colour[..., 0]
    alpha = _hwc_to_tensor(data[..., -1], maximum) if decoded.has_alpha else None
    return Image(pixels=_hwc_to_tensor(colour, maximum), alpha=alpha, info=info)


def _info(im: PILImage.Image, decoded: _Decoded, path: Path, orientation: int) -> ImageInfo:
    """Metadata of a decoded file. A CMYK profile is dropped: the pixels are RGB now."""
    fmt = im.format or ""
    return ImageInfo(
        path=str(path),
        format=fmt,
        mode=decoded.mode or im.mode,
        bit_depth=decoded.bit_depth,
        has_alpha=decoded.has_alpha,
        icc_profile=None if decoded.from_cmyk else (im.info.get("icc_profile") or None),
        exif=_exif_without_orientation(im, fmt),
        dpi=_dpi(im.info),
        orientation=orientation,
    )


def read_image(path: str | Path, *, max_pixels: int | None = None) -> Image:
    """Read a PNG, JPEG, WebP, TIFF or BMP file (the first frame of animated or multi-page files).

    The EXIF orientation is applied (and dropped from ``info.exif``); palette images become RGB, or RGBA
    when they have transparency; CMYK becomes RGB; 16-bit files keep full precision (``value / 65535``,
    ``info.bit_depth == 16``). Images with more than ``max_pixels`` pixels (default ``$SRKIT_MAX_PIXELS``,
    else :data:`DEFAULT_MAX_PIXELS`) are rejected from their header, before any pixel is decoded.

    Raises:
        ImageError: missing, empty, truncated, corrupt, unsupported or too-large files.
    """
    path = Path(path)
    limit = resolve_max_pixels(max_pixels, path)
    _check_file(path)
    try:
        fp = open(path, "rb")  # noqa: SIM115  (closed by the with-block below)
    except OSError as exc:
        raise ImageError(path, f"cannot open file ({_one_line(exc)})") from exc
    with fp:
        im = _open_lazy(fp, path, limit)
        _check_pixel_limit(im.size, limit, path)
        with _pil_limit_if_needed(im.size, limit):
            decoded, orientation = _decode(im, fp, path, limit)
        info = _info(im, decoded, path, orientation)
    return _to_image(decoded, info)


# --------------------------------------------------------------------------------------------------
# Writing: input normalisation
# --------------------------------------------------------------------------------------------------


@dataclass
class _Meta:
    """Metadata to embed when writing."""

    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None


def _resolve_format(path: Path, format: str | None) -> str:
    if format is not None:
        name = _FORMAT_ALIASES.get(format.upper().lstrip("."), format.upper().lstrip("."))
        if name not in _FORMATS:
            raise ImageError(path, f"unsupported output format {format!r} (expected {_FORMAT_NAMES})")
        return name
    name = SUFFIX_FORMATS.get(path.suffix.lower())
    if name is None:
        raise ImageError(
            path, f"unknown image suffix {path.suffix!r} (expected one of {', '.join(IMAGE_SUFFIXES)})"
        )
    return name


def _check_array(arr: np.ndarray, path: Path) -> None:
    """Reject what :func:`write_image` cannot write: only uint8/uint16 ``(H, W)`` or ``(H, W, C)``, C <= 4."""
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageError(path, f"cannot write a {arr.dtype} array (expected uint8 or uint16)")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and not 1 <= arr.shape[2] <= 4):
        raise ImageError(
            path, f"cannot write an array of shape {arr.shape} (expected (H, W) or (H, W, C), C <= 4)"
        )


def _planes(image: Image | torch.Tensor, path: Path) -> tuple[torch.Tensor, int, _Meta]:
    """An :class:`Image` or float tensor -> float ``(C, H, W)`` with alpha as the last channel (C = 1..4),
    its natural bit depth and its metadata."""
    if isinstance(image, Image):
        planes = (
            image.pixels if image.alpha is None else torch.cat([image.pixels, image.alpha.to(image.pixels)])
        )
        meta = _Meta(icc_profile=image.info.icc_profile, exif=image.info.exif, dpi=image.info.dpi)
        return planes, image.info.bit_depth, meta
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or not 1 <= image.shape[0] <= 4 or not image.is_floating_point():
            raise ImageError(
                path,
                f"cannot write a {image.dtype} tensor of shape {tuple(image.shape)} "
                f"(expected float (C, H, W) in [0, 1], C <= 4)",
            )
        return image, 8, _Meta()
    raise ImageError(path, f"cannot write a {type(image).__name__} (expected Image, tensor or ndarray)")


def _planes_to_ints(planes: torch.Tensor, depth: int) -> np.ndarray:
    """Float ``(C, H, W)`` -> contiguous uint8 (``depth`` 8) or uint16 (16) ``(H, W, C)``, rounded as
    :func:`image_to_uint8` rounds."""
    data = (
        _quantize(planes, 65535 if depth == 16 else 255)
        .numpy()
        .astype(np.uint16 if depth == 16 else np.uint8)
    )
    return np.ascontiguousarray(data.transpose(1, 2, 0))


# Elements converted at a time when a uint16 array is reduced to 8 bits (bounds the uint32 scratch).
_CONVERT_BLOCK = 1 << 18


def _array_to_depth(arr: np.ndarray, depth: int) -> np.ndarray:
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


def _fit_channels(data: np.ndarray, fmt: str, bit_depth: int) -> np.ndarray:
    """Adapt the ``(H, W, C)`` channel layout to what ``fmt`` stores: JPEG and BMP drop alpha (a view),
    WebP has no gray, and Pillow cannot read 16-bit gray+alpha TIFF, so that becomes 16-bit RGBA."""
    channels = data.shape[2]
    if fmt in ("JPEG", "BMP") and channels in (2, 4):
        return data[..., :-1]
    expand_gray = fmt == "WEBP" or (fmt == "TIFF" and bit_depth == 16 and channels == 2)
    if expand_gray and channels in (1, 2):
        return np.concatenate([data[..., :1]] * 3 + [data[..., 1:]], axis=2)
    return data


def _icc_fits(icc: bytes, channels: int) -> bool:
    """False only when the profile header names a colour space that contradicts the channel count."""
    space = icc[16:20] if len(icc) >= 20 else b""
    if space == b"GRAY":
        return channels in (1, 2)
    if space == b"RGB ":
        return channels in (3, 4)
    return True


def _check_dpi(dpi: Any, path: Path) -> tuple[float, float]:
    """``dpi`` as two positive finite floats; anything else is an :class:`ImageError`."""
    values = tuple(dpi) if isinstance(dpi, (tuple, list)) else ()
    if len(values) == 2 and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        x, y = float(values[0]), float(values[1])
        if 0 < x < math.inf and 0 < y < math.inf:
            return x, y
    raise ImageError(path, f"dpi must be two positive numbers (x, y), got {dpi!r}")


def _resolve_depth(bit_depth: int | None, natural: int, fmt: str, path: Path) -> int:
    if bit_depth is not None and bit_depth not in (8, 16):
        raise ImageError(path, f"bit_depth must be 8 or 16, got {bit_depth!r}")
    depth = natural if bit_depth is None else bit_depth
    return depth if fmt in _SIXTEEN_BIT_FORMATS else 8


# --------------------------------------------------------------------------------------------------
# Writing: encoders
# --------------------------------------------------------------------------------------------------


def _pillow_params(fmt: str, meta: _Meta, quality: int, lossless: bool) -> dict[str, Any]:
    """Keyword arguments for ``PIL.Image.save``."""
    params: dict[str, Any] = {}
    if meta.icc_profile and fmt != "BMP":
        params["icc_profile"] = meta.icc_profile
    if meta.exif and fmt in _EXIF_FORMATS:
        params["exif"] = meta.exif
    if meta.dpi and fmt != "WEBP":
        params["dpi"] = meta.dpi
    if fmt == "JPEG":
        params.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        params.update(quality=quality, lossless=lossless, exact=lossless)
    elif fmt == "TIFF" and features.check("libtiff"):
        params["compression"] = "tiff_adobe_deflate"
    return params


def _save_pillow(
    fp: IO[bytes], data: np.ndarray, fmt: str, meta: _Meta, quality: int, lossless: bool
) -> None:
    """8-bit ``(H, W, C)`` data through Pillow."""
    im = PILImage.fromarray(data[..., 0] if data.shape[2] == 1 else data)  # L, LA, RGB or RGBA
    im.save(fp, format=fmt, **_pillow_params(fmt, meta, quality, lossless))


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


# PNG filter types tried per row (None, Sub, Up, Average, Paeth); the row with the smallest sum of
# absolute signed residuals wins, as libpng does.
_PNG_FILTERS: tuple[int, ...] = (0, 1, 2, 3, 4)
# zlib level of the 16-bit encoders: low bytes are mostly noise, so higher levels cost ~4x the time
# for ~2% smaller files.
_ZLIB_LEVEL_16 = 3


def _png_residuals(rows: np.ndarray, prev: np.ndarray, bpp: int) -> list[np.ndarray]:
    """Residuals (mod 256, as int16) of every filter type for a block of raw PNG rows."""
    x = rows.astype(np.int16)
    up = prev.astype(np.int16)
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    upleft = np.zeros_like(up)
    upleft[:, bpp:] = up[:, :-bpp]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    predictions = {0: 0, 1: left, 2: up, 3: (left + up) >> 1, 4: paeth}
    return [(x - predictions[f]) & 0xFF for f in _PNG_FILTERS]


def _png_filter(raw: np.ndarray, bpp: int, block_rows: int = 64) -> np.ndarray:
    """Filter raw scanlines ``(H, N)`` uint8 into ``(H, 1 + N)``: filter type byte then residuals."""
    height, width = raw.shape
    out = np.empty((height, width + 1), dtype=np.uint8)
    for start in range(0, height, block_rows):
        stop = min(start + block_rows, height)
        prev = np.vstack(
            [raw[start - 1 : start] if start else np.zeros((1, width), np.uint8), raw[start : stop - 1]]
        )
        residuals = np.stack(_png_residuals(raw[start:stop], prev, bpp))
        cost = np.minimum(residuals, 256 - residuals).sum(axis=2, dtype=np.int64)
        best = cost.argmin(axis=0)
        out[start:stop, 0] = np.asarray(_PNG_FILTERS, dtype=np.uint8)[best]
        out[start:stop, 1:] = residuals[best, np.arange(stop - start)]
    return out


def _png16_bytes(data: np.ndarray, meta: _Meta) -> bytes:
    """A 16-bit PNG (gray, gray+alpha, RGB or RGBA) from uint16 ``(H, W, C)``."""
    height, width, channels = data.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = np.ascontiguousarray(data, dtype=">u2").view(np.uint8).reshape(height, width * channels * 2)
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0))]
    if meta.icc_profile:
        chunks.append(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(meta.icc_profile)))
    if meta.dpi:
        ppm = [round(v / 0.0254) for v in meta.dpi]
        chunks.append(_png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    if meta.exif:
        exif = meta.exif[len(_EXIF_PREFIX) :] if meta.exif.startswith(_EXIF_PREFIX) else meta.exif
        chunks.append(_png_chunk(b"eXIf", exif))
    stream = zlib.compress(_png_filter(raw, bpp=2 * channels).tobytes(), _ZLIB_LEVEL_16)
    step = 1 << 20
    chunks += [_png_chunk(b"IDAT", stream[i : i + step]) for i in range(0, len(stream), step)]
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


_TIFF_SHORT, _TIFF_LONG, _TIFF_RATIONAL, _TIFF_UNDEFINED = 3, 4, 5, 7
_TIFF_TYPE_SIZE = {_TIFF_SHORT: 2, _TIFF_LONG: 4, _TIFF_RATIONAL: 8, _TIFF_UNDEFINED: 1}


def _tiff_value_bytes(kind: int, values: Any) -> bytes:
    """Little-endian bytes of a tag's values (ints, ``(numerator, denominator)`` pairs or raw bytes)."""
    if kind == _TIFF_UNDEFINED:
        return bytes(values)
    flat = [v for pair in values for v in pair] if kind == _TIFF_RATIONAL else list(values)
    return struct.pack("<" + ("H" if kind == _TIFF_SHORT else "I") * len(flat), *flat)


def _tiff_ifd(entries: list[tuple[int, int, Any]], ifd_offset: int) -> bytes:
    """A little-endian IFD at ``ifd_offset`` followed by its out-of-line values."""
    entries = sorted(entries, key=lambda e: e[0])
    data_offset = ifd_offset + 2 + 12 * len(entries) + 4
    head, tail = [struct.pack("<H", len(entries))], []
    for tag, kind, values in entries:
        payload = _tiff_value_bytes(kind, values)
        count = len(payload) // _TIFF_TYPE_SIZE[kind]
        if len(payload) <= 4:
            head.append(struct.pack("<HHI", tag, kind, count) + payload.ljust(4, b"\x00"))
            continue
        head.append(struct.pack("<HHII", tag, kind, count, data_offset))
        padded = payload + b"\x00" * (len(payload) % 2)
        tail.append(padded)
        data_offset += len(padded)
    return b"".join(head) + struct.pack("<I", 0) + b"".join(tail)


def _rational(value: float) -> tuple[int, int]:
    frac = Fraction(value).limit_denominator(10000)
    return frac.numerator, frac.denominator


def _tiff16_bytes(data: np.ndarray, meta: _Meta) -> bytes:
    """A 16-bit TIFF (gray, RGB or RGBA; chunky; Adobe deflate with horizontal predictor)."""
    height, width, channels = data.shape
    rows_per_strip = max(1, (1 << 18) // (width * channels * 2))
    diff = data.astype(np.uint16, copy=True)
    diff[:, 1:] -= data[:, :-1]  # predictor 2: horizontal differences, modulo 2**16
    strips = [
        zlib.compress(diff[r : r + rows_per_strip].astype("<u2").tobytes(), _ZLIB_LEVEL_16)
        for r in range(0, height, rows_per_strip)
    ]
    offsets, position = [], 8
    for strip in strips:
        offsets.append(position)
        position += len(strip)
    ifd_offset = position + position % 2
    entries: list[tuple[int, int, Any]] = [
        (256, _TIFF_LONG, [width]),
        (257, _TIFF_LONG, [height]),
        (258, _TIFF_SHORT, [16] * channels),
        (259, _TIFF_SHORT, [8]),  # Adobe deflate
        (262, _TIFF_SHORT, [1 if channels < 3 else 2]),  # BlackIsZero / RGB
        (273, _TIFF_LONG, offsets),
        (277, _TIFF_SHORT, [channels]),
        (278, _TIFF_LONG, [rows_per_strip]),
        (279, _TIFF_LONG, [len(s) for s in strips]),
        (284, _TIFF_SHORT, [1]),  # chunky
        (317, _TIFF_SHORT, [2]),  # horizontal predictor
        (339, _TIFF_SHORT, [1] * channels),  # unsigned integers
    ]
    if channels in (2, 4):
        entries.append((338, _TIFF_SHORT, [2]))  # unassociated alpha
    if meta.dpi:
        entries += [
            (282, _TIFF_RATIONAL, [_rational(meta.dpi[0])]),
            (283, _TIFF_RATIONAL, [_rational(meta.dpi[1])]),
            (296, _TIFF_SHORT, [2]),
        ]
    if meta.icc_profile:
        entries.append((34675, _TIFF_UNDEFINED, meta.icc_profile))
    header = b"II*\x00" + struct.pack("<I", ifd_offset)
    body = b"".join(strips) + b"\x00" * (ifd_offset - position)
    return header + body + _tiff_ifd(entries, ifd_offset)


def _encoder(
    fmt: str, depth: int, meta: _Meta, quality: int, lossless: bool
) -> Callable[[IO[bytes], np.ndarray], None]:
    """The function writing ``(H, W, C)`` integer data of this format and depth to a binary file."""

    def write_16bit(fp: IO[bytes], data: np.ndarray) -> None:
        fp.write(_png16_bytes(data, meta) if fmt == "PNG" else _tiff16_bytes(data, meta))

    def write_8bit(fp: IO[bytes], data: np.ndarray) -> None:
        _save_pillow(fp, data, fmt, meta, quality, lossless)

    return write_16bit if depth == 16 else write_8bit


def write_image(
    path: str | Path,
    image: Image | torch.Tensor | np.ndarray,
    *,
    bit_depth: int | None = None,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    quality: int = 95,
    format: str | None = None,
    lossless: bool = False,
) -> Path:
    """Write ``image`` to ``path`` atomically (temporary file in the same folder, then ``os.replace``).

    ``image`` is an :class:`Image` (its alpha, bit depth, ICC profile, EXIF and dpi are kept), a float
    ``(C, H, W)`` tensor in ``[0, 1]`` or a uint8/uint16 ``(H, W[, C])`` array; C = 2 or 4 means the last
    channel is alpha. Integer arrays are written as they are, with no float copy (uint8 -> 8-bit and
    uint16 -> 16-bit files; a conversion between the two depths rounds as the float path does), so large
    images can be written without several full-size float32 copies. The format comes from the suffix
    unless ``format`` is given. ``bit_depth`` defaults to the input's (16 for uint16 arrays and 16-bit
    images); only PNG and TIFF store 16 bits, the other formats get 8. JPEG and BMP drop alpha; WebP stores
    gray as RGB. ``quality`` (1-100) applies to JPEG and lossy WebP (JPEG at 90+ uses 4:4:4 chroma);
    ``lossless`` selects lossless WebP. Missing parent folders are created.

    Metadata: ``icc_profile``, ``exif`` (the raw block with its ``b"Exif\\0\\0"`` prefix, as in
    :attr:`ImageInfo.exif`) and ``dpi`` (``(x, y)``) override what an :class:`Image` carries (``None``
    keeps it; ``b""`` writes no profile / no EXIF). A profile whose colour space contradicts the channels
    is left out; EXIF is stored in PNG, JPEG and WebP, dpi in PNG, JPEG, TIFF and BMP.

    Raises:
        ImageError: bad arguments or a failed write; an existing file at ``path`` is then left untouched.
    """
    target = Path(path)
    fmt = _resolve_format(target, format)
    if not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ImageError(target, f"quality must be an integer from 1 to 100, got {quality!r}")
    if isinstance(image, np.ndarray):
        _check_array(image, target)
        meta = _Meta()
        depth = _resolve_depth(bit_depth, 16 if image.dtype == np.uint16 else 8, fmt, target)
        data = _array_to_depth(image, depth)
    else:
        planes, natural_depth, meta = _planes(image, target)
        depth = _resolve_depth(bit_depth, natural_depth, fmt, target)
        data = _planes_to_ints(planes, depth)
    data = _fit_channels(data, fmt, depth)
    if icc_profile is not None:
        meta.icc_profile = icc_profile or None
    if exif is not None:
        meta.exif = exif or None
    if dpi is not None:
        meta.dpi = _check_dpi(dpi, target)
    if meta.icc_profile and not _icc_fits(meta.icc_profile, data.shape[2]):
        meta.icc_profile = None
    if target.is_dir():
        raise ImageError(target, "is a directory")
    encode = _encoder(fmt, depth, meta, quality, lossless)
    try:
        with atomic_open(target, "wb") as fp:
            encode(fp, data)
    except _CODEC_ERRORS as exc:
        raise ImageError(target, f"cannot write {fmt} file ({_one_line(exc)})") from exc
    return target
