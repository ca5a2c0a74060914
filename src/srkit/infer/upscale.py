"""Upscaling real images: one image in memory (:func:`upscale_array`), image files
(:func:`upscale_file`) and the ``srkit upscale`` file/folder/glob run (:func:`run_upscale`).

What happens to an image:

- colour goes through the upscaler (gray stays gray, RGB stays RGB; see
  :class:`~srkit.archs.Runner`), in overlapping blended tiles
  (:mod:`srkit.infer.tiling`);
- **alpha** is upscaled separately with bicubic interpolation (the float path of
  :func:`srkit.degrade.resize`, clamped to [0, 1]), tile by tile with the colour. Alpha masks are
  mostly flat with sharp cut-out edges; a network trained on photographs would invent texture in
  them, and a bicubic alpha stays exactly aligned with the colour;
- palette images become RGB(A), CMYK JPEGs RGB, EXIF orientation is applied (all by
  :func:`srkit.io.read_image`); 16-bit images are processed in float and written with 16 bits when the
  output format stores them (PNG, TIFF);
- animated GIF/PNG/WebP and multi-page TIFF files are upscaled frame by frame, keeping their timing and
  loop count (:mod:`srkit.infer.frames`); alpha in JPEG/BMP is composited over a background colour, and
  what an output format cannot hold is said in one note;
- the output keeps the input's ICC profile and EXIF (orientation removed, the pixels are upright) and
  its dpi multiplied by the scale (the same print size).

Memory: the result is assembled directly in a ``uint8``/``uint16`` ``(H, W, C)`` buffer, tile row by
tile row, and encoded from it, so a 4000x3000 -> 16000x12000 RGB upscale holds the 576 MB result
instead of 2.3 GB of float32 (``benchmarks/upscale_memory.py``).

Outputs are never lost, mixed or half-written:

- every output is written atomically (:mod:`srkit.io.atomic`) and carries srkit's **provenance
  marker** (an XMP packet naming the input file, the model and the scale; see
  :mod:`srkit.io.images.encode`). ``--overwrite`` replaces only files that have it, never a user's
  picture that happens to have an output's name (nor a BMP, which holds no metadata); folder scans
  recognise earlier outputs by it, so a folder can be its own output folder (``-o .``);
- whether the output path is free is checked when planning and again at the moment of the rename
  (a no-replace hard link), so two runs on one folder never replace each other's outputs;
- an output path that is a symlink is replaced by the new file: the link, never the file it points
  to (which must itself be an srkit output for ``--overwrite`` to replace the link); the new file never
  gets setuid, setgid or sticky bits;
- temporary files that killed runs left in an output folder are removed when a run starts there.

Every input that cannot be used (an unreadable folder or sub-folder, a symlink loop, an output folder
that cannot be written) is a failed input with a one-line reason; the run goes on with the others.
"""

from __future__ import annotations

import dataclasses
import errno
import glob
import itertools
import os
import stat
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

import numpy as np
import torch

from srkit.archs import Runner, Upscaler
from srkit.degrade import resize
from srkit.errors import ConfigError, ImageError, SrkitError, one_line
from srkit.infer.frames import OutputOptions, describe_losses, frames_depth, upscale_frames, wants_frames
from srkit.infer.sizing import resize_result
from srkit.infer.tiling import (
    DEFAULT_OVERLAP,
    TileFn,
    auto_tile_size,
    check_tiling,
    upscale_tiled,
)
from srkit.io import IMAGE_SUFFIXES, Image, ImageInfo, read_image, write_image
from srkit.io.atomic import NotReplacedError, remove_stale_temporaries
from srkit.io.images import SUFFIX_FORMATS
from srkit.io.images.encode import read_provenance

__all__ = [
    "FORMATS",
    "Job",
    "Naming",
    "OutputKeptError",
    "OutputOptions",
    "RunResult",
    "is_srkit_output",
    "output_name",
    "plan_jobs",
    "provenance",
    "resolve_scale",
    "run_upscale",
    "safe_print",
    "upscale_array",
    "upscale_file",
    "upscale_image",
]

#: ``--format`` values -> suffix.
FORMATS: dict[str, str] = {
    "png": ".png",
    "jpg": ".jpg",
    "webp": ".webp",
    "tiff": ".tiff",
    "bmp": ".bmp",
    "gif": ".gif",
}
_GLOB_CHARS = frozenset("*?[")


# --------------------------------------------------------------------------------------------------
# Scale and tile size
# --------------------------------------------------------------------------------------------------


def resolve_scale(upscaler: Upscaler, scale: int | None, default: int = 4) -> int:
    """The factor to upscale by: ``scale`` if given (it must be one the upscaler supports), else the
    network's own scale (or the one factor a network on the upsampled image serves, SR3's), else
    ``default`` (interpolation baselines and networks on upsampled input that serve any factor).

    Raises:
        ConfigError: an unsupported scale.
    """
    if scale is None:
        own = upscaler.scale if isinstance(upscaler, Runner) else 1
        factors = upscaler.info.scales if isinstance(upscaler, Runner) else None
        if own == 1 and factors is not None and len(factors) == 1:
            own = factors[0]  # a network on the upsampled image trained for one factor (SR3)
        scale = own if own > 1 else default
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"scale: must be a positive integer, got {scale!r}")
    if not upscaler.supports_scale(scale):
        served = upscaler.info.scales_text() if isinstance(upscaler, Runner) else "?"
        raise ConfigError(f"scale: model {upscaler.name} upscales by {served}, not x{scale}")
    return scale


def _tile_fn(upscaler: Upscaler, scale: int, colour: int) -> TileFn:
    """Colour (the first ``colour`` channels) through ``upscaler``; any further channel (alpha)
    with bicubic interpolation, clamped to [0, 1]."""

    def run(tile: torch.Tensor) -> torch.Tensor:
        rgb = upscaler(tile[:, :colour], scale)
        if tile.shape[1] == colour:
            return rgb
        alpha = resize(tile[:, colour:].float(), float(scale), kernel="bicubic").clamp_(0.0, 1.0)
        return torch.cat([rgb, alpha.to(rgb.device)], dim=1)

    return run


class TileSize:
    """A tile setting: ``None`` = automatic (measured once, on first use), 0 = whole image, N = N; and the
    overlap: ``None`` = the network's (:attr:`srkit.archs.NetInfo.tile_overlap`, :data:`DEFAULT_OVERLAP`
    for interpolation), lowered to fit a given tile."""

    def __init__(self, tile: int | None, overlap: int | None = None) -> None:
        check_tiling(tile, 0 if overlap is None else overlap)
        self.tile = tile
        self.overlap = overlap
        self._auto: int | None = None

    def overlap_for(self, upscaler: Upscaler) -> int:
        """The concrete overlap for ``upscaler``."""
        if self.overlap is not None:
            return self.overlap
        overlap = upscaler.info.tile_overlap if isinstance(upscaler, Runner) else DEFAULT_OVERLAP
        return min(overlap, (self.tile - 1) // 2) if self.tile else overlap

    def resolve(self, upscaler: Upscaler, scale: int) -> int:
        """The concrete tile side for ``upscaler`` at ``scale``."""
        if self.tile is not None:
            return self.tile
        if self._auto is None:
            self._auto = auto_tile_size(upscaler, scale)
            cap = upscaler.max_tile(scale) if isinstance(upscaler, Runner) else None
            if cap is not None:
                self._auto = min(self._auto, cap)
            self._auto = max(self._auto, 2 * self.overlap_for(upscaler) + 1)
        return self._auto


def _warn_retry(tile: int) -> None:
    print(f"srkit: out of memory; retrying with {tile}x{tile} tiles", file=sys.stderr)


def upscale_tensor(
    upscaler: Upscaler,
    x: torch.Tensor,
    scale: int,
    *,
    colour: int,
    tiles: TileSize,
    out: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.float32,
    progress: bool = False,
) -> torch.Tensor:
    """Upscale float ``x`` ``(B, C, H, W)``: its first ``colour`` channels (1 or 3) with ``upscaler``,
    the rest (alpha) with bicubic; tiled as ``tiles`` says, retrying with smaller tiles on
    out-of-memory. ``out``/``out_dtype`` as in :func:`srkit.infer.tiling.upscale_tiled`."""
    if colour not in (1, 3) or x.shape[1] - colour not in (0, 1):
        raise ConfigError(f"upscale: expected 1 or 3 colour channels and at most one alpha, got {x.shape[1]}")
    tile, overlap = tiles.resolve(upscaler, scale), tiles.overlap_for(upscaler)
    # an iterative runner that tiles every network call itself gets the tiles; the image then goes whole
    set_tiles = None
    if isinstance(upscaler, Runner) and upscaler.step_tiles(tile, overlap):
        set_tiles = upscaler.step_tiles
    return upscale_tiled(
        _tile_fn(upscaler, scale, colour),
        x,
        scale,
        tile=tile,
        overlap=overlap,
        out=out,
        out_dtype=out_dtype,
        progress=progress,
        align=upscaler.size_multiple if isinstance(upscaler, Runner) else 1,
        on_retry=_warn_retry,
        set_tiles=set_tiles,
    )


def upscale_array(
    upscaler: Upscaler,
    planes: torch.Tensor,
    scale: int,
    *,
    colour: int,
    tiles: TileSize,
    dtype: np.dtype | type = np.uint8,
    progress: bool = False,
) -> np.ndarray:
    """Float ``(C, H, W)`` planes (colour, then optional alpha) -> upscaled ``(sH, sW, C)`` numpy array
    of ``dtype`` (``uint8``/``uint16``: quantised as :func:`srkit.io.write_image` does; or a float
    dtype), assembled tile row by tile row without a full-size float copy."""
    torch_dtype = {np.dtype(np.uint8): torch.uint8, np.dtype(np.uint16): torch.uint16}.get(
        np.dtype(dtype), torch.float32
    )
    channels, height, width = planes.shape
    buffer = torch.empty(scale * height, scale * width, channels, dtype=torch_dtype)
    upscale_tensor(
        upscaler,
        planes[None],
        scale,
        colour=colour,
        tiles=tiles,
        out=buffer.permute(2, 0, 1)[None],
        progress=progress,
    )
    data = buffer.numpy()
    return data if data.dtype == np.dtype(dtype) else data.astype(dtype)


def upscale_image(
    upscaler: Upscaler,
    image: Image,
    scale: int,
    *,
    tiles: TileSize,
    bit_depth: int = 8,
    progress: bool = False,
) -> np.ndarray:
    """An :class:`~srkit.io.Image` -> upscaled ``uint8`` (``bit_depth`` 8) or ``uint16`` (16)
    ``(sH, sW, C)`` array: colour channels, then alpha when the image has one."""
    planes = image.pixels if image.alpha is None else torch.cat([image.pixels, image.alpha])
    return upscale_array(
        upscaler,
        planes,
        scale,
        colour=image.channels,
        tiles=tiles,
        dtype=np.uint16 if bit_depth == 16 else np.uint8,
        progress=progress,
    )


# --------------------------------------------------------------------------------------------------
# Writing integer pixels with the input's metadata and srkit's provenance marker
# --------------------------------------------------------------------------------------------------


class OutputKeptError(ImageError):
    """The output path was taken when the result was ready (another run wrote it meanwhile, or it is
    not srkit's and ``--overwrite`` may not replace it); nothing was written."""


def _output_format(path: Path) -> str:
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(path, f"unknown image suffix {path.suffix!r}")
    return fmt


def output_bit_depth(info: ImageInfo, path: Path) -> int:
    """16 when the input has 16 bits and ``path``'s format stores them (PNG, TIFF), else 8."""
    return 16 if info.bit_depth == 16 and _output_format(path) in ("PNG", "TIFF") else 8


def provenance(source: Path, upscaler: Upscaler, scale: int) -> dict[str, str]:
    """The provenance marker of an output (see :mod:`srkit.io.images.encode`): the input's file name
    (not its folder), the model and the scale."""
    return {"source": source.name, "model": upscaler.name, "scale": str(scale)}


def is_srkit_output(path: Path) -> bool:
    """Whether the image file at ``path`` carries srkit's provenance marker (a BMP never does)."""
    return read_provenance(path) is not None


def write_pixels(
    path: Path,
    data: np.ndarray,
    info: ImageInfo,
    *,
    scale: float = 1,
    quality: int = 95,
    provenance: dict[str, str] | None = None,
    overwrite: bool | Callable[[Path], bool] = True,
    background: tuple[int, int, int] | None = None,
) -> Path:
    """Write ``uint8``/``uint16`` ``(H, W, C)`` pixels (C = 1-4, the last of 2 or 4 is alpha) to ``path``
    atomically with :func:`srkit.io.write_image` (whose integer path makes no float copy), keeping
    ``info``'s ICC profile and EXIF, and its dpi multiplied by ``scale``; ``quality``, ``provenance``,
    ``overwrite`` and ``background`` (alpha composited over it in JPEG and BMP) as
    :func:`~srkit.io.write_image` takes them."""
    dpi = (info.dpi[0] * scale, info.dpi[1] * scale) if info.dpi else None
    return write_image(
        path,
        data,
        icc_profile=info.icc_profile,
        exif=info.exif,
        dpi=dpi,
        quality=quality,
        provenance=provenance,
        overwrite=overwrite,
        background=background,
    )


def _note(source: Path, text: str | None) -> None:
    """``srkit: note: <source>: <text>`` on stderr, when there is a text."""
    if text:
        safe_print(f"srkit: note: {source}: {text}", sys.stderr)


_Result = TypeVar("_Result")


def _keeping(target: Path, overwrite: bool, write: Callable[[], _Result]) -> _Result:
    """``write()``, a refused replacement of ``target`` turned into :class:`OutputKeptError`."""
    try:
        return write()
    except ImageError as exc:
        if not isinstance(exc.__cause__, NotReplacedError):
            raise
        reason = (
            "was not written by srkit; not replaced"
            if overwrite
            else "was written meanwhile (another run?); kept"
        )
        raise OutputKeptError(target, f"exists and {reason}") from exc


def upscale_file(
    upscaler: Upscaler,
    source: Path,
    target: Path,
    scale: int,
    *,
    tiles: TileSize,
    progress: bool = False,
    overwrite: bool = True,
    output: OutputOptions | None = None,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Read ``source``, upscale it and write ``target`` (atomically: no partial file on failure) with
    srkit's provenance marker. Returns ``((w, h), (W, H))`` (of frame 1).

    An animated GIF/PNG/WebP or a multi-page TIFF is upscaled frame by frame when ``target``'s format
    holds frames (GIF, PNG, WebP, TIFF; :func:`srkit.infer.frames.upscale_frames`), else frame 1 is.
    ``output`` (:class:`~srkit.infer.frames.OutputOptions`) gives the JPEG/WebP quality, the background
    alpha is composited over in JPEG and BMP, and ``first_frame``; what the output format cannot hold
    (alpha, 16 bits, frames, colours) is said in one note on stderr.

    What is at ``target`` when the result is renamed into place decides, at that moment: nothing there:
    written; a file srkit wrote (it has the marker): replaced when ``overwrite``; anything else, or
    anything at all without ``overwrite``: kept (:class:`OutputKeptError`). A symlink at ``target`` is
    replaced by the output (the link, never the file it points to) when it points to an srkit output.
    """
    options = output or OutputOptions()
    image = read_image(source)
    fmt = _output_format(target)
    marker = provenance(source, upscaler, scale)
    if options.size.given:
        marker["scale"] = options.size.tag(scale).removeprefix("x")
    replace = is_srkit_output if overwrite else False

    def one(frame: Image, depth: int) -> np.ndarray:
        data = upscale_image(upscaler, frame, scale, tiles=tiles, bit_depth=depth, progress=progress)
        size = options.size.size(frame.width, frame.height)
        return data if size is None else resize_result(data, size)

    if wants_frames(image.info, fmt, options):
        _note(source, describe_losses(image, fmt, frames_depth(image.info, fmt), options, animated=True))

        return _keeping(
            target,
            overwrite,
            lambda: upscale_frames(
                source, target, fmt, one, scale=scale, options=options, provenance=marker, overwrite=replace
            ),
        )
    depth = output_bit_depth(image.info, target)
    _note(source, describe_losses(image, fmt, depth, options))
    data = one(image, depth)
    _keeping(
        target,
        overwrite,
        lambda: write_pixels(
            target,
            data,
            image.info,
            scale=data.shape[1] / image.width if options.size.given else scale,
            quality=options.quality,
            provenance=marker,
            overwrite=replace,
            background=options.background,
        ),
    )
    return (image.width, image.height), (data.shape[1], data.shape[0])


# --------------------------------------------------------------------------------------------------
# Inputs -> jobs
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Job:
    """One input file, where its output goes, why it is not processed (``error``/``skip``), and whether
    an existing srkit output there may be replaced (``overwrite``)."""

    source: Path
    target: Path | None
    error: str | None = None
    skip: str | None = None
    overwrite: bool = False


#: The fields a ``--name`` template may use.
NAME_FIELDS: tuple[str, ...] = ("stem", "tag", "scale", "model")


@dataclasses.dataclass(frozen=True)
class Naming:
    """How outputs are named: ``template`` (``--name``; ``--suffix S`` is ``{stem}S``) filled with the
    input's ``{stem}``, the output size ``{tag}`` (``x4``, ``x3.5``, ``w1024``, ``h768``, ``1024x768``),
    the factor ``{scale}`` (``4``, ``3.5``; not with a width or height) and the ``{model}`` name."""

    tag: str
    scale: str | None = None
    model: str = ""
    template: str = "{stem}_{tag}"

    @classmethod
    def for_scale(cls, scale: float, *, model: str = "", template: str | None = None) -> Naming:
        """Outputs of an upscale by ``scale`` (``x4``; ``x3.5`` for a fractional ``--outscale``)."""
        text = f"{scale:g}"
        return cls(f"x{text}", text, model, template or "{stem}_{tag}")

    def __post_init__(self) -> None:
        check_name_template(self.template, scale=self.scale is not None)

    def stem(self, source: Path) -> str:
        """The output's file name without suffix for the input ``source``."""
        fields = {"stem": source.stem, "tag": self.tag, "scale": self.scale or "", "model": self.model}
        return self.template.format_map(fields)


def check_name_template(template: str, *, scale: bool = True) -> None:
    """Refuse a ``--name`` template that names an unknown field, has a stray brace, contains a path
    separator or leaves nothing of the input's name (``{stem}`` is required, so that two inputs never
    share an output name)."""
    import string

    try:
        names = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        raise ConfigError(f"--name: {template!r} is not a valid template ({exc})") from None
    unknown = [n for n in names if n not in NAME_FIELDS]
    if unknown:
        fields = ", ".join("{" + f + "}" for f in NAME_FIELDS)
        raise ConfigError(f"--name: unknown field {{{unknown[0]}}} in {template!r}; fields: {fields}")
    if "stem" not in names:
        raise ConfigError(f"--name: {template!r} must contain {{stem}}, so each input gets its own output")
    if "scale" in names and not scale:
        raise ConfigError("--name: {scale} has no value with --width/--height; use {tag}")
    if "/" in template or os.sep in template or "\\" in template:
        raise ConfigError(f"--name: {template!r} must be a file name, not a path (use -o for the folder)")


def output_name(source: Path, naming: Naming | int, fmt: str | None) -> str:
    """``naming``'s stem (default ``<stem>_x<scale>``) plus ``.<ext>``: ``ext`` from ``fmt`` (png/jpg/...),
    else the input's suffix when srkit writes that format, else ``.png``. A still GIF becomes PNG (a
    256-colour palette would throw the upscaled colours away); an animated GIF stays GIF, frame by frame."""
    if not isinstance(naming, Naming):
        naming = Naming.for_scale(naming)
    if fmt is not None:
        suffix = FORMATS[fmt]
    elif source.suffix.lower() == ".gif":
        suffix = source.suffix if _is_animated(source) else ".png"
    else:
        suffix = source.suffix if source.suffix.lower() in SUFFIX_FORMATS else ".png"
    return naming.stem(source) + suffix


def _is_animated(path: Path) -> bool:
    """Whether the image file at ``path`` has several frames (``False`` when it cannot be read: the
    read of the job then says why)."""
    from PIL import Image as PILImage

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # only the second frame's header is looked at
            with PILImage.open(path, formats=("GIF",)) as im:
                return bool(getattr(im, "is_animated", False))
    except Exception:  # anything Pillow raises on a file it cannot read: not animated
        return False


def _os_reason(exc: OSError) -> str:
    """A file-system error without the path it repeats: ``permission denied``, ``symlink loop``, ..."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    text = exc.strerror or type(exc).__name__
    return text[:1].lower() + text[1:]


def _real(path: Path) -> Path:
    """``path`` with symlinks resolved as far as they go (never raises, unlike ``Path.resolve`` on a
    symlink loop)."""
    return Path(os.path.realpath(path))


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _kind(path: Path) -> str:
    """``"dir"``, ``"file"`` (regular), ``"missing"``, or why ``path`` cannot be used."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as exc:
        return f"cannot access ({_os_reason(exc)})"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "not a regular file"


def _scan_folder(folder: Path, recursive: bool) -> tuple[list[Path], list[Job]]:
    """Image files in ``folder`` (by suffix; hidden files and folders skipped; symlinked sub-folders not
    followed), sorted, and failed jobs for what cannot be read: an unreadable (sub-)folder, an image
    entry that cannot be looked at (a symlink loop)."""
    files: list[Path] = []
    failed: list[Job] = []
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as found:
                entries = list(found)
        except OSError as exc:
            failed.append(Job(current, None, error=f"cannot read this folder ({_os_reason(exc)})"))
            continue
        for entry in entries:
            path = current / entry.name
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if recursive:
                        pending.append(path)
                elif entry.is_file() and _is_image_name(path):
                    files.append(path)
            except OSError as exc:
                if _is_image_name(path):
                    failed.append(Job(path, None, error=f"cannot access ({_os_reason(exc)})"))
    return sorted(files), sorted(failed, key=lambda job: job.source)


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _drop_own_outputs(
    files: list[Path], naming: Naming, fmt: str | None, out_dir: Path | None, root: Path
) -> list[Path]:
    """Scanned files (found under ``root``) minus srkit's outputs: files with srkit's provenance marker,
    files named as the planned output of another scanned file beside them (outputs without a marker:
    BMP, or written by an older srkit), and files inside ``out_dir`` when it is a folder of its own
    below ``root``. Outputs written into the input folder itself (``-o`` = the input folder) are thus
    told apart from the inputs there."""
    planned = {f.with_name(output_name(f, naming, fmt)) for f in files}
    outputs = _real(out_dir) if out_dir is not None else None
    base = _real(root)
    dedicated = outputs is not None and outputs != base and _is_within(outputs, base)
    return [
        f
        for f in files
        if f not in planned
        and not (dedicated and outputs is not None and _is_within(_real(f), outputs))
        and not is_srkit_output(f)
    ]


def _glob_base(pattern: str) -> Path:
    """The folder part of ``pattern`` before its first wildcard."""
    parts = Path(pattern).parts
    plain = list(itertools.takewhile(lambda p: not _GLOB_CHARS & set(p), parts))
    return Path(*plain) if plain else Path(".")


def _expand_glob(text: str, *, recursive: bool) -> tuple[list[Path], list[Job]]:
    """Image files matching the pattern ``text``, and failed jobs (unreadable matches; no match)."""
    pattern = os.path.expanduser(text)
    files, failed = [], []
    for match in sorted(Path(m) for m in glob.glob(pattern, recursive=recursive)):
        kind = _kind(match)
        if kind == "file" and _is_image_name(match):
            files.append(match)
        elif kind.startswith("cannot") and _is_image_name(match):
            failed.append(Job(match, None, error=kind))
    if not files and not failed:
        base = _glob_base(pattern)
        try:
            os.scandir(base).close()
        except FileNotFoundError:
            pass
        except OSError as exc:
            return [], [Job(Path(text), None, error=f"cannot read the folder {base} ({_os_reason(exc)})")]
    return files, failed


def _expand(
    inputs: Sequence[str], *, recursive: bool, naming: Naming, fmt: str | None, out_dir: Path | None
) -> tuple[list[tuple[Path, Path | None]], list[Job]]:
    """Inputs -> ``[(file, root folder or None)]`` (explicit files, folder contents, glob matches) and
    failed jobs for inputs that match nothing or cannot be read. Files found by scanning a folder or a
    pattern skip srkit's outputs (see :func:`_drop_own_outputs`); files named explicitly are always
    taken."""
    found: list[tuple[Path, Path | None]] = []
    failed: list[Job] = []
    for text in inputs:
        path = Path(text).expanduser()
        kind = _kind(path)
        if kind == "dir":
            scanned, unreadable = _scan_folder(path, recursive)
            files = _drop_own_outputs(scanned, naming, fmt, out_dir, path)
            failed += unreadable
            if not files and not unreadable:
                hint = "" if recursive else " (--recursive looks in subfolders)"
                failed.append(Job(path, None, error="no image files in this folder" + hint))
            found += [(f, path) for f in files]
        elif kind == "file":
            found.append((path, None))
        elif _GLOB_CHARS & set(text):
            matched, unreadable = _expand_glob(text, recursive=recursive)
            files = _drop_own_outputs(matched, naming, fmt, out_dir, _glob_base(os.path.expanduser(text)))
            failed += unreadable
            if not files and not unreadable:
                failed.append(Job(path, None, error="no image files match this pattern"))
            found += [(f, None) for f in files]
        else:
            failed.append(Job(path, None, error="no such file or folder" if kind == "missing" else kind))
    return found, failed


def _identity(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of an existing file (hard links and symlinks share it), else ``None``."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


#: Longest file name (bytes) of the usual file systems.
_NAME_MAX = 255


def _folder_problem(folder: Path) -> str | None:
    """Why outputs cannot be written into ``folder`` (created when missing), or ``None``."""
    for candidate in (folder, *folder.parents):
        try:
            mode = os.stat(candidate).st_mode
        except FileNotFoundError:
            continue  # created when the output is written
        except OSError as exc:
            return f"cannot use the output folder {candidate} ({_os_reason(exc)})"
        if not stat.S_ISDIR(mode):
            return f"the output folder {candidate} is not a folder"
        if not os.access(candidate, os.W_OK | os.X_OK):
            return f"cannot write into the output folder {candidate} (permission denied)"
        return None
    return None


def _target_problem(target: Path, overwrite: bool, model: str = "") -> tuple[str | None, str | None]:
    """``(error, skip)`` of writing ``target`` as planned: both ``None`` when it may be written. An
    existing srkit output made by another model than ``model`` says so (two models into one folder)."""
    if len(os.fsencode(target.name)) > _NAME_MAX:
        return f"the output name {target.name} is longer than {_NAME_MAX} bytes", None
    try:
        os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):
        return _folder_problem(target.parent), None
    except OSError as exc:
        return _folder_problem(
            target.parent
        ) or f"cannot access the output {target} ({_os_reason(exc)})", None
    try:
        is_dir = stat.S_ISDIR(os.stat(target).st_mode)
    except FileNotFoundError:
        is_dir = False  # a symlink to nothing: there, and not srkit's
    except OSError as exc:
        return f"cannot use the output {target} ({_os_reason(exc)})", None
    if is_dir:
        return f"output {target} is a folder", None
    marker = read_provenance(target)
    if not overwrite:
        if marker is None:
            return None, f"{target} exists and was not written by srkit (kept)"
        return None, f"{target} exists{_made_by(marker, model)}"
    if marker is None:
        return f"output {target} exists and was not written by srkit; not replaced", None
    return None, None


def _made_by(marker: dict[str, str], model: str) -> str:
    """What to say after "exists" about an srkit output: who made it when that is another model than
    this run's ``model`` (two models into one folder), and how to replace it or keep both."""
    theirs = marker.get("model", "")
    if not model or not theirs or theirs == model:
        return " (--overwrite replaces it)"
    return (
        f", made by model {theirs} (this run: {model}); --overwrite replaces it, "
        "--name '{stem}_{model}_{tag}' keeps both"
    )


def _single_output_file(
    out: Path | None, found: Sequence[tuple[Path, Path | None]], fmt: str | None
) -> Path | None:
    """``-o`` as the output file: it has an image suffix, is not an existing folder, and there is one
    input file; several inputs with such an ``-o``, or a ``--format`` its suffix contradicts, are
    refused."""
    if out is None or out.suffix.lower() not in SUFFIX_FORMATS or out.is_dir():
        return None
    if fmt is not None and SUFFIX_FORMATS[out.suffix.lower()] != SUFFIX_FORMATS.get(FORMATS[fmt]):
        raise ConfigError(f"-o: {out} is not a {fmt} file name; drop --format or give a .{fmt} name")
    if len(found) != 1:
        raise ConfigError(
            f"-o: {out} names one output file, but {len(found)} input images were found; "
            "give a folder for several inputs"
        )
    return out


def plan_jobs(
    inputs: Sequence[str],
    *,
    scale: int,
    out_dir: Path | None = None,
    fmt: str | None = None,
    overwrite: bool = False,
    recursive: bool = False,
    naming: Naming | None = None,
) -> list[Job]:
    """Expand ``inputs`` (files, folders, glob patterns) into jobs, in order, each input once.

    Outputs go to ``out_dir`` (keeping the sub-folder layout of files found under a folder) or beside
    each input, named by :func:`output_name` with ``naming`` (default ``<stem>_x<scale>``); with one
    input image, an ``out_dir`` with an image suffix that is not a folder is the output file itself. A
    job gets ``error`` when its output would replace one of the inputs (refused even with ``overwrite``),
    another job's output, or a file srkit did not write (recognised by its provenance marker), or cannot
    be written there (a folder, a symlink loop, an unwritable folder); and ``skip`` when the output
    exists and ``overwrite`` is false (saying so when another model made it). The same check is made
    again when each output is renamed into place (:func:`upscale_file`), so runs working on one folder
    at once do not replace each other's outputs.
    """
    naming = naming or Naming.for_scale(scale)
    found, failed = _expand(inputs, recursive=recursive, naming=naming, fmt=fmt, out_dir=out_dir)
    out_file = _single_output_file(out_dir, found, fmt)
    jobs: list[Job] = []
    seen: dict[Path, Path] = {}  # resolved input -> as given
    inodes: dict[tuple[int, int], Path] = {}
    for source, root in found:
        key = _real(source)
        if key in seen:
            continue
        seen[key] = source
        identity = _identity(source)
        if identity is not None:
            inodes.setdefault(identity, source)
        if out_file is not None:
            jobs.append(Job(source, out_file, overwrite=overwrite))
            continue
        if out_dir is None:
            folder = source.parent
        elif root is not None:
            folder = out_dir / source.parent.relative_to(root)
        else:
            folder = out_dir
        jobs.append(Job(source, folder / output_name(source, naming, fmt), overwrite=overwrite))
    _check_targets(jobs, seen, inodes, overwrite, naming.model)
    return failed + jobs


def _check_targets(
    jobs: Sequence[Job],
    seen: dict[Path, Path],
    inodes: dict[tuple[int, int], Path],
    overwrite: bool,
    model: str,
) -> None:
    """Set each job's ``error``/``skip`` from its target (see :func:`plan_jobs`)."""
    targets: dict[Path, Path] = {}
    for job in jobs:
        assert job.target is not None
        key = _real(job.target)
        identity = _identity(job.target)
        clash = seen.get(key) or (inodes.get(identity) if identity is not None else None)
        if clash is not None:
            job.error = f"refusing to overwrite the input {clash} with the output"
        elif key in targets:
            job.error = f"output {job.target} is also the output of {targets[key]}"
        else:
            job.error, job.skip = _target_problem(job.target, overwrite, model)
        targets.setdefault(key, job.source)


# --------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunResult:
    """What a run did: written ``(source, target)`` pairs, skipped jobs and ``(source, reason)``
    failures."""

    written: list[tuple[Path, Path]] = dataclasses.field(default_factory=list)
    skipped: list[Job] = dataclasses.field(default_factory=list)
    failed: list[tuple[Path, str]] = dataclasses.field(default_factory=list)


def safe_print(text: str, file: TextIO | None = None) -> None:
    """``print`` that cannot fail on a character the stream's encoding lacks (a file name with an
    undecodable byte, held as a surrogate escape): such characters are printed as ``\\uXXXX``."""
    stream = sys.stdout if file is None else file
    try:
        print(text, file=stream)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        print(text.encode(encoding, "backslashreplace").decode(encoding, "replace"), file=stream)


def _reason(exc: BaseException, source: Path) -> str:
    """One line, never cut: an :class:`ImageError` about ``source`` without the repeated path, another
    srkit error as it is, a file-system error by its reason, else the type and (at most 300
    characters of) the message."""
    if isinstance(exc, ImageError) and Path(exc.path) == source:
        return " ".join(exc.reason.split()) or type(exc).__name__
    if isinstance(exc, SrkitError):
        return one_line(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename is not None and Path(exc.filename) != source else ""
        return f"{_os_reason(exc)}{where}"
    return f"{type(exc).__name__}: {one_line(exc, 300)}"


def _clean_output_folders(jobs: Sequence[Job], echo: Callable[[str], None]) -> None:
    """Remove the temporary files that killed runs left in the output folders of ``jobs``."""
    folders = dict.fromkeys(job.target.parent for job in jobs if job.target is not None)
    for folder in folders:
        removed = remove_stale_temporaries(folder)
        if removed:
            echo(f"removed {len(removed)} temporary file(s) an interrupted run left in {folder}")


def run_upscale(
    jobs: Iterable[Job],
    upscaler: Upscaler,
    scale: int,
    *,
    tiles: TileSize,
    progress: bool = False,
    echo: Callable[[str], None] = safe_print,
    output: OutputOptions | None = None,
) -> RunResult:
    """Process ``jobs`` in order; a failing file is recorded and the run goes on. An output that another
    run wrote meanwhile is kept (the job becomes a skip); one that is not srkit's is never replaced.
    ``output``: how outputs are encoded (:class:`~srkit.infer.frames.OutputOptions`)."""
    jobs = list(jobs)
    result = RunResult()
    todo = [j for j in jobs if j.error is None and j.skip is None]
    _clean_output_folders(todo, echo)
    for job in jobs:
        if job.error is not None:
            result.failed.append((job.source, job.error))
        elif job.skip is not None:
            result.skipped.append(job)
            echo(f"skip {job.source}: {job.skip}")
    bar = None
    if progress and len(todo) > 1:
        from tqdm import tqdm  # import-time cost: only when a bar is shown

        bar = tqdm(total=len(todo), desc="images", unit="image", dynamic_ncols=True)
        echo = _beside_bar(tqdm, echo)
    try:
        for job in todo:
            _run_job(
                job, upscaler, scale, tiles=tiles, progress=progress, result=result, echo=echo, output=output
            )
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return result


def _beside_bar(tqdm: Any, echo: Callable[[str], None]) -> Callable[[str], None]:
    """``echo`` with the progress bar cleared while it prints."""

    def write(text: str) -> None:
        with tqdm.external_write_mode():
            echo(text)

    return write


def _run_job(
    job: Job,
    upscaler: Upscaler,
    scale: int,
    *,
    tiles: TileSize,
    progress: bool,
    result: RunResult,
    echo: Callable[[str], None],
    output: OutputOptions | None = None,
) -> None:
    """One job of :func:`run_upscale`, its outcome recorded in ``result`` and echoed."""
    assert job.target is not None
    start = time.perf_counter()
    try:
        (w, h), (ow, oh) = upscale_file(
            upscaler,
            job.source,
            job.target,
            scale,
            tiles=tiles,
            progress=progress,
            overwrite=job.overwrite,
            output=output,
        )
    except OutputKeptError as exc:
        if job.overwrite:
            result.failed.append((job.source, f"output {exc.path} {exc.reason}"))
            echo(f"FAILED {job.source}: output {exc.path} {exc.reason}")
        else:
            job.skip = f"{exc.path} {exc.reason}"
            result.skipped.append(job)
            echo(f"skip {job.source}: {job.skip}")
    except Exception as exc:  # any failure is this file's; the run goes on
        result.failed.append((job.source, _reason(exc, job.source)))
        echo(f"FAILED {job.source}: {_reason(exc, job.source)}")
    else:
        result.written.append((job.source, job.target))
        seconds = time.perf_counter() - start
        echo(f"{job.source} -> {job.target} ({w}x{h} -> {ow}x{oh}, {seconds:.1f} s)")
