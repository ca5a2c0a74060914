"""The header checks that keep a small file from costing gigabytes, run before any pixel is decoded.

- **Pixel limit**: by default what this machine's available memory can upscale at x2,
  ``available bytes // BYTES_PER_INPUT_PIXEL`` (at least :data:`MIN_DEFAULT_MAX_PIXELS`); the available
  memory is ``MemAvailable`` of ``/proc/meminfo`` (else free pages from ``os.sysconf``), lowered to what a
  cgroup memory limit leaves. ``$SRKIT_MAX_PIXELS`` or an explicit ``max_pixels`` replace it.
- **Frames**: a file read frame by frame (:mod:`srkit.io.images.animation`) has all its frames' pixels
  counted against the pixel limit, and at most :data:`DEFAULT_MAX_FRAMES` frames (``$SRKIT_MAX_FRAMES``
  or ``max_frames`` replace it): a small GIF of a million one-pixel updates of a large canvas is refused
  before any frame is upscaled.
- **Bomb ratio**: declared bytes of samples per byte of file. A file far smaller than its declared pixels
  could hold is a decompression bomb or a forged header (a 1 KB JPEG whose header says 20000x19999);
  limits in :mod:`srkit.io.images.types`, ``$SRKIT_MAX_RATIO`` replaces them.

Both refusals are a :class:`~srkit.errors.PixelLimitError` naming the file, the declared size, the reason
and how to raise the limit. The numbers and the evidence behind them are in ``docs/limits.md``.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from PIL import Image as PILImage

from srkit.errors import ImageError, PixelLimitError
from srkit.io.images.types import (
    BOMB_MIN_PIXELS,
    BYTES_PER_INPUT_PIXEL,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    JPEG_MAX_RATIO_PER_COMPONENT,
    MAX_FRAMES_ENV,
    MAX_PIXELS_ENV,
    MAX_RATIO,
    MAX_RATIO_ENV,
    MIN_DEFAULT_MAX_PIXELS,
)

__all__ = [
    "available_memory",
    "check_frame_limit",
    "check_pixel_limit",
    "check_ratio",
    "default_max_pixels",
    "pil_limit",
    "pil_limit_if_needed",
    "resolve_max_frames",
    "resolve_max_pixels",
    "resolve_max_ratio",
]

_MEMINFO = Path("/proc/meminfo")
_PIL_LIMIT_LOCK = threading.RLock()
# cgroup v2, then v1: (limit file, usage file); "max" or a huge number means no limit.
_CGROUP_FILES = (
    (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),
    (
        Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        Path("/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ),
)


def _meminfo_available(meminfo: Path) -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes, or ``None``."""
    try:
        text = meminfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * (1024 if fields[-1].lower() == "kb" else 1)
    return None


def _sysconf_available() -> int | None:
    """Free physical memory from ``os.sysconf`` (free pages: less than what could be reclaimed)."""
    try:
        pages, page_size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def _cgroup_headroom() -> int | None:
    """What this process's cgroup memory limit still allows (limit - usage), or ``None`` without one."""
    for limit_file, usage_file in _CGROUP_FILES:
        limit = _read_int(limit_file)
        if limit is None or limit >= 1 << 60:  # "max" (v2) or the v1 "unlimited" sentinel
            continue
        usage = _read_int(usage_file) or 0
        return max(0, limit - usage)
    return None


def available_memory() -> int | None:
    """Bytes of memory this process could still allocate without swapping, or ``None`` when unknown:
    ``MemAvailable`` (else ``os.sysconf`` free pages), lowered to a cgroup limit's headroom."""
    system = _meminfo_available(_MEMINFO)
    if system is None:
        system = _sysconf_available()
    cgroup = _cgroup_headroom()
    known = [v for v in (system, cgroup) if v is not None]
    return min(known) if known else None


def default_max_pixels() -> int:
    """The default pixel limit: available memory // :data:`BYTES_PER_INPUT_PIXEL` (the peak of an x2
    upscale per input pixel), at least :data:`MIN_DEFAULT_MAX_PIXELS`; :data:`DEFAULT_MAX_PIXELS` when
    the available memory is unknown. Read afresh on each call (a few microseconds)."""
    memory = available_memory()
    if memory is None:
        return DEFAULT_MAX_PIXELS
    return max(MIN_DEFAULT_MAX_PIXELS, memory // BYTES_PER_INPUT_PIXEL)


def resolve_max_pixels(max_pixels: int | None, path: str | Path = "<image>") -> int:
    """The pixel limit: ``max_pixels`` if given, else ``$SRKIT_MAX_PIXELS``, else
    :func:`default_max_pixels` (from the available memory)."""
    if max_pixels is not None:
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
            raise ImageError(path, f"max_pixels must be a positive integer, got {max_pixels!r}")
        return max_pixels
    env = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not env:
        return default_max_pixels()
    try:
        value = int(env)
    except ValueError:
        value = 0
    if value <= 0:
        raise ImageError(path, f"{MAX_PIXELS_ENV}={env!r} is not a positive integer")
    return value


def resolve_max_ratio(path: str | Path = "<image>") -> float | None:
    """``$SRKIT_MAX_RATIO`` as a positive number, or ``None`` (the per-format defaults) when unset."""
    env = os.environ.get(MAX_RATIO_ENV, "").strip()
    if not env:
        return None
    try:
        value = float(env)
    except ValueError:
        value = math.nan
    if not value > 0:  # also NaN
        raise ImageError(path, f"{MAX_RATIO_ENV}={env!r} is not a positive number")
    return value


def check_pixel_limit(size: tuple[int, int], limit: int, path: Path) -> None:
    """Refuse an image of ``size`` (from its header) with more than ``limit`` pixels."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageError(path, f"invalid image size {width}x{height}")
    if width * height > limit:
        raise PixelLimitError(
            path,
            f"image is {width}x{height} = {width * height} pixels, more than the limit of {limit} "
            f"(raise it with --max-pixels, max_pixels= or {MAX_PIXELS_ENV})",
        )


def resolve_max_frames(max_frames: int | None, path: str | Path = "<image>") -> int:
    """The frame limit: ``max_frames`` if given, else ``$SRKIT_MAX_FRAMES``, else
    :data:`DEFAULT_MAX_FRAMES`."""
    if max_frames is not None:
        if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames <= 0:
            raise ImageError(path, f"max_frames must be a positive integer, got {max_frames!r}")
        return max_frames
    env = os.environ.get(MAX_FRAMES_ENV, "").strip()
    if not env:
        return DEFAULT_MAX_FRAMES
    try:
        value = int(env)
    except ValueError:
        value = 0
    if value <= 0:
        raise ImageError(path, f"{MAX_FRAMES_ENV}={env!r} is not a positive integer")
    return value


def check_frame_limit(path: Path, count: int, pixels: int, limit: int, max_frames: int) -> None:
    """Refuse a file of ``count`` frames holding ``pixels`` pixels in all (from the frame headers) when
    it has more than ``max_frames`` frames or more than ``limit`` pixels."""
    if count > max_frames:
        raise PixelLimitError(
            path,
            f"file has {count} frames, more than the limit of {max_frames} "
            f"(raise it with max_frames or {MAX_FRAMES_ENV})",
        )
    if pixels > limit:
        raise PixelLimitError(
            path,
            f"its {count} frames hold {pixels} pixels in all, more than the limit of {limit} for all frames "
            f"together (raise it with --max-pixels, max_pixels= or {MAX_PIXELS_ENV})",
        )


def check_ratio(
    path: Path, fmt: str, size: tuple[int, int], bits_per_pixel: int, file_bytes: int, components: int = 1
) -> None:
    """Refuse a file whose header declares far more sample bytes than its size can hold.

    ``bits_per_pixel`` is what the file stores per pixel (e.g. 24 for 8-bit RGB, 2 for a 2-bit palette
    PNG); ``components`` the colour components of a JPEG. Images of up to :data:`BOMB_MIN_PIXELS`
    pixels pass.
    """
    width, height = size
    if width * height <= BOMB_MIN_PIXELS or file_bytes <= 0:
        return
    declared = width * height * bits_per_pixel // 8
    ratio = declared / file_bytes
    override = resolve_max_ratio(path)
    if fmt == "JPEG":
        limit = override or JPEG_MAX_RATIO_PER_COMPONENT * components
        why = "less than one bit per 8x8 block, so a forged or truncated header"
    else:
        limit = override or MAX_RATIO
        why = "a decompression bomb or a forged header"
    if ratio > limit:
        raise PixelLimitError(
            path,
            f"{fmt} header declares {width}x{height} pixels ({declared} bytes of samples) in a file of "
            f"{file_bytes} bytes: {ratio:.0f} declared bytes per file byte, more than the limit of "
            f"{limit:g} ({why}; set {MAX_RATIO_ENV} above {math.ceil(ratio)} to read it anyway)",
        )


@contextlib.contextmanager
def pil_limit(limit: int) -> Iterator[None]:
    """Raise ``PIL.Image.MAX_IMAGE_PIXELS`` to ``limit`` for the duration (never lower it).

    Pillow still runs its bomb check inside the TIFF and WebP plugins, against this process-wide value.
    This is the one place where a PIL global is touched; callers enter it only for images larger than
    Pillow's own limit (after srkit's own checks), under a lock, and the previous value is restored.
    """
    with _PIL_LIMIT_LOCK:
        saved = PILImage.MAX_IMAGE_PIXELS
        if saved is not None and saved < limit:
            PILImage.MAX_IMAGE_PIXELS = limit
        try:
            yield
        finally:
            PILImage.MAX_IMAGE_PIXELS = saved


def pil_limit_if_needed(size: tuple[int, int], limit: int) -> contextlib.AbstractContextManager[None]:
    """:func:`pil_limit` when Pillow would warn about an image of ``size``; otherwise a no-op."""
    pil_max = PILImage.MAX_IMAGE_PIXELS
    if pil_max is not None and size[0] * size[1] > pil_max:
        return pil_limit(limit)
    return contextlib.nullcontext()
