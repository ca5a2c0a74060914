"""Seamless tiling: upscale images of any size in overlapping tiles that blend without seams.

The tile geometry and weights are :mod:`srkit.archs.tiles` (shared with SR3's step-synchronous tiling).

The image is cut into a grid of tiles of at most ``tile x tile`` input pixels. Neighbouring tiles
share at least ``overlap`` pixels; along each axis the tiles are spread evenly, so the shared bands
are as equal as the integer grid allows (each at least ``overlap`` wide). Every tile is upscaled on
its own and the results are blended with separable weights:

- along an axis, a tile's weight is 1 in its interior and falls to 0 across a raised-cosine ramp
  ``0.5 - 0.5 cos(pi t)`` centred in the band shared with the neighbour and half the overlap wide
  (:data:`srkit.archs.tiles.RAMP_FRACTION`; ``scale * overlap / 2`` output pixels); the neighbour's
  ramp is the exact complement. A tile therefore gives no weight to the outer quarter of the band
  next to its cut edge, where the network saw zero padding instead of the real neighbourhood. (Measured on
  EDSR-baseline x4: a tile's error is ~44/255 at its cut edge and falls ~4x every 2 pixels; a ramp
  over the middle half of a 16-pixel overlap leaves 0.17/255, a ramp over all of it 0.76/255.)
- image borders are not cut edges, so tiles keep full weight there;
- the per-axis weights are normalised by their sums, so the 2-D weights ``wy[i](y) * wx[j](x)`` add up
  to exactly 1 at every output pixel (a partition of unity) and no weight image is needed.

The tiled result therefore equals the whole-image result up to the influence of the tile edges on
pixels at least ``overlap / 4`` input pixels inside the tile, which for an overlap of 16 is a
fraction of one 8-bit level (``tests/test_tiling.py``: EDSR x4, 1024x768, tile 128, overlap 16).
Networks that pixel-unshuffle (``size_multiple`` > 1 in their NetInfo) get tiles starting at multiples of it
(``align``), so they group the same pixels as on the whole image; each tile is padded by the
runner like a whole image (:func:`srkit.archs.pad_to_multiple`).

The output is assembled one row of tiles at a time in a float32 strip; rows that no later tile
touches are final and are written to the output at once, optionally quantised to ``uint8`` or
``uint16`` (``floor(clip(x, 0, 1) * max + 0.5)``, as :func:`srkit.io.write_image` rounds), so a
16000x12000 RGB result needs 576 MB (uint8) instead of 2.3 GB (float32) plus one strip.

Tile size: :func:`auto_tile_size` derives it from free memory (CUDA: ``torch.cuda.mem_get_info``;
CPU: ``MemAvailable`` of ``/proc/meminfo`` or ``os.sysconf``) and the network's measured activation
size per pixel. :func:`upscale_tiled` retries with half-size tiles when a tile runs out of memory
(CUDA out-of-memory errors, or PyTorch's CPU allocator failing).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from srkit.archs import Runner
from srkit.archs.tiles import axis_weights, smallest_tile, tile_spans
from srkit.errors import ConfigError, SrkitError

__all__ = [
    "DEFAULT_OVERLAP",
    "MAX_TILES",
    "MIN_TILE",
    "MIN_TILE_SIDE",
    "TileFn",
    "auto_tile_size",
    "available_memory",
    "axis_weights",
    "check_tiling",
    "smallest_tile",
    "tile_count",
    "tile_spans",
    "upscale_tiled",
]

#: Default overlap between neighbouring tiles, in input pixels.
DEFAULT_OVERLAP = 16
#: Smallest tile :func:`auto_tile_size` picks and :func:`upscale_tiled` halves down to.
MIN_TILE = 32
#: Smallest tile side accepted at all (input pixels). Every tile is one network call that sees only its
#: own pixels: 3-pixel tiles with overlap 1 cut a 48x32 image into 384 calls (minutes on a CPU) whose
#: outputs are nearly all seam.
MIN_TILE_SIDE = 8
#: Most tiles one image may be cut into (network calls per image); a 16000x12000 image in 128-pixel tiles
#: with the default overlap needs 15,400.
MAX_TILES = 20_000
#: Largest tile :func:`auto_tile_size` picks (CPU, CUDA): bigger tiles do not run faster.
MAX_TILE = {"cpu": 512, "cuda": 2048}
#: Share of the free memory a tile's working set may use, and a cap in bytes (CPU only).
MEMORY_FRACTION = {"cpu": 0.25, "cuda": 0.6}
CPU_BUDGET_CAP = 1 << 30
_TILE_STEP = 16

#: A function mapping a float tile ``(B, C, h, w)`` to its upscaled ``(B, C', s*h, s*w)``.
TileFn = Callable[[torch.Tensor], torch.Tensor]


def check_tiling(tile: int | None, overlap: int) -> None:
    """Validate ``tile`` (``None`` = automatic, 0 = whole image, else the tile side in input pixels, at
    least :data:`MIN_TILE_SIDE`) and ``overlap`` (>= 0, and less than half of a given tile). How many
    tiles an image needs is bounded when it is cut (:data:`MAX_TILES`).

    Raises:
        ConfigError: one line naming the bad value.
    """
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 0):
        raise ConfigError(f"tile: must be a non-negative integer (0 = whole image), got {tile!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise ConfigError(f"tile overlap: must be a non-negative integer, got {overlap!r}")
    if tile and tile < MIN_TILE_SIDE:
        raise ConfigError(
            f"tile: {tile} is too small: every tile is one network call that sees only its own pixels; "
            f"use at least {MIN_TILE_SIDE} (or 0 for the whole image)"
        )
    if tile and 2 * overlap >= tile:
        raise ConfigError(
            f"tile overlap: {overlap} (--tile-overlap) must be less than half the tile size ({tile}, "
            "--tile); without --tile-overlap the network's default overlap is lowered to fit"
        )


def tile_count(height: int, width: int, tile: int, overlap: int, align: int = 1) -> int:
    """How many tiles of ``tile`` pixels (0: the whole image) cut a ``height x width`` image."""
    if not tile:
        return 1
    return len(tile_spans(height, tile, overlap, align)) * len(tile_spans(width, tile, overlap, align))


def _check_tile_count(height: int, width: int, tile: int, overlap: int, align: int) -> None:
    count = tile_count(height, width, tile, overlap, align)
    if count > MAX_TILES:
        raise ConfigError(
            f"tile: {tile}x{tile} tiles with overlap {overlap} would cut this {width}x{height} image into "
            f"{count:,} tiles, more than {MAX_TILES:,} network calls; use larger tiles (or 0 for the whole "
            "image)"
        )


def _store(dst: torch.Tensor, src: torch.Tensor) -> None:
    """Copy float ``src`` into ``dst``; integer ``dst`` gets ``floor(clip(src, 0, 1) * max + 0.5)``
    (NaN -> 0), the rounding of :func:`srkit.io.write_image`."""
    if dst.dtype.is_floating_point:
        dst.copy_(src)
        return
    maximum = {torch.uint8: 255.0, torch.uint16: 65535.0}.get(dst.dtype)
    if maximum is None:
        raise ConfigError(f"tiling: unsupported output dtype {dst.dtype}")
    q = torch.nan_to_num(src.to(torch.float32), nan=0.0).clamp_(0.0, 1.0).mul_(maximum).add_(0.5).floor_()
    dst.copy_(q.to(dst.device))


def _progress_bar(total: int, enabled: bool, desc: str) -> Any:
    """A tqdm bar over tiles, or ``None``."""
    if not enabled or total <= 1:
        return None
    from tqdm import tqdm  # import-time cost: only when a bar is shown

    return tqdm(total=total, desc=desc, unit="tile", leave=False, dynamic_ncols=True)


def _upscale_once(
    fn: TileFn,
    x: torch.Tensor,
    scale: int,
    *,
    tile: int,
    overlap: int = DEFAULT_OVERLAP,
    out: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.float32,
    progress: bool = False,
    desc: str = "tiles",
    align: int = 1,
) -> torch.Tensor:
    """Upscale ``x`` ``(B, C, H, W)`` by ``scale`` with ``fn`` on overlapping, blended tiles.

    Args:
        fn: maps a tile ``(B, C, h, w)`` to ``(B, C', scale*h, scale*w)`` (any ``C'``, the same for
            every tile; float, on ``x``'s device or any other).
        x: the float input.
        scale: the integer factor ``fn`` upscales by.
        tile: largest tile side in input pixels; 0 (or >= the image) processes the image whole.
        overlap: input pixels shared by neighbouring tiles (less than half of ``tile``).
        out: where to put the result: ``(B, C', scale*H, scale*W)``, any strides (e.g. a permuted
            view of a channels-last buffer), float or ``uint8``/``uint16`` (quantised as
            :func:`srkit.io.write_image` does). Allocated (``out_dtype``, on ``x``'s device) when
            ``None``.
        out_dtype: dtype of the allocated output.
        progress: show a tqdm bar over the tiles (when there are several).
        desc: the bar's label.
        align: tile starts are multiples of it (the network's ``size_multiple``, see
            :func:`tile_spans`).

    Returns:
        ``out``.
    """
    if x.dim() != 4:
        raise ConfigError(f"tiling: expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    check_tiling(tile, overlap)
    whole = -(-max(x.shape[-2:]) // align) * align  # tile 0: one tile, also when a side is not aligned
    grid = _TileGrid(fn, x, scale, tile or whole, overlap, align, out, out_dtype)
    bar = _progress_bar(len(grid.rows) * len(grid.cols), progress, desc)
    grid.bar = bar
    try:
        return grid.run_all()
    finally:
        if bar is not None:
            bar.close()


class _TileGrid:
    """One pass of :func:`_upscale_once`: the tile grid, its blending weights and the output."""

    def __init__(
        self,
        fn: TileFn,
        x: torch.Tensor,
        scale: int,
        tile: int,
        overlap: int,
        align: int,
        out: torch.Tensor | None,
        out_dtype: torch.dtype,
    ) -> None:
        self.fn, self.x, self.scale, self.out, self.out_dtype = fn, x, scale, out, out_dtype
        self.batch, _, self.height, self.width = x.shape
        _check_tile_count(self.height, self.width, tile, overlap, align)
        self.rows = tile_spans(self.height, tile, overlap, align)
        self.cols = tile_spans(self.width, tile, overlap, align)
        self.wy, self.wx = axis_weights(self.rows, scale, overlap), axis_weights(self.cols, scale, overlap)
        self.bar: Any = None

    def tile(self, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        """``fn`` on one tile, its shape checked."""
        result = self.fn(self.x[..., y0:y1, x0:x1])
        want = (self.batch, self.scale * (y1 - y0), self.scale * (x1 - x0))
        got = (result.shape[0], *result.shape[-2:])
        if result.dim() != 4 or got != want:
            raise SrkitError(
                f"tiling: the upscaler returned {tuple(result.shape)} for a tile of "
                f"{tuple(self.x[..., y0:y1, x0:x1].shape)}; expected (B, C, {want[1]}, {want[2]})"
            )
        if self.bar is not None:
            self.bar.update(1)
        return result

    def output_for(self, result: torch.Tensor) -> torch.Tensor:
        """The given ``out`` (shape checked) or a new output for results like ``result``."""
        want = (self.batch, result.shape[1], self.scale * self.height, self.scale * self.width)
        if self.out is not None:
            if tuple(self.out.shape) != want:
                raise ConfigError(f"tiling: out has shape {tuple(self.out.shape)}, expected {want}")
            return self.out
        return torch.empty(*want, dtype=self.out_dtype, device=self.x.device)

    def run_all(self) -> torch.Tensor:
        """Every row of tiles, blended and stored as soon as no later row touches it."""
        if len(self.rows) == 1 and len(self.cols) == 1:
            result = self.tile(0, self.height, 0, self.width)
            whole = self.output_for(result)
            _store(whole, result)
            return whole
        target: torch.Tensor | None = None
        carry: torch.Tensor | None = None
        scale = self.scale
        for i, (y0, _) in enumerate(self.rows):
            strip, target = self.row(i, carry, target)
            done = scale * (self.rows[i + 1][0] if i + 1 < len(self.rows) else self.height)
            _store(target[:, :, scale * y0 : done], strip[:, :, : done - scale * y0])
            carry = strip[:, :, done - scale * y0 :].clone() if i + 1 < len(self.rows) else None
            del strip
        assert target is not None
        return target

    def row(
        self, i: int, carry: torch.Tensor | None, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Row ``i`` of tiles blended into a strip (the previous row's overlap ``carry`` added first),
        and the output (allocated with the first tile)."""
        (y0, y1), scale = self.rows[i], self.scale
        strip: torch.Tensor | None = None
        for j, (x0, x1) in enumerate(self.cols):
            result = self.tile(y0, y1, x0, x1)
            if strip is None:
                target = self.output_for(result) if target is None else target
                strip = torch.zeros(
                    self.batch, result.shape[1], scale * (y1 - y0), scale * self.width, device=result.device
                )
                if carry is not None:
                    strip[:, :, : carry.shape[2]] += carry.to(strip.device)
            weight = self.wy[i].to(result.device)[:, None] * self.wx[j].to(result.device)[None, :]
            strip[..., scale * x0 : scale * x1].addcmul_(result.float(), weight)
            del result
        assert strip is not None and target is not None
        return strip, target


# --------------------------------------------------------------------------------------------------
# Memory: free memory, activation size, automatic tile size, out-of-memory retries
# --------------------------------------------------------------------------------------------------


def _meminfo_available(path: Path = Path("/proc/meminfo")) -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (Linux), or ``None``."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_memory(device: str | torch.device = "cpu") -> int:
    """Free memory in bytes for tiles on ``device``.

    CUDA: ``torch.cuda.mem_get_info`` (free device memory) plus what PyTorch's caching allocator holds
    but does not use. CPU: ``MemAvailable`` from ``/proc/meminfo``, else ``os.sysconf`` available
    pages x page size, else 4 GiB.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        free, _ = torch.cuda.mem_get_info(dev)
        cached = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
        return int(free + max(0, cached))
    found = _meminfo_available()
    if found is not None:
        return found
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def activation_bytes_per_pixel(upscaler: Callable[..., torch.Tensor], scale: int, channels: int = 3) -> float:
    """Estimated working memory in bytes per *input* pixel of one tile.

    For a network (``upscaler.model``), it is measured: the upscaler runs on a 32x32 input with forward
    hooks on the network's leaf modules, and the largest module output, counted three times (the
    tensor, its input and one temporary alive at once), plus the float32 tile output and the blending
    strip, is divided by the input pixels. A chain of upscalers (``stages``, see
    :class:`srkit.infer.upscalers.ChainedUpscaler`) takes its largest stage, each per pixel of the chain's
    input (a second stage sees ``s**2`` pixels per input pixel). Other upscalers count
    ``16 * channels * scale**2`` bytes.
    """
    output_bytes = 16.0 * channels * scale * scale
    stages = getattr(upscaler, "stages", None)
    if stages:
        before, worst = 1, 0.0
        for stage, factor in stages:
            worst = max(worst, before * before * activation_bytes_per_pixel(stage, factor, channels))
            before *= factor
        return worst
    if not isinstance(upscaler, Runner):
        return output_bytes
    model = upscaler.model
    multiple = upscaler.size_multiple
    side = math.ceil(32 / multiple) * multiple
    largest = 0

    def hook(_module: torch.nn.Module, _inputs: object, output: object) -> None:
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output.numel() * output.element_size())

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        probe = torch.rand(1, channels, side, side)
        upscaler(probe, scale)
    finally:
        for handle in handles:
            handle.remove()
    return 3.0 * largest / (side * side) + output_bytes


def auto_tile_size(
    upscaler: Callable[..., torch.Tensor],
    scale: int,
    *,
    channels: int = 3,
    device: str | torch.device | None = None,
    budget: int | None = None,
) -> int:
    """A tile side (input pixels) whose working set fits in free memory.

    ``budget`` (bytes) defaults to a share of :func:`available_memory` on ``device`` (default: the
    upscaler's ``device``, else the CPU): 60% on CUDA; 25% on the CPU, at most 1 GiB (larger tiles are
    not faster on a CPU). The side is ``sqrt(budget / activation_bytes_per_pixel)`` rounded down to a
    multiple of 16 (and of the network's ``size_multiple``), within ``[MIN_TILE, MAX_TILE]``.
    """
    if device is None:
        first = getattr(upscaler, "stages", [(upscaler, 1)])[0][0]
        device = first.device if isinstance(first, Runner) else "cpu"
    dev = torch.device(device)
    kind = "cuda" if dev.type == "cuda" else "cpu"
    if budget is None:
        budget = int(available_memory(dev) * MEMORY_FRACTION[kind])
        if kind == "cpu":
            budget = min(budget, CPU_BUDGET_CAP)
    per_pixel = activation_bytes_per_pixel(upscaler, scale, channels)
    side = int(math.sqrt(max(budget, 0) / per_pixel))
    step = math.lcm(_TILE_STEP, upscaler.size_multiple if isinstance(upscaler, Runner) else 1)
    side = side // step * step
    return max(MIN_TILE, min(MAX_TILE[kind], side))


def _is_oom(exc: BaseException) -> bool:
    """True for CUDA out-of-memory errors and PyTorch's CPU allocator failing."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)


def _empty_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def upscale_tiled(
    fn: TileFn,
    x: torch.Tensor,
    scale: int,
    *,
    tile: int,
    overlap: int = DEFAULT_OVERLAP,
    out: torch.Tensor | None = None,
    out_dtype: torch.dtype = torch.float32,
    progress: bool = False,
    desc: str = "tiles",
    align: int = 1,
    on_retry: Callable[[int], None] | None = None,
    set_tiles: Callable[[int, int], object] | None = None,
) -> torch.Tensor:
    """Upscale ``x`` ``(B, C, H, W)`` by ``scale`` with ``fn`` on overlapping, blended tiles (the one
    tiled-upscale function; arguments as :func:`_upscale_once` documents), retried with half-size tiles
    after an out-of-memory error.

    ``tile`` = 0 first tries the whole image. On out-of-memory the tile side is halved (from the
    image's longer side when it was whole), down to :data:`MIN_TILE`, the overlap is reduced if it no
    longer fits, and the image is processed again from the start; ``on_retry(new_tile)`` is called
    first. Raises :class:`SrkitError` when even :data:`MIN_TILE` tiles do not fit.

    ``set_tiles``: ``fn`` is an iterative runner that tiles every network call itself
    (:meth:`srkit.archs.Runner.step_tiles`, already given ``tile`` and ``overlap``). The image is then
    never cut, since independent tiles of a sample would not blend: every attempt runs it whole, and an
    out-of-memory error halves the runner's tiles through ``set_tiles(tile, overlap)`` instead.
    """
    check_tiling(tile, overlap)
    current, current_overlap = tile, overlap
    while True:
        try:
            return _upscale_once(
                fn,
                x,
                scale,
                tile=0 if set_tiles is not None else current,
                overlap=current_overlap,
                out=out,
                out_dtype=out_dtype,
                progress=progress,
                desc=desc,
                align=align,
            )
        except (torch.cuda.OutOfMemoryError, RuntimeError) as exc:
            if not _is_oom(exc):
                raise
            effective = current or max(x.shape[-2:])
            del exc
            _empty_cache()
            if effective <= MIN_TILE:
                raise SrkitError(
                    f"out of memory even with {effective}x{effective} tiles; use --device cpu or a "
                    "smaller model"
                ) from None
            current = max(MIN_TILE, effective // 2)
            current_overlap = min(current_overlap, current // 2 - 1)
            if set_tiles is not None:
                set_tiles(current, current_overlap)
            elif tile_count(x.shape[-2], x.shape[-1], current, current_overlap, align) > MAX_TILES:
                raise SrkitError(
                    f"out of memory with {effective}x{effective} tiles, and {current}x{current} tiles would "
                    f"make more than {MAX_TILES:,} of them; use --device cpu or a smaller model"
                ) from None
            if on_retry is not None:
                on_retry(current)
