"""What ``srkit upscale`` writes when the output format differs from the input: the output options
(``--quality``, ``--background``, ``--first-frame``), the one-line note of what a format could not hold,
and the frame-by-frame upscale of animated GIF/PNG/WebP and multi-page TIFF files.

- **Animations** (:func:`upscale_frames`) are upscaled frame by frame into a file of the output's format:
  GIF, APNG and WebP keep each frame's duration and the loop count, a TIFF keeps every page (16-bit
  pages stay 16-bit). ``--first-frame`` upscales frame 1 only, as a still. A format that holds one frame
  (JPEG, BMP) gets frame 1, and the note says so.
- **Alpha** in a format without it (JPEG, BMP) is composited over the background colour (default
  white); **16 bits** in a format without them become 8; a **GIF** made from another format is
  quantised to 256 colours with on/off transparency. Each of these is said in one note per file:
  ``photo.png: JPEG has no alpha: composited over white; 16-bit reduced to 8-bit``.

This module imports nothing of :mod:`srkit.infer.upscale`; that module passes it the function that
upscales one frame.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from srkit.errors import ConfigError
from srkit.infer.sizing import OutputSize
from srkit.io import Image, ImageInfo
from srkit.io.atomic import Overwrite
from srkit.io.images.animation import open_frames, write_frames
from srkit.io.images.types import MULTI_FRAME_FORMATS, NO_ALPHA_FORMATS

__all__ = [
    "DEFAULT_QUALITY",
    "NAMED_COLOURS",
    "OutputOptions",
    "describe_losses",
    "frames_depth",
    "parse_background",
    "upscale_frames",
    "wants_frames",
]

#: JPEG/WebP quality when ``--quality`` is not given (:func:`srkit.io.write_image`'s default).
DEFAULT_QUALITY = 95
#: ``--background`` names.
NAMED_COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
}
_HEX = re.compile(r"#?([0-9a-fA-F]{6})")
_FORMAT_NAMES = {"JPEG": "JPEG", "BMP": "BMP", "GIF": "GIF", "PNG": "PNG", "WEBP": "WebP", "TIFF": "TIFF"}


def parse_background(text: str) -> tuple[int, int, int]:
    """``--background``: ``#rrggbb`` (or ``rrggbb``), ``r,g,b`` (0-255 each) or a name of
    :data:`NAMED_COLOURS`, as an 8-bit RGB colour.

    Raises:
        ConfigError: anything else, naming the option.
    """
    value = text.strip()
    if value.lower() in NAMED_COLOURS:
        return NAMED_COLOURS[value.lower()]
    match = _HEX.fullmatch(value)
    if match:
        digits = match.group(1)
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    parts = [p.strip() for p in value.split(",")]
    if len(parts) == 3 and all(p.isdigit() and int(p) <= 255 for p in parts):
        return int(parts[0]), int(parts[1]), int(parts[2])
    names = ", ".join(NAMED_COLOURS)
    raise ConfigError(f"--background: {text!r} is not a colour (#rrggbb, r,g,b with 0-255, or {names})")


@dataclasses.dataclass(frozen=True)
class OutputOptions:
    """How outputs are encoded: ``quality`` of JPEG and WebP (1-100), the ``background`` that alpha is
    composited over in JPEG and BMP (``background_name`` is how notes call it; ``None``: alpha is dropped,
    as :func:`srkit.io.write_image` drops it; ``srkit upscale`` composites over white), and ``first_frame``:
    upscale frame 1 of an animation or multi-page file only, as a still."""

    quality: int = DEFAULT_QUALITY
    background: tuple[int, int, int] | None = None
    background_name: str = ""
    first_frame: bool = False
    size: OutputSize = dataclasses.field(default_factory=OutputSize)
    """The output size when it is not the model's (``--outscale``, ``--width``, ``--height``)."""

    @classmethod
    def from_cli(
        cls,
        quality: int | None,
        background: str | None,
        first_frame: bool = False,
        size: OutputSize | None = None,
    ) -> OutputOptions:
        """The options of ``--quality``, ``--background`` (default white), ``--first-frame`` and the
        output size.

        Raises:
            ConfigError: a quality outside 1-100 or an unknown colour, naming the option.
        """
        if quality is not None and not 1 <= quality <= 100:
            raise ConfigError(f"--quality: must be an integer from 1 to 100, got {quality}")
        colour = NAMED_COLOURS["white"] if background is None else parse_background(background)
        name = "white" if background is None else background.strip()
        return cls(
            quality=DEFAULT_QUALITY if quality is None else quality,
            background=colour,
            background_name=name,
            first_frame=first_frame,
            size=size or OutputSize(),
        )


def wants_frames(info: ImageInfo, fmt: str, options: OutputOptions) -> bool:
    """Whether ``info``'s file is upscaled frame by frame into ``fmt``: it has several frames, the
    format holds them and ``--first-frame`` is not given."""
    return info.frames > 1 and not options.first_frame and fmt in MULTI_FRAME_FORMATS


def _is_transparent(image: Image) -> bool:
    return image.alpha is not None and bool((image.alpha < 1.0).any())


def describe_losses(
    image: Image, fmt: str, depth: int, options: OutputOptions, *, animated: bool = False
) -> str | None:
    """What writing ``image`` (frame 1 of its file, as read) into ``fmt`` at ``depth`` bits leaves out,
    as one line (``None``: nothing). ``animated``: every frame is written."""
    info, name = image.info, _FORMAT_NAMES.get(fmt, fmt)
    parts = []
    if info.frames > 1 and not options.first_frame and not animated:
        parts.append(f"{name} holds one frame: frame 1 of {info.frames} is upscaled")
    if fmt in NO_ALPHA_FORMATS and _is_transparent(image):
        how = "alpha dropped" if options.background is None else f"composited over {options.background_name}"
        parts.append(f"{name} has no alpha: {how}")
    if info.bit_depth == 16 and depth == 8:
        parts.append("16-bit reduced to 8-bit")
    if fmt == "GIF" and info.format != "GIF":
        per = " per frame" if animated else ""
        onoff = ", transparency made on/off" if _is_transparent(image) else ""
        parts.append(f"GIF holds 256 colours{per}: colours quantised{onoff}")
    if fmt == "TIFF" and animated and info.format != "TIFF":
        parts.append("TIFF pages have no timing: frame durations dropped")
    return "; ".join(parts) or None


def frames_depth(info: ImageInfo, fmt: str) -> int:
    """The bit depth frames of ``info``'s file are written with in ``fmt``: 16 for the 16-bit pages of a
    TIFF written as TIFF, else 8 (animation frames are decoded and written with 8 bits)."""
    return 16 if info.bit_depth == 16 and fmt == "TIFF" and info.format == "TIFF" else 8


def upscale_frames(
    source: Path,
    target: Path,
    fmt: str,
    upscale_one: Callable[[Image, int], np.ndarray],
    *,
    scale: int,
    options: OutputOptions,
    provenance: dict[str, str] | None = None,
    overwrite: Overwrite = True,
    max_pixels: int | None = None,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Upscale every frame (page) of ``source`` with ``upscale_one(frame, bit_depth)`` (an integer
    ``(H, W, C)`` result) into ``target`` as an animated ``fmt`` (GIF, PNG, WebP) or a multi-page TIFF,
    atomically, one frame at a time, keeping durations, loop count, ICC profile, EXIF and dpi (times
    ``scale``). ``max_pixels``: the pixel limit of all frames together (see
    :func:`srkit.io.images.animation.open_frames`). Returns ``((w, h), (W, H))`` of frame 1."""
    sizes: list[tuple[tuple[int, int], tuple[int, int]]] = []
    with open_frames(source, max_pixels=max_pixels) as reader:
        info = reader.info

        def outputs() -> Iterator[np.ndarray]:
            for frame in reader:
                depth = 16 if frame.info.bit_depth == 16 and fmt == "TIFF" else 8
                data = upscale_one(frame, depth)
                if not sizes:
                    sizes.append(((frame.width, frame.height), (data.shape[1], data.shape[0])))
                yield data

        dpi = (info.dpi[0] * scale, info.dpi[1] * scale) if info.dpi else None
        write_frames(
            target,
            outputs(),
            format=fmt,
            durations=reader.durations,
            loop=reader.loop,
            icc_profile=info.icc_profile,
            exif=info.exif,
            dpi=dpi,
            quality=options.quality,
            provenance=provenance,
            overwrite=overwrite,
        )
    return sizes[0]
