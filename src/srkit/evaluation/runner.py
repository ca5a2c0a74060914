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
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from srkit.archs import Upscaler
from srkit.colour import to_uint8
from srkit.data import HRDataset
from srkit.degrade import DegradationGroup, mod_crop
from srkit.degrade import center_crop as center_crop_of
from srkit.errors import SrkitError
from srkit.evaluation.provenance import run_settings
from srkit.io import read_image, write_image
from srkit.metrics import SSIM_WINDOW, crop_problem, psnr, ssim
from srkit.metrics import fid as fid_metrics
from srkit.metrics.fid import IS_SPLITS
from srkit.metrics.lpips import LPIPS, MIN_SIZE, lpips_uint8

if TYPE_CHECKING:
    from srkit.metrics.inception import InceptionFeatures


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
    sample: int = 0
    """Which sample of an iterative model (``evaluate(samples=K)``: 0..K-1, seeds ``seed + sample``)."""
    consistency: float | None = None
    """SR3's consistency, ``mean((D(sr) - lr)^2)`` on [0, 1] (:func:`srkit.metrics.fid.consistency`)."""


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
    consistency: float | None = None
    samples: int = 1


@dataclass(frozen=True)
class GenerativeScore:
    """FID and Inception Score of one (dataset, degradation, scale) cell: the SR images (every sample)
    against the HR images, with the TF-ported Inception-v3 (:mod:`srkit.metrics.fid`). A metric that
    cannot be computed from this many images is ``None`` with the reason in its ``*_note``."""

    model: str
    dataset: str
    degradation: str
    scale: int
    sr_images: int
    hr_images: int
    fid: float | None = None
    fid_note: str | None = None
    inception_score: float | None = None
    inception_score_std: float | None = None
    is_note: str | None = None


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
    samples: int = 1
    """Samples per image (iterative models, ``evaluate(samples=K)``)."""
    consistency: bool = False
    """Whether SR3's consistency was measured."""
    center_crop: int | None = None
    """HR centre-crop side (``evaluate(center_crop=N)``), ``None``: whole images."""
    generative: list[GenerativeScore] = field(default_factory=list)
    """FID / IS per cell, when measured."""
    settings: dict[str, Any] = field(default_factory=dict)
    """How the numbers were measured (:func:`srkit.evaluation.provenance.run_settings`): software,
    machine, model file and its sha256, precision, device, conventions, every image with its sha256."""

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
                images=len({s.image for s in scores}),
                lpips=_mean(_measured(s.lpips for s in scores)) if self.lpips else None,
                consistency=_mean(_measured(s.consistency for s in scores)) if self.consistency else None,
                samples=len({s.sample for s in scores}),
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
        left_out = {
            "lpips": not self.lpips,
            "consistency": not self.consistency,
            "sample": self.samples == 1,
            "samples": self.samples == 1,
        }

        def row(item: object) -> dict:
            data = asdict(item)  # type: ignore[call-overload]
            return {k: v for k, v in data.items() if not any(left_out[w] for w in left_out if w in k)}

        extras: dict[str, object] = {}
        if self.samples > 1:
            extras["samples"] = self.samples
        if self.center_crop is not None:
            extras["center_crop"] = self.center_crop
        if self.generative:
            extras["generative"] = [asdict(g) for g in self.generative]
        return {
            "model": self.model,
            "channel": "y" if self.y_channel else "rgb",
            "crop_border": "scale" if self.crop_border is None else self.crop_border,
            **({"lpips": self.lpips} if self.lpips else {}),
            **extras,
            "groups": [row(g) for g in self.groups()],
            "summary": [row(s) for s in self.summaries()],
            "images": [row(s) for s in self.images],
            "skipped_count": len(self.skipped),
            "skipped": [asdict(s) for s in self.skipped],
            **({"settings": self.settings} if self.settings else {}),
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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(lr, sr, luma)`` of one HR image (``luma``: a luminance network's own Y output, which is what
    it is scored on, see :meth:`srkit.archs.Runner.with_luma`); a failure is one line naming the image."""
    try:
        lr = group.degrade(hr, scale)
        with_luma = getattr(upscaler, "with_luma", None)
        x = lr.float() / 255
        sr, luma = with_luma(x, scale) if with_luma else (upscaler(x, scale), None)
    except SrkitError as exc:
        raise SrkitError(f"{path} (x{scale}, {group.name}): {exc}") from None
    if sr.shape != hr.shape:
        raise SrkitError(
            f"{path}: model {upscaler.name} returned shape {tuple(sr.shape)} "
            f"for x{scale}, expected {tuple(hr.shape)}"
        )
    return lr, sr, luma


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
    center_crop: int | None = None,
    samples: int = 1,
    consistency: bool = False,
    inception: InceptionFeatures | None = None,
    fid: bool = False,
    inception_score: bool = False,
    model_record: dict[str, Any] | None = None,
) -> EvalReport:
    """Measure ``upscaler`` on every image of every dataset, at every scale, under every group.

    ``crop_border=None`` shaves ``scale`` pixels, the convention of the published tables. ``lpips`` (an
    :class:`srkit.metrics.lpips.LPIPS`) adds the LPIPS column; ``on_image`` is called with each score and
    its pixels (e.g. :class:`srkit.evaluation.showcase.BestCrops`). An image too small for a scale is
    skipped there (:attr:`EvalReport.skipped`) and ``echo`` gets one line naming it and why.
    :attr:`EvalReport.settings` records how it was measured, with ``model_record`` (what the caller knows
    of the model: its file and sha256, :func:`srkit.infer.upscalers.describe_model`).
    ``overlap_metrics``: score image ``i`` in a thread while the network makes image ``i + 1``
    (:class:`_Scorer`; the report is the same either way); ``None``: only when the machine has a core
    PyTorch's threads leave free (:func:`spare_core`).

    Generative SR (SR3, ``docs/sr3.md``):

    - ``center_crop``: score the centred ``N x N`` HR crop of each image (``N`` a multiple of every
      scale; smaller images are skipped), its LR made from the crop alone (the centre-crop protocol of
      the SR3 re-implementation, 64 -> 256);
    - ``samples``: ``K`` samples per image from an iterative model, with seeds ``seed .. seed + K - 1``
      (each sample is a row, group means are over all of them); other models are deterministic and
      run once;
    - ``consistency``: SR3's ``mean((D(sr) - lr)^2)`` with the group's own degradation ``D``;
    - ``fid`` / ``inception_score`` with ``inception`` (:class:`srkit.metrics.inception.InceptionFeatures`):
      per cell, FID between the SR images (every sample) and the HR images, and the Inception Score of
      the SR images (10 splits); FID needs :func:`srkit.metrics.fid.min_images` images per set, and a
      cell with fewer gets the reason instead of a number.
    """
    for scale in scales:
        if not upscaler.supports_scale(scale):
            raise SrkitError(f"model {upscaler.name}: does not support scale {scale}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise SrkitError(f"samples: must be an integer >= 1, got {samples!r}")
    if center_crop is not None:
        bad = [s for s in scales if center_crop < s or center_crop % s]
        if isinstance(center_crop, bool) or bad:
            raise SrkitError(f"center crop: {center_crop!r} must be a positive multiple of every scale")
    if (fid or inception_score) and inception is None:
        raise SrkitError("fid / inception score: need the Inception network (inception=InceptionFeatures)")
    reseed = _reseeder(upscaler) if samples > 1 else None
    report = EvalReport(
        model=upscaler.name,
        y_channel=y_channel,
        crop_border=crop_border,
        lpips=None if lpips is None else lpips.net_name,
        samples=samples if reseed is not None else 1,
        consistency=consistency,
        center_crop=center_crop,
        settings=run_settings(
            model=model_record,
            datasets=datasets,
            scales=scales,
            groups=groups,
            y_channel=y_channel,
            crop_border=crop_border,
            center_crop=center_crop,
            samples=samples,
        ),
    )
    runs = report.samples
    min_size = max(SSIM_WINDOW, MIN_SIZE[lpips.net_name] if lpips is not None else 0)
    total = sum(len(d.files) for d in datasets) * len(scales) * len(groups) * runs
    bar = tqdm(total=total, desc=f"eval {upscaler.name}", unit="img", disable=not progress, leave=False)
    overlap = spare_core() if overlap_metrics is None else overlap_metrics
    gen = _Generative(inception, fid, inception_score) if (fid or inception_score) else None
    scorer = _Scorer(report, y_channel, lpips, on_image, save_dir, bar, overlap=overlap, gen=gen)
    pass_ = _Pass(upscaler, groups, scorer, report, bar if progress else None, echo, min_size, runs, reseed)
    try:
        with bar, torch.inference_mode(), scorer:
            for dataset in datasets:
                for path in dataset.files:
                    hr_full = to_uint8(read_image(path).pixels).unsqueeze(0)
                    for scale in scales:
                        border = scale if crop_border is None else crop_border
                        pass_.image(dataset.name, path, center_crop_of(hr_full, center_crop), scale, border)
    finally:
        if reseed is not None:
            reseed(0)
    if gen is not None:
        report.generative = gen.scores(upscaler.name)
    return report


@dataclass
class _Pass:
    """What :func:`evaluate` does with one HR image at one scale: every group, every sample."""

    upscaler: Upscaler
    groups: Sequence[DegradationGroup]
    scorer: _Scorer
    report: EvalReport
    bar: Any
    echo: Callable[[str], None] | None
    min_size: int
    runs: int
    reseed: Callable[[int], None] | None

    def image(self, dataset: str, path: Path, hr: torch.Tensor | None, scale: int, border: int) -> None:
        crop = self.report.center_crop
        problem = (
            f"smaller than the centre crop {crop}"
            if hr is None
            else size_problem(hr.shape[-2], hr.shape[-1], scale, border, self.min_size)
        )
        if problem is not None or hr is None:
            self.report.skipped.append(SkippedImage(dataset, path.name, scale, str(problem)))
            _say(f"skip {path} (x{scale}): {problem}", self.echo, self.bar)
            self.scorer.bar.update(len(self.groups) * self.runs)
            return
        hr = mod_crop(hr, scale)
        if self.scorer.gen is not None:
            self.scorer.gen.add_hr((dataset, scale), path.name, _hwc(hr))
        for group in self.groups:
            for k in range(self.runs):
                if self.reseed is not None:
                    self.reseed(k)
                lr, sr, luma = _super_resolve(self.upscaler, group, hr, scale, path)
                cell = (dataset, group.name, scale, path, border, k)
                scored = None if luma is None else _hwc(to_uint8(luma))
                self.scorer.submit(cell, lr, _hwc(to_uint8(sr)), _hwc(hr), scored=scored)


def _reseeder(upscaler: Upscaler) -> Callable[[int], None] | None:
    """For an iterative runner: a function setting its seed to ``seed + k`` (the seed it had for
    ``k = 0``); ``None`` for deterministic upscalers."""
    from srkit.archs.sr3 import SR3Runner  # import-time cost: only when samples are asked for

    if not isinstance(upscaler, SR3Runner):
        return None
    base = upscaler.options.seed

    def reseed(k: int) -> None:
        upscaler.configure(seed=base + k)

    return reseed


class _Generative:
    """Inception features of every SR image per cell and of every HR image per (dataset, scale), and
    the FID / IS they give (:func:`evaluate`)."""

    def __init__(self, inception: InceptionFeatures | None, fid: bool, inception_score: bool) -> None:
        assert inception is not None
        self.net, self.fid, self.inception_score = inception, fid, inception_score
        self.sr: dict[tuple[str, str, int], list[tuple[np.ndarray, np.ndarray]]] = {}
        self.hr: dict[tuple[str, int], dict[str, np.ndarray]] = {}

    def add_hr(self, key: tuple[str, int], name: str, hr: np.ndarray) -> None:
        images = self.hr.setdefault(key, {})
        if self.fid and name not in images:
            images[name] = self.net.features(hr)[0]
        elif not self.fid:
            images.setdefault(name, np.zeros(0))

    def add_sr(self, key: tuple[str, str, int], sr: np.ndarray) -> None:
        features, logits = self.net.extract(sr)
        self.sr.setdefault(key, []).append((features[0], logits[0]))

    def scores(self, model: str) -> list[GenerativeScore]:
        out = []
        for (dataset, group, scale), rows in self.sr.items():
            hr = self.hr.get((dataset, scale), {})
            fid_value = fid_note = is_mean = is_std = is_note = None
            if self.fid:
                fid_value, fid_note = _fid_or_reason([f for f, _ in rows], list(hr.values()))
            if self.inception_score:
                if len(rows) < IS_SPLITS:
                    is_note = (
                        f"{len(rows)} SR images cannot make the {IS_SPLITS} splits of the Inception Score"
                    )
                else:
                    is_mean, is_std = fid_metrics.inception_score(np.stack([g for _, g in rows]))
            out.append(
                GenerativeScore(
                    model=model,
                    dataset=dataset,
                    degradation=group,
                    scale=scale,
                    sr_images=len(rows),
                    hr_images=len(hr),
                    fid=fid_value,
                    fid_note=fid_note,
                    inception_score=is_mean,
                    inception_score_std=is_std,
                    is_note=is_note,
                )
            )
        return out


def _fid_or_reason(sr: list[np.ndarray], hr: list[np.ndarray]) -> tuple[float | None, str | None]:
    """FID of two feature lists, or ``(None, why not)`` when a set is too small for a full-rank
    covariance (the number would not be FID as published)."""
    need = fid_metrics.min_images()
    if len(sr) < need or len(hr) < need:
        return None, (
            f"not computed: {len(sr)} SR and {len(hr)} HR images; FID needs at least {need} per set for a "
            "full-rank covariance of the 2048-d features"
        )
    return float(fid_metrics.fid_from_features(np.stack(sr), np.stack(hr))), None


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
        gen: _Generative | None = None,
    ) -> None:
        self.report, self.y_channel, self.lpips, self.overlap = report, y_channel, lpips, overlap
        self.gen = gen
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
        self,
        cell: tuple[str, str, int, Path, int, int],
        lr: torch.Tensor,
        sr: np.ndarray,
        hr: np.ndarray,
        *,
        scored: np.ndarray | None = None,
    ) -> None:
        """Score ``sr`` against ``hr`` (``scored``, a luminance network's own 8-bit Y, in place of ``sr``
        for Y-channel PSNR/SSIM; ``sr`` is still what is saved and what LPIPS and FID see)."""
        pair = scored if scored is not None and self.y_channel else sr
        job = self.pool.submit(_psnr_ssim, pair, hr, cell[4], self.y_channel)
        self._collect()
        self.pending = (job, (cell, lr, sr, hr))
        if not self.overlap:
            self._collect()

    def _collect(self) -> None:
        if self.pending is None:
            return
        job, ((dataset, group, scale, path, border, sample), lr, sr, hr) = self.pending
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
            sample=sample,
            consistency=fid_metrics.consistency(sr, _hwc(lr), scale, degradation=group)
            if self.report.consistency
            else None,
        )
        if self.gen is not None:
            self.gen.add_sr((dataset, group, scale), sr)
        self.report.images.append(score)
        if self.on_image is not None:
            self.on_image(score, ImageSample(lr=_hwc(lr), sr=sr, hr=hr, border=border))
        if self.save_dir is not None:
            stem = path.stem if self.report.samples == 1 else f"{path.stem}_s{sample}"
            write_image(self.save_dir / dataset / group / f"x{scale}" / f"{stem}.png", sr)
        self.bar.update(1)
