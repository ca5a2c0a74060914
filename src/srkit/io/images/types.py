"""Image types and constants: :class:`Image`, :class:`ImageInfo`, :class:`ImageHeader`, the file suffixes
and formats srkit reads and writes, and the constants of the header checks (pixel limit, bomb ratio)."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = [
    "BYTES_PER_INPUT_PIXEL",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "MAX_FRAMES_ENV",
    "MAX_PIXELS_ENV",
    "MAX_RATIO",
    "MAX_RATIO_ENV",
    "SUFFIX_FORMATS",
    "Image",
    "ImageHeader",
    "ImageInfo",
    "is_image_file",
]

#: Suffixes of the files srkit reads (folder scans, datasets) and writes.
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")

# --- The pixel limit (see docs/limits.md). By default it is what the machine's available memory can
# upscale: available bytes / BYTES_PER_INPUT_PIXEL, never below MIN_DEFAULT_MAX_PIXELS; DEFAULT_MAX_PIXELS
# only when the available memory cannot be read. ``$SRKIT_MAX_PIXELS`` or ``max_pixels=`` replace it.

#: Peak memory of one x2 ``srkit upscale`` per input pixel: 52 bytes measured on the development machine
#: (shipped EDSR-baseline x2, default tiles, PNG output; 40 in issue 11's first measurement; see
#: docs/limits.md). Input float planes, tiles, output.
BYTES_PER_INPUT_PIXEL: int = 52
#: The default limit when the available memory cannot be determined (no /proc/meminfo, no sysconf).
DEFAULT_MAX_PIXELS: int = 20000 * 20000
#: The memory-derived default never goes below this (4096 x 4096): a momentary shortage of free memory
#: must not refuse ordinary photos.
MIN_DEFAULT_MAX_PIXELS: int = 1 << 24
MAX_PIXELS_ENV = "SRKIT_MAX_PIXELS"

# --- The bomb ratio: declared bytes of samples (width * height * bits per pixel / 8) per byte of file.
# Deflate cannot exceed 1032:1, so a PNG above MAX_RATIO is all one value or incomplete; the real photos
# and the repository's data sets are below 20 (docs/limits.md). Images of up to BOMB_MIN_PIXELS are not
# checked: they cannot cost much (under 900 MB at BYTES_PER_INPUT_PIXEL), and blank ones stay readable.

#: Most declared sample bytes per file byte for PNG, WebP, TIFF, BMP and GIF files.
MAX_RATIO: float = 1000.0
#: JPEG: at least one bit of entropy-coded data per 8x8 block of the full-resolution component (every
#: block's DC coefficient needs a Huffman code of at least one bit), i.e. at most 512 declared bytes per
#: file byte per colour component.
JPEG_MAX_RATIO_PER_COMPONENT: float = 512.0
#: Images with at most this many pixels (4096 x 4096) are not checked for their ratio.
BOMB_MIN_PIXELS: int = 1 << 24
MAX_RATIO_ENV = "SRKIT_MAX_RATIO"

# --- Animations and multi-page files (:mod:`srkit.io.images.animation`): every frame counts against the
# pixel limit (width * height * frames: the GIF, APNG and WebP encoders hold every output frame until the
# file is written), and the number of frames against DEFAULT_MAX_FRAMES (each frame costs a pass through
# the upscaler however small it is). ``$SRKIT_MAX_FRAMES`` or ``max_frames=`` replace it.

#: Most frames (pages) of one file read frame by frame.
DEFAULT_MAX_FRAMES: int = 10_000
MAX_FRAMES_ENV = "SRKIT_MAX_FRAMES"

#: The formats srkit encodes (Pillow names); GIF with a palette of at most 256 colours per frame.
FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
FORMAT_NAMES = "PNG, JPEG, WebP, TIFF, BMP or GIF"
#: The formats srkit decodes: the written ones.
READ_FORMATS = FORMATS
READ_FORMAT_NAMES = FORMAT_NAMES
#: Formats whose files hold several frames (animation frames, TIFF pages), read and written by
#: :mod:`srkit.io.images.animation`.
MULTI_FRAME_FORMATS = ("GIF", "PNG", "WEBP", "TIFF")
#: Formats without an alpha channel.
NO_ALPHA_FORMATS = ("JPEG", "BMP")
#: Formats that store 16 bits per sample.
SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")
#: File suffix -> the format srkit writes for it.
SUFFIX_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".gif": "GIF",
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
#: zlib level of 8-bit PNG output. Pillow's default, 6, took 0.33 CPU s per output megapixel (a 12 MP
#: upscaled photo); 4 takes 0.13 (2.5x faster) for files 5 % larger (``benchmarks/png_level.py``,
#: docs/speed.md).
PNG_COMPRESS_LEVEL = 4
#: Longest exception text quoted in an :class:`~srkit.errors.ImageError` reason.
DETAIL_LIMIT = 200


@dataclass
class ImageInfo:
    """What is known about an image file; enough to write the image back faithfully.

    ``mode`` is the original PIL mode (``'P'``, ``'CMYK'``, ``'I;16'``...) even though the pixels are
    always gray or RGB. ``exif`` holds the raw EXIF block (``b"Exif\\0\\0"`` prefix) with the orientation
    tag removed, as the pixels are already upright; ``orientation`` is the EXIF orientation that was
    applied (1 = none). ``dpi`` is ``(x, y)`` when the file states it. ``frames`` is how many frames
    (animation frames, TIFF pages) the file holds; :func:`~srkit.io.read_image` gives frame 1's pixels,
    :func:`~srkit.io.images.animation.open_frames` every frame. Float TIFFs have ``bit_depth`` 16 (the
    depth they are written back with).
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
    frames: int = 1


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
