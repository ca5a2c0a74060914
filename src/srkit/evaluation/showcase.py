"""``srkit eval --show-best N``: side-by-side crops of the images where the model beats bicubic most.

For every (dataset, degradation, scale) cell, the ``N`` images with the highest PSNR gain over the
bicubic baseline (MATLAB ``imresize`` bicubic of the same LR, scored like the SR: uint8, same border and
channel) are shown as one PNG each: LR enlarged by pixel repetition (nearest) to the HR size, bicubic,
SR and HR, left to right, each with a label strip underneath. The window shown is the ``crop`` x ``crop``
HR-pixel window (aligned to the scale, so that it is a whole LR window) where the SR's squared error is
lowest relative to bicubic's (:func:`best_window` on :func:`improvement_map`), i.e. where the model
gains most; this is the usual way SR papers pick their qualitative crops (e.g. Ledig et al. 2017,
Wang et al. 2018), made reproducible.

Only the ``N`` best panels per cell are kept in memory while evaluating (a min-heap of small crops),
so any dataset size works.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from srkit.archs import InterpolationUpscaler
from srkit.colour import Y_WEIGHTS, to_uint8
from srkit.evaluation.runner import ImageSample, ImageScore
from srkit.io import write_image
from srkit.metrics import psnr

__all__ = ["LABEL_HEIGHT", "PANEL_GAP", "BestCrops", "best_window", "improvement_map", "side_by_side"]

#: Height in pixels of the label strip under each panel.
LABEL_HEIGHT = 14
#: White pixels between two panels.
PANEL_GAP = 4
#: BT.601 luma weights (MATLAB ``rgb2ycbcr``) for the error map; the offset does not matter for errors.
_Y = np.array(Y_WEIGHTS) / 255.0


def _luma(img: np.ndarray, y_channel: bool) -> np.ndarray:
    """``(H, W)`` float64: Y of an RGB ``(H, W, 3)`` image when ``y_channel``, else the channel mean."""
    x = img.astype(np.float64)
    if x.ndim == 2:
        return x
    if y_channel and x.shape[-1] == 3:
        return x @ _Y
    return x.mean(axis=-1)


def improvement_map(
    sr: np.ndarray, bicubic: np.ndarray, hr: np.ndarray, *, border: int = 0, y_channel: bool = True
) -> np.ndarray:
    """Per-pixel ``(bicubic - HR)^2 - (SR - HR)^2`` (float64 ``(H, W)``, on Y or the channel mean of
    uint8 images): positive where the SR is closer to the HR than bicubic. ``border`` pixels at each
    side are set to 0, as the metrics ignore them."""
    target = _luma(hr, y_channel)
    gain = (_luma(bicubic, y_channel) - target) ** 2 - (_luma(sr, y_channel) - target) ** 2
    if border > 0:
        inner = np.zeros_like(gain)
        inner[border:-border, border:-border] = gain[border:-border, border:-border]
        gain = inner
    return gain


def best_window(score_map: np.ndarray, size: int, *, step: int = 1) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the window of ``score_map`` (``(H, W)``) with the largest sum.

    The window is ``size`` x ``size`` clipped to the map (and rounded down to multiples of ``step``);
    ``top`` and ``left`` are multiples of ``step`` (the scale, so that the window maps to whole LR
    pixels). Ties go to the topmost, then leftmost window. Window sums come from an integral image, so
    every candidate is scored exactly in O(H W).
    """
    if size < 1 or step < 1:
        raise ValueError(f"best_window: size and step must be >= 1, got {size} and {step}")
    rows, cols = score_map.shape
    h = max(step, min(size, rows) // step * step)
    w = max(step, min(size, cols) // step * step)
    h, w = min(h, rows), min(w, cols)
    integral = np.zeros((rows + 1, cols + 1), dtype=np.float64)
    integral[1:, 1:] = np.nan_to_num(score_map.astype(np.float64)).cumsum(0).cumsum(1)
    sums = integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]
    candidates = sums[::step, ::step]
    top, left = np.unravel_index(int(np.argmax(candidates)), candidates.shape)
    return int(top) * step, int(left) * step, h, w


def _rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = img[..., None]
    return np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img[..., :3]


def side_by_side(panels: Sequence[np.ndarray], labels: Sequence[str] | None = None) -> np.ndarray:
    """uint8 ``(H, W[, C])`` images of one size -> one RGB ``(H + LABEL_HEIGHT, n W + (n - 1) PANEL_GAP,
    3)`` image: the panels left to right on white, each label written in its strip underneath."""
    tiles = [_rgb(p) for p in panels]
    h, w = tiles[0].shape[:2]
    n = len(tiles)
    canvas = np.full((h + LABEL_HEIGHT, n * w + (n - 1) * PANEL_GAP, 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        x = i * (w + PANEL_GAP)
        canvas[:h, x : x + w] = tile
    if labels:
        image = PILImage.fromarray(canvas)
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default()
        for i, text in enumerate(labels):
            draw.text((i * (w + PANEL_GAP) + 2, h + 1), text, fill=(0, 0, 0), font=font)
        canvas = np.asarray(image)
    return canvas


def _bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB-bicubic enlargement of a uint8 ``(h, w, C)`` LR (the ``bicubic`` baseline of ``srkit eval``)."""
    x = torch.from_numpy(np.ascontiguousarray(lr)).permute(2, 0, 1).unsqueeze(0).float() / 255
    with torch.inference_mode():
        up = InterpolationUpscaler("bicubic")(x, scale)
    return to_uint8(up)[0].permute(1, 2, 0).numpy()


class BestCrops:
    """An ``evaluate(on_image=...)`` callback that keeps, per (dataset, degradation, scale), the ``n``
    images with the highest PSNR gain over bicubic as labelled side-by-side crops; :meth:`write` saves
    them as PNG.

    Args:
        n: images kept per cell.
        y_channel: score bicubic (and pick the window) on Y, as the evaluation does.
        crop: window side in HR pixels (clipped to the image).
    """

    def __init__(self, n: int, *, y_channel: bool = True, crop: int = 128) -> None:
        if n < 1:
            raise ValueError(f"BestCrops: n must be >= 1, got {n}")
        self.n = n
        self.y_channel = y_channel
        self.crop = crop
        self._best: dict[tuple[str, str, int], list[tuple[float, int, str, np.ndarray]]] = {}
        self._order = itertools.count()

    def __call__(self, score: ImageScore, sample: ImageSample) -> None:
        scale = score.scale
        bicubic = _bicubic(sample.lr, scale)
        bic_psnr = psnr(bicubic, sample.hr, crop_border=sample.border, y_channel=self.y_channel)
        gain = score.psnr - bic_psnr
        rank_key = gain if not math.isnan(gain) else -math.inf
        heap = self._best.setdefault((score.dataset, score.degradation, scale), [])
        if len(heap) >= self.n and rank_key <= heap[0][0]:
            return
        gain_map = improvement_map(
            sample.sr, bicubic, sample.hr, border=sample.border, y_channel=self.y_channel
        )
        top, left, h, w = best_window(gain_map, self.crop, step=scale)
        nearest = np.repeat(np.repeat(sample.lr, scale, axis=0), scale, axis=1)
        window = (slice(top, top + h), slice(left, left + w))
        panel = side_by_side(
            [nearest[window], bicubic[window], sample.sr[window], sample.hr[window]],
            ["LR (nearest)", f"bicubic {bic_psnr:.2f}dB", f"SR {score.psnr:.2f}dB", "HR"],
        )
        entry = (rank_key, -next(self._order), score.image, panel)  # earlier images win ties
        if len(heap) < self.n:
            heapq.heappush(heap, entry)
        else:
            heapq.heapreplace(heap, entry)

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``out_dir/<dataset>/<degradation>/x<scale>/<rank>_<image stem>.png`` (rank 1 = largest
        gain) atomically; returns the paths."""
        out_dir = Path(out_dir)
        paths = []
        for (dataset, degradation, scale), heap in self._best.items():
            for rank, (_, _, image, panel) in enumerate(sorted(heap, reverse=True), start=1):
                name = f"{rank:02d}_{Path(image).stem}.png"
                paths.append(write_image(out_dir / dataset / degradation / f"x{scale}" / name, panel))
        return paths
