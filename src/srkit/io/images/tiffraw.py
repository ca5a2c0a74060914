"""TIFF layouts that Pillow cannot decode faithfully, decoded with numpy: float samples (16, 32 or 64
bits), planar (one plane per sample) data with more than 8 bits, premultiplied 16-bit alpha, and gray +
alpha (two samples) with 16 bits or without an ExtraSamples tag.

The compressed strips or tiles are inflated by Pillow itself, through libtiff: they are wrapped, as they
are, in a new TIFF whose 8-bit gray "pixels" are the bytes of the original data, which Pillow decodes with
the file's own codec (LZW, deflate, PackBits, ...). The predictor, byte order, planes, sample type,
premultiplied alpha and orientation are then undone here. No dependency beyond Pillow and numpy.

:func:`sample_count_error` also serves the files Pillow does decode: a TIFF with more samples than gray,
gray + alpha, RGB or RGBA hold (Pillow would silently drop the extra channels) is refused.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import TiffImagePlugin

from srkit.errors import ImageError, one_line
from srkit.io.images.tiff16 import _TIFF_LONG, _TIFF_SHORT, _tiff_ifd
from srkit.io.images.types import CODEC_ERRORS, DETAIL_LIMIT

__all__ = ["TiffLayout", "count_frames", "decode_tiff", "layout_from_tags", "needs_numpy", "parse_first_ifd"]

_WIDTH, _LENGTH, _BITS, _COMPRESSION, _PHOTOMETRIC, _FILL_ORDER = 256, 257, 258, 259, 262, 266
_STRIP_OFFSETS, _ORIENTATION, _SAMPLES, _ROWS_PER_STRIP, _STRIP_COUNTS = 273, 274, 277, 278, 279
_X_RES, _Y_RES, _PLANAR, _RES_UNIT, _PREDICTOR = 282, 283, 284, 296, 317
_TILE_WIDTH, _TILE_LENGTH, _TILE_OFFSETS, _TILE_COUNTS = 322, 323, 324, 325
_EXTRA_SAMPLES, _SAMPLE_FORMAT, _ICC = 338, 339, 34675

# Lossless byte-stream codecs that libtiff inflates into the original bytes: none, LZW, deflate (two
# codes), PackBits, LZMA, Zstandard.
_BYTE_CODECS = {1: "none", 5: "LZW", 8: "deflate", 32946: "deflate", 32773: "PackBits", 34925: "LZMA"}
_BYTE_CODECS[50000] = "Zstandard"
# Photometric interpretation -> (name, colour samples, most samples srkit keeps).
_PHOTOMETRICS = {0: ("gray", 1, 2), 1: ("gray", 1, 2), 2: ("RGB", 3, 4), 3: ("palette", 1, 1)}
_PHOTOMETRICS.update({5: ("CMYK", 4, 4), 6: ("YCbCr", 3, 3)})
_MAX_FRAMES = 1 << 16  # IFD chains longer than this are not followed further
_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}
# A little tolerance around [0, 1] for float samples (rounding of the program that wrote them).
_FLOAT_SLACK = 1e-3


@dataclass(frozen=True)
class TiffLayout:
    """What the first IFD of a TIFF says about its pixels, for :func:`decode_tiff`."""

    width: int
    height: int
    samples: int
    bits: int
    is_float: bool
    planar: bool
    compression: int
    predictor: int
    min_is_white: bool
    colour: int  # 1 (gray) or 3 (RGB)
    alpha: str  # "none", "straight" or "premultiplied"
    big_endian: bool
    offsets: tuple[int, ...]
    counts: tuple[int, ...]
    rows_per_strip: int
    tile: tuple[int, int] | None  # (width, length) of tiled files
    fill_order: int = 1
    orientation: int = 1
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None

    @property
    def mode(self) -> str:
        """``'RGB;16'``, ``'LA;F32'``, ``'LA'``...: colour, alpha and sample type (8-bit: no suffix)."""
        base = ("L" if self.colour == 1 else "RGB") + ("A" if self.alpha != "none" else "")
        if self.is_float:
            return f"{base};F{self.bits}"
        return base if self.bits == 8 else f"{base};{self.bits}"

    @property
    def bits_per_pixel(self) -> int:
        return self.samples * self.bits

    @property
    def bit_depth(self) -> int:
        """The depth the pixels are written back with: 8 for 8-bit samples, else 16."""
        return 8 if self.bits == 8 and not self.is_float else 16


# --------------------------------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------------------------------


def _ints(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    values = value if isinstance(value, (tuple, list)) else (value,)
    return tuple(int(v) for v in values)


def _one(tags: Mapping[int, Any], tag: int, default: int) -> int:
    values = _ints(tags.get(tag))
    return values[0] if values else default


def _per_sample(tags: Mapping[int, Any], tag: int, samples: int, default: int) -> tuple[int, ...]:
    """A per-sample tag (BitsPerSample, SampleFormat) as ``samples`` values (a single value repeats)."""
    values = _ints(tags.get(tag)) or (default,)
    return values * samples if len(values) == 1 else values


def sample_count_error(tags: Mapping[int, Any], path: Path) -> ImageError | None:
    """The error for a TIFF with more samples per pixel than its colour model's channels plus alpha
    (Pillow would drop the rest silently), else ``None``."""
    samples = _one(tags, _SAMPLES, 1)
    known = _PHOTOMETRICS.get(_one(tags, _PHOTOMETRIC, -1))
    if known is None or samples <= known[2]:
        return None
    name, colour, _ = known
    return ImageError(
        path,
        f"unsupported TIFF layout: {samples} samples per pixel for {name} ({colour} colour + "
        f"{samples - colour} extra; srkit reads gray, gray + alpha, RGB or RGBA and would lose the "
        f"other channels)",
    )


def needs_numpy(tags: Mapping[int, Any], pil_mode: str, pil_cuts_bits: bool) -> bool:
    """Whether a TIFF that Pillow opened is decoded here: float samples, more than 8 bits that Pillow
    would cut to 8 (``pil_cuts_bits``: planar, premultiplied), or two samples that Pillow does not read
    as gray + alpha."""
    samples = _one(tags, _SAMPLES, 1)
    if 3 in _per_sample(tags, _SAMPLE_FORMAT, samples, 1):
        return True
    if samples == 2 and pil_mode not in ("LA", "La"):
        return True
    return max(_per_sample(tags, _BITS, samples, 1)) > 8 and pil_cuts_bits


def _rational(value: Any) -> float | None:
    try:
        number = float(value[0] if isinstance(value, tuple) else value)
    except (TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _dpi(tags: Mapping[int, Any]) -> tuple[float, float] | None:
    """dpi from the resolution tags as Pillow reads them (no unit means inch; unit 3 is centimetres)."""
    x, y = _rational(tags.get(_X_RES)), _rational(tags.get(_Y_RES))
    unit = _one(tags, _RES_UNIT, 2)
    if x is None or y is None or unit not in (2, 3):
        return None
    factor = 2.54 if unit == 3 else 1.0
    return x * factor, y * factor


def _alpha_kind(extra: tuple[int, ...], samples: int, colour: int) -> tuple[str, int]:
    """``(alpha kind, samples kept)``: gray's second sample is alpha whatever ExtraSamples says; RGB's
    fourth is alpha when ExtraSamples says so (or is absent), and dropped when it says "unspecified"
    (as Pillow does for 8-bit RGBX)."""
    if samples == colour:
        return "none", colour
    kind = extra[0] if extra else 2
    if kind == 1:
        return "premultiplied", samples
    if colour == 3 and kind == 0:
        return "none", colour
    return "straight", samples


def layout_from_tags(tags: Mapping[int, Any], big_endian: bool, path: Path) -> TiffLayout:
    """The :class:`TiffLayout` of an IFD (Pillow's ``tag_v2`` or :func:`parse_first_ifd`), or one
    ``ImageError`` naming what is not supported."""

    def unsupported(what: str) -> ImageError:
        return ImageError(path, f"unsupported TIFF layout: {what}")

    error = sample_count_error(tags, path)
    if error is not None:
        raise error
    samples = _one(tags, _SAMPLES, 1)
    bits = set(_per_sample(tags, _BITS, samples, 1))
    formats = set(_per_sample(tags, _SAMPLE_FORMAT, samples, 1))
    if len(bits) != 1 or len(formats) != 1:
        raise unsupported(f"mixed sample sizes or types {sorted(bits)} {sorted(formats)}")
    bit, fmt = bits.pop(), formats.pop()
    if fmt == 3 and bit not in (16, 32, 64):
        raise unsupported(f"{bit}-bit float samples")
    if fmt == 1 and bit not in (8, 16):
        raise unsupported(f"{bit}-bit unsigned samples (srkit reads 8 and 16 bits)")
    if fmt not in (1, 3):
        raise unsupported("signed integer samples" if fmt == 2 else f"sample format {fmt}")
    photometric = _one(tags, _PHOTOMETRIC, -1)
    if photometric not in (0, 1, 2):
        name = _PHOTOMETRICS.get(photometric, (f"photometric {photometric}",))[0]
        raise unsupported(f"{name} with {bit}-bit samples")
    colour = 3 if photometric == 2 else 1
    if samples < colour:
        raise unsupported(f"{samples} samples per pixel for RGB")
    compression = _one(tags, _COMPRESSION, 1)
    if compression not in _BYTE_CODECS:
        raise unsupported(f"compression {compression} with {bit}-bit samples")
    predictor = _one(tags, _PREDICTOR, 1)
    if predictor not in (1, 2, 3) or (predictor == 3 and fmt != 3):
        raise unsupported(f"predictor {predictor} with {'float' if fmt == 3 else 'integer'} samples")
    width, height = _one(tags, _WIDTH, 0), _one(tags, _LENGTH, 0)
    tiled = _TILE_OFFSETS in tags
    tile = (_one(tags, _TILE_WIDTH, 0), _one(tags, _TILE_LENGTH, 0)) if tiled else None
    if tile is not None and (tile[0] <= 0 or tile[1] <= 0):
        raise ImageError(path, f"corrupt TIFF header (tile size {tile[0]}x{tile[1]})")
    alpha, _ = _alpha_kind(_ints(tags.get(_EXTRA_SAMPLES)), samples, colour)
    icc = tags.get(_ICC)
    orientation = _one(tags, _ORIENTATION, 1)
    return TiffLayout(
        width=width,
        height=height,
        samples=samples,
        bits=bit,
        is_float=fmt == 3,
        planar=_one(tags, _PLANAR, 1) == 2 and samples > 1,
        compression=compression,
        predictor=predictor,
        min_is_white=photometric == 0,
        colour=colour,
        alpha=alpha,
        big_endian=big_endian,
        offsets=_ints(tags.get(_TILE_OFFSETS if tiled else _STRIP_OFFSETS)),
        counts=_ints(tags.get(_TILE_COUNTS if tiled else _STRIP_COUNTS)),
        rows_per_strip=max(1, min(_one(tags, _ROWS_PER_STRIP, height), max(height, 1))),
        tile=tile,
        fill_order=_one(tags, _FILL_ORDER, 1),
        orientation=orientation if 1 <= orientation <= 8 else 1,
        icc_profile=bytes(icc) if isinstance(icc, (bytes, bytearray)) and icc else None,
        dpi=_dpi(tags),
    )


def _header(fp: IO[bytes]) -> tuple[bytes, bool, bool, int]:
    """``(header bytes, big-endian, BigTIFF, first IFD offset)`` of the TIFF in ``fp``."""
    fp.seek(0)
    head = fp.read(8)
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        raise SyntaxError("not a TIFF file")
    big_endian, order = head[:2] == b"MM", ">" if head[:2] == b"MM" else "<"
    bigtiff = struct.unpack(order + "H", head[2:4])[0] == 43
    if bigtiff:
        head += fp.read(8)
        first = struct.unpack(order + "Q", head[8:16])[0]
    else:
        first = struct.unpack(order + "I", head[4:8])[0]
    return head, big_endian, bigtiff, first


def parse_first_ifd(fp: IO[bytes]) -> tuple[TiffImagePlugin.ImageFileDirectory_v2, bool]:
    """The first IFD of a TIFF (parsed by Pillow's tag reader) and whether the file is big-endian; for
    files whose layout Pillow refuses to open (``unknown pixel mode``)."""
    head, big_endian, _, first = _header(fp)
    ifd = TiffImagePlugin.ImageFileDirectory_v2(head)
    fp.seek(first)
    with warnings.catch_warnings():  # Pillow warns about odd tags; the decoding decides
        warnings.simplefilter("ignore")
        ifd.load(fp)
    return ifd, big_endian


def count_frames(fp: IO[bytes]) -> int:
    """How many IFDs (pages) the TIFF in ``fp`` chains, reading only their entry counts and links; at
    least 1, and a loop or a link past the end ends the count."""
    try:
        _, big_endian, bigtiff, offset = _header(fp)
        size = os.fstat(fp.fileno()).st_size
    except (*CODEC_ERRORS, io.UnsupportedOperation):
        return 1
    order = ">" if big_endian else "<"
    count_fmt, entry, link_fmt = ("Q", 20, "Q") if bigtiff else ("H", 12, "I")
    seen: set[int] = set()
    while offset and offset not in seen and offset < size and len(seen) < _MAX_FRAMES:
        seen.add(offset)
        fp.seek(offset)
        raw = fp.read(struct.calcsize(count_fmt))
        if len(raw) < struct.calcsize(count_fmt):
            break
        (entries,) = struct.unpack(order + count_fmt, raw)
        fp.seek(offset + len(raw) + entries * entry)
        raw = fp.read(struct.calcsize(link_fmt))
        if len(raw) < struct.calcsize(link_fmt):
            break
        (offset,) = struct.unpack(order + link_fmt, raw)
    return max(1, len(seen))


# --------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """How the chunks (strips or tiles) of one plane cover it: ``rows`` x ``blocks * block_px`` pixels,
    every chunk decoding to whole rows of ``block_px`` pixels."""

    rows: int
    blocks: int  # tiles across (1 for strips)
    block_px: int  # pixels per chunk row (tile width, or the image width)
    chunks: int  # chunks per plane


def _grid(layout: TiffLayout) -> _Grid:
    if layout.tile is None:
        strips = -(-layout.height // layout.rows_per_strip)
        return _Grid(rows=layout.height, blocks=1, block_px=layout.width, chunks=strips)
    tw, tl = layout.tile
    across, down = -(-layout.width // tw), -(-layout.height // tl)
    return _Grid(rows=down * tl, blocks=across, block_px=tw, chunks=across * down)


def _read_chunks(fp: IO[bytes], layout: TiffLayout, path: Path, planes: int, grid: _Grid) -> list[bytes]:
    """The compressed chunks in file order, each checked to lie inside the file."""
    if len(layout.offsets) < planes * grid.chunks or len(layout.counts) < planes * grid.chunks:
        raise ImageError(
            path,
            f"corrupt TIFF header ({len(layout.offsets)} data offsets and {len(layout.counts)} sizes "
            f"for {planes * grid.chunks} {'tiles' if layout.tile else 'strips'})",
        )
    size = os.fstat(fp.fileno()).st_size
    chunks = []
    for offset, count in zip(layout.offsets, layout.counts, strict=False):
        if offset < 0 or count < 0 or offset + count > size:
            raise ImageError(path, "cannot decode TIFF data, file truncated or corrupt (data past the end)")
        fp.seek(offset)
        chunks.append(fp.read(count))
        if len(chunks) == planes * grid.chunks:
            break
    return chunks


def _wrapper(chunks: list[bytes], layout: TiffLayout, grid: _Grid, pixel_bytes: int) -> bytes:
    """A TIFF of 8-bit gray "pixels", one per byte of the plane, holding ``chunks`` as they are."""
    offsets, position = [], 8
    for chunk in chunks:
        offsets.append(position)
        position += len(chunk)
    ifd_offset = position + position % 2
    counts = [len(c) for c in chunks]
    entries: list[tuple[int, int, Any]] = [
        (_LENGTH, _TIFF_LONG, [grid.rows]),
        (_BITS, _TIFF_SHORT, [8]),
        (_COMPRESSION, _TIFF_SHORT, [layout.compression]),
        (_PHOTOMETRIC, _TIFF_SHORT, [1]),
        (_SAMPLES, _TIFF_SHORT, [1]),
        (_PLANAR, _TIFF_SHORT, [1]),
    ]
    if layout.fill_order != 1:
        entries.append((_FILL_ORDER, _TIFF_SHORT, [layout.fill_order]))
    if layout.tile is None:
        entries += [
            (_WIDTH, _TIFF_LONG, [layout.width * pixel_bytes]),
            (_STRIP_OFFSETS, _TIFF_LONG, offsets),
            (_ROWS_PER_STRIP, _TIFF_LONG, [layout.rows_per_strip]),
            (_STRIP_COUNTS, _TIFF_LONG, counts),
        ]
    else:
        entries += [
            (_WIDTH, _TIFF_LONG, [grid.blocks * grid.block_px * pixel_bytes]),
            (_TILE_WIDTH, _TIFF_LONG, [grid.block_px * pixel_bytes]),
            (_TILE_LENGTH, _TIFF_LONG, [layout.tile[1]]),
            (_TILE_OFFSETS, _TIFF_LONG, offsets),
            (_TILE_COUNTS, _TIFF_LONG, counts),
        ]
    body = b"".join(chunks) + b"\x00" * (ifd_offset - position)
    return b"II*\x00" + struct.pack("<I", ifd_offset) + body + _tiff_ifd(entries, ifd_offset)


def _plane_bytes(
    chunks: list[bytes],
    layout: TiffLayout,
    grid: _Grid,
    pixel_bytes: int,
    pil_limit: Callable[[int], AbstractContextManager[None]],
) -> np.ndarray:
    """One plane's decompressed bytes, ``(rows, blocks, block_px * pixel_bytes)`` uint8."""
    row_bytes = grid.block_px * pixel_bytes
    if layout.compression == 1 and layout.tile is None:
        joined = b"".join(chunks)
        need = grid.rows * row_bytes
        if len(joined) < need:
            raise EOFError(f"strips hold {len(joined)} of {need} bytes")
        return np.frombuffer(joined, np.uint8, need).reshape(grid.rows, 1, row_bytes)
    wrapped = _wrapper(chunks, layout, grid, pixel_bytes)
    width = (layout.width if layout.tile is None else grid.blocks * grid.block_px) * pixel_bytes
    with pil_limit(width * grid.rows):
        im = TiffImagePlugin.TiffImageFile(io.BytesIO(wrapped))
        im.load()
        data = np.asarray(im)
    if layout.tile is None:
        return data.reshape(grid.rows, 1, row_bytes)
    return data.reshape(grid.rows, grid.blocks, row_bytes)


def _samples(raw: np.ndarray, layout: TiffLayout, per_pixel: int) -> np.ndarray:
    """Decompressed bytes ``(rows, blocks, block bytes)`` -> native samples ``(rows, blocks * px, S)``,
    the predictor undone within each chunk row."""
    rows, blocks, block_bytes = raw.shape
    size = layout.bits // 8
    kind = "f" if layout.is_float else "u"
    if layout.predictor == 3:  # byte planes, most significant first, differenced with stride S
        acc = raw.reshape(rows, blocks, block_bytes // per_pixel, per_pixel).cumsum(axis=2, dtype=np.uint8)
        planes = acc.reshape(rows, blocks, size, block_bytes // size).transpose(0, 1, 3, 2)
        values = np.ascontiguousarray(planes).view(f">f{size}")[..., 0].astype(f"=f{size}")
    else:
        order = ">" if layout.big_endian else "<"
        ints = np.ascontiguousarray(raw).view(f"{order}u{size}").astype(f"=u{size}")
        if layout.predictor == 2:
            shaped = ints.reshape(rows, blocks, -1, per_pixel)
            ints = shaped.cumsum(axis=2, dtype=ints.dtype).reshape(ints.shape)
        values = ints.view(f"={kind}{size}") if kind == "f" else ints
    return values.reshape(rows, -1, per_pixel)


def _to_unit_float(data: np.ndarray, path: Path) -> np.ndarray:
    """Float samples as float32 in [0, 1]; NaN, infinities or values outside [0, 1] are refused."""
    values = data.astype(np.float32, copy=False)
    finite = np.isfinite(values)
    if not finite.all():
        raise ImageError(path, f"float TIFF has {int((~finite).sum())} NaN or infinite samples")
    low, high = float(values.min()), float(values.max())
    if low < -_FLOAT_SLACK or high > 1 + _FLOAT_SLACK:
        raise ImageError(
            path,
            f"float TIFF samples range from {low:g} to {high:g}; srkit reads float images as [0, 1] "
            f"(scale them to [0, 1] first)",
        )
    return np.clip(values, 0.0, 1.0)


def _unpremultiply(data: np.ndarray, colour: int) -> np.ndarray:
    """Straight alpha from premultiplied: colour / alpha where alpha > 0 (integers rounded)."""
    maximum = 1.0 if data.dtype.kind == "f" else float(np.iinfo(data.dtype).max)
    alpha = data[..., colour : colour + 1].astype(np.float32)
    colour_part = data[..., :colour].astype(np.float32)
    straight = np.where(alpha > 0, colour_part * maximum / np.maximum(alpha, 1e-12), 0.0)
    straight = np.clip(straight, 0.0, maximum)
    if data.dtype.kind != "f":
        straight = np.floor(straight + 0.5)
    out = data.copy()
    out[..., :colour] = straight.astype(data.dtype)
    return out


def decode_tiff(
    fp: IO[bytes],
    layout: TiffLayout,
    path: Path,
    pil_limit: Callable[[int], AbstractContextManager[None]],
) -> np.ndarray:
    """Upright pixels ``(H, W, C)`` of the first page: uint8/uint16, or float32 in [0, 1] for float
    files; the last channel is alpha when ``layout.alpha`` says so (straight, unpremultiplied).
    ``pil_limit(pixels)`` lets Pillow decode a wrapper of that many 8-bit pixels."""
    grid = _grid(layout)
    planes = layout.samples if layout.planar else 1
    per_pixel = 1 if layout.planar else layout.samples
    pixel_bytes = per_pixel * layout.bits // 8
    try:
        chunks = _read_chunks(fp, layout, path, planes, grid)
        parts = []
        for plane in range(planes):
            raw = _plane_bytes(
                chunks[plane * grid.chunks : (plane + 1) * grid.chunks], layout, grid, pixel_bytes, pil_limit
            )
            parts.append(_samples(raw, layout, per_pixel)[: layout.height, : layout.width])
    except ImageError:
        raise
    except CODEC_ERRORS as exc:
        name = _BYTE_CODECS.get(layout.compression, "")
        raise ImageError(
            path, f"cannot decode {name} TIFF data, file truncated or corrupt ({one_line(exc, DETAIL_LIMIT)})"
        ) from exc
    data = parts[0] if planes == 1 else np.concatenate(parts, axis=-1)
    keep = layout.colour + (layout.alpha != "none")
    data = data[..., :keep]
    if layout.is_float:
        data = _to_unit_float(data, path)
    if layout.min_is_white:
        maximum = 1.0 if layout.is_float else np.iinfo(data.dtype).max
        data = data.copy()
        data[..., 0] = maximum - data[..., 0]
    if layout.alpha == "premultiplied":
        data = _unpremultiply(data, layout.colour)
    transform = _ORIENT.get(layout.orientation)
    return np.ascontiguousarray(transform(data) if transform else data)
