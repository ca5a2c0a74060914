"""Encoding: :func:`write_image`, atomically, keeping bit depth, alpha, ICC profile, EXIF and dpi.

8-bit files are written by Pillow; Pillow cannot write 16-bit colour, so 16-bit PNG and TIFF files are
written by the small numpy encoders of :mod:`srkit.io.images.png16` and :mod:`srkit.io.images.tiff16`.

GIF files are quantised per frame by :mod:`srkit.io.images.gif` (256 colours, on/off transparency).

**Provenance marker.** Given ``provenance``, :func:`write_image` records that srkit wrote the file, in
an XMP packet (the metadata every format but BMP carries: a PNG ``iTXt`` chunk ``XML:com.adobe.xmp``,
a JPEG APP1 segment, a WebP ``XMP`` chunk, TIFF tag 700, a GIF comment extension)::

    <x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
    <rdf:Description rdf:about="" xmlns:srkit="urn:srkit:provenance:1#" srkit:source="a.png"
    srkit:model="edsr-baseline-x2" srkit:scale="2" srkit:version="0.1.0"/></rdf:RDF></x:xmpmeta>

(one line; values XML-escaped, undecodable bytes of file names as ``\\xNN``). :func:`read_provenance`
reads it back from the file's header without decoding pixels; a file is srkit's output when it has
``srkit:source``. BMP files hold no metadata, so they never carry the marker.
"""

from __future__ import annotations

import html
import math
import numbers
import os
import re
import stat
import struct
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import PngImagePlugin, features

from srkit.errors import ImageError, one_line
from srkit.io.atomic import NotReplacedError, Overwrite, atomic_open
from srkit.io.images.gif import TRANSPARENT_INDEX, gif_frame
from srkit.io.images.pixels import array_to_depth, composite_over, planes_to_ints
from srkit.io.images.png16 import png16_bytes
from srkit.io.images.tiff16 import tiff16_bytes
from srkit.io.images.types import (
    CODEC_ERRORS,
    DETAIL_LIMIT,
    EXIF_FORMATS,
    FORMAT_NAMES,
    FORMATS,
    IMAGE_SUFFIXES,
    NO_ALPHA_FORMATS,
    PNG_COMPRESS_LEVEL,
    SIXTEEN_BIT_FORMATS,
    SUFFIX_FORMATS,
    Image,
)
from srkit.version import __version__

__all__ = ["PNG_COMPRESS_LEVEL", "provenance_xmp", "read_provenance", "write_image"]

_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "MPO": "JPEG"}


# --------------------------------------------------------------------------------------------------
# Input normalisation
# --------------------------------------------------------------------------------------------------


@dataclass
class _Meta:
    """Metadata to embed when writing."""

    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None
    xmp: bytes | None = None


def _resolve_format(path: Path, format: str | None) -> str:
    if format is not None:
        name = _FORMAT_ALIASES.get(format.upper().lstrip("."), format.upper().lstrip("."))
        if name not in FORMATS:
            raise ImageError(path, f"unsupported output format {format!r} (expected {FORMAT_NAMES})")
        return name
    by_suffix = SUFFIX_FORMATS.get(path.suffix.lower())
    if by_suffix is None:
        raise ImageError(
            path, f"unknown image suffix {path.suffix!r} (expected one of {', '.join(IMAGE_SUFFIXES)})"
        )
    return by_suffix


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


def _fit_channels(data: np.ndarray, fmt: str, bit_depth: int) -> np.ndarray:
    """Adapt the ``(H, W, C)`` channel layout to what ``fmt`` stores: JPEG and BMP drop alpha (a view),
    WebP has no gray, and Pillow cannot read 16-bit gray+alpha TIFF, so that becomes 16-bit RGBA."""
    channels = data.shape[2]
    if fmt in NO_ALPHA_FORMATS and channels in (2, 4):
        return data[..., :-1]
    expand_gray = fmt == "WEBP" or (fmt == "TIFF" and bit_depth == 16 and channels == 2)
    if expand_gray and channels in (1, 2):
        return np.concatenate([data[..., :1]] * 3 + [data[..., 1:]], axis=2)
    return data


def fit_data(
    data: np.ndarray, fmt: str, depth: int, background: tuple[int, int, int] | None = None
) -> np.ndarray:
    """:func:`_fit_channels`, after compositing alpha over ``background`` for a format without alpha."""
    if background is not None and fmt in NO_ALPHA_FORMATS and data.shape[2] in (2, 4):
        data = composite_over(data, background)
    return _fit_channels(data, fmt, depth)


def check_background(background: Any, path: Path) -> tuple[int, int, int] | None:
    """``background`` as an 8-bit ``(r, g, b)``, or ``None``; anything else is an :class:`ImageError`."""
    if background is None:
        return None
    values = tuple(background) if isinstance(background, (tuple, list)) else ()
    if len(values) == 3 and all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in values
    ):
        return values[0], values[1], values[2]
    raise ImageError(path, f"background must be three integers from 0 to 255 (r, g, b), got {background!r}")


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
    return depth if fmt in SIXTEEN_BIT_FORMATS else 8


# --------------------------------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------------------------------


def _pillow_params(fmt: str, meta: _Meta, quality: int, lossless: bool) -> dict[str, Any]:
    """Keyword arguments for ``PIL.Image.save``."""
    params: dict[str, Any] = {}
    if meta.icc_profile and fmt not in ("BMP", "GIF"):
        params["icc_profile"] = meta.icc_profile
    if meta.exif and fmt in EXIF_FORMATS:
        params["exif"] = meta.exif
    if meta.dpi and fmt not in ("WEBP", "GIF"):
        params["dpi"] = meta.dpi
    if fmt == "JPEG":
        params.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        params.update(quality=quality, lossless=lossless, exact=lossless)
    elif fmt == "PNG":
        params["compress_level"] = PNG_COMPRESS_LEVEL
    elif fmt == "TIFF" and features.check("libtiff"):
        params["compression"] = "tiff_adobe_deflate"
    elif fmt == "GIF":
        params["optimize"] = False  # keep each frame's palette and indices as gif_frame made them
    if meta.xmp:
        params.update(_xmp_params(fmt, meta.xmp))
    return params


def _xmp_params(fmt: str, xmp: bytes) -> dict[str, Any]:
    """``PIL.Image.save`` arguments storing the XMP packet ``xmp`` (GIF: as a comment extension)."""
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt(_PNG_XMP_KEY, xmp.decode())
        return {"pnginfo": info}
    if fmt == "TIFF":
        return {"tiffinfo": {700: xmp}}
    if fmt == "GIF":
        return {"comment": xmp}
    return {"xmp": xmp} if fmt in ("JPEG", "WEBP") else {}


def _save_pillow(
    fp: IO[bytes], data: np.ndarray, fmt: str, meta: _Meta, quality: int, lossless: bool
) -> None:
    """8-bit ``(H, W, C)`` data through Pillow."""
    params = _pillow_params(fmt, meta, quality, lossless)
    if fmt == "GIF":
        im = gif_frame(data, transparent=has_transparency(data))
        if "transparency" in im.info:
            params["transparency"] = TRANSPARENT_INDEX
    else:
        im = PILImage.fromarray(data[..., 0] if data.shape[2] == 1 else data)  # L, LA, RGB or RGBA
    im.save(fp, format=fmt, **params)


def has_transparency(data: np.ndarray) -> bool:
    """Whether 8-bit ``(H, W, C)`` data has alpha (C = 2 or 4) and a pixel GIF would make transparent."""
    return data.shape[2] in (2, 4) and bool((data[..., -1] < 128).any())


def _encoder(
    fmt: str, depth: int, meta: _Meta, quality: int, lossless: bool
) -> Callable[[IO[bytes], np.ndarray], None]:
    """The function writing ``(H, W, C)`` integer data of this format and depth to a binary file."""

    def write_16bit(fp: IO[bytes], data: np.ndarray) -> None:
        if fmt == "PNG":
            png = png16_bytes(data, icc_profile=meta.icc_profile, dpi=meta.dpi, exif=meta.exif)
            fp.write(_with_png_xmp(png, meta.xmp) if meta.xmp else png)
        else:
            fp.write(tiff16_bytes(data, icc_profile=meta.icc_profile, dpi=meta.dpi, xmp=meta.xmp))

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
    provenance: Mapping[str, str] | None = None,
    overwrite: Overwrite = True,
    background: tuple[int, int, int] | None = None,
) -> Path:
    """Write ``image`` to ``path`` atomically (temporary file in the same folder, then ``os.replace``).

    ``image`` is an :class:`Image` (its alpha, bit depth, ICC profile, EXIF and dpi are kept), a float
    ``(C, H, W)`` tensor in ``[0, 1]`` or a uint8/uint16 ``(H, W[, C])`` array; C = 2 or 4 means the last
    channel is alpha. Integer arrays are written as they are, with no float copy (uint8 -> 8-bit and
    uint16 -> 16-bit files; a conversion between the two depths rounds as the float path does), so large
    images can be written without several full-size float32 copies. The format comes from the suffix
    unless ``format`` is given. ``bit_depth`` defaults to the input's (16 for uint16 arrays and 16-bit
    images); only PNG and TIFF store 16 bits, the other formats get 8. JPEG and BMP drop alpha, or
    composite the image over ``background`` (an 8-bit RGB colour) when it is given; WebP stores gray as
    RGB; GIF is quantised to 256 colours with on/off transparency (:mod:`srkit.io.images.gif`).
    ``quality`` (1-100) applies to JPEG and lossy WebP (JPEG at 90+ uses 4:4:4 chroma); ``lossless``
    selects lossless WebP. Missing parent folders are created.

    Metadata: ``icc_profile``, ``exif`` (the raw block with its ``b"Exif\\0\\0"`` prefix, as in
    :attr:`ImageInfo.exif`) and ``dpi`` (``(x, y)``) override what an :class:`Image` carries (``None``
    keeps it; ``b""`` writes no profile / no EXIF). A profile whose colour space contradicts the channels
    is left out; EXIF is stored in PNG, JPEG and WebP, dpi in PNG, JPEG, TIFF and BMP.
    ``provenance`` (``{"source": ..., "model": ..., "scale": ...}``) writes srkit's marker (see the
    module docstring; not in BMP).

    ``overwrite`` (see :func:`srkit.io.atomic.atomic_open`): ``True`` replaces an existing file,
    ``False`` never does, a callable decides per existing file at the moment of the rename.

    Raises:
        ImageError: bad arguments or a failed write; an existing file at ``path`` is then left untouched
            (kept by ``overwrite``: ``__cause__`` is a :class:`~srkit.io.atomic.NotReplacedError`).
    """
    target = Path(path)
    fmt = _resolve_format(target, format)
    if not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ImageError(target, f"quality must be an integer from 1 to 100, got {quality!r}")
    if isinstance(image, np.ndarray):
        _check_array(image, target)
        meta = _Meta()
        depth = _resolve_depth(bit_depth, 16 if image.dtype == np.uint16 else 8, fmt, target)
        data = array_to_depth(image, depth)
    else:
        planes, natural_depth, meta = _planes(image, target)
        depth = _resolve_depth(bit_depth, natural_depth, fmt, target)
        data = planes_to_ints(planes, depth)
    data = fit_data(data, fmt, depth, check_background(background, target))
    if icc_profile is not None:
        meta.icc_profile = icc_profile or None
    if exif is not None:
        meta.exif = exif or None
    if dpi is not None:
        meta.dpi = _check_dpi(dpi, target)
    if meta.icc_profile and not _icc_fits(meta.icc_profile, data.shape[2]):
        meta.icc_profile = None
    if provenance is not None and fmt != "BMP":
        meta.xmp = provenance_xmp(provenance)
    if target.is_dir():
        raise ImageError(target, "is a directory")
    encode = _encoder(fmt, depth, meta, quality, lossless)
    try:
        with atomic_open(target, "wb", overwrite=overwrite) as fp:
            encode(fp, data)
    except NotReplacedError as exc:
        raise ImageError(target, "exists; not replaced") from exc
    except CODEC_ERRORS as exc:
        # a file-system error's text repeats a (temporary) path, which would crowd out the reason
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc, DETAIL_LIMIT)
        raise ImageError(target, f"cannot write {fmt} file ({detail})") from exc
    return target


# --------------------------------------------------------------------------------------------------
# Provenance marker
# --------------------------------------------------------------------------------------------------

_PNG_XMP_KEY = "XML:com.adobe.xmp"
_XMP_NS = "urn:srkit:provenance:1#"
_XMP_ATTR = re.compile(r'\bsrkit:([A-Za-z]+)="([^"]*)"')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _xml_attr(value: str) -> str:
    """``value`` as a double-quoted XML attribute: undecodable file-name bytes (surrogate escapes) and
    control characters as ``\\xNN``."""
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return '"' + html.escape(text, quote=True).replace("&#x27;", "'") + '"'


def provenance_xmp(fields: Mapping[str, str]) -> bytes:
    """The XMP packet of srkit's provenance marker: ``fields`` (names of letters only) as ``srkit:``
    attributes, plus ``srkit:version``."""
    values = {**{str(k): str(v) for k, v in fields.items()}, "version": __version__}
    bad = [k for k in values if not k.isascii() or not k.isalpha()]
    if bad:
        raise ValueError(f"provenance field names must be ASCII letters, got {bad[0]!r}")
    attrs = " ".join(f"srkit:{key}={_xml_attr(value)}" for key, value in values.items())
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:srkit="{_XMP_NS}" {attrs}/></rdf:RDF></x:xmpmeta>'
    ).encode()


def _with_png_xmp(png: bytes, xmp: bytes) -> bytes:
    """``png`` with an ``iTXt`` chunk holding ``xmp`` right after ``IHDR`` (8 + 25 bytes)."""
    # keyword, then: no compression, no language tag, no translated keyword
    payload = _PNG_XMP_KEY.encode() + b"\x00\x00\x00\x00\x00" + xmp
    body = b"iTXt" + payload
    chunk = struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))
    return png[:33] + chunk + png[33:]


def read_provenance(path: str | Path) -> dict[str, str] | None:
    """srkit's provenance marker of the image file at ``path`` (``{"source", "model", "scale",
    "version"}``), read from the header only; ``None`` when the file has none, is not a regular file or
    cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO must not block
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fp, warnings.catch_warnings():
            if not stat.S_ISREG(os.fstat(fp.fileno()).st_mode):
                return None
            warnings.simplefilter("ignore")  # decompression-bomb and format warnings: only metadata is read
            with PILImage.open(fp, formats=("PNG", "JPEG", "WEBP", "TIFF", "GIF")) as im:
                xmp = im.info.get("comment") if im.format == "GIF" else im.info.get("xmp")
    except Exception:  # anything Pillow raises on a file that is not ours means "no marker"
        return None
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp or "")
    if _XMP_NS not in text:
        return None
    fields = {name: html.unescape(value) for name, value in _XMP_ATTR.findall(text)}
    return fields if "source" in fields else None
