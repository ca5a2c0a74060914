"""Evaluate an upscaler over datasets x scales x degradation groups, the way published SR tables do.

Per HR image and scale: the HR image is quantised to uint8 and mod-cropped to a multiple of the scale; the
degradation group makes the LR image (MATLAB ``imresize`` on uint8 for the kernel groups); the upscaler's
output is rounded to uint8; PSNR and SSIM are measured with ``crop_border`` (default: the scale) pixels
shaved, on Y (default) or RGB; LPIPS (Zhang et al. 2018, opt-in, :mod:`srkit.metrics.lpips`) on RGB in
[0, 1] of the same uint8 SR and HR with the same border shaved. Per-group numbers are means over images;
the robustness summary per dataset and scale gives the worst group and the mean over groups.

An image too small for a scale (fewer HR pixels than the scale once mod-cropped, or fewer than 11x11 --
SSIM's window, LPIPS's backbone minimum when measured -- left after the border crop) is skipped at that
scale with the reason (:class:`SkippedImage`, listed in the report), not scored and not failed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from srkit.archs import Upscaler
from srkit.colour import to_uint8
from srkit.data import HRDataset
from srkit.degrade import DegradationGroup, mod_crop
from srkit.errors import SrkitError
from srkit.io import read_image, write_image
from srkit.metrics import SSIM_WINDOW, crop_problem, psnr, ssim
from srkit.metrics.lpips import LPIPS, MIN_SIZE, lpips_uint8


@dataclass(frozen=True)
class ImageScore:
    """Metrics of one image at one scale under one degradation group."""

    dataset: str
    degradation: str
    scale: int
    image: str
    psnr: float
    ssim: float
    lpips: float | None = None


@dataclass(frozen=True)
class SkippedImage:
    """An image left out at one scale (every degradation group), and why."""

    dataset: str
    image: str
    scale: int
    reason: str


@dataclass(frozen=True)
class GroupScore:
    """Mean metrics of one (dataset, degradation, scale) cell."""

    model: str
    dataset: str
    degradation: str
    scale: int
    psnr: float
    ssim: float
    images: int
    lpips: float | None = None


@dataclass(frozen=True)
class RobustnessSummary:
    """Worst group and mean over groups for one (dataset, scale). Each worst value is the minimum of that
    metric over groups; ``worst_group`` names the group with the lowest PSNR and ``worst_ssim_group`` the
    one with the lowest SSIM (often, not always, the same). ``worst_lpips`` is the highest group LPIPS
    (lower is better), when LPIPS was measured."""

    model: str
    dataset: str
    scale: int
    worst_group: str
    worst_psnr: float
    worst_ssim: float
    worst_ssim_group: str
    mean_psnr: float
    mean_ssim: float
    groups: int
    worst_lpips: float | None = None
    mean_lpips: float | None = None


@dataclass
class EvalReport:
    """All numbers of one evaluation run."""

    model: str
    y_channel: bool
    crop_border: int | None
    images: list[ImageScore] = field(default_factory=list)
    lpips: str | None = None
    """LPIPS backbone ('alex'/'vgg') when LPIPS was measured; ``None`` leaves LPIPS out of every output."""
    skipped: list[SkippedImage] = field(default_factory=list)
    """Images left out at a scale (too small for it and the border crop)."""

    def groups(self) -> list[GroupScore]:
        """Per (dataset, degradation, scale) means, in evaluation order."""
        cells: dict[tuple[str, str, int], list[ImageScore]] = {}
        for score in self.images:
            cells.setdefault((score.dataset, score.degradation, score.scale), []).append(score)
        return [
            GroupScore(
                model=self.model,
                dataset=dataset,
                degradation=degradation,
                scale=scale,
                psnr=_mean([s.psnr for s in scores]),
                ssim=_mean([s.ssim for s in scores]),
                images=len(scores),
                lpips=_mean(_measured(s.lpips for s in scores)) if self.lpips else None,
            )
            for (dataset, degradation, scale), scores in cells.items()
        ]

    def summaries(self) -> list[RobustnessSummary]:
        """Worst group and mean over groups for each (dataset, scale)."""
        by_cell: dict[tuple[str, int], list[GroupScore]] = {}
        for group in self.groups():
            by_cell.setdefault((group.dataset, group.scale), []).append(group)
        out = []
        for (dataset, scale), groups in by_cell.items():
            worst = min(groups, key=lambda g: g.psnr)
            worst_ssim = min(groups, key=lambda g: g.ssim)
            out.append(
                RobustnessSummary(
                    model=self.model,
                    dataset=dataset,
                    scale=scale,
                    worst_group=worst.degradation,
                    worst_psnr=worst.psnr,
                    worst_ssim=worst_ssim.ssim,
                    worst_ssim_group=worst_ssim.degradation,
                    mean_psnr=_mean([g.psnr for g in groups]),
                    mean_ssim=_mean([g.ssim for g in groups]),
                    groups=len(groups),
                    worst_lpips=max(_measured(g.lpips for g in groups)) if self.lpips else None,
                    mean_lpips=_mean(_measured(g.lpips for g in groups)) if self.lpips else None,
                )
            )
        return out

    def to_dict(self) -> dict:
        def row(item: object) -> dict:
            data = asdict(item)  # type: ignore[call-overload]
            return data if self.lpips else {k: v for k, v in data.items() if "lpips" not in k}

        return {
            "model": self.model,
            "channel": "y" if self.y_channel else "rgb",
            "crop_border": "scale" if self.crop_border is None else self.crop_border,
            **({"lpips": self.lpips} if self.lpips else {}),
            "groups": [row(g) for g in self.groups()],
            "summary": [row(s) for s in self.summaries()],
            "images": [row(s) for s in self.images],
            "skipped_count": len(self.skipped),
            "skipped": [asdict(s) for s in self.skipped],
        }


@dataclass(frozen=True)
class ImageSample:
    """The pixels behind one :class:`ImageScore`, handed to ``evaluate(on_image=...)``: uint8 ``(H, W, C)``
    LR, SR (as scored) and HR, and the border shaved for the metrics."""

    lr: np.ndarray
    sr: np.ndarray
    hr: np.ndarray
    border: int


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def _measured(values: Iterable[float | None]) -> list[float]:
    """The LPIPS values of a report that measured LPIPS, where every score has one (``TypeError``, as the
    arithmetic on ``None`` would raise, if one is missing)."""
    out: list[float] = []
    for value in values:
        if value is None:
            raise TypeError("LPIPS value missing from a report that measured LPIPS")
        out.append(value)
    return out


def _hwc(x: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) uint8 tensor -> (H, W, C) numpy array."""
    return x[0].permute(1, 2, 0).cpu().numpy()


def size_problem(height: int, width: int, scale: int, border: int, min_size: int = SSIM_WINDOW) -> str | None:
    """Why an HR image of ``height x width`` cannot be scored at ``scale`` with ``border`` pixels shaved
    (see the module docstring), or ``None``."""
    if height < scale or width < scale:
        return f"{width}x{height} is smaller than the scale x{scale} (no LR pixel would be left)"
    cropped_h, cropped_w = height - height % scale, width - width % scale
    problem = crop_problem(cropped_h, cropped_w, border, min_size)
    if problem is None:
        return None
    if (cropped_h, cropped_w) != (height, width):
        problem = f"mod-cropped to x{scale}, {problem}"
    return problem


def _lpips(metric: LPIPS, sr: np.ndarray, hr: np.ndarray, border: int, path: Path) -> float:
    try:
        return lpips_uint8(metric, sr, hr, crop_border=border)
    except SrkitError as exc:
        raise SrkitError(f"{path}: {exc}") from None


def _say(line: str, echo: Callable[[str], None] | None, bar: Any) -> None:
    """``line`` to ``echo`` (above the progress ``bar`` when one is shown)."""
    if echo is None:
        return
    if bar is not None:
        bar.write(line)
    else:
        echo(line)


def _super_resolve(
    upscaler: Upscaler, group: DegradationGroup, hr: torch.Tensor, scale: int, path: Path
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lr, sr)`` of one HR image; a failure is one line naming the image."""
    try:
        lr = group.degrade(hr, scale)
        sr = upscaler(lr.float() / 255, scale)
    except SrkitError as exc:
        raise SrkitError(f"{path} (x{scale}, {group.name}): {exc}") from None
    if sr.shape != hr.shape:
        raise SrkitError(
            f"{path}: model {upscaler.name} returned shape {tuple(sr.shape)} "
            f"for x{scale}, expected {tuple(hr.shape)}"
        )
    return lr, sr


def evaluate(
    upscaler: Upscaler,
    datasets: Sequence[HRDataset],
    scales: Sequence[int],
    groups: Sequence[DegradationGroup],
    *,
    y_channel: bool = True,
    crop_border: int | None = None,
    save_dir: Path | None = None,
    progress: bool = True,
    lpips: LPIPS | None = None,
    on_image: Callable[[ImageScore, ImageSample], None] | None = None,
    echo: Callable[[str], None] | None = None,
    overlap_metrics: bool | None = None,
) -> EvalReport:
    """Measure ``upscaler`` on every image of every dataset, at every scale, under every group.

    ``crop_border=None`` shaves ``scale`` pixels, the convention of the published tables. ``lpips`` (an
    :class:`srkit.metrics.lpips.LPIPS`) adds the LPIPS column; ``on_image`` is called with each score and
    its pixels (e.g. :class:`srkit.evaluation.showcase.BestCrops`). An image too small for a scale is
    skipped there (:attr:`EvalReport.skipped`) and ``echo`` gets one line naming it and why.
    ``overlap_metrics``: score image ``i`` in a thread while the network makes image ``i + 1``
    (:class:`_Scorer`; the report is the same either way); ``None``: only when the machine has a core
    PyTorch's threads leave free (:func:`spare_core`).
    """
    for scale in scales:
        if not upscaler.supports_scale(scale):
            raise SrkitError(f"model {upscaler.name}: does not support scale {scale}")
    report = EvalReport(
        model=upscaler.name,
        y_channel=y_channel,
        crop_border=crop_border,
        lpips=None if lpips is None else lpips.net_name,
    )
    min_size = max(SSIM_WINDOW, MIN_SIZE[lpips.net_name] if lpips is not None else 0)
    total = sum(len(d.files) for d in datasets) * len(scales) * len(groups)
    bar = tqdm(total=total, desc=f"eval {upscaler.name}", unit="img", disable=not progress, leave=False)
    overlap = spare_core() if overlap_metrics is None else overlap_metrics
    scorer = _Scorer(report, y_channel, lpips, on_image, save_dir, bar, overlap=overlap)
    with bar, torch.inference_mode(), scorer:
        for dataset in datasets:
            for path in dataset.files:
                image = read_image(path)
                hr_full = to_uint8(image.pixels).unsqueeze(0)
                for scale in scales:
                    border = scale if crop_border is None else crop_border
                    problem = size_problem(hr_full.shape[-2], hr_full.shape[-1], scale, border, min_size)
                    if problem is not None:
                        report.skipped.append(SkippedImage(dataset.name, path.name, scale, problem))
                        _say(f"skip {path} (x{scale}): {problem}", echo, bar if progress else None)
                        bar.update(len(groups))
                        continue
                    hr = mod_crop(hr_full, scale)
                    for group in groups:
                        lr, sr = _super_resolve(upscaler, group, hr, scale, path)
                        cell = (dataset.name, group.name, scale, path, border)
                        scorer.submit(cell, lr, _hwc(to_uint8(sr)), _hwc(hr))
    return report


def spare_core() -> bool:
    """Whether a core is left over by PyTorch's intra-op threads, so that scoring in a thread runs beside
    the network instead of taking its cores: on 2 cores with 2 threads, overlapping made ``srkit eval``
    0.91x as fast (Set5 x2, ``benchmarks/inference_speed.py``, docs/speed.md)."""
    return (os.cpu_count() or 1) > torch.get_num_threads()


def _psnr_ssim(sr: np.ndarray, hr: np.ndarray, border: int, y_channel: bool) -> tuple[float, float]:
    return (
        psnr(sr, hr, crop_border=border, y_channel=y_channel),
        ssim(sr, hr, crop_border=border, y_channel=y_channel),
    )


class _Scorer:
    """Scores one SR image while the network makes the next: PSNR and SSIM (NumPy, which releases the
    GIL in its array loops) run in one worker thread, and the result of image ``i`` is collected, in
    order, when image ``i + 1`` is submitted, so at most one image waits and the report is the same as
    scoring each image in turn. (SSIM was 27-49 % of eval time, issue 11; ``docs/speed.md``.) LPIPS,
    the callbacks and the saved images stay on the calling thread."""

    def __init__(
        self,
        report: EvalReport,
        y_channel: bool,
        lpips: LPIPS | None,
        on_image: Callable[[ImageScore, ImageSample], None] | None,
        save_dir: Path | None,
        bar: Any,
        *,
        overlap: bool = True,
    ) -> None:
        self.report, self.y_channel, self.lpips, self.overlap = report, y_channel, lpips, overlap
        self.on_image, self.save_dir, self.bar = on_image, save_dir, bar
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="srkit-metrics")
        self.pending: tuple[Future[tuple[float, float]], tuple[Any, ...]] | None = None

    def __enter__(self) -> _Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self._collect()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def submit(
        self, cell: tuple[str, str, int, Path, int], lr: torch.Tensor, sr: np.ndarray, hr: np.ndarray
    ) -> None:
        job = self.pool.submit(_psnr_ssim, sr, hr, cell[4], self.y_channel)
        self._collect()
        self.pending = (job, (cell, lr, sr, hr))
        if not self.overlap:
            self._collect()

    def _collect(self) -> None:
        if self.pending is None:
            return
        job, ((dataset, group, scale, path, border), lr, sr, hr) = self.pending
        self.pending = None
        psnr_value, ssim_value = job.result()
        score = ImageScore(
            dataset=dataset,
            degradation=group,
            scale=scale,
            image=path.name,
            psnr=psnr_value,
            ssim=ssim_value,
            lpips=None if self.lpips is None else _lpips(self.lpips, sr, hr, border, path),
        )
        self.report.images.append(score)
        if self.on_image is not None:
            self.on_image(score, ImageSample(lr=_hwc(lr), sr=sr, hr=hr, border=border))
        if self.save_dir is not None:
            write_image(self.save_dir / dataset / group / f"x{scale}" / f"{path.stem}.png", sr)
        self.bar.update(1)
