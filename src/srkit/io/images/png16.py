"""A small numpy encoder for 16-bit PNG files (Pillow cannot write 16-bit RGB, RGBA or gray+alpha).

Rows are filtered as libpng does (every filter type tried, the smallest sum of absolute residuals wins)
and compressed with zlib; the ICC profile (``iCCP``), dpi (``pHYs``) and EXIF (``eXIf``) are stored.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from srkit.io.images.types import EXIF_PREFIX, ZLIB_LEVEL_16

__all__ = ["png16_bytes"]


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


# PNG filter types tried per row (None, Sub, Up, Average, Paeth); the row with the smallest sum of
# absolute signed residuals wins, as libpng does.
_PNG_FILTERS: tuple[int, ...] = (0, 1, 2, 3, 4)


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
    predictions: dict[int, np.ndarray | int] = {0: 0, 1: left, 2: up, 3: (left + up) >> 1, 4: paeth}
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


def png16_bytes(
    data: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    exif: bytes | None = None,
) -> bytes:
    """A 16-bit PNG (gray, gray+alpha, RGB or RGBA) from uint16 ``(H, W, C)``, with the ICC profile,
    dpi and EXIF block (``b"Exif\\0\\0"`` prefix optional) when given."""
    height, width, channels = data.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = np.ascontiguousarray(data, dtype=">u2").view(np.uint8).reshape(height, width * channels * 2)
    chunks = [_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0))]
    if icc_profile:
        chunks.append(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc_profile)))
    if dpi:
        ppm = [round(v / 0.0254) for v in dpi]
        chunks.append(_png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    if exif:
        payload = exif[len(EXIF_PREFIX) :] if exif.startswith(EXIF_PREFIX) else exif
        chunks.append(_png_chunk(b"eXIf", payload))
    stream = zlib.compress(_png_filter(raw, bpp=2 * channels).tobytes(), ZLIB_LEVEL_16)
    step = 1 << 20
    chunks += [_png_chunk(b"IDAT", stream[i : i + step]) for i in range(0, len(stream), step)]
    chunks.append(_png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)
