"""Tables people read and files programs read: the text table, JSON and CSV of an evaluation.

``eval.json`` is strict JSON (no ``Infinity``/``NaN`` tokens, which other tools refuse): a non-finite
number -- the PSNR of an image identical to its reference (MSE 0), and any mean over such images -- is
written as ``null``. The CSVs and the text table keep ``inf``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

from srkit.evaluation.runner import EvalReport, RobustnessSummary
from srkit.io.atomic import atomic_write_text
from srkit.metrics.fid import CONSISTENCY_UNIT


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain fixed-width table: numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [
        all(isinstance(row[i], (int, float)) for row in rows) if rows else False for i in range(len(headers))
    ]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
    return str(value)


def report_table(report: EvalReport) -> str:
    """The evaluation table: one row per (dataset, degradation, scale), then per (dataset, scale) the worst
    group and the mean over groups when more than one group was measured; an LPIPS column (on RGB) when it
    was measured."""
    headers = ["model", "dataset", "degradation", "scale", "PSNR", "SSIM", "images"]
    rows: list[list[object]] = []
    summaries = {(s.dataset, s.scale): s for s in report.summaries()}
    groups = report.groups()
    for (dataset, scale), summary in summaries.items():
        cell = [g for g in groups if g.dataset == dataset and g.scale == scale]
        rows += [
            [g.model, g.dataset, g.degradation, g.scale, g.psnr, g.ssim, g.images, g.lpips] for g in cell
        ]
        if summary.groups > 1:
            n = cell[0].images
            rows.append(
                [
                    report.model,
                    dataset,
                    _worst_label(summary),
                    scale,
                    summary.worst_psnr,
                    summary.worst_ssim,
                    n,
                    summary.worst_lpips,
                ]
            )
            rows.append(
                [
                    report.model,
                    dataset,
                    "mean over groups",
                    scale,
                    summary.mean_psnr,
                    summary.mean_ssim,
                    n,
                    summary.mean_lpips,
                ]
            )
    if report.lpips:
        headers.append(f"LPIPS ({report.lpips})")
    else:
        rows = [row[:-1] for row in rows]
    if report.consistency:  # per group only (the worst/mean rows leave it blank)
        headers.append("consistency (1e-5)")
        by_cell = {(g.dataset, g.degradation, g.scale): g.consistency for g in groups}
        for row in rows:
            value = by_cell.get((row[1], row[2], row[3]))  # type: ignore[arg-type]
            row.append(value / CONSISTENCY_UNIT if value is not None else "")
    channel = "Y" if report.y_channel else "RGB"
    border = "scale" if report.crop_border is None else str(report.crop_border)
    protocol = ""
    if report.center_crop is not None:
        protocol += f", centre crops of {report.center_crop} HR pixels"
    if report.samples > 1:
        protocol += f", {report.samples} samples per image (images counts images, means are over samples)"
    table = f"PSNR (dB) / SSIM on {channel}, border crop {border}{protocol}\n" + format_table(headers, rows)
    if report.generative:
        table += "\n\n" + generative_table(report)
    if report.skipped:
        count = len(report.skipped)
        total = count + len({(s.dataset, s.image, s.scale) for s in report.images})
        table += (
            f"\nskipped {count} of {total} (image, scale) pairs: too small for the scale and border crop "
            "(listed in eval.json)"
        )
    return table


def generative_table(report: EvalReport) -> str:
    """FID and Inception Score per cell (TF-ported Inception-v3, pool3 / 1008 logits); a metric that
    could not be computed shows why."""
    headers = ["model", "dataset", "degradation", "scale", "SR images", "HR images", "FID", "IS"]
    rows: list[list[object]] = []
    notes: list[str] = []
    for g in report.generative:
        fid = g.fid if g.fid is not None else ("n/a" if g.fid_note else "")
        score: object = ""
        if g.inception_score is not None:
            score = f"{g.inception_score:.3f} +- {g.inception_score_std:.3f}"
        elif g.is_note:
            score = "n/a"
        rows.append([g.model, g.dataset, g.degradation, g.scale, g.sr_images, g.hr_images, fid, score])
        notes += [f"{g.dataset} {g.degradation} x{g.scale}: {n}" for n in (g.fid_note, g.is_note) if n]
    text = "FID / Inception Score (Inception-v3 of pytorch-fid / torch-fidelity)\n" + format_table(
        headers, rows
    )
    return text + "".join(f"\n{note}" for note in dict.fromkeys(notes))


def _worst_label(summary: RobustnessSummary) -> str:
    """``worst (g)`` when one group is worst on both metrics, else ``worst (PSNR g1, SSIM g2)``."""
    if summary.worst_group == summary.worst_ssim_group:
        return f"worst ({summary.worst_group})"
    return f"worst (PSNR {summary.worst_group}, SSIM {summary.worst_ssim_group})"


def _csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def json_safe(value: object) -> object:
    """``value`` with every non-finite float (in mappings and lists) replaced by ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_report(report: EvalReport, out_dir: Path) -> list[Path]:
    """Write ``eval.json`` (everything, strict JSON: non-finite numbers as ``null``), ``groups.csv``,
    ``summary.csv`` and ``images.csv`` atomically."""
    data = report.to_dict()
    text = json.dumps(json_safe(data), indent=2, allow_nan=False)
    paths = [
        atomic_write_text(out_dir / "eval.json", text + "\n"),
        atomic_write_text(out_dir / "groups.csv", _csv(data["groups"])),
        atomic_write_text(out_dir / "summary.csv", _csv(data["summary"])),
        atomic_write_text(out_dir / "images.csv", _csv(data["images"])),
    ]
    if data.get("generative"):
        paths.append(atomic_write_text(out_dir / "generative.csv", _csv(data["generative"])))
    return paths


def comparison_rows(reports: Sequence[EvalReport]) -> list[dict]:
    """One row per (model, dataset, scale): PSNR and SSIM of every group, the worst group and the mean
    over groups -- the robustness comparison of several models (flat dicts for CSV)."""
    rows: list[dict] = []
    for report in reports:
        groups = report.groups()
        for summary in report.summaries():
            row: dict = {"model": report.model, "dataset": summary.dataset, "scale": summary.scale}
            for g in groups:
                if g.dataset == summary.dataset and g.scale == summary.scale:
                    row[f"{g.degradation}_psnr"] = g.psnr
                    row[f"{g.degradation}_ssim"] = g.ssim
            row.update(
                worst_group=summary.worst_group,
                worst_psnr=summary.worst_psnr,
                worst_ssim=summary.worst_ssim,
                mean_psnr=summary.mean_psnr,
                mean_ssim=summary.mean_ssim,
            )
            rows.append(row)
    return rows


def comparison_table(reports: Sequence[EvalReport]) -> str:
    """A Markdown table comparing models: per dataset and scale, one row per model with ``PSNR / SSIM``
    for every degradation group, the worst group and the mean over groups when there are several (the
    best PSNR of each column in bold)."""
    rows = comparison_rows(reports)
    if not rows:
        return ""
    groups = [
        k.removesuffix("_psnr")
        for k in rows[0]
        if k.endswith("_psnr") and k not in ("worst_psnr", "mean_psnr")
    ]
    columns = [*groups, "worst", "mean"] if len(groups) > 1 else groups
    headers = ["model", "dataset", "scale", *columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for dataset, scale in dict.fromkeys((r["dataset"], r["scale"]) for r in rows):
        cell = [r for r in rows if r["dataset"] == dataset and r["scale"] == scale]
        best = {c: max(r.get(f"{c}_psnr", -math.inf) for r in cell) for c in columns}
        for r in cell:
            values = []
            for c in columns:
                if f"{c}_psnr" not in r:
                    values.append("")
                    continue
                text = f"{r[f'{c}_psnr']:.2f} / {r[f'{c}_ssim']:.4f}"
                if c == "worst":
                    text += f" ({r['worst_group']})"
                values.append(f"**{text}**" if len(cell) > 1 and r[f"{c}_psnr"] == best[c] else text)
            lines.append("| " + " | ".join([r["model"], dataset, f"x{scale}", *values]) + " |")
    return "\n".join(lines)


def write_comparison(reports: Sequence[EvalReport], out_dir: Path) -> list[Path]:
    """Write ``comparison.md`` and ``comparison.csv`` atomically."""
    return [
        atomic_write_text(out_dir / "comparison.md", comparison_table(reports) + "\n"),
        atomic_write_text(out_dir / "comparison.csv", _csv(comparison_rows(reports))),
    ]
