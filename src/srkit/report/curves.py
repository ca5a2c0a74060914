"""``srkit plot``: training curves of one or several runs from their ``log.jsonl``.

The records are those :class:`srkit.train.logging.RunLogger` writes: ``train`` records (``loss`` and its
terms -- ``loss_<term>``, a group objective's ``loss_<group>``, a GAN's ``l_g_pix``/``l_g_percep`` --,
Group DRO's ``q_<group>``, a GAN's ``l_g_gan``, ``l_d_real``, ``l_d_fake``, the learning rates ``lr`` and
``lr_d``), ``val`` records (``<set>/psnr``, ``<set>/ssim``, or ``<set>/<group>/psnr`` with validation
groups) and the ``bicubic`` record at step 0 (the same metrics for bicubic upscaling). Non-finite values,
logged as the strings ``"nan"``/``"inf"``, are read back as floats.

One subplot per kind, drawn only when some run logged it: validation PSNR and SSIM per set (and group)
with bicubic as a dotted line, the training losses (moving average over ``smooth`` records; the raw values
faint), the learning rate (log scale), Group DRO's ``q`` per group, and the GAN's discriminator and
adversarial losses. Every run keeps one line style, every series one colour (in a panel with one series,
every run its own colour instead), and each line's label is ``<run>: <series>``. A panel with more lines
than :data:`LEGEND_MAX` (a study's seeds times its groups) gets a key instead of one entry per line: a
colour per series, a line style per run and the dotted bicubic reference. Matplotlib is imported only
when plotting, on its Agg canvas.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from srkit.errors import SrkitError
from srkit.io.atomic import atomic_write_bytes
from srkit.report.charts import figure_bytes, new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DEFAULT_SMOOTH",
    "FORMATS",
    "LOG_FILE",
    "PANELS",
    "RunLog",
    "plot_runs",
    "read_log",
    "save_figure",
]

LOG_FILE = "log.jsonl"
#: Output formats by file suffix.
FORMATS = {".png": "png", ".svg": "svg"}
#: Default moving-average window of the training losses, in log records.
DEFAULT_SMOOTH = 5
#: One line style per run (dotted is left to the bicubic references).
_LINE_STYLES: tuple[Any, ...] = (
    "-",
    "--",
    "-.",
    (0, (1, 1)),
    (0, (5, 1, 1, 1, 1, 1)),
    (0, (8, 2)),
    (0, (3, 1, 1, 1)),
    (0, (1, 2, 4, 2)),
)
#: A panel with more labelled lines than this gets a key (colours = series, styles = runs).
LEGEND_MAX = 12
_GAN_KEYS = ("l_g_gan", "l_d_real", "l_d_fake")
_CONTENT_KEYS = ("l_g_pix", "l_g_percep")


class PlotError(SrkitError):
    """A training log is missing or unreadable, or an option is invalid."""


@dataclass
class RunLog:
    """The records of one run's ``log.jsonl``, by kind."""

    name: str
    path: Path
    train: list[dict[str, Any]] = field(default_factory=list)
    val: list[dict[str, Any]] = field(default_factory=list)
    bicubic: dict[str, Any] = field(default_factory=dict)

    def series(self, kind: str, key: str) -> tuple[list[float], list[float]]:
        """``(steps, values)`` of ``key`` over the records of ``kind`` that hold it."""
        records = self.train if kind == "train" else self.val
        pairs = [(float(r["step"]), _float(r[key])) for r in records if key in r]
        return [s for s, _ in pairs], [v for _, v in pairs]

    def keys(self, kind: str) -> list[str]:
        """Every key of the records of ``kind``, in order of first appearance."""
        records = self.train if kind == "train" else self.val
        return list(dict.fromkeys(k for r in records for k in r))


def _float(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # "nan", "inf", "-inf": how the logger writes non-finite numbers
        except ValueError:
            return math.nan
    return math.nan


def _log_path(run: str | Path) -> Path:
    path = Path(run)
    if path.is_dir():
        path = path / LOG_FILE
    elif not path.exists() and path.suffix != ".jsonl":
        raise PlotError(f"{path}: no such run folder")
    if not path.is_file():
        raise PlotError(f"{path}: missing (not an srkit training run folder)")
    return path


def read_log(run: str | Path, name: str | None = None) -> RunLog:
    """The records of a run folder's ``log.jsonl`` (or of that file given itself). A torn last line (a
    run killed mid-write) is ignored; any other line that is not a JSON record fails naming its line."""
    path = _log_path(run)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PlotError(f"{path}: cannot be read ({exc.__class__.__name__}: {exc})") from None
    log = RunLog(name or (path.parent.name if path.name == LOG_FILE else path.stem), path)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):
                break
            raise PlotError(f"{path}: line {number} is not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise PlotError(f"{path}: line {number} is not a training log record (no integer 'step')")
        kind = record.get("kind")
        if kind == "train":
            log.train.append(record)
        elif kind == "val":
            log.val.append(record)
        elif kind in ("bicubic", "baseline") and not log.bicubic:
            log.bicubic = record
    if not log.train and not log.val:
        raise PlotError(f"{path}: no train or validation records")
    return log


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average over ``window`` values (fewer at the start; NaNs skipped)."""
    out = []
    for i in range(len(values)):
        part = [v for v in values[max(0, i - window + 1) : i + 1] if math.isfinite(v)]
        out.append(sum(part) / len(part) if part else math.nan)
    return out


# -- panels -----------------------------------------------------------------------------------------------


def _val_keys(log: RunLog, metric: str) -> list[str]:
    return [k for k in log.keys("val") if k.endswith(f"/{metric}")]


def _loss_keys(log: RunLog) -> list[str]:
    return [k for k in log.keys("train") if k == "loss" or k.startswith("loss_") or k in _CONTENT_KEYS]


def _lr_keys(log: RunLog) -> list[str]:
    return [k for k in log.keys("train") if k == "lr" or k.startswith("lr_")]


def _q_keys(log: RunLog) -> list[str]:
    return [k for k in log.keys("train") if k.startswith("q_")]


def _gan_keys(log: RunLog) -> list[str]:
    return [k for k in log.keys("train") if k in _GAN_KEYS]


@dataclass(frozen=True)
class Panel:
    """One subplot: its title, y label, the record kind it reads and the keys it draws."""

    name: str
    title: str
    ylabel: str
    kind: str
    keys: Callable[[RunLog], list[str]]
    smoothed: bool = False
    log_y: bool = False


PANELS = (
    Panel("val_psnr", "validation PSNR", "PSNR (dB)", "val", lambda log: _val_keys(log, "psnr")),
    Panel("val_ssim", "validation SSIM", "SSIM", "val", lambda log: _val_keys(log, "ssim")),
    Panel("loss", "training loss", "loss", "train", _loss_keys, smoothed=True),
    Panel("lr", "learning rate", "learning rate", "train", _lr_keys, log_y=True),
    Panel("q", "Group DRO q per group", "q", "train", _q_keys),
    Panel("gan", "GAN losses (D/G)", "loss", "train", _gan_keys, smoothed=True),
)


def _label(key: str) -> str:
    """A series' legend text: ``set5/bicubic/psnr`` -> ``set5/bicubic``, ``q_nearest`` -> ``nearest``."""
    for suffix in ("/psnr", "/ssim"):
        if key.endswith(suffix):
            return key[: -len(suffix)]
    return key[2:] if key.startswith("q_") else key


def _positive(axes: Axes) -> bool:
    """Whether every finite value drawn on ``axes`` is positive (so a log scale can show them)."""
    lines = [np.asarray(line.get_ydata(), dtype=np.float64) for line in axes.get_lines()]
    values = np.concatenate(lines) if lines else np.zeros(0)
    finite = values[np.isfinite(values)]
    return finite.size > 0 and bool((finite > 0).all())


def _draw_panel(axes: Axes, panel: Panel, logs: Sequence[RunLog], window: int) -> None:
    colours: dict[str, str] = {}
    references: set[tuple[str, float]] = set()
    one_series = len({key for log in logs for key in panel.keys(log)}) == 1
    for index, log in enumerate(logs):
        # one series per run (a study's curves): a colour per run; else a colour per series, a style per run
        style = "-" if one_series else _LINE_STYLES[index % len(_LINE_STYLES)]
        for key in panel.keys(log):
            colour = f"C{index % 10}" if one_series else colours.setdefault(key, f"C{len(colours) % 10}")
            steps, values = log.series(panel.kind, key)
            label = f"{log.name}: {_label(key)}"
            if panel.smoothed and window > 1:
                axes.plot(
                    steps,
                    values,
                    color=colour,
                    linestyle=style,
                    alpha=0.25,
                    linewidth=0.8,
                    label=f"_raw {label}",
                )
                axes.plot(steps, smooth(values, window), color=colour, linestyle=style, label=label)
            else:
                axes.plot(
                    steps,
                    values,
                    color=colour,
                    linestyle=style,
                    marker="." if len(steps) < 30 else None,
                    label=label,
                )
            reference = (
                _float(log.bicubic.get(key)) if panel.kind == "val" and key in log.bicubic else math.nan
            )
            if math.isfinite(reference) and (key, reference) not in references:
                references.add((key, reference))
                axes.axhline(
                    reference,
                    color=colour,
                    linestyle=":",
                    linewidth=1,
                    label=f"{log.name}: bicubic {_label(key)}",
                )
    axes.set_title(
        panel.title if not (panel.smoothed and window > 1) else f"{panel.title} (mean of {window})"
    )
    axes.set_xlabel("step")
    axes.set_ylabel(panel.ylabel)
    if panel.log_y and _positive(axes):
        axes.set_yscale("log")
    axes.grid(alpha=0.3)
    labelled = [ln for ln in axes.get_lines() if not str(ln.get_label()).startswith("_")]
    if len(labelled) <= LEGEND_MAX or one_series:
        axes.legend(fontsize="x-small")
    else:
        _key_legend(axes, logs, colours, bool(references))


def _key_legend(axes: Axes, logs: Sequence[RunLog], colours: dict[str, str], bicubic: bool) -> None:
    """A legend of a colour per series, a line style per run and the bicubic reference."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, label=_label(key)) for key, c in colours.items()]
    handles += [
        Line2D([], [], color="0.3", linestyle=_LINE_STYLES[i % len(_LINE_STYLES)], label=log.name)
        for i, log in enumerate(logs)
    ]
    if bicubic:
        handles.append(Line2D([], [], color="0.3", linestyle=":", linewidth=1, label="bicubic"))
    axes.legend(handles=handles, fontsize="x-small", ncol=2)


def plot_runs(
    runs: Sequence[str | Path | RunLog],
    out: str | Path | None = None,
    *,
    log_steps: bool = False,
    smooth_window: int = DEFAULT_SMOOTH,
    names: Sequence[str] | None = None,
) -> Figure:
    """Training curves of ``runs`` (run folders, ``log.jsonl`` files or :class:`RunLog`) in one figure,
    the runs overlaid; saved to ``out`` (``.png`` or ``.svg``, atomically) when given.

    ``log_steps``: logarithmic step axis. ``smooth_window``: moving-average window of the losses in
    records (1: raw values only). ``names``: legend names of the runs (default: their folder names,
    made distinct)."""
    if smooth_window < 1:
        raise PlotError(f"smooth: the window must be >= 1 record, got {smooth_window}")
    if out is not None:
        _format(out)
    logs = [r if isinstance(r, RunLog) else read_log(r) for r in runs]
    if not logs:
        raise PlotError("plot: no run given")
    _name_runs(logs, names)
    panels = [p for p in PANELS if any(p.keys(log) for log in logs)]
    if not panels:
        raise PlotError(f"{logs[0].path}: nothing to plot (no validation metrics, losses or learning rates)")
    columns = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / columns)
    figure = new_figure(6.5 * columns, 3.8 * rows)
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes, panel in zip(grid.flat, panels, strict=False):
        _draw_panel(axes, panel, logs, smooth_window)
        axes.set_gid(panel.name)
        if log_steps:
            axes.set_xscale("log")
            axes.set_xlabel("step (log scale)")
    for axes in list(grid.flat)[len(panels) :]:
        axes.remove()
    figure.suptitle("training curves: " + ", ".join(log.name for log in logs))
    if out is not None:
        save_figure(figure, out)
    return figure


def _name_runs(logs: Sequence[RunLog], names: Sequence[str] | None) -> None:
    if names is not None:
        if len(names) != len(logs):
            raise PlotError(f"names: {len(names)} names for {len(logs)} runs")
        for log, name in zip(logs, names, strict=True):
            log.name = name
        return
    given = [log.name for log in logs]
    for log in logs:
        if given.count(log.name) > 1:
            log.name = f"{log.path.parent.parent.name}/{log.path.parent.name}"


def _format(out: str | Path) -> str:
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise PlotError(f"{out}: unknown image format {suffix or '(no suffix)'!r}; use .png or .svg")
    return FORMATS[suffix]


def save_figure(figure: Figure, out: str | Path) -> Path:
    """Write ``figure`` as PNG or SVG (by ``out``'s suffix) atomically; returns the path."""
    data = figure_bytes(figure, _format(out))
    try:
        return atomic_write_bytes(out, data)
    except OSError as exc:
        raise PlotError(f"{out}: cannot be written ({exc.strerror or exc})") from None
