"""Animated images and multi-page files, frame by frame: :func:`open_frames` reads every frame of an
animated GIF, PNG (APNG) or WebP or every page of a multi-page TIFF, one at a time; :func:`write_frames`
writes frames as an animated GIF, APNG or WebP, or a multi-page TIFF, atomically.

- **Frames of an animation** are the full canvas after each frame is drawn: Pillow composites GIF and
  APNG frames that update part of the canvas (their disposal and blend methods) and WebP frames through
  libwebp's animation decoder. Frames are decoded as 8-bit RGB, or RGBA when any frame has a pixel that
  is not opaque (a first pass over the file decides, and finds truncated frames before any frame is
  upscaled). Their timing (``durations``, milliseconds) and ``loop`` count are kept; the EXIF
  orientation of frame 1 is applied to every frame.
- **TIFF pages** are independent images, each decoded as :func:`~srkit.io.read_image` decodes a still
  (16-bit kept, gray stays gray, their own size); layouts that srkit decodes with its own TIFF reader
  (float, planar 16-bit, premultiplied 16-bit alpha) are read on a file's first page only.
- **Limits**: every frame's header passes the pixel limit, and all frames together too (``width *
  height * frames``: the GIF, APNG and WebP encoders hold every output frame until the file is written),
  with at most :data:`~srkit.io.images.types.DEFAULT_MAX_FRAMES` frames (``$SRKIT_MAX_FRAMES``).
- **Writing**: GIF frames are quantised one by one (:mod:`srkit.io.images.gif`) and streamed to
  Pillow's encoder; APNG and WebP frames are gathered first (Pillow's encoders need them all); TIFF pages
  are encoded one by one (16-bit pages by :mod:`srkit.io.images.tiff16`) and chained. The provenance
  marker, ICC profile, EXIF and dpi go where :func:`~srkit.io.write_image` puts them.

Every failure is one :class:`~srkit.errors.ImageError` naming the file and the reason.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageFile, TiffImagePlugin

from srkit.errors import ImageError, one_line
from srkit.io.atomic import NotReplacedError, Overwrite, atomic_open
from srkit.io.images import tiffraw
from srkit.io.images.decode import (
    _CONVERSIONS,
    _GRAY16_MODES,
    _decode,
    _Decoded,
    _dpi,
    _exif_without_orientation,
    _info,
    _open_checked,
    _open_file,
    _orientation,
    _to_image,
    _wide_layout,
)
from srkit.io.images.encode import (
    _check_array,
    _check_dpi,
    _fit_channels,
    _icc_fits,
    _Meta,
    _pillow_params,
    _resolve_format,
    provenance_xmp,
)
from srkit.io.images.gif import TRANSPARENT_INDEX, gif_frame
from srkit.io.images.limits import (
    check_frame_limit,
    check_pixel_limit,
    pil_limit_if_needed,
    resolve_max_frames,
    resolve_max_pixels,
)
from srkit.io.images.pixels import array_to_depth
from srkit.io.images.tiff16 import tiff16_bytes
from srkit.io.images.tiffraw import TiffLayout
from srkit.io.images.types import (
    CODEC_ERRORS,
    DETAIL_LIMIT,
    MULTI_FRAME_FORMATS,
    Image,
    ImageInfo,
)

__all__ = ["FrameReader", "open_frames", "write_frames"]

# Formats whose frames are drawn on one canvas (the others' frames are TIFF pages).
_CANVAS_FORMATS = ("GIF", "PNG", "WEBP")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
# EXIF orientation -> the transposition that makes the pixels upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: PILImage.Transpose.FLIP_LEFT_RIGHT,
    3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM,
    5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_270,
    7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_90,
}


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class FrameReader:
    """An animated or multi-page file opened by :func:`open_frames`; iterate it for its frames (each an
    :class:`~srkit.io.Image`, decoded when it is reached), close it when done (or use ``with``).

    ``info`` describes frame 1 (format, metadata; ``frames`` = ``count``). ``durations`` are the frames'
    display times in milliseconds (``None`` for TIFF pages); ``loop`` is the loop count the file states
    (0 = for ever; ``None``: none stated, a GIF then plays once); ``has_alpha`` says whether the frames
    of an animation carry alpha (TIFF pages: each its own).
    """

    path: Path
    info: ImageInfo
    count: int
    durations: tuple[int, ...] | None
    loop: int | None
    has_alpha: bool
    _fp: IO[bytes] = dataclasses.field(repr=False)
    _im: ImageFile.ImageFile = dataclasses.field(repr=False)
    _limit: int = dataclasses.field(repr=False)
    _first: Image | None = dataclasses.field(default=None, repr=False)  # TIFF page 1, decoded for info

    def __iter__(self) -> Iterator[Image]:
        if self.info.format == "TIFF":
            return self._pages()
        return self._canvas_frames()

    def _canvas_frames(self) -> Iterator[Image]:
        for index in range(self.count):
            frame = _seek(self._im, index, self.path, self.count)
            rgba = _rgba(frame)
            if self.info.orientation in _UPRIGHT:
                rgba = rgba.transpose(_UPRIGHT[self.info.orientation])
            data = np.asarray(rgba)
            decoded = _Decoded(
                data=data if self.has_alpha else data[..., :3], has_alpha=self.has_alpha, bit_depth=8
            )
            yield _to_image(decoded, self.info)

    def _pages(self) -> Iterator[Image]:
        for index in range(self.count):
            if index == 0 and self._first is not None:
                first, self._first = self._first, None
                yield first
                continue
            yield _read_page(self._im, self._fp, self.path, self._limit, index, self.count)

    def close(self) -> None:
        """Close the file."""
        self._fp.close()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _what(im: PILImage.Image, index: int, count: int) -> str:
    return f"{'page' if im.format == 'TIFF' else 'frame'} {index + 1} of {count}"


def _seek(
    im: ImageFile.ImageFile, index: int, path: Path, count: int, *, load: bool = True
) -> ImageFile.ImageFile:
    """``im`` moved to frame ``index`` (and decoded, with ``load``); decoder failures are one
    :class:`ImageError` saying which frame."""
    try:
        im.seek(index)
        if load:
            im.load()
    except CODEC_ERRORS as exc:
        raise ImageError(
            path,
            f"cannot decode {_what(im, index, count)} of the {im.format} data, file truncated or corrupt "
            f"({one_line(exc, DETAIL_LIMIT)})",
        ) from exc
    return im


def _decode_page(
    page: ImageFile.ImageFile, fp: IO[bytes], path: Path, limit: int, index: int, count: int
) -> tuple[_Decoded, int]:
    """A TIFF page decoded as a still (16-bit kept), failures naming the page."""
    try:
        return _decode(page, fp, path, limit, frame=index)
    except ImageError as exc:
        raise ImageError(path, f"{_what(page, index, count)}: {exc.reason}") from exc


def _read_page(
    im: ImageFile.ImageFile, fp: IO[bytes], path: Path, limit: int, index: int, count: int
) -> Image:
    """TIFF page ``index`` decoded as a still (16-bit kept), failures naming the page."""
    page = _seek(im, index, path, count, load=False)
    with pil_limit_if_needed(page.size, limit):
        decoded, orientation = _decode_page(page, fp, path, limit, index, count)
    return _to_image(decoded, dataclasses.replace(_info(page, decoded, path, orientation), frames=count))


def _rgba(frame: PILImage.Image) -> PILImage.Image:
    """A decoded animation frame as 8-bit RGBA (16-bit gray scaled, not clipped, to 8 bits)."""
    if frame.mode in _GRAY16_MODES:
        wide = np.asarray(frame).astype(np.uint32)
        return PILImage.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L").convert("RGBA")
    return frame if frame.mode == "RGBA" else frame.convert("RGBA")


def _has_alpha(frame: PILImage.Image) -> bool:
    """Whether a decoded frame has a pixel that is not opaque."""
    if frame.mode not in _ALPHA_MODES and "transparency" not in frame.info:
        return False
    alpha = _rgba(frame).getchannel("A").getextrema()[0]
    return isinstance(alpha, (int, float)) and alpha < 255


def _duration(info: Mapping[Any, Any]) -> int:
    """A frame's ``info['duration']`` as whole milliseconds (0 when absent or unusable)."""
    try:
        return max(0, round(float(info.get("duration", 0) or 0)))
    except (TypeError, ValueError, OverflowError):
        return 0


def _count(im: ImageFile.ImageFile, fp: IO[bytes], path: Path) -> int:
    """Frames (pages) of the file; a file whose frames cannot be counted is corrupt."""
    if im.format == "TIFF":
        return tiffraw.count_frames(fp)
    try:
        return max(1, int(getattr(im, "n_frames", 1)))
    except CODEC_ERRORS as exc:
        raise ImageError(
            path,
            f"corrupt or truncated {im.format} file: cannot count its frames ({one_line(exc, DETAIL_LIMIT)})",
        ) from exc


def _scan_canvas(im: ImageFile.ImageFile, path: Path, count: int, limit: int) -> tuple[tuple[int, ...], bool]:
    """Decode every frame once: their durations and whether any has alpha (truncation found here)."""
    durations: list[int] = []
    alpha = False
    with pil_limit_if_needed(im.size, limit):
        for index in range(count):
            frame = _seek(im, index, path, count)
            durations.append(_duration(frame.info))
            alpha = alpha or _has_alpha(frame)
    return tuple(durations), alpha


def _check_page(page: ImageFile.ImageFile, path: Path, index: int, count: int) -> None:
    """Refuse a TIFF page that only srkit's own TIFF reader (first pages only) could decode faithfully."""
    tags = page.tag_v2  # type: ignore[attr-defined]
    error = tiffraw.sample_count_error(tags, path)
    if error is not None:
        raise ImageError(path, f"{_what(page, index, count)}: {error.reason}")
    cuts_bits = page.mode in _CONVERSIONS and _wide_layout(page) is None
    if tiffraw.needs_numpy(tags, page.mode, cuts_bits):
        raise ImageError(
            path,
            f"{_what(page, index, count)} stores float, planar 16-bit or premultiplied samples, which srkit "
            "reads on a TIFF's first page only (--first-frame upscales page 1 alone)",
        )


def _scan_pages(im: ImageFile.ImageFile, path: Path, count: int, limit: int) -> int:
    """Check every page's header (pixel limit, layout); the pixels of all pages."""
    total = 0
    for index in range(count):
        page = _seek(im, index, path, count, load=False)
        check_pixel_limit(page.size, limit, path)
        _check_page(page, path, index, count)
        total += page.size[0] * page.size[1]
    return total


def _loop(info: Mapping[Any, Any]) -> int | None:
    value = info.get("loop")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _canvas_info(im: ImageFile.ImageFile, path: Path, count: int, has_alpha: bool) -> ImageInfo:
    """Frame 1's metadata for an animation decoded as 8-bit RGB(A)."""
    im.seek(0)
    fmt = im.format or ""
    return ImageInfo(
        path=str(path),
        format=fmt,
        mode=im.mode,
        bit_depth=8,
        has_alpha=has_alpha,
        icc_profile=im.info.get("icc_profile") or None,
        exif=_exif_without_orientation(im, fmt),
        dpi=_dpi(im.info),
        orientation=_orientation(im),
        frames=count,
    )


def _open_reader(fp: IO[bytes], path: Path, limit: int, max_frames: int) -> FrameReader:
    opened = _open_checked(fp, path, limit)
    if isinstance(opened, TiffLayout):
        raise ImageError(
            path,
            "this TIFF's first page stores float, planar 16-bit or premultiplied samples, which srkit reads "
            "as a single page only (--first-frame upscales page 1 alone)",
        )
    im = opened
    count = _count(im, fp, path)
    check_frame_limit(path, count, 0, limit, max_frames)
    loop = _loop(im.info)
    if im.format == "TIFF":
        check_frame_limit(path, count, _scan_pages(im, path, count, limit), limit, max_frames)
        first = _read_page(im, fp, path, limit, 0, count)
        return FrameReader(path, first.info, count, None, None, first.info.has_alpha, fp, im, limit, first)
    width, height = im.size
    check_frame_limit(path, count, width * height * count, limit, max_frames)
    durations, has_alpha = _scan_canvas(im, path, count, limit)
    info = _canvas_info(im, path, count, has_alpha)
    return FrameReader(path, info, count, durations, loop, has_alpha, fp, im, limit)


def open_frames(
    path: str | Path, *, max_pixels: int | None = None, max_frames: int | None = None
) -> FrameReader:
    """Open an animated GIF, PNG or WebP, or a multi-page TIFF, for reading frame by frame (a still file
    gives its one frame).

    The header checks of :func:`~srkit.io.read_image` apply to each frame, and all frames together must
    fit the pixel limit (``max_pixels``, default ``$SRKIT_MAX_PIXELS``, else what the available memory
    can upscale) with at most ``max_frames`` frames (default ``$SRKIT_MAX_FRAMES``, else
    :data:`~srkit.io.images.types.DEFAULT_MAX_FRAMES`). Every frame of an animation is decoded once here,
    so a truncated or corrupt file is refused before its frames are used.

    Raises:
        PixelLimitError: too many pixels in a frame or in all of them, or too many frames.
        ImageError: missing, empty, unrecognised, truncated or corrupt files.
    """
    path = Path(path)
    limit = resolve_max_pixels(max_pixels, path)
    cap = resolve_max_frames(max_frames, path)
    fp = _open_file(path)
    try:
        return _open_reader(fp, path, limit, cap)
    except BaseException:
        fp.close()
        raise


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


class _SourceError(Exception):
    """An exception raised while the frames to write were produced (upscaling, reading), carried
    through Pillow's encoder so that it is not taken for an encoding failure."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _guarded(frames: Iterable[np.ndarray], path: Path) -> Iterator[np.ndarray]:
    """``frames`` checked (uint8/uint16 ``(H, W, C)``) with their producer's exceptions wrapped."""
    source = iter(frames)
    while True:
        try:
            data = next(source)
        except StopIteration:
            return
        except Exception as exc:
            raise _SourceError(exc) from exc
        if data.ndim == 2:
            data = data[..., None]
        _check_array(data, path)
        yield data


def _eight(data: np.ndarray) -> np.ndarray:
    return array_to_depth(data, 8)


def _pil(data: np.ndarray) -> PILImage.Image:
    """8-bit ``(H, W, C)`` -> an L, LA, RGB or RGBA Pillow image."""
    return PILImage.fromarray(np.ascontiguousarray(data[..., 0] if data.shape[2] == 1 else data))


def _same_size(first: np.ndarray, data: np.ndarray, path: Path, fmt: str) -> None:
    if data.shape[:2] != first.shape[:2]:
        raise ImageError(
            path,
            f"{fmt} frames share one size; a frame of {data.shape[1]}x{data.shape[0]} follows one of "
            f"{first.shape[1]}x{first.shape[0]} (a multi-page TIFF keeps pages of different sizes)",
        )


@dataclasses.dataclass
class _Plan:
    """What a frame writer needs besides the frames."""

    path: Path
    fmt: str
    meta: _Meta
    durations: Sequence[int] | None
    loop: int | None
    quality: int
    lossless: bool


def _first(frames: Iterator[np.ndarray], plan: _Plan) -> np.ndarray:
    first = next(frames, None)
    if first is None:
        raise ImageError(plan.path, "no frames to write")
    return first


def _timing(plan: _Plan, once: int | None) -> dict[str, Any]:
    """Pillow's ``duration`` and ``loop`` arguments; ``once`` is the loop value meaning "play once"
    (``None``: leave ``loop`` out)."""
    params: dict[str, Any] = {}
    if plan.durations:
        params["duration"] = list(plan.durations)
    loop = plan.loop if plan.loop is not None else once
    if loop is not None:
        params["loop"] = loop
    return params


def _write_gif(fp: IO[bytes], frames: Iterator[np.ndarray], plan: _Plan) -> None:
    """Frames quantised one by one and streamed to Pillow's GIF encoder; alpha: disposal to background."""
    first = _eight(_first(frames, plan))
    transparent = first.shape[2] in (2, 4)

    def rest() -> Iterator[PILImage.Image]:
        for data in frames:
            _same_size(first, data, plan.path, "GIF")
            yield gif_frame(_eight(data), transparent)

    params = _pillow_params("GIF", plan.meta, plan.quality, plan.lossless)
    params.update(_timing(plan, None), save_all=True, append_images=rest(), disposal=2 if transparent else 1)
    if transparent:
        params["transparency"] = TRANSPARENT_INDEX
    gif_frame(first, transparent).save(fp, format="GIF", **params)


def _gathered(frames: Iterator[np.ndarray], plan: _Plan) -> list[PILImage.Image]:
    """Every frame as an 8-bit Pillow image of one mode (the widest: colour and alpha if any has them)."""
    first = _first(frames, plan)
    images = [_pil(_eight(first))]
    for data in frames:
        _same_size(first, data, plan.path, plan.fmt)
        images.append(_pil(_eight(data)))
    colour = any(im.mode in ("RGB", "RGBA") for im in images) or plan.fmt == "WEBP"
    alpha = any(im.mode in ("LA", "RGBA") for im in images)
    mode = ("RGB" if colour else "L") + ("A" if alpha else "")
    return [im if im.mode == mode else im.convert(mode) for im in images]


def _write_apng(fp: IO[bytes], frames: Iterator[np.ndarray], plan: _Plan) -> None:
    """An APNG of full frames (each replaces the canvas: blend source, no disposal)."""
    images = _gathered(frames, plan)
    params = _pillow_params("PNG", plan.meta, plan.quality, plan.lossless)
    params.update(_timing(plan, 1), save_all=True, append_images=images[1:], disposal=0, blend=0)
    images[0].save(fp, format="PNG", **params)


def _write_webp(fp: IO[bytes], frames: Iterator[np.ndarray], plan: _Plan) -> None:
    """An animated WebP (lossy at ``quality`` unless ``lossless``)."""
    images = _gathered(frames, plan)
    params = _pillow_params("WEBP", plan.meta, plan.quality, plan.lossless)
    params.update(_timing(plan, 1), save_all=True, append_images=images[1:])
    images[0].save(fp, format="WEBP", **params)


def _tiff_page(out: IO[bytes], data: np.ndarray, meta: _Meta) -> None:
    """One page, 16-bit by the numpy encoder, 8-bit by Pillow."""
    depth = 16 if data.dtype == np.uint16 else 8
    data = _fit_channels(data, "TIFF", depth)
    if meta.icc_profile and not _icc_fits(meta.icc_profile, data.shape[2]):
        meta = dataclasses.replace(meta, icc_profile=None)
    if depth == 16:
        out.write(tiff16_bytes(data, icc_profile=meta.icc_profile, dpi=meta.dpi, xmp=meta.xmp))
    else:
        _pil(data).save(out, format="TIFF", **_pillow_params("TIFF", meta, 95, False))


def _write_tiff(fp: IO[bytes], frames: Iterator[np.ndarray], plan: _Plan) -> None:
    """Pages encoded one by one and chained into one TIFF (in memory, then written)."""
    buffer = io.BytesIO()
    pages = 0
    with TiffImagePlugin.AppendingTiffWriter(buffer, new=True) as chained:
        for data in frames:
            # the marker and EXIF on page 1 only
            meta = plan.meta if pages == 0 else dataclasses.replace(plan.meta, xmp=None, exif=None)
            _tiff_page(chained, data, meta)
            chained.newFrame()
            pages += 1
    if not pages:
        raise ImageError(plan.path, "no frames to write")
    fp.write(buffer.getvalue())


_WRITERS: dict[str, Callable[[IO[bytes], Iterator[np.ndarray], _Plan], None]] = {
    "GIF": _write_gif,
    "PNG": _write_apng,
    "WEBP": _write_webp,
    "TIFF": _write_tiff,
}


def write_frames(
    path: str | Path,
    frames: Iterable[np.ndarray],
    *,
    format: str | None = None,
    durations: Sequence[int] | None = None,
    loop: int | None = None,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    dpi: tuple[float, float] | None = None,
    quality: int = 95,
    lossless: bool = False,
    provenance: Mapping[str, str] | None = None,
    overwrite: Overwrite = True,
) -> Path:
    """Write uint8/uint16 ``(H, W, C)`` ``frames`` (C = 2 or 4: alpha last; consumed one at a time) to
    ``path`` atomically as an animated GIF, PNG (APNG) or WebP, or a multi-page TIFF (the format from the
    suffix unless ``format`` is given).

    ``durations`` (milliseconds per frame) and ``loop`` (0 = for ever; ``None``: play once) set the
    timing of an animation. An animation's frames share one size and are 8-bit; a GIF is quantised per
    frame with on/off transparency; TIFF pages keep 16 bits and may differ in size. ``icc_profile``,
    ``exif``, ``dpi``, ``quality``, ``lossless``, ``provenance`` and ``overwrite`` as
    :func:`~srkit.io.write_image` takes them (the marker and EXIF: on the first page of a TIFF). An
    exception raised by ``frames`` itself propagates unchanged; nothing is left at ``path`` then.

    Raises:
        ImageError: bad arguments or a failed write; an existing file at ``path`` is then left untouched
            (kept by ``overwrite``: ``__cause__`` is a :class:`~srkit.io.atomic.NotReplacedError`).
    """
    target = Path(path)
    fmt = _resolve_format(target, format)
    if fmt not in MULTI_FRAME_FORMATS:
        raise ImageError(target, f"{fmt} holds one frame; frames are written as GIF, PNG, WebP or TIFF")
    if not isinstance(quality, int) or not 1 <= quality <= 100:
        raise ImageError(target, f"quality must be an integer from 1 to 100, got {quality!r}")
    meta = _Meta(
        icc_profile=icc_profile or None,
        exif=exif or None,
        dpi=_check_dpi(dpi, target) if dpi is not None else None,
        xmp=provenance_xmp(provenance) if provenance is not None else None,
    )
    if target.is_dir():
        raise ImageError(target, "is a directory")
    plan = _Plan(target, fmt, meta, durations, loop, quality, lossless)
    try:
        with atomic_open(target, "wb", overwrite=overwrite) as fp:
            _WRITERS[fmt](fp, _guarded(frames, target), plan)
    except _SourceError as exc:
        error = exc.error
        raise error.with_traceback(error.__traceback__) from error.__cause__
    except NotReplacedError as exc:
        raise ImageError(target, "exists; not replaced") from exc
    except CODEC_ERRORS as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else one_line(exc, DETAIL_LIMIT)
        raise ImageError(target, f"cannot write {fmt} file ({detail})") from exc
    return target
