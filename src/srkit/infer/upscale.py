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
- the output keeps the input's ICC profile and EXIF (orientation removed, the pixels are upright) and
  its dpi multiplied by the scale (the same print size).

Memory: the result is assembled directly in a ``uint8``/``uint16`` ``(H, W, C)`` buffer, tile row by
tile row, and encoded from it, so a 4000x3000 -> 16000x12000 RGB upscale holds the 576 MB result
instead of 2.3 GB of float32 (``benchmarks/upscale_memory.py``).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from srkit.archs import Runner, Upscaler
from srkit.degrade import resize
from srkit.errors import ConfigError, ImageError, SrkitError
from srkit.infer.tiling import DEFAULT_OVERLAP, TileFn, auto_tile_size, check_tiling, upscale_tiled
from srkit.io import IMAGE_SUFFIXES, Image, ImageInfo, read_image, write_image
from srkit.io.images import SUFFIX_FORMATS

__all__ = [
    "FORMATS",
    "Job",
    "RunResult",
    "output_name",
    "plan_jobs",
    "resolve_scale",
    "run_upscale",
    "upscale_array",
    "upscale_file",
    "upscale_image",
]

#: ``--format`` values -> suffix.
FORMATS: dict[str, str] = {"png": ".png", "jpg": ".jpg", "webp": ".webp"}
_GLOB_CHARS = frozenset("*?[")


# --------------------------------------------------------------------------------------------------
# Scale and tile size
# --------------------------------------------------------------------------------------------------


def resolve_scale(upscaler: Upscaler, scale: int | None, default: int = 4) -> int:
    """The factor to upscale by: ``scale`` if given (it must be one the upscaler supports), else the
    network's own scale, else ``default`` (interpolation baselines and networks that work on
    upsampled input).

    Raises:
        ConfigError: an unsupported scale.
    """
    if scale is None:
        own = upscaler.scale if isinstance(upscaler, Runner) else 1
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
    """A tile setting: ``None`` = automatic (measured once, on first use), 0 = whole image, N = N."""

    def __init__(self, tile: int | None, overlap: int = DEFAULT_OVERLAP) -> None:
        check_tiling(tile, overlap)
        self.tile = tile
        self.overlap = overlap
        self._auto: int | None = None

    def resolve(self, upscaler: Upscaler, scale: int) -> int:
        """The concrete tile side for ``upscaler`` at ``scale``."""
        if self.tile is not None:
            return self.tile
        if self._auto is None:
            self._auto = auto_tile_size(upscaler, scale)
            self._auto = max(self._auto, 2 * self.overlap + 1)
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
    tile = tiles.resolve(upscaler, scale)
    return upscale_tiled(
        _tile_fn(upscaler, scale, colour),
        x,
        scale,
        tile=tile,
        overlap=tiles.overlap,
        out=out,
        out_dtype=out_dtype,
        progress=progress,
        align=upscaler.size_multiple if isinstance(upscaler, Runner) else 1,
        on_retry=_warn_retry,
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
# Writing integer pixels with the input's metadata
# --------------------------------------------------------------------------------------------------


def _output_format(path: Path) -> str:
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(path, f"unknown image suffix {path.suffix!r}")
    return fmt


def output_bit_depth(info: ImageInfo, path: Path) -> int:
    """16 when the input has 16 bits and ``path``'s format stores them (PNG, TIFF), else 8."""
    return 16 if info.bit_depth == 16 and _output_format(path) in ("PNG", "TIFF") else 8


def write_pixels(path: Path, data: np.ndarray, info: ImageInfo, *, scale: int = 1, quality: int = 95) -> Path:
    """Write ``uint8``/``uint16`` ``(H, W, C)`` pixels (C = 1-4, the last of 2 or 4 is alpha) to ``path``
    atomically with :func:`srkit.io.write_image` (whose integer path makes no float copy), keeping
    ``info``'s ICC profile and EXIF, and its dpi multiplied by ``scale``."""
    dpi = (info.dpi[0] * scale, info.dpi[1] * scale) if info.dpi else None
    return write_image(path, data, icc_profile=info.icc_profile, exif=info.exif, dpi=dpi, quality=quality)


def upscale_file(
    upscaler: Upscaler,
    source: Path,
    target: Path,
    scale: int,
    *,
    tiles: TileSize,
    progress: bool = False,
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Read ``source``, upscale it and write ``target`` (atomically: no partial file on failure).
    Returns ``((w, h), (W, H))``."""
    image = read_image(source)
    data = upscale_image(
        upscaler, image, scale, tiles=tiles, bit_depth=output_bit_depth(image.info, target), progress=progress
    )
    write_pixels(target, data, image.info, scale=scale)
    return (image.width, image.height), (data.shape[1], data.shape[0])


# --------------------------------------------------------------------------------------------------
# Inputs -> jobs
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Job:
    """One input file, where its output goes, and why it is not processed (``error``/``skip``)."""

    source: Path
    target: Path | None
    error: str | None = None
    skip: str | None = None


def output_name(source: Path, scale: int, fmt: str | None) -> str:
    """``<stem>_x<scale>.<ext>``: ``ext`` from ``fmt`` (png/jpg/webp), else the input's suffix when it is
    an image suffix, else ``.png``."""
    if fmt is not None:
        suffix = FORMATS[fmt]
    else:
        suffix = source.suffix if source.suffix.lower() in IMAGE_SUFFIXES else ".png"
    return f"{source.stem}_x{scale}{suffix}"


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _scan_folder(folder: Path, recursive: bool) -> list[Path]:
    """Image files in ``folder`` (by suffix; hidden files and folders skipped), sorted."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not _is_hidden(p, folder)
    )


def _drop_own_outputs(files: list[Path], scale: int, fmt: str | None, out_dir: Path | None) -> list[Path]:
    """Scanned files minus results of earlier runs: files inside ``out_dir`` and files that are the
    planned output of another scanned file beside it."""
    planned = {f.with_name(output_name(f, scale, fmt)) for f in files}
    outputs = out_dir.resolve() if out_dir is not None else None
    return [
        f for f in files if f not in planned and (outputs is None or not f.resolve().is_relative_to(outputs))
    ]


def _expand(
    inputs: Sequence[str], *, recursive: bool, scale: int, fmt: str | None, out_dir: Path | None
) -> tuple[list[tuple[Path, Path | None]], list[Job]]:
    """Inputs -> ``[(file, root folder or None)]`` (explicit files, folder contents, glob matches) and
    failed jobs for inputs that match nothing. Files found by scanning a folder or a pattern skip
    earlier outputs (see :func:`_drop_own_outputs`); files named explicitly are always taken."""
    found: list[tuple[Path, Path | None]] = []
    failed: list[Job] = []
    for text in inputs:
        path = Path(text).expanduser()
        if path.is_dir():
            files = _drop_own_outputs(_scan_folder(path, recursive), scale, fmt, out_dir)
            if not files:
                failed.append(
                    Job(
                        path,
                        None,
                        error="no image files in this folder"
                        + ("" if recursive else " (--recursive looks in subfolders)"),
                    )
                )
            found += [(f, path) for f in files]
        elif path.exists():
            found.append((path, None))
        elif _GLOB_CHARS & set(text):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(text), recursive=recursive))
            files = [m for m in matches if m.is_file() and m.suffix.lower() in IMAGE_SUFFIXES]
            files = _drop_own_outputs(files, scale, fmt, out_dir)
            if not files:
                failed.append(Job(path, None, error="no image files match this pattern"))
            found += [(f, None) for f in files]
        else:
            failed.append(Job(path, None, error="no such file or folder"))
    return found, failed


def _identity(path: Path) -> tuple[int, int] | None:
    """``(device, inode)`` of an existing file (hard links and symlinks share it), else ``None``."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def plan_jobs(
    inputs: Sequence[str],
    *,
    scale: int,
    out_dir: Path | None = None,
    fmt: str | None = None,
    overwrite: bool = False,
    recursive: bool = False,
) -> list[Job]:
    """Expand ``inputs`` (files, folders, glob patterns) into jobs, in order, each input once.

    Outputs go to ``out_dir`` (keeping the sub-folder layout of files found under a folder) or beside
    each input, named by :func:`output_name`. A job gets ``error`` when its output would replace one
    of the inputs (refused even with ``overwrite``) or another job's output, and ``skip`` when the output
    exists and ``overwrite`` is false.
    """
    found, failed = _expand(inputs, recursive=recursive, scale=scale, fmt=fmt, out_dir=out_dir)
    jobs: list[Job] = []
    seen: dict[Path, Path] = {}  # resolved input -> as given
    inodes: dict[tuple[int, int], Path] = {}
    for source, root in found:
        key = source.resolve()
        if key in seen:
            continue
        seen[key] = source
        identity = _identity(source)
        if identity is not None:
            inodes.setdefault(identity, source)
        if out_dir is None:
            folder = source.parent
        elif root is not None:
            folder = out_dir / source.parent.relative_to(root)
        else:
            folder = out_dir
        jobs.append(Job(source, folder / output_name(source, scale, fmt)))
    targets: dict[Path, Path] = {}
    for job in jobs:
        assert job.target is not None
        key = job.target.resolve()
        identity = _identity(job.target)
        clash = seen.get(key) or (inodes.get(identity) if identity is not None else None)
        if clash is not None:
            job.error = f"refusing to overwrite the input {clash} with the output"
        elif key in targets:
            job.error = f"output {job.target} is also the output of {targets[key]}"
        elif job.target.is_dir():
            job.error = f"output {job.target} is a folder"
        elif job.target.exists() and not overwrite:
            job.skip = f"{job.target} exists (--overwrite replaces it)"
        targets.setdefault(key, job.source)
    return failed + jobs


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


def _reason(exc: BaseException, source: Path) -> str:
    """One line: an :class:`ImageError` about ``source`` without the repeated path, else the message."""
    if isinstance(exc, ImageError) and Path(exc.path) == source:
        text = exc.reason
    elif isinstance(exc, SrkitError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def run_upscale(
    jobs: Iterable[Job],
    upscaler: Upscaler,
    scale: int,
    *,
    tiles: TileSize,
    progress: bool = False,
    echo: Callable[[str], None] = print,
) -> RunResult:
    """Process ``jobs`` in order; a failing file is recorded and the run goes on."""
    jobs = list(jobs)
    result = RunResult()
    todo = [j for j in jobs if j.error is None and j.skip is None]
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
        echo = bar.write
    try:
        for job in todo:
            assert job.target is not None
            start = time.perf_counter()
            try:
                (w, h), (ow, oh) = upscale_file(
                    upscaler, job.source, job.target, scale, tiles=tiles, progress=progress
                )
            except Exception as exc:  # any failure is this file's; the run goes on
                result.failed.append((job.source, _reason(exc, job.source)))
                echo(f"FAILED {job.source}: {_reason(exc, job.source)}")
            else:
                result.written.append((job.source, job.target))
                seconds = time.perf_counter() - start
                echo(f"{job.source} -> {job.target} ({w}x{h} -> {ow}x{oh}, {seconds:.1f} s)")
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return result
