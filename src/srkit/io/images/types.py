"""Image types and constants: :class:`Image`, :class:`ImageInfo`, :class:`ImageHeader`, the file suffixes
and formats srkit reads and writes, and the pixel limit's defaults."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "MAX_PIXELS_ENV",
    "SUFFIX_FORMATS",
    "Image",
    "ImageHeader",
    "ImageInfo",
    "is_image_file",
]

IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
DEFAULT_MAX_PIXELS: int = 20000 * 20000
MAX_PIXELS_ENV = "SRKIT_MAX_PIXELS"

#: The formats srkit decodes and encodes (Pillow names).
FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP")
FORMAT_NAMES = "PNG, JPEG, WebP, TIFF or BMP"
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
#: Formats whose files carry EXIF (read and written).
EXIF_FORMATS = ("PNG", "JPEG", "WEBP")
EXIF_PREFIX = b"Exif\x00\x00"
# Errors that Pillow, zlib and struct raise on corrupt, truncated or unsupported data.
CODEC_ERRORS = (
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
# zlib level of the 16-bit encoders: low bytes are mostly noise, so higher levels cost ~4x the time
# for ~2% smaller files.
ZLIB_LEVEL_16 = 3
#: Longest exception text quoted in an :class:`~srkit.errors.ImageError` reason.
DETAIL_LIMIT = 200


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


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding any pixel (:func:`read_header`).

    ``format`` is the Pillow format name (``'PNG'``, ``'JPEG'``, ``'WEBP'``, ``'TIFF'``, ``'BMP'``) and
    ``mode`` the stored PIL mode (``'P'``, ``'CMYK'``, ``'I;16'``...); ``width`` and ``height`` are as
    stored, before any EXIF orientation is applied.
    """

    path: str
    format: str
    mode: str
    width: int
    height: int


def is_image_file(path: str | Path) -> bool:
    """True when ``path`` has one of :data:`IMAGE_SUFFIXES` (case-insensitive); the file is not opened."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
