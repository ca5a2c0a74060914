"""``srkit report``: one self-contained HTML file per evaluation (or comparison of evaluations).

The file holds, with no external resource (inline CSS and script, images as PNG ``data:`` URIs):

- the comparison table per dataset and scale: every model's PSNR/SSIM (LPIPS when measured) per
  degradation group, its worst group and the mean over groups, the best of each column in bold, each
  model's worst group shaded; click a header to sort;
- per (dataset, scale), bar charts of PSNR and SSIM per group (matplotlib), each model's worst group
  hatched;
- the per-image table: bicubic's and every model's PSNR/SSIM and the PSNR gain over bicubic, sortable;
- zoom views of the images with the largest and the smallest gains: the same crop of LR (nearest),
  bicubic, every model and HR, zoomed together, and a before/after slider between any two of them;
- the settings of each run from eval.json (conventions, model record, environment, datasets).

Every number shown is formatted from eval.json's value (PSNR 2 decimals, SSIM and LPIPS 4, gains 2) and
carries the exact value in ``data-value`` (Python's ``repr`` of the float, ``""`` for eval.json's
``null``), with ``data-model``, ``data-dataset``, ``data-scale``, ``data-group`` and ``data-metric``
saying what it is.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from srkit.io.atomic import atomic_write_text
from srkit.report import assets
from srkit.report.charts import GroupSeries, figure_data_uri, group_chart
from srkit.report.content import (
    GAIN_DECIMALS,
    Cell,
    CropPick,
    ImageRow,
    Metric,
    cells,
    image_rows,
    missing_bicubic,
    pick_crops,
    present_metrics,
    split_baseline,
    value,
)
from srkit.report.pixels import (
    Pixels,
    Window,
    best_window,
    bicubic_scores,
    gain_map,
    hwc,
    nearest,
    png_data_uri,
)
from srkit.report.runs import EvalRun, ReportError, load_runs
from srkit.version import __version__

__all__ = ["DEFAULT_CROPS", "DEFAULT_CROP_SIZE", "build_html", "write_report"]

#: Images per (dataset, scale) with the largest (and as many with the smallest) gains shown zoomed.
DEFAULT_CROPS = 3
#: Side of the zoom views' crop in HR pixels.
DEFAULT_CROP_SIZE = 96
#: Initial zoom of the crops.
INITIAL_ZOOM = 2


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _attrs(items: Mapping[str, object]) -> str:
    return "".join(f' {k}="{_e(v)}"' for k, v in items.items() if v is not None)


def _exact(number: float | None) -> str:
    """The exact value for ``data-value``: ``repr`` of the float, ``""`` for null / NaN."""
    if number is None or math.isnan(number):
        return ""
    return repr(float(number))


def _num_cell(metric: Metric, number: float | None, extra: Mapping[str, object], classes: str = "") -> str:
    attrs = {
        "class": f"num {classes}".strip(),
        "data-metric": metric.key,
        "data-value": _exact(number),
        **extra,
    }
    text = _e(metric.text(number))
    return f"<td{_attrs(attrs)}>{'<b>' + text + '</b>' if 'best' in classes.split() else text}</td>"


def _table(headers: Sequence[str], body: Iterable[str], attrs: Mapping[str, object]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f"<table{_attrs(attrs)}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# -- comparison -------------------------------------------------------------------------------------------


def _best(cell: Cell, metric: Metric, pick: Any) -> float | None:
    """The best value of one column over the runs of ``cell`` (only when several runs are compared)."""
    values = [v for v in (pick(row) for row in cell.rows) if v is not None and math.isfinite(v)]
    if len(cell.rows) < 2 or not values:
        return None
    return max(values) if metric.higher_is_better else min(values)


def _comparison_table(cell: Cell, metrics: Sequence[Metric]) -> str:
    several = len(cell.groups) > 1
    summaries = ["worst", "mean"] if several else []
    headers = ["model"] + [f"{g} {m.label}" for g in cell.groups for m in metrics]
    if several:
        headers += ["worst group"] + [f"{s} {m.label}" for s in summaries for m in metrics]
    columns: list[tuple[str, Metric, Any]] = [
        (g, m, lambda row, g=g, m=m: value(row[1][g], m.key) if g in row[1] else None)
        for g in cell.groups
        for m in metrics
    ] + [
        (s, m, lambda row, s=s, m=m: value(row[2], f"{s}_{m.key}") if row[2] else None)
        for s in summaries
        for m in metrics
    ]
    best = {(c, m.key): _best(cell, m, pick) for c, m, pick in columns}
    body = []
    for row in cell.rows:
        run, _, summary = row
        worst = {"psnr": (summary or {}).get("worst_group"), "ssim": (summary or {}).get("worst_ssim_group")}
        tds = [f'<td data-model="{_e(run.label)}">{_e(run.label)}</td>']
        for column, metric, pick in columns:
            if column == "worst" and metric is metrics[0]:
                tds.append(
                    f'<td data-metric="worst_group" data-value="{_e(worst["psnr"] or "")}">'
                    f"{_e(worst['psnr'] or '')}</td>"
                )
            number = pick(row)
            if number is None and column not in summaries and column not in row[1]:
                tds.append("<td></td>")
                continue
            classes = (
                "best"
                if best[(column, metric.key)] is not None and number == best[(column, metric.key)]
                else ""
            )
            if worst.get(metric.key) == column and several:
                classes += " worst"
            extra = {"data-model": run.label, "data-dataset": cell.dataset, "data-scale": cell.scale}
            tds.append(_num_cell(metric, number, {**extra, "data-group": column}, classes))
        body.append(f"<tr>{''.join(tds)}</tr>")
    table = _table(
        headers,
        body,
        {"class": "sortable comparison", "data-dataset": cell.dataset, "data-scale": cell.scale},
    )
    return f"<h3>{_e(cell.dataset)} x{cell.scale}</h3>{table}"


def _comparison(all_cells: Sequence[Cell], metrics: Sequence[Metric], runs: Sequence[EvalRun]) -> str:
    channel = "Y" if runs[0].y_channel else "RGB"
    crop = runs[0].data.get("crop_border", "scale")
    note = (
        f"PSNR (dB) / SSIM on {channel}, border crop {_e(crop)}; best of each column in bold, "
        "each model's worst group shaded. Click a header to sort."
    )
    tables = "".join(_comparison_table(c, metrics) for c in all_cells)
    return f'<section id="comparison"><h2>Comparison</h2><p class="note">{note}</p>{tables}</section>'


# -- charts -----------------------------------------------------------------------------------------------


def _chart_series(cell: Cell) -> list[GroupSeries]:
    series = []
    for run, groups, summary in cell.rows:
        values = {g: {"psnr": value(r, "psnr"), "ssim": value(r, "ssim")} for g, r in groups.items()}
        worst = {}
        if summary and len(groups) > 1:
            worst = {"psnr": summary.get("worst_group"), "ssim": summary.get("worst_ssim_group")}
        series.append(GroupSeries(run.label, values, {k: v for k, v in worst.items() if v}))
    return series


def _charts(all_cells: Sequence[Cell]) -> str:
    parts = []
    for cell in all_cells:
        figure = group_chart(cell.dataset, cell.scale, cell.groups, _chart_series(cell))
        alt = f"PSNR and SSIM per degradation group, {cell.dataset} x{cell.scale}"
        attrs = {"class": "chart", "src": figure_data_uri(figure), "alt": alt}
        parts.append(f"<img{_attrs({**attrs, 'data-dataset': cell.dataset, 'data-scale': cell.scale})}>")
    note = "Bars: each model's mean per group; hatched: the model's worst group (lowest PSNR, lowest SSIM)."
    return (
        f'<section id="charts"><h2>Per-group charts</h2><p class="note">{note}</p>{"".join(parts)}</section>'
    )


# -- per-image table --------------------------------------------------------------------------------------


def _gain_cell(gain: float, model: str) -> str:
    classes = "num gain-pos" if gain > 0 else ("num gain-neg" if gain < 0 else "num")
    text = "n/a" if math.isnan(gain) else f"{gain:+.{GAIN_DECIMALS}f}"
    attrs = {"class": classes, "data-metric": "gain", "data-model": model, "data-value": _exact(gain)}
    return f"<td{_attrs(attrs)}>{_e(text)}</td>"


def _image_table(
    rows: Sequence[ImageRow], models: Sequence[EvalRun], metrics: Sequence[Metric], source: str
) -> str:
    labels = [m.label for m in models]
    headers = ["dataset", "scale", "group", "image", "bicubic PSNR", "bicubic SSIM"]
    headers += [f"{label} {m.label}" for label in labels for m in metrics] + [
        f"{label} gain (dB)" for label in labels
    ]
    if len(labels) > 1:
        headers.append("mean gain (dB)")
    ordered = sorted(rows, key=lambda r: -r.mean_gain if math.isfinite(r.mean_gain) else math.inf)
    psnr_metric, ssim_metric = metrics[0], metrics[1]
    body = []
    for row in ordered:
        image = row.image if row.sample == 0 else f"{row.image} #{row.sample}"
        tds = [
            f"<td>{_e(row.dataset)}</td>",
            f'<td class="num" data-value="{row.scale}">x{row.scale}</td>',
            f"<td>{_e(row.group)}</td>",
            f"<td>{_e(image)}</td>",
            _num_cell(psnr_metric, row.bicubic[0], {"data-model": "bicubic"}),
            _num_cell(ssim_metric, row.bicubic[1], {"data-model": "bicubic"}),
        ]
        for label in labels:
            item = row.models.get(label)
            for metric in metrics:
                number = value(item, metric.key) if item is not None else None
                tds.append(
                    _num_cell(metric, number, {"data-model": label}) if item is not None else "<td></td>"
                )
        tds += [_gain_cell(row.gain(label), label) for label in labels]
        if len(labels) > 1:
            tds.append(_gain_cell(row.mean_gain, ""))
        key = {
            "data-dataset": row.dataset,
            "data-scale": row.scale,
            "data-group": row.group,
            "data-image": row.image,
        }
        body.append(f"<tr{_attrs({**key, 'data-sample': row.sample})}>{''.join(tds)}</tr>")
    table = _table(headers, body, {"class": "sortable images", "id": "image-table"})
    note = (
        f"Gain: the model's PSNR minus bicubic's for the same LR. Bicubic: {_e(source)}. Sorted by the "
        "(mean) gain; click a header to sort."
    )
    return f'<section id="images"><h2>Per image</h2><p class="note">{note}</p>{table}</section>'


# -- zoom views -------------------------------------------------------------------------------------------


def _view_panels(
    pick: CropPick, pixels: Pixels, models: Sequence[EvalRun], size: int
) -> tuple[Window, list[tuple[str, str, np.ndarray]]]:
    """The crop window of one zoom view and its panels ``(name, caption, full image)``: LR (nearest),
    bicubic, every model, HR."""
    row, scale, first = pick.row, pick.row.scale, models[0]
    hr_t = pixels.hr(row.dataset, row.image, scale)
    lr_t = pixels.lr(hr_t, row.group, scale)
    hr, lr = hwc(hr_t), hwc(lr_t)
    bicubic = pixels.interpolate(lr_t, scale)
    srs = [pixels.sr(run, row.key, lr_t, hr) for run in models]
    gains = gain_map(srs, bicubic, hr, border=first.border(scale), y_channel=first.y_channel)
    window = best_window(gains if pick.largest else -gains, size, scale)
    panels = [
        ("LR", "LR (nearest)", nearest(lr, scale)),
        ("bicubic", f"bicubic {row.bicubic[0]:.2f} dB", bicubic),
    ]
    for run, sr in zip(models, srs, strict=True):
        psnr = value(row.models[run.label], "psnr")
        panels.append((run.label, f"{run.label} {psnr:.2f} dB ({row.gain(run.label):+.2f})", sr))
    panels.append(("HR", "HR", hr))
    return window, panels


def _options(names: Sequence[str], selected: int) -> str:
    return "".join(
        f'<option value="{i}"{" selected" if i == selected else ""}>{_e(n)}</option>'
        for i, n in enumerate(names)
    )


def _slider(names: Sequence[str], port: str) -> str:
    """The before/after slider of a view: two selects, the overlaid images (given their crops by the
    script) and the range input, the stage as large as a crop (``port``: its size). Left: bicubic,
    right: the first model (HR without models)."""
    right = 2 if len(names) > 3 else len(names) - 1
    stage = (
        f'<div class="port" {port}><div class="stage" {port}>'
        f'<img class="under" src="{assets.PLACEHOLDER}" alt="right">'
        f'<img class="over" src="{assets.PLACEHOLDER}" alt="left"></div></div>'
    )
    return (
        f'<div class="compare slider"><label>left <select class="cmp-a">{_options(names, 1)}</select>'
        f'</label> <label>right <select class="cmp-b">{_options(names, right)}</select></label>{stage}'
        '<input type="range" class="cmp-pos" min="0" max="100" value="50" aria-label="slider position">'
        "</div>"
    )


def _view(index: int, pick: CropPick, pixels: Pixels, models: Sequence[EvalRun], size: int) -> str:
    """One zoom view: the same crop of every panel, the zoom control and the slider."""
    row = pick.row
    window, panels = _view_panels(pick, pixels, models, size)
    zoomed_w, zoomed_h = window.width * INITIAL_ZOOM, window.height * INITIAL_ZOOM
    port = f'style="width:{zoomed_w}px;height:{zoomed_h}px"'
    figures = []
    for name, caption, image in panels:
        src = png_data_uri(window.cut(image))
        img = _attrs({"class": "crop", "src": src, "alt": name, "width": zoomed_w, "height": zoomed_h})
        figures.append(
            f'<figure class="panel" data-panel="{_e(name)}"><div class="port" {port}><img{img}></div>'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    kind = "largest" if pick.largest else "smallest"
    head = (
        f"{_e(row.image)} ({_e(row.group)}, x{row.scale}): mean gain {row.mean_gain:+.2f} dB, among the "
        f"{kind} gains; crop {window.width}x{window.height} HR pixels at ({window.left}, {window.top})"
    )
    attrs = {
        "class": "view",
        "id": f"view-{index}",
        "data-dataset": row.dataset,
        "data-scale": row.scale,
        "data-group": row.group,
        "data-image": row.image,
        "data-kind": kind,
        "data-gain": _exact(row.mean_gain),
        "data-w": window.width,
        "data-h": window.height,
        "data-window": f"{window.top},{window.left},{window.height},{window.width}",
    }
    controls = (
        f'<div class="controls"><label>zoom <input type="range" class="zoom" min="1" max="8" step="1" '
        f'value="{INITIAL_ZOOM}"></label> <span class="zoom-value">{INITIAL_ZOOM}x</span></div>'
    )
    slider = _slider([p[0] for p in panels], port)
    return (
        f"<div{_attrs(attrs)}><h4>{head}</h4>{controls}"
        f'<div class="panels">{"".join(figures)}</div>{slider}</div>'
    )


def _views(rows: Sequence[ImageRow], pixels: Pixels, models: Sequence[EvalRun], crops: int, size: int) -> str:
    if crops <= 0 or not models:
        why = "no model besides bicubic" if not models else "--crops 0"
        return f'<section id="crops"><h2>Zoomed crops</h2><p class="note">none ({why}).</p></section>'
    parts = []
    index = 0
    for (dataset, scale), picks in pick_crops(rows, crops):
        parts.append(f"<h3>{_e(dataset)} x{scale}</h3>")
        for pick in picks:
            parts.append(_view(index, pick, pixels, models, size))
            index += 1
    note = (
        f"The {crops} images per dataset and scale with the largest and the {crops} with the smallest PSNR "
        "gain over bicubic (mean over the models); each crop is where the models gain most (or least) over "
        "bicubic. The zoom applies to every crop of a view and scrolling one scrolls all; the slider shows "
        "the left image left of it and the right image right of it."
    )
    return f'<section id="crops"><h2>Zoomed crops</h2><p class="note">{note}</p>{"".join(parts)}</section>'


# -- settings ---------------------------------------------------------------------------------------------


def _kv_rows(data: Mapping[str, Any], prefix: str) -> list[str]:
    rows = []
    for key, item in data.items():
        path = f"{prefix}{key}"
        compact = json.dumps(item, sort_keys=True) if isinstance(item, (dict, list)) else ""
        if len(compact) > 80:
            shown = f"<pre>{_e(json.dumps(item, indent=1, sort_keys=True))}</pre>"
        elif compact:
            shown = f"<code>{_e(compact)}</code>"
        else:
            shown = _e("" if item is None else item)
        rows.append(f'<tr><td>{_e(key)}</td><td data-key="{_e(path)}">{shown}</td></tr>')
    return rows


def _kv_table(title: str, data: Mapping[str, Any], prefix: str) -> str:
    return f'<h4>{_e(title)}</h4><table class="kv">{"".join(_kv_rows(data, prefix))}</table>'


def _settings_block(run: EvalRun) -> str:
    settings = run.settings
    conventions = {
        "channel": run.data.get("channel"),
        "crop_border": run.data.get("crop_border"),
        "scales": settings.get("scales"),
        "center_crop": settings.get("center_crop", run.data.get("center_crop")),
        "samples": settings.get("samples", run.data.get("samples", 1)),
        "lpips": run.data.get("lpips"),
        "conventions": settings.get("conventions"),
    }
    degradations = [
        f"<tr><td>{_e(d.get('name'))}</td><td>{_e(d.get('kernel'))}</td><td>{_e(d.get('description'))}</td></tr>"
        for d in settings.get("degradations") or []
        if isinstance(d, dict)
    ]
    datasets = [
        f"<tr><td>{_e(d.get('name'))}</td><td><code>{_e(d.get('root'))}</code></td>"
        f'<td class="num">{len(d.get("files") or [])}</td></tr>'
        for d in settings.get("datasets") or []
        if isinstance(d, dict)
    ]
    parts = [
        _kv_table("Conventions", conventions, ""),
        _kv_table("Model", run.model_record, "model."),
        _kv_table("Environment", settings.get("environment") or {}, "environment."),
        _table(["group", "kernel", "description"], degradations, {"class": "degradations"})
        if degradations
        else "",
        _table(["dataset", "root", "files"], datasets, {"class": "datasets"}) if datasets else "",
    ]
    if not settings:
        parts = ['<p class="note">eval.json has no settings block (written by an older srkit).</p>', parts[0]]
    attrs = {"class": "run-settings", "data-model": run.label, "open": ""}
    summary = f"<summary>{_e(run.label)} <code>{_e(run.path)}</code></summary>"
    return f"<details{_attrs(attrs)}>{summary}{''.join(parts)}</details>"


def _settings(runs: Sequence[EvalRun]) -> str:
    blocks = "".join(_settings_block(run) for run in runs)
    return f'<section id="settings"><h2>Settings</h2>{blocks}</section>'


def _skipped(runs: Sequence[EvalRun]) -> str:
    items = {
        (s.get("dataset"), s.get("image"), s.get("scale"), s.get("reason"))
        for run in runs
        for s in run.data.get("skipped") or []
        if isinstance(s, dict)
    }
    if not items:
        return ""
    rows = [
        f"<tr><td>{_e(d)}</td><td>{_e(i)}</td><td>x{_e(s)}</td><td>{_e(r)}</td></tr>"
        for d, i, s, r in sorted(items, key=str)
    ]
    table = _table(["dataset", "image", "scale", "reason"], rows, {"class": "skipped"})
    return f'<section id="skipped"><h2>Skipped</h2>{table}</section>'


# -- the page ---------------------------------------------------------------------------------------------


def _bicubic_source(
    rows: list[ImageRow], baseline: EvalRun | None, models: Sequence[EvalRun], pixels: Pixels
) -> str:
    """Fill the bicubic numbers no bicubic evaluation gave; returns where they come from."""
    todo = missing_bicubic(rows, baseline)
    if todo:
        first = models[0] if models else baseline
        assert first is not None  # load_runs gives at least one run
        scores = bicubic_scores(
            pixels,
            (r.key for r in todo),
            y_channel=first.y_channel,
            crop_border=first.data.get("crop_border", "scale"),
        )
        for row in todo:
            row.bicubic = scores[row.key]
    if baseline is not None and not todo:
        return f"from {baseline.path}"
    measured = "measured here with srkit.metrics.psnr/ssim under the same channel and border crop"
    return measured if baseline is None else f"from {baseline.path}, the rest {measured}"


def build_html(
    runs: Sequence[EvalRun], *, crops: int = DEFAULT_CROPS, crop_size: int = DEFAULT_CROP_SIZE
) -> str:
    """The report of ``runs`` (:func:`srkit.report.runs.load_runs`) as one HTML document."""
    if crop_size < 1:
        raise ReportError(f"crop size: must be >= 1, got {crop_size}")
    baseline, models = split_baseline(runs)
    all_cells = cells(runs)
    metrics = present_metrics([g for run in runs for g in run.groups()])
    pixels = Pixels(runs)
    rows = image_rows(baseline, models)
    source = _bicubic_source(rows, baseline, models, pixels)
    image_metrics = present_metrics([i for run in models for i in run.images()]) or metrics
    title = "srkit report: " + ", ".join(run.label for run in runs)
    inputs = "".join(f"<li><code>{_e(run.path)}</code> ({_e(run.label)})</li>" for run in runs)
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="note">Written by srkit {_e(__version__)} from:</p><ul>{inputs}</ul>',
        _comparison(all_cells, metrics, runs),
        _charts(all_cells),
        _image_table(rows, models, image_metrics, source),
        _views(rows, pixels, models, crops, crop_size),
        _settings(runs),
        _skipped(runs),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="srkit {_e(__version__)}"><title>{_e(title)}</title>'
        f"<style>{assets.STYLE}</style></head><body>{''.join(body)}"
        f"<script>{assets.SCRIPT}</script></body></html>\n"
    )


def write_report(
    folders: Sequence[str | Path],
    out: str | Path,
    *,
    crops: int = DEFAULT_CROPS,
    crop_size: int = DEFAULT_CROP_SIZE,
) -> Path:
    """Write the report of the ``srkit eval`` output ``folders`` to ``out`` (atomically); returns it."""
    if crops < 0:
        raise ReportError(f"crops: must be >= 0, got {crops}")
    runs = load_runs(folders)
    text = build_html(runs, crops=crops, crop_size=crop_size)
    try:
        return atomic_write_text(out, text)
    except OSError as exc:
        raise ReportError(f"{out}: cannot be written ({exc.strerror or exc})") from None
