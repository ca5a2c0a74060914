"""A small numpy encoder for 16-bit TIFF files (Pillow cannot write 16-bit RGB or RGBA): one little-endian
IFD, chunky samples in strips, Adobe deflate with the horizontal predictor; dpi and the ICC profile are
stored.
"""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from typing import Any

import numpy as np

from srkit.io.images.types import ZLIB_LEVEL_16

__all__ = ["tiff16_bytes"]


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


def tiff16_bytes(
    data: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    xmp: bytes | None = None,
) -> bytes:
    """A 16-bit TIFF (gray, RGB or RGBA; chunky; Adobe deflate with horizontal predictor) from uint16
    ``(H, W, C)``, with the ICC profile, dpi and XMP packet when given."""
    height, width, channels = data.shape
    rows_per_strip = max(1, (1 << 18) // (width * channels * 2))
    diff = data.astype(np.uint16, copy=True)
    diff[:, 1:] -= data[:, :-1]  # predictor 2: horizontal differences, modulo 2**16
    strips = [
        zlib.compress(diff[r : r + rows_per_strip].astype("<u2").tobytes(), ZLIB_LEVEL_16)
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
    if dpi:
        entries += [
            (282, _TIFF_RATIONAL, [_rational(dpi[0])]),
            (283, _TIFF_RATIONAL, [_rational(dpi[1])]),
            (296, _TIFF_SHORT, [2]),
        ]
    if icc_profile:
        entries.append((34675, _TIFF_UNDEFINED, icc_profile))
    if xmp:
        entries.append((700, _TIFF_UNDEFINED, xmp))
    header = b"II*\x00" + struct.pack("<I", ifd_offset)
    body = b"".join(strips) + b"\x00" * (ifd_offset - position)
    return header + body + _tiff_ifd(entries, ifd_offset)
