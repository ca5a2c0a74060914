"""What the report shows, as data: the cells of the comparison, the per-image rows with their gains over
bicubic, and the images picked for the zoom views. Every number is eval.json's own value (bicubic's
per-image numbers too, when a bicubic evaluation is among the inputs); only bicubic's per-image PSNR/SSIM
of evaluations without one are measured here (:func:`srkit.report.pixels.bicubic_scores`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from srkit.report.runs import EvalRun

__all__ = ["METRICS", "Cell", "ImageRow", "Metric", "cells", "image_rows", "pick_crops", "split_baseline"]


@dataclass(frozen=True)
class Metric:
    """A metric column: its eval.json key, header, decimals shown and direction."""

    key: str
    label: str
    decimals: int
    higher_is_better: bool = True

    def text(self, value: float | None) -> str:
        if value is None or math.isnan(value):
            return "n/a"
        return f"{value:.{self.decimals}f}"


METRICS = (Metric("psnr", "PSNR", 2), Metric("ssim", "SSIM", 4), Metric("lpips", "LPIPS", 4, False))
#: Decimals of a PSNR gain over bicubic (dB).
GAIN_DECIMALS = 2


def value(row: dict, key: str) -> float:
    """A metric of an eval.json row as float; ``null`` (non-finite) and absent are NaN."""
    item = row.get(key)
    return math.nan if item is None else float(item)


def present_metrics(rows: Sequence[dict]) -> list[Metric]:
    """The metrics some row holds (LPIPS only when it was measured)."""
    return [m for m in METRICS if any(m.key in r for r in rows)]


def split_baseline(runs: Sequence[EvalRun]) -> tuple[EvalRun | None, list[EvalRun]]:
    """``(bicubic baseline run or None, the other runs)``: the first run of ``--model bicubic`` is the
    reference of the gains; every other run (other baselines too) is a model of the per-image table."""
    baseline = next((r for r in runs if r.baseline_kernel == "bicubic"), None)
    return baseline, [r for r in runs if r is not baseline]


@dataclass(frozen=True)
class Cell:
    """The comparison rows of one (dataset, scale): per run, its group rows and summary."""

    dataset: str
    scale: int
    groups: list[str]
    rows: list[tuple[EvalRun, dict[str, dict], dict | None]]
    """(run, group name -> eval.json group row, eval.json summary row)."""


def cells(runs: Sequence[EvalRun]) -> list[Cell]:
    """Every (dataset, scale) any run measured, in order of first appearance, with the group names in
    order of first appearance."""
    keys: dict[tuple[str, int], list[str]] = {}
    for run in runs:
        for g in run.groups():
            names = keys.setdefault((g["dataset"], g["scale"]), [])
            if g["degradation"] not in names:
                names.append(g["degradation"])
    out = []
    for (dataset, scale), groups in keys.items():
        rows = []
        for run in runs:
            mine = {
                g["degradation"]: g for g in run.groups() if (g["dataset"], g["scale"]) == (dataset, scale)
            }
            summary = next(
                (s for s in run.summaries() if (s["dataset"], s["scale"]) == (dataset, scale)), None
            )
            if mine:
                rows.append((run, mine, summary))
        out.append(Cell(dataset, scale, groups, rows))
    return out


@dataclass
class ImageRow:
    """One (dataset, group, scale, image, sample) of the per-image table."""

    dataset: str
    group: str
    scale: int
    image: str
    sample: int
    bicubic: tuple[float, float] = (math.nan, math.nan)
    """Bicubic's (PSNR, SSIM)."""
    models: dict[str, dict] = field(default_factory=dict)
    """run label -> its eval.json image row."""

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.dataset, self.group, self.scale, self.image)

    def gain(self, label: str) -> float:
        """PSNR of model ``label`` minus bicubic's (NaN when either is not finite)."""
        row = self.models.get(label)
        gain = value(row, "psnr") - self.bicubic[0] if row is not None else math.nan
        return gain if math.isfinite(gain) else math.nan

    @property
    def mean_gain(self) -> float:
        gains = [self.gain(label) for label in self.models]
        finite = [g for g in gains if math.isfinite(g)]
        return sum(finite) / len(finite) if finite and len(finite) == len(gains) else math.nan


def _row_key(row: dict) -> tuple[str, str, int, str, int]:
    return (row["dataset"], row["degradation"], row["scale"], row["image"], int(row.get("sample", 0)))


def image_rows(baseline: EvalRun | None, models: Sequence[EvalRun]) -> list[ImageRow]:
    """The per-image rows of ``models`` (of ``baseline`` alone when there is no other run), bicubic's
    numbers filled from ``baseline`` where it scored that image (the rest stay NaN to be measured)."""
    rows: dict[tuple[str, str, int, str, int], ImageRow] = {}
    for run in models or ([baseline] if baseline is not None else []):
        for item in run.images():
            key = _row_key(item)
            if key not in rows:
                rows[key] = ImageRow(*key)
            if models:
                rows[key].models[run.label] = item
    if baseline is not None:
        reference = {_row_key(r)[:4]: (value(r, "psnr"), value(r, "ssim")) for r in baseline.images()}
        for row in rows.values():
            row.bicubic = reference.get(row.key, row.bicubic)
    return list(rows.values())


def missing_bicubic(rows: Sequence[ImageRow], baseline: EvalRun | None) -> list[ImageRow]:
    """The rows whose bicubic numbers no bicubic evaluation gave (to be measured)."""
    if baseline is None:
        return list(rows)
    scored = {_row_key(r)[:4] for r in baseline.images()}
    return [r for r in rows if r.key not in scored]


@dataclass(frozen=True)
class CropPick:
    """An image shown in a zoom view: its row and whether it is among the largest or smallest gains."""

    row: ImageRow
    largest: bool


def pick_crops(rows: Sequence[ImageRow], n: int) -> list[tuple[tuple[str, int], list[CropPick]]]:
    """Per (dataset, scale): the ``n`` rows (first samples) with the largest mean gain over bicubic,
    then the ``n`` with the smallest (no row twice), by the mean over the models of their PSNR gains."""
    by_cell: dict[tuple[str, int], list[ImageRow]] = {}
    for row in rows:
        if row.sample == 0 and row.models and math.isfinite(row.mean_gain):
            by_cell.setdefault((row.dataset, row.scale), []).append(row)
    out = []
    for cell, members in by_cell.items():
        ranked = sorted(members, key=lambda r: -r.mean_gain)  # stable: ties keep eval.json's order
        top = ranked[:n]
        bottom = [r for r in reversed(ranked) if all(r is not t for t in top)][:n]
        out.append((cell, [CropPick(r, True) for r in top] + [CropPick(r, False) for r in bottom]))
    return out
