"""Decoding: :func:`read_image` (pixels and metadata) and :func:`read_header` (format, mode and size only),
behind the header checks of :mod:`srkit.io.images.limits` (pixel limit, bomb ratio).

- Only PNG, JPEG, WebP, TIFF, BMP and GIF are decoded (animated GIF/PNG/WebP and multi-page TIFF:
  frame 1, the frame count in ``ImageInfo.frames``; :mod:`srkit.io.images.animation` reads every
  frame); the format comes from the file's signature, not its suffix. The pixel
  limit and the bomb ratio are checked on the header before any pixel is decoded. PIL's own
  decompression-bomb check runs in ``PIL.Image.open``, which this module bypasses by calling the
  registered plugin factories directly. Pillow repeats the check inside its TIFF and WebP plugins, so for
  images beyond Pillow's own limit (~89 Mpx by default) ``PIL.Image.MAX_IMAGE_PIXELS`` is raised to our
  limit for the duration of the read, under a lock, and restored; smaller images touch no PIL global.
- Pillow keeps 16-bit gray (``I;16``) but reduces 16-bit RGB, RGBA and gray+alpha to 8 bits. For those
  files the data is decoded by Pillow's own decoder twice with byte-swapped raw modes (once giving the
  high bytes, once the low bytes) and recombined, so no extra dependency is needed.
- TIFF layouts Pillow cannot decode faithfully (float samples, planar 16-bit, premultiplied 16-bit alpha,
  16-bit gray + alpha) are decoded by :mod:`srkit.io.images.tiffraw`; TIFFs with more samples than
  gray/RGB plus alpha are refused rather than losing channels.
"""

from __future__ import annotations

import dataclasses
import io
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    WebPImagePlugin,
)
from PIL import Image as PILImage

from srkit.colour import UINT8_MAX, UINT16_MAX
from srkit.errors import ImageError, PixelLimitError, one_line
from srkit.io.images import tiffraw
from srkit.io.images.limits import (
    check_pixel_limit,
    check_ratio,
    pil_limit,
    pil_limit_if_needed,
    resolve_max_pixels,
)
from srkit.io.images.pixels import hwc_to_tensor
from srkit.io.images.tiffraw import TiffLayout
from srkit.io.images.types import (
    CODEC_ERRORS,
    DETAIL_LIMIT,
    EXIF_FORMATS,
    EXIF_PREFIX,
    READ_FORMAT_NAMES,
    READ_FORMATS,
    Image,
    ImageHeader,
    ImageInfo,
)

__all__ = ["read_header", "read_image", "resolve_max_pixels"]

# Importing a plugin registers it in PIL.Image.OPEN; only these formats are ever decoded.
_PLUGINS = (PngImagePlugin, JpegImagePlugin, WebPImagePlugin, TiffImagePlugin, BmpImagePlugin, GifImagePlugin)
_ORIENTATION_TAG = 0x0112
_GRAY16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
# 16-bit colour raw modes whose high and low bytes can be decoded separately (see _decode_split16).
_SPLIT16_BASES = ("RGB", "RGBA", "RGBX")
# Pillow's ``Image.info``: keyed by name, and by ``(x, y)`` for some format-specific entries.
_PILInfo = Mapping[str | tuple[int, int], Any]
# Bits per pixel as stored, by Pillow mode (PNG and TIFF are read more precisely, see _stored_bits).
_MODE_BITS = {"1": 1, "L": 8, "P": 8, "LA": 16, "La": 16, "PA": 16, "I;16": 16, "I": 32, "F": 32}
_MODE_BITS.update({"RGB": 24, "YCbCr": 24, "RGBA": 32, "RGBa": 32, "RGBX": 32, "CMYK": 32})


@dataclass
class _Decoded:
    """Upright pixels ``(H, W, C)`` straight from the file (integers, or float32 in [0, 1] from float
    TIFFs); the last channel is alpha if flagged."""

    data: np.ndarray
    has_alpha: bool
    bit_depth: int
    from_cmyk: bool = False
    mode: str | None = None  # source mode when Pillow's differs (16-bit colour data)


# --------------------------------------------------------------------------------------------------
# Opening and the header checks
# --------------------------------------------------------------------------------------------------


def _check_file(path: Path) -> None:
    """Fail early, with a clear reason, for paths that cannot hold an image."""
    if path.is_dir():
        raise ImageError(path, "is a directory, not an image file")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except OSError as exc:
        raise ImageError(path, f"cannot access file ({one_line(exc, DETAIL_LIMIT)})") from exc
    if size == 0:
        raise ImageError(path, "file is empty (0 bytes)")


def _plugin(name: str) -> tuple[Callable[..., ImageFile.ImageFile] | None, Callable[[bytes], Any] | None]:
    """The registered ``(factory, accept)`` pair of a Pillow format; JPEG uses the plain JPEG class so that
    multi-picture (MPO) files are read as their first picture without MPO's frame scanning."""
    factory, accept = PILImage.OPEN.get(name, (None, None))
    return (JpegImagePlugin.JpegImageFile if name == "JPEG" and factory else factory), accept


def _numpy_tiff(fp: IO[bytes], path: Path, refusal: BaseException) -> TiffLayout | None:
    """The layout of a TIFF that Pillow refused to open (``refusal``) when srkit's own reader supports
    it; ``None`` otherwise. When Pillow refused an unknown pixel layout that srkit does not read either,
    the ``ImageError`` says which layout it is."""
    try:
        tags, big_endian = tiffraw.parse_first_ifd(fp)
        return tiffraw.layout_from_tags(tags, big_endian, path)
    except ImageError:
        if "unknown pixel mode" in str(refusal):
            raise
        return None
    except CODEC_ERRORS:
        return None


def _open_lazy(fp: IO[bytes], path: Path, limit: int) -> ImageFile.ImageFile | TiffLayout:
    """Identify the format and parse the header only; no pixel is decoded and ``PIL.Image.open``'s
    decompression-bomb check does not run (WebP's own early check is matched to ``limit``). A TIFF that
    Pillow cannot open but :mod:`~srkit.io.images.tiffraw` can read gives its :class:`TiffLayout`."""
    prefix = fp.read(16)
    for name in READ_FORMATS:
        factory, accept = _plugin(name)
        if factory is None or (accept is not None and not accept(prefix)):
            continue
        try:
            try:
                fp.seek(0)
                return factory(fp, str(path))
            except PILImage.DecompressionBombError:
                fp.seek(0)
                with pil_limit(limit):
                    return factory(fp, str(path))
        except PILImage.DecompressionBombError as exc:
            raise PixelLimitError(
                path, f"image has more pixels than the limit of {limit} ({one_line(exc, DETAIL_LIMIT)})"
            ) from exc
        except CODEC_ERRORS as exc:
            layout = _numpy_tiff(fp, path, exc) if name == "TIFF" else None
            if layout is not None:
                return layout
            raise ImageError(
                path, f"corrupt or truncated {name} header ({one_line(exc, DETAIL_LIMIT)})"
            ) from exc
    raise ImageError(path, f"not a {READ_FORMAT_NAMES} image (unrecognised file signature)")


def _open_pil(fp: IO[bytes], path: Path, limit: int) -> ImageFile.ImageFile:
    """:func:`_open_lazy` of a file Pillow has opened before (the re-decoding passes)."""
    im = _open_lazy(fp, path, limit)
    if isinstance(im, TiffLayout):  # cannot happen: the first open succeeded with Pillow
        raise ImageError(path, "file changed while it was read")
    return im


def _stored_bits(im: ImageFile.ImageFile) -> int:
    """Bits per pixel as the file stores them (for the bomb ratio): PNG from its raw mode (``'L;2'``:
    2, ``'RGB;16B'``: 48), TIFF from BitsPerSample, other formats from the mode."""
    if im.format == "TIFF":
        samples = int(im.tag_v2.get(277, 1))  # type: ignore[attr-defined]
        bits = im.tag_v2.get(258, (8,))  # type: ignore[attr-defined]
        bits = tuple(bits) if isinstance(bits, tuple) else (bits,)
        return int(sum(bits) if len(bits) == samples else bits[0] * samples)
    rawmode = _tile_rawmode(im.tile[0]) if im.format == "PNG" and im.tile else None
    if rawmode:
        base, _, suffix = rawmode.partition(";")
        digits = "".join(c for c in suffix if c.isdigit())
        depth = int(digits) if digits else (1 if base == "1" else 8)
        return depth * (1 if base in ("1", "I", "L", "P") else len(base))
    return _MODE_BITS.get(im.mode, 8 * len(im.getbands()))


def _route_tiff(im: ImageFile.ImageFile, fp: IO[bytes], path: Path) -> ImageFile.ImageFile | TiffLayout:
    """A TIFF that Pillow opened: refused if it has more samples than srkit keeps, its
    :class:`TiffLayout` when Pillow would decode it wrongly or lossily, else ``im`` itself."""
    tags = im.tag_v2  # type: ignore[attr-defined]
    error = tiffraw.sample_count_error(tags, path)
    if error is not None:
        raise error
    cuts_bits = im.mode in _CONVERSIONS and _wide_layout(im) is None
    if not tiffraw.needs_numpy(tags, im.mode, cuts_bits):
        return im
    fp.seek(0)
    return tiffraw.layout_from_tags(tags, fp.read(2) == b"MM", path)


def _open_checked(fp: IO[bytes], path: Path, limit: int) -> ImageFile.ImageFile | TiffLayout:
    """:func:`_open_lazy`, then the pixel limit and the bomb ratio checked on the header."""
    opened = _open_lazy(fp, path, limit)
    if isinstance(opened, ImageFile.ImageFile) and opened.format == "TIFF":
        opened = _route_tiff(opened, fp, path)
    if isinstance(opened, TiffLayout):
        size, fmt, bits, components = (opened.width, opened.height), "TIFF", opened.bits_per_pixel, 1
    else:
        size, fmt = opened.size, opened.format or ""
        bits, components = _stored_bits(opened), len(opened.getbands())
    check_pixel_limit(size, limit, path)
    check_ratio(path, fmt, size, bits, os.fstat(fp.fileno()).st_size, components)
    return opened


def _open_file(path: Path) -> IO[bytes]:
    """``path`` opened for reading, after :func:`_check_file`."""
    _check_file(path)
    try:
        return open(path, "rb")  # the callers close it
    except OSError as exc:
        raise ImageError(path, f"cannot open file ({one_line(exc, DETAIL_LIMIT)})") from exc


def read_header(path: str | Path, *, max_pixels: int | None = None) -> ImageHeader:
    """Format, mode and size of a PNG, JPEG, WebP, TIFF, BMP or GIF file from its header; no pixel is
    decoded.

    The file is checked as :func:`read_image` checks it, pixel limit (``max_pixels``, default
    ``$SRKIT_MAX_PIXELS``, else what the available memory can upscale) and bomb ratio included.

    Raises:
        PixelLimitError: too many pixels, or far more than the file's size can hold (an
            :class:`ImageError`).
        ImageError: missing, empty, unrecognised or corrupt files.
    """
    path = Path(path)
    limit = resolve_max_pixels(max_pixels, path)
    with _open_file(path) as fp:
        opened = _open_checked(fp, path, limit)
        if isinstance(opened, TiffLayout):
            return ImageHeader(
                path=str(path), format="TIFF", mode=opened.mode, width=opened.width, height=opened.height
            )
        width, height = opened.size
        return ImageHeader(
            path=str(path), format=opened.format or "", mode=opened.mode, width=width, height=height
        )


# --------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------


def _load(im: PILImage.Image, path: Path) -> None:
    """Decode the pixel data, turning decoder failures into one ``ImageError``."""
    try:
        im.load()
    except CODEC_ERRORS as exc:
        raise ImageError(
            path, f"cannot decode {im.format} data, file truncated or corrupt ({one_line(exc, DETAIL_LIMIT)})"
        ) from exc


def _orientation(im: PILImage.Image) -> int:
    """The EXIF orientation (1-8) of a loaded image; 1 when absent or unreadable."""
    try:
        value = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except CODEC_ERRORS:
        return 1
    return value if 1 <= value <= 8 else 1


def _upright(im: PILImage.Image, orientation: int) -> PILImage.Image:
    """Apply the EXIF orientation with ``ImageOps.exif_transpose`` (a no-op for orientation 1)."""
    if orientation == 1:
        return im
    try:
        return ImageOps.exif_transpose(im)
    except CODEC_ERRORS:
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


def _wide_layout(im: ImageFile.ImageFile) -> tuple[str, str] | None:
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


def _reload(
    fp: IO[bytes], path: Path, limit: int, rawmode: str, orientation: int, frame: int = 0
) -> np.ndarray:
    """Open and decode the file (its ``frame``: a TIFF page) again with every tile unpacked through
    ``rawmode``; upright bytes."""
    fp.seek(0)
    im = _open_pil(fp, path, limit)
    if frame:
        im.seek(frame)
    im.tile = [_with_rawmode(t, rawmode) for t in im.tile]
    _load(im, path)
    return np.asarray(_upright(im, orientation))


def _decode_split16(
    high: np.ndarray, fp: IO[bytes], path: Path, limit: int, rawmode: str, orientation: int, frame: int = 0
) -> np.ndarray:
    """16-bit RGB/RGBA: Pillow keeps the high byte of each sample (``high``); decoding again with the byte
    order swapped yields the low bytes. Both passes reuse Pillow's decompression and unfiltering."""
    low = _reload(fp, path, limit, _swap_endian(rawmode), orientation, frame)
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


def _with_colour_key(data: np.ndarray, info: _PILInfo, maximum: int) -> tuple[np.ndarray, bool]:
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
            from PIL import ImageCms  # optional: Pillow may be built without LittleCMS

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            rgb = ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if rgb is not None:  # None only with inPlace=True
                return rgb
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


def _decode(
    im: ImageFile.ImageFile, fp: IO[bytes], path: Path, limit: int, frame: int = 0
) -> tuple[_Decoded, int]:
    """Decode the opened image (moved to ``frame``, a TIFF page); returns the upright pixels and the EXIF
    orientation that was applied."""
    wide = _wide_layout(im)
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
    data, keyed = _decode_split16(high, fp, path, limit, rawmode, orientation, frame), False
    if im.mode == "RGB":
        data, keyed = _with_colour_key(data, im.info, 65535)
    return _Decoded(
        data=data, has_alpha=im.mode == "RGBA" or keyed, bit_depth=16, mode=f"{im.mode};16"
    ), orientation


def _exif_without_orientation(im: PILImage.Image, fmt: str) -> bytes | None:
    """The file's EXIF block (``Exif\\0\\0`` prefixed) minus the orientation tag; PNG, JPEG, WebP only."""
    raw = im.info.get("exif")
    if fmt not in EXIF_FORMATS or not isinstance(raw, bytes) or not raw:
        return None
    raw = raw if raw.startswith(EXIF_PREFIX) else EXIF_PREFIX + raw
    try:
        exif = im.getexif()
        if _ORIENTATION_TAG not in exif:
            return raw
        del exif[_ORIENTATION_TAG]
        return exif.tobytes() if len(exif) else None
    except CODEC_ERRORS:
        return None


def _dpi(info: _PILInfo) -> tuple[float, float] | None:
    """``info['dpi']`` as two positive floats, or ``None``."""
    try:
        x, y = (float(v) for v in info["dpi"])
    except (KeyError, TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _to_image(decoded: _Decoded, info: ImageInfo) -> Image:
    data = decoded.data
    maximum = 1.0 if data.dtype.kind == "f" else UINT16_MAX if decoded.bit_depth == 16 else UINT8_MAX
    colour = data[..., :-1] if decoded.has_alpha else data
    if colour.ndim == 3 and colour.shape[-1] == 1:
        colour = colour[..., 0]
    alpha = hwc_to_tensor(data[..., -1], maximum) if decoded.has_alpha else None
    return Image(pixels=hwc_to_tensor(colour, maximum), alpha=alpha, info=info)


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


def _frame_count(im: PILImage.Image, fp: IO[bytes]) -> int:
    """Frames (pages) in the file: TIFF IFDs, GIF/APNG/WebP animation frames; 1 when unreadable. Called
    after decoding, as counting GIF frames moves Pillow to other frames."""
    if im.format == "TIFF":
        return tiffraw.count_frames(fp)
    try:
        return max(1, int(getattr(im, "n_frames", 1)))
    except CODEC_ERRORS:
        return 1


def _read_numpy_tiff(fp: IO[bytes], layout: TiffLayout, path: Path) -> Image:
    """A TIFF decoded by :mod:`~srkit.io.images.tiffraw` (float, planar 16-bit, 16-bit gray + alpha)."""
    data = tiffraw.decode_tiff(fp, layout, path, pil_limit)
    decoded = _Decoded(data=data, has_alpha=layout.alpha != "none", bit_depth=layout.bit_depth)
    info = ImageInfo(
        path=str(path),
        format="TIFF",
        mode=layout.mode,
        bit_depth=layout.bit_depth,
        has_alpha=decoded.has_alpha,
        icc_profile=layout.icc_profile,
        dpi=layout.dpi,
        orientation=layout.orientation,
        frames=tiffraw.count_frames(fp),
    )
    return _to_image(decoded, info)


def read_image(path: str | Path, *, max_pixels: int | None = None) -> Image:
    """Read a PNG, JPEG, WebP, TIFF, BMP or GIF file: the first frame of animated or multi-page files,
    with ``info.frames`` saying how many the file holds.

    The EXIF orientation is applied (and dropped from ``info.exif``); palette images become RGB, or RGBA
    when they have transparency; CMYK becomes RGB; 16-bit files keep full precision (``value / 65535``,
    ``info.bit_depth == 16``), as do float TIFFs (samples in [0, 1], ``bit_depth`` 16). Images with more
    than ``max_pixels`` pixels (default ``$SRKIT_MAX_PIXELS``, else what the available memory can
    upscale), or whose file is implausibly small for the pixels its header declares (bomb ratio,
    ``$SRKIT_MAX_RATIO``), are rejected from their header, before any pixel is decoded.

    Raises:
        PixelLimitError: too many pixels, or far more than the file's size can hold (an
            :class:`ImageError`).
        ImageError: missing, empty, truncated, corrupt, unsupported or too-large files.
    """
    path = Path(path)
    limit = resolve_max_pixels(max_pixels, path)
    with _open_file(path) as fp:
        im = _open_checked(fp, path, limit)
        if isinstance(im, TiffLayout):
            return _read_numpy_tiff(fp, im, path)
        with pil_limit_if_needed(im.size, limit):
            decoded, orientation = _decode(im, fp, path, limit)
        info = _info(im, decoded, path, orientation)
        info = dataclasses.replace(info, frames=_frame_count(im, fp))
    return _to_image(decoded, info)
