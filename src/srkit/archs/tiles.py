"""Tile geometry shared by every tiler: where the tiles of an axis go (:func:`tile_spans`) and the
raised-cosine weights that blend them into a partition of unity (:func:`axis_weights`), plus
:func:`blend_tiles`, which runs a function on overlapping tiles of a tensor and blends the results in
memory at the same resolution.

:mod:`srkit.infer.tiling` upscales images tile by tile with these weights (its docstring explains the
ramp and what it measured); :class:`srkit.archs.sr3.SR3Runner` uses :func:`blend_tiles` at every
sampling step (step-synchronous tiling: one noise field, every network call on tiles, the predictions
blended with the same weights), so tiles of a diffusion sample do not seam.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

__all__ = ["RAMP_FRACTION", "axis_weights", "blend_tiles", "smallest_tile", "tile_spans"]

#: Width of the blending ramp as a share of the overlap: the ramp covers the middle half of the band
#: two tiles share, and the outer quarters (nearest each tile's cut edge) get no weight from that tile.
RAMP_FRACTION = 0.5


def tile_spans(length: int, tile: int, overlap: int, align: int = 1) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` of the tiles along an axis of ``length`` pixels.

    One span ``(0, length)`` when ``length <= tile``; otherwise ``n = ceil((length - overlap) /
    (tile - overlap))`` spans, the first at 0 and the last ending at ``length``, with evenly spread
    starts, so neighbours share at least ``overlap`` pixels; each span is the :func:`smallest_tile`
    that keeps ``n`` (at most ``tile``), so the network computes little more than the image.

    With ``align`` > 1 every start is a multiple of ``align`` (networks that pixel-unshuffle by
    ``align`` see the same pixel groups as on the whole image): the grid is laid out in units of
    ``align`` pixels, the tile rounded down and the overlap up to multiples of it, and the last span
    is cut at ``length``.
    """
    if align > 1:
        units = tile_spans(
            -(-length // align),
            max(1, tile // align),
            min(-(-overlap // align), max(0, (tile // align - 1) // 2)),
        )
        return [(start * align, min(stop * align, length)) for start, stop in units]
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    tile = smallest_tile(length, n, overlap)
    starts = [round(i * (length - tile) / (n - 1)) for i in range(n)]
    return [(s, s + tile) for s in starts]


def smallest_tile(length: int, n: int, overlap: int) -> int:
    """The smallest tile side that still covers ``length`` pixels with ``n >= 2`` evenly spread tiles
    sharing at least ``overlap`` pixels with each neighbour (after rounding the starts).

    A fixed tile leaves the tiles overlapping by more than asked: 1000 pixels in 512-pixel tiles with
    overlap 16 are 2 tiles sharing 24 pixels, but 3 tiles of 512 share 268 and compute 1.54x the
    pixels; 3 tiles of 344 do it with 1.03x. ``ceil((length - overlap) / n) + overlap`` is the lower
    bound (``n`` tiles minus the ``n - 1`` shared bands cover the axis); a start rounded up can steal
    a pixel from a band, so the side grows until the largest start step leaves ``overlap``.
    """
    tile = -(-(length - overlap) // n) + overlap
    while tile - -(-(length - tile) // (n - 1)) < overlap:
        tile += 1
    return tile


def _ramp(positions: torch.Tensor, start: float, width: float) -> torch.Tensor:
    """Raised cosine from 0 (before ``start``) to 1 (after ``start + width``) at ``positions``."""
    if width <= 0:
        return (positions >= start).to(torch.float64)
    t = ((positions - start) / width).clamp(0.0, 1.0)
    return 0.5 - 0.5 * torch.cos(math.pi * t)


def axis_weights(spans: Sequence[tuple[int, int]], scale: int, overlap: int) -> list[torch.Tensor]:
    """Blending weights along one axis at output resolution: one float32 vector of
    ``scale * (stop - start)`` values per span, summing to 1 over the spans at every output pixel.

    Between neighbours ``a`` and ``b`` (``b`` starts inside ``a``) the shared band
    ``[b.start, a.stop)`` holds a raised-cosine ramp ``RAMP_FRACTION * scale * overlap`` output pixels
    wide, centred in the band: ``b`` ramps up where ``a`` ramps down (``overlap`` 0: a hard cut in the
    middle of the band). Weights are evaluated at output pixel centres.
    """
    out: list[torch.Tensor] = []
    width = RAMP_FRACTION * scale * overlap
    for i, (start, stop) in enumerate(spans):
        pos = torch.arange(scale * start, scale * stop, dtype=torch.float64) + 0.5
        w = torch.ones_like(pos)
        if i > 0:
            centre = scale * (start + spans[i - 1][1]) / 2
            w = w * _ramp(pos, centre - width / 2, width)
        if i + 1 < len(spans):
            centre = scale * (spans[i + 1][0] + stop) / 2
            w = w * (1.0 - _ramp(pos, centre - width / 2, width))
        out.append(w)
    total = torch.zeros(scale * spans[-1][1], dtype=torch.float64)
    for (start, stop), w in zip(spans, out, strict=True):
        total[scale * start : scale * stop] += w
    return [
        (w / total[scale * start : scale * stop]).to(torch.float32)
        for (start, stop), w in zip(spans, out, strict=True)
    ]


def blend_tiles(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile: int, overlap: int, align: int = 1
) -> torch.Tensor:
    """``fn`` on overlapping tiles of ``x`` ``(B, C, H, W)``, the results blended with
    :func:`axis_weights` (scale 1) into one ``(B, C', H, W)`` float32 tensor.

    ``fn`` maps a tile ``(B, C, h, w)`` to ``(B, C', h, w)``. Tiles are at most ``tile`` pixels a side,
    neighbours share at least ``overlap`` pixels and start at multiples of ``align``
    (:func:`tile_spans`); ``tile`` 0, or a tile covering the image, is one call on the whole of ``x``,
    returned unchanged (in float32).
    """
    height, width = x.shape[-2:]
    if not tile or (height <= tile and width <= tile):
        return fn(x).float()
    rows, cols = tile_spans(height, tile, overlap, align), tile_spans(width, tile, overlap, align)
    wy, wx = axis_weights(rows, 1, overlap), axis_weights(cols, 1, overlap)
    out: torch.Tensor | None = None
    for (y0, y1), row_weight in zip(rows, wy, strict=True):
        for (x0, x1), col_weight in zip(cols, wx, strict=True):
            result = fn(x[..., y0:y1, x0:x1]).float()
            if out is None:
                out = torch.zeros(x.shape[0], result.shape[1], height, width, device=result.device)
            weight = row_weight.to(result.device)[:, None] * col_weight.to(result.device)[None, :]
            out[..., y0:y1, x0:x1].addcmul_(result, weight)
    assert out is not None
    return out
