"""Tables people read and files programs read: the text table, JSON and CSV of an evaluation."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from srkit.evaluation.runner import EvalReport, RobustnessSummary
from srkit.io.atomic import atomic_write_text


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
    group and the mean over groups when more than one group was measured."""
    headers = ["model", "dataset", "degradation", "scale", "PSNR", "SSIM", "images"]
    rows: list[list[object]] = []
    summaries = {(s.dataset, s.scale): s for s in report.summaries()}
    groups = report.groups()
    for (dataset, scale), summary in summaries.items():
        cell = [g for g in groups if g.dataset == dataset and g.scale == scale]
        rows += [[g.model, g.dataset, g.degradation, g.scale, g.psnr, g.ssim, g.images] for g in cell]
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
                ]
            )
            rows.append(
                [report.model, dataset, "mean over groups", scale, summary.mean_psnr, summary.mean_ssim, n]
            )
    channel = "Y" if report.y_channel else "RGB"
    border = "scale" if report.crop_border is None else str(report.crop_border)
    return f"PSNR (dB) / SSIM on {channel}, border crop {border}\n" + format_table(headers, rows)


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


def write_report(report: EvalReport, out_dir: Path) -> list[Path]:
    """Write ``eval.json`` (everything), ``groups.csv``, ``summary.csv`` and ``images.csv`` atomically."""
    data = report.to_dict()
    paths = [
        atomic_write_text(out_dir / "eval.json", json.dumps(data, indent=2, allow_nan=True) + "\n"),
        atomic_write_text(out_dir / "groups.csv", _csv(data["groups"])),
        atomic_write_text(out_dir / "summary.csv", _csv(data["summary"])),
        atomic_write_text(out_dir / "images.csv", _csv(data["images"])),
    ]
    return paths
