"""Matplotlib figures of the report: per (dataset, scale), PSNR and SSIM of every degradation group as
grouped bars, one colour per model, each model's worst group hatched. Matplotlib is imported when a
chart is drawn (never by ``import srkit``), and only its Agg canvas is used (no display needed)."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["GroupSeries", "figure_bytes", "figure_data_uri", "group_chart", "new_figure"]

#: Hatch of the worst group's bar.
WORST_HATCH = "///"


@dataclass
class GroupSeries:
    """One model's bars in a chart: metric values per group and its worst group per metric."""

    label: str
    values: dict[str, dict[str, float]] = field(default_factory=dict)
    """group -> metric ('psnr', 'ssim') -> value (NaN when eval.json has null)."""
    worst: dict[str, str] = field(default_factory=dict)
    """metric -> the group with the lowest value of it (eval.json's summary)."""


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas (no pyplot state, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # import-time cost: only when drawing
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_bytes(figure: Figure, fmt: str) -> bytes:
    """The figure as ``png`` or ``svg`` bytes (no creation date, so equal figures give equal files)."""
    buffer = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {"Date": None}
    figure.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()


def figure_data_uri(figure: Figure) -> str:
    """A ``data:image/png;base64,...`` URI of the figure."""
    return "data:image/png;base64," + base64.b64encode(figure_bytes(figure, "png")).decode("ascii")


def _limits(values: list[float]) -> tuple[float, float] | None:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    pad = max((high - low) * 0.15, abs(high) * 0.005, 1e-3)
    return max(0.0, low - pad), high + pad


def _bars(axes: Axes, groups: Sequence[str], series: Sequence[GroupSeries], metric: str) -> None:
    width = 0.8 / max(1, len(series))
    colours = [f"C{i % 10}" for i in range(len(series))]
    for index, item in enumerate(series):
        xs = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        heights = [item.values.get(g, {}).get(metric, math.nan) for g in groups]
        bars = axes.bar(xs, heights, width, label=item.label, color=colours[index])
        worst = item.worst.get(metric)
        for group, bar in zip(groups, bars, strict=True):
            if group == worst:
                bar.set_hatch(WORST_HATCH)
                bar.set_edgecolor("black")
                bar.set_gid(f"worst:{item.label}:{metric}")
    limits = _limits([v.get(metric, math.nan) for s in series for v in s.values.values()])
    if limits is not None:
        axes.set_ylim(*limits)
    axes.set_xticks(range(len(groups)), list(groups), rotation=30 if len(groups) > 4 else 0)
    axes.set_xlabel("degradation group")
    axes.grid(axis="y", alpha=0.3)


def group_chart(dataset: str, scale: int, groups: Sequence[str], series: Sequence[GroupSeries]) -> Figure:
    """PSNR (left) and SSIM (right) per group for every model, the worst group of each hatched."""
    from matplotlib.patches import Patch  # import-time cost: only when drawing

    figure = new_figure(min(16.0, max(8.0, 3.0 + 2.4 * len(groups))), 3.6)
    left, right = figure.subplots(1, 2)
    for axes, metric, unit in ((left, "psnr", "PSNR (dB)"), (right, "ssim", "SSIM")):
        _bars(axes, groups, series, metric)
        axes.set_ylabel(unit)
        axes.set_title(f"{dataset} x{scale}: {unit.split()[0]} per group")
    handles, labels = left.get_legend_handles_labels()
    handles.append(Patch(facecolor="white", edgecolor="black", hatch=WORST_HATCH))
    labels.append("worst group")
    figure.legend(handles, labels, loc="outside right upper", fontsize="small")
    return figure
