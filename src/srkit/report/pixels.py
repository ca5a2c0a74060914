"""The pixels behind the report: HR, LR, bicubic and SR rebuilt the way ``srkit eval`` made them.

The HR image of a row comes from ``settings.datasets`` of ``eval.json`` (its root and file name; the
file's sha256 must still be the recorded one), quantised to uint8, centre-cropped when the evaluation
was (``center_crop``) and mod-cropped to the scale; the LR is the degradation group's pure function of
it (``parse_groups(name)[0].degrade(hr, scale)``); bicubic is MATLAB ``imresize`` bicubic of that LR
(:class:`srkit.archs.InterpolationUpscaler`), rounded to uint8; a model's SR is the image
``srkit eval --save-images`` wrote (an interpolation baseline's SR is recomputed when it saved none).
Bicubic PSNR/SSIM are measured with :func:`srkit.metrics.psnr` / :func:`srkit.metrics.ssim` under the
run's channel and border crop, exactly as ``srkit eval --model bicubic`` scores them.

The crop window of a zoom view is the ``size`` x ``size`` HR-pixel window (aligned to the scale, so that
it is a whole LR window) where the models gain most over bicubic -- or least, for the images with the
smallest gains -- by the per-pixel squared-error difference on Y (or the channel mean for RGB).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from srkit.archs import InterpolationUpscaler
from srkit.colour import Y_WEIGHTS, to_uint8
from srkit.degrade import DegradationGroup, center_crop, mod_crop, parse_groups
from srkit.errors import SrkitError
from srkit.io import read_image
from srkit.io.download import sha256_file
from srkit.metrics import psnr, ssim
from srkit.report.runs import EvalRun, ReportError

__all__ = ["Pixels", "Window", "best_window", "bicubic_scores", "gain_map", "hwc", "nearest", "png_data_uri"]

#: (dataset, degradation group, scale, image name): one row of eval.json's images, less the sample.
RowKey = tuple[str, str, int, str]


@dataclass(frozen=True)
class Window:
    """``top, left, height, width`` of a crop in HR pixels."""

    top: int
    left: int
    height: int
    width: int

    def cut(self, image: np.ndarray) -> np.ndarray:
        return image[self.top : self.top + self.height, self.left : self.left + self.width]


@dataclass(frozen=True)
class _HRFile:
    path: Path
    sha256: str | None
    listed_in: Path


def hwc(x: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) uint8 tensor -> contiguous (H, W, C) array."""
    return np.ascontiguousarray(x[0].permute(1, 2, 0).cpu().numpy())


class Pixels:
    """HR, LR, bicubic and SR images of the rows of several evaluations of the same images."""

    def __init__(self, runs: Sequence[EvalRun]) -> None:
        self.runs = list(runs)
        self.center_crop = runs[0].data.get("center_crop")
        self._files: dict[tuple[str, str], _HRFile] = {}
        for run in runs:
            self._index(run)
        self._checked: set[Path] = set()
        self._groups: dict[str, DegradationGroup] = {}
        self._last: tuple[tuple[str, str], torch.Tensor] | None = None

    def _index(self, run: EvalRun) -> None:
        datasets = run.settings.get("datasets")
        if not isinstance(datasets, list):
            return
        for record in datasets:
            try:
                root = Path(record["root"])
                for item in record["files"]:
                    key = (str(record["name"]), Path(item["name"]).name)
                    entry = _HRFile(root / item["name"], item.get("sha256"), run.path)
                    self._files.setdefault(key, entry)
            except (KeyError, TypeError) as exc:
                raise ReportError(f"{run.path}: settings.datasets is malformed ({exc!r})") from None

    def _hr_file(self, dataset: str, image: str) -> _HRFile:
        entry = self._files.get((dataset, image))
        if entry is None:
            names = ", ".join(str(r.path) for r in self.runs)
            raise ReportError(
                f"{names}: settings.datasets lists no HR file {image!r} of dataset {dataset!r} "
                "(an eval.json written before srkit recorded its images: re-run srkit eval)"
            )
        if entry.path not in self._checked:
            if not entry.path.is_file():
                raise ReportError(f"{entry.path}: HR image listed in {entry.listed_in} is missing")
            if entry.sha256 and sha256_file(entry.path) != entry.sha256:
                raise ReportError(
                    f"{entry.path}: changed since the evaluation (its sha256 is not the one recorded in "
                    f"{entry.listed_in})"
                )
            self._checked.add(entry.path)
        return entry

    def hr(self, dataset: str, image: str, scale: int) -> torch.Tensor:
        """The HR of one row as scored: ``(1, C, H, W)`` uint8, centre- and mod-cropped."""
        key = (dataset, image)
        if self._last is None or self._last[0] != key:
            path = self._hr_file(dataset, image).path
            self._last = (key, to_uint8(read_image(path).pixels).unsqueeze(0))
        hr = center_crop(self._last[1], self.center_crop)
        if hr is None:
            raise ReportError(f"{self._files[key].path}: smaller than the centre crop {self.center_crop}")
        return mod_crop(hr, scale)

    def group(self, name: str) -> DegradationGroup:
        if name not in self._groups:
            self._groups[name] = parse_groups(name)[0]
        return self._groups[name]

    def lr(self, hr: torch.Tensor, group: str, scale: int) -> torch.Tensor:
        """The LR ``srkit eval`` made from ``hr`` under ``group``: ``(1, C, h, w)`` uint8."""
        return self.group(group).degrade(hr, scale)

    @staticmethod
    def interpolate(lr: torch.Tensor, scale: int, kernel: str = "bicubic") -> np.ndarray:
        """MATLAB-``imresize`` enlargement of a uint8 LR, rounded to uint8, ``(H, W, C)``."""
        with torch.inference_mode():
            return hwc(to_uint8(InterpolationUpscaler(kernel)(lr.float() / 255, scale)))

    def sr(self, run: EvalRun, row: RowKey, lr: torch.Tensor, hr: np.ndarray) -> np.ndarray:
        """A model's SR of one row: its saved image, or an interpolation baseline recomputed."""
        dataset, group, scale, image = row
        path = run.sr_path(dataset, group, scale, image)
        kernel = run.baseline_kernel
        if not path.exists() and kernel is not None:
            return self.interpolate(lr, scale, kernel)
        if not path.exists():
            raise ReportError(
                f"{path}: saved SR image of model {run.label} is missing (run srkit eval with --save-images "
                "or --report, or report with --crops 0)"
            )
        sr = hwc(to_uint8(read_image(path).pixels).unsqueeze(0))
        if sr.shape[:2] != hr.shape[:2]:
            raise ReportError(
                f"{path}: {sr.shape[1]}x{sr.shape[0]} pixels, but the HR of {image} at x{scale} is "
                f"{hr.shape[1]}x{hr.shape[0]} (not the image this evaluation saved)"
            )
        return _match_channels(sr, hr)


def _match_channels(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    if image.shape[-1] == like.shape[-1]:
        return image
    if image.shape[-1] == 1:
        return np.repeat(image, like.shape[-1], axis=-1)
    return image[..., :1] if like.shape[-1] == 1 else image[..., : like.shape[-1]]


def bicubic_scores(
    pixels: Pixels, rows: Iterable[RowKey], *, y_channel: bool, crop_border: object
) -> dict[RowKey, tuple[float, float]]:
    """``(PSNR, SSIM)`` of bicubic for each row, under the evaluation's channel and border crop."""
    out: dict[RowKey, tuple[float, float]] = {}
    for row in sorted(set(rows), key=lambda r: (r[0], r[3], r[2], r[1])):  # one HR read per image
        dataset, group, scale, image = row
        border = scale if crop_border == "scale" else int(crop_border)  # type: ignore[call-overload]
        try:
            hr_t = pixels.hr(dataset, image, scale)
            bic = pixels.interpolate(pixels.lr(hr_t, group, scale), scale)
            hr = hwc(hr_t)
            out[row] = (
                psnr(bic, hr, crop_border=border, y_channel=y_channel),
                ssim(bic, hr, crop_border=border, y_channel=y_channel),
            )
        except ReportError:
            raise
        except SrkitError as exc:
            raise ReportError(f"{dataset}/{image} (x{scale}, {group}): bicubic baseline: {exc}") from None
    return out


def _luma(img: np.ndarray, y_channel: bool) -> np.ndarray:
    x = img.astype(np.float64)
    if y_channel and x.shape[-1] == 3:
        return x @ (np.array(Y_WEIGHTS) / 255.0)
    return x.mean(axis=-1)


def gain_map(
    srs: Sequence[np.ndarray], bicubic: np.ndarray, hr: np.ndarray, *, border: int, y_channel: bool
) -> np.ndarray:
    """Mean over ``srs`` of the per-pixel ``(bicubic - HR)^2 - (SR - HR)^2`` (float64 ``(H, W)``):
    positive where the models are closer to the HR than bicubic; 0 in the shaved border."""
    target = _luma(hr, y_channel)
    base = (_luma(bicubic, y_channel) - target) ** 2
    gain = np.mean([base - (_luma(sr, y_channel) - target) ** 2 for sr in srs], axis=0)
    if border > 0:
        inner = np.zeros_like(gain)
        inner[border:-border, border:-border] = gain[border:-border, border:-border]
        gain = inner
    return gain


def best_window(score: np.ndarray, size: int, step: int) -> Window:
    """The ``size`` x ``size`` window (clipped to the map, rounded down to multiples of ``step``, its
    corner on multiples of ``step``) with the largest sum of ``score``; ties: topmost, then leftmost."""
    rows, cols = score.shape
    h = min(rows, max(step, min(size, rows) // step * step))
    w = min(cols, max(step, min(size, cols) // step * step))
    integral = np.zeros((rows + 1, cols + 1), dtype=np.float64)
    integral[1:, 1:] = np.nan_to_num(score).cumsum(0).cumsum(1)
    sums = integral[h:, w:] - integral[:-h, w:] - integral[h:, :-w] + integral[:-h, :-w]
    candidates = sums[::step, ::step]
    top, left = np.unravel_index(int(np.argmax(candidates)), candidates.shape)
    return Window(int(top) * step, int(left) * step, h, w)


def nearest(lr: np.ndarray, scale: int) -> np.ndarray:
    """LR enlarged by pixel repetition to the HR size."""
    return np.repeat(np.repeat(lr, scale, axis=0), scale, axis=1)


def png_data_uri(image: np.ndarray) -> str:
    """A ``data:image/png;base64,...`` URI of a uint8 ``(H, W[, C])`` image (gray or RGB)."""
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=9)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
