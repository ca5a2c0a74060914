"""The tables of a study (``study.md``, ``study.json``, ``study.csv``) from its arms' runs.

Per arm (seeds pooled: mean and, with several seeds, the sample standard deviation):

- parameters, training time (seconds summed over every invocation, ``study-run.json``), final and best
  validation PSNR (the mean over validation sets of ``log.jsonl``'s last and best ``val`` records);
- PSNR / SSIM of every dataset and degradation group (``eval/eval.json``), the worst group and the mean
  over the groups trained on (every group not in ``eval.held_out``), and separately over the held-out
  groups and over all groups, each computed per seed and then pooled (the worst group of each seed, not
  of the means);
- the finding of the source study for the arm, beside srkit's numbers.

``compare`` pairs ``(a, b)`` report a's worst-group gain over b per dataset, paired by seed, and whether
it is larger than the seed spread (the larger of the two arms' standard deviations of the worst group),
for the trained groups and, beside it, for the held-out ones (does the gain transfer?).
``study.csv`` is the long table of the SRResNet / multi-interpolation write-ups: model, dataset,
interpolation, PSNR, SSIM, scale.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srkit.io.atomic import atomic_write_text

if TYPE_CHECKING:
    from srkit.study.config import StudyConfig
    from srkit.study.runner import ArmRun

__all__ = ["REFERENCE_RECORD", "arm_summary", "count_params", "mean_std", "reference_summary", "write_tables"]

REFERENCE_RECORD = "reference.json"
"""Beside a reference's ``eval.json``: its name, model and parameter count."""


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (``None`` for fewer than two values)."""
    if not values:
        return math.nan, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def _pm(values: Sequence[float], digits: int = 2) -> str:
    mean, std = mean_std(values)
    if math.isnan(mean):
        return "-"
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _log(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "log.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def count_params(path: Path) -> int | None:
    """The number of values in the safetensors file ``path`` (``None`` when it is absent)."""
    if not path.is_file():
        return None
    from safetensors import safe_open

    total = 0
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
            total += math.prod(f.get_slice(key).get_shape())
    return total


def _run_params(run: ArmRun) -> int | None:
    """The run's parameter count: its record's (kept by the archive), else counted from its weights."""
    recorded = run.record().get("params")
    return int(recorded) if isinstance(recorded, int) else count_params(run.weights("model"))


def _val_psnr(record: dict[str, Any]) -> float | None:
    value = record.get("mean_psnr")
    return float(value) if isinstance(value, int | float) else None


def _cells(eval_json: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """``(dataset, group) -> (psnr, ssim)`` of one evaluation."""
    if not eval_json.is_file():
        return {}
    data = json.loads(eval_json.read_text())
    return {(g["dataset"], g["degradation"]): (g["psnr"], g["ssim"]) for g in data["groups"]}


def arm_summary(runs: Sequence[ArmRun], held_out: Sequence[str] = ()) -> dict[str, Any]:
    """The numbers of one arm over its seeds' finished and evaluated runs (see the module docstring); a
    run still training counts nowhere, so the tables of a study in progress are those of its archive."""
    seeds = [r for r in runs if r.done and (r.source / "eval" / "eval.json").is_file()]
    logs = [_log(r.source) for r in seeds]
    vals = [
        [v for v in (_val_psnr(x) for x in log if x.get("kind") == "val") if v is not None] for log in logs
    ]
    summary: dict[str, Any] = {
        "arm": runs[0].arm.name,
        "finding": runs[0].arm.finding,
        "seeds": [r.seed for r in seeds],
        "params": next((n for n in (_run_params(r) for r in seeds) if n), None),
        "train_seconds": [float(r.record().get("seconds", 0.0)) for r in seeds],
        "final_val_psnr": [v[-1] for v in vals if v],
        "best_val_psnr": [max(v) for v in vals if v],
        "skip": runs[0].skip,
    }
    summary.update(_pooled([_cells(r.source / "eval" / "eval.json") for r in seeds], held_out))
    return summary


def reference_summary(name: str, eval_json: Path, held_out: Sequence[str] = ()) -> dict[str, Any]:
    """:func:`arm_summary`'s numbers for a model the study evaluates but does not train
    (``eval.references``): one evaluation, no seeds, no training; ``reference: true``."""
    record = eval_json.parent / REFERENCE_RECORD
    params = json.loads(record.read_text()).get("params") if record.is_file() else None
    summary: dict[str, Any] = {
        "arm": name,
        "reference": True,
        "finding": "reference: evaluated alike, not trained by the study",
        "seeds": [],
        "params": params,
        "train_seconds": [],
        "final_val_psnr": [],
        "best_val_psnr": [],
        "skip": None,
    }
    summary.update(_pooled([_cells(eval_json)], held_out))
    return summary


def _pooled(
    cells: Sequence[dict[tuple[str, str], tuple[float, float]]], held_out: Sequence[str] = ()
) -> dict[str, Any]:
    """Per dataset and group the PSNR / SSIM of each evaluation in ``cells``; per dataset each
    evaluation's worst group and mean over groups: over the trained groups (``worst``,
    ``mean_over_groups``; all groups when every one is held out), the ``held_out`` ones
    (``worst_held_out``, ``mean_held_out``) and all of them (``worst_overall``)."""
    summary: dict[str, Any] = {
        "groups": {},
        "worst": {},
        "mean_over_groups": {},
        "worst_held_out": {},
        "mean_held_out": {},
        "worst_overall": {},
    }
    keys = list(dict.fromkeys(k for c in cells for k in c))  # evaluation order
    for dataset, group in keys:
        per_seed = [c[(dataset, group)] for c in cells if (dataset, group) in c]
        summary["groups"][f"{dataset}/{group}"] = {
            "psnr": [p for p, _ in per_seed],
            "ssim": [s for _, s in per_seed],
        }
    for dataset in dict.fromkeys(k[0] for k in keys):
        for c in cells:
            every = {g: p for (d, g), (p, _) in c.items() if d == dataset}
            if not every:
                continue
            kept = [p for g, p in every.items() if g in held_out]
            trained = [p for g, p in every.items() if g not in held_out] or list(every.values())
            parts = [("worst", "mean_over_groups", trained), ("worst_held_out", "mean_held_out", kept)]
            for worst_key, mean_key, values in parts:
                if values:
                    summary[worst_key].setdefault(dataset, []).append(min(values))
                    summary[mean_key].setdefault(dataset, []).append(statistics.fmean(values))
            summary["worst_overall"].setdefault(dataset, []).append(min(every.values()))
    return summary


def _by_arm(runs: Sequence[ArmRun]) -> dict[str, list[ArmRun]]:
    grouped: dict[str, list[ArmRun]] = {}
    for run in runs:
        grouped.setdefault(run.arm.name, []).append(run)
    return grouped


def _arm_table(summaries: Sequence[dict[str, Any]]) -> str:
    cells = list(dict.fromkeys(k for s in summaries for k in s["groups"]))
    head = ["arm", "params", "train min", "final val", "best val"]
    head += [f"{c} PSNR / SSIM" for c in cells] + ["finding (source study)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summaries:
        if s["skip"]:
            lines.append(f"| {s['arm']} | not run: {s['skip']} |" + " |" * (len(head) - 2))
            continue
        row = [
            s["arm"],
            f"{s['params']:,}" if s["params"] else "-",
            _pm([t / 60 for t in s["train_seconds"]], 1),
            _pm(s["final_val_psnr"]),
            _pm(s["best_val_psnr"]),
        ]
        for c in cells:
            g = s["groups"].get(c)
            row.append(f"{_pm(g['psnr'])} / {_pm(g['ssim'], 4)}" if g else "-")
        row.append(s["finding"] or "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _group_table(summaries: Sequence[dict[str, Any]], dataset: str, held_out: Sequence[str]) -> str:
    groups = list(
        dict.fromkeys(
            k.split("/", 1)[1] for s in summaries for k in s["groups"] if k.startswith(f"{dataset}/")
        )
    )
    names = [f"{g} (held out)" if g in held_out else g for g in groups]
    held = [g for g in groups if g in held_out]
    head = ["arm", *names, "worst", "mean over groups"]
    if held:
        head = [*head[:-2], "worst (trained)", "mean (trained)", "worst (held out)", "mean (held out)"]
    lines = [f"**{dataset}** (PSNR dB; mean ± std over seeds)", "", "| " + " | ".join(head) + " |"]
    lines.append("|" + "---|" * len(head))
    for s in summaries:
        if s["skip"]:
            continue
        row = [s["arm"]] + [_pm(s["groups"].get(f"{dataset}/{g}", {}).get("psnr", [])) for g in groups]
        row += [_pm(s["worst"].get(dataset, [])), _pm(s["mean_over_groups"].get(dataset, []))]
        if held:
            row += [_pm(s["worst_held_out"].get(dataset, [])), _pm(s["mean_held_out"].get(dataset, []))]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def compare_rows(
    summaries: dict[str, dict[str, Any]], pairs: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """For each ``(a, b)`` and dataset: a's worst-group gain over b over the trained groups, paired by
    seed, and the spread (top level), and the same over the held-out groups (``held_out``, ``None``
    without any). A reference ``b`` (one evaluation, no seeds) is the same number against every seed
    of ``a``."""
    rows = []
    for a, b in pairs:
        sa, sb = summaries[a], summaries[b]
        for dataset in sa["worst"]:
            row = {"a": a, "b": b, "dataset": dataset, **_paired_gain(sa, sb, "worst", dataset)}
            held = sa.get("worst_held_out", {}).get(dataset)
            row["held_out"] = _paired_gain(sa, sb, "worst_held_out", dataset) if held else None
            rows.append(row)
    return rows


def _paired_gain(sa: dict[str, Any], sb: dict[str, Any], key: str, dataset: str) -> dict[str, Any]:
    """a's gain over b in ``summary[key][dataset]`` seed by seed, and the larger std of the two."""
    wa, wb = sa[key][dataset], sb.get(key, {}).get(dataset, [])
    seeds_b = sb["seeds"]
    if sb.get("reference") and wb:
        seeds_b, wb = sa["seeds"], wb[:1] * len(sa["seeds"])
    paired = dict(zip(sa["seeds"], wa, strict=False)), dict(zip(seeds_b, wb, strict=False))
    common = sorted(set(paired[0]) & set(paired[1]))
    gains = [paired[0][k] - paired[1][k] for k in common]
    spread = max((mean_std(x)[1] or 0.0) for x in (wa, wb)) if wa and wb else None
    gain = mean_std(gains)[0] if gains else math.nan
    return {
        "seeds": common,
        "gains": gains,
        "gain": gain,
        "spread": spread,
        "exceeds_spread": bool(spread is not None and len(gains) > 1 and gain > spread),
        "below_spread": bool(spread is not None and len(gains) > 1 and gain < -spread),
    }


def _verdict(cell: dict[str, Any]) -> tuple[str, str, str]:
    spread = "-" if cell["spread"] is None else f"{cell['spread']:.2f}"
    if len(cell["gains"]) < 2:
        verdict = "n/a (one seed)"
    else:
        loss = "no: a loss beyond it" if cell["below_spread"] else "no"
        verdict = "yes" if cell["exceeds_spread"] else loss
    return _pm(cell["gains"]), spread, verdict


def _compare_table(rows: Sequence[dict[str, Any]]) -> str:
    head = "| a vs b | dataset | worst-group gain (dB, paired by seed) | seed spread (max std) | exceeds? |"
    held = any(r["held_out"] for r in rows)
    if held:
        head += " held-out worst-group gain | seed spread | exceeds? |"
    lines = [head, "|---" * (8 if held else 5) + "|"]
    for r in rows:
        cells = [f"{r['a']} vs {r['b']}", r["dataset"], *_verdict(r)]
        if held:
            cells += list(_verdict(r["held_out"])) if r["held_out"] else ["-", "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _long_csv(summaries: Sequence[dict[str, Any]], scale: int) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "dataset", "interpolation", "psnr", "ssim", "scale", "seeds"])
    for s in summaries:
        for key, g in s["groups"].items():
            dataset, group = key.split("/", 1)
            psnr, ssim = mean_std(g["psnr"])[0], mean_std(g["ssim"])[0]
            writer.writerow([s["arm"], dataset, group, f"{psnr:.4f}", f"{ssim:.6f}", scale, len(g["psnr"])])
    return buffer.getvalue()


def _long_table(summaries: Sequence[dict[str, Any]], scale: int) -> str:
    """The source study's table format: model, dataset, interpolation, PSNR, SSIM, scale (seed means)."""
    lines = ["| model | dataset | interpolation | PSNR | SSIM | scale |", "|---|---|---|---|---|---|"]
    for s in summaries:
        for key, g in s["groups"].items():
            dataset, group = key.split("/", 1)
            lines.append(
                f"| {s['arm']} | {dataset} | {group} | {_pm(g['psnr'])} | {_pm(g['ssim'], 4)} | {scale} |"
            )
    return "\n".join(lines)


def write_tables(
    study: StudyConfig, runs: Sequence[ArmRun], references: Mapping[str, Path] | None = None
) -> list[Path]:
    """Write ``study.json``, ``study.md``, ``study.csv`` (and ``curves.png`` when any arm logged a
    validation) into the study's folder; ``references``: name -> ``eval.json`` of the models evaluated
    beside the arms (rows after the arms'). Returns the paths."""
    if not runs:
        return []
    out = runs[0].run_dir.parent
    grouped = _by_arm(runs)
    held_out = study.eval.held_out
    summaries = {name: arm_summary(arm_runs, held_out) for name, arm_runs in grouped.items()}
    summaries |= {name: reference_summary(name, p, held_out) for name, p in (references or {}).items()}
    compare = compare_rows(summaries, study.compare)
    scale = study.eval.scale or runs[0].config.scale
    datasets = list(dict.fromkeys(k.split("/", 1)[0] for s in summaries.values() for k in s["groups"]))
    parts = [f"# {study.name}", "", study.description, "", _arm_table(list(summaries.values()))]
    if len(study.eval.degradations) > 1:
        parts += [
            "",
            *(_group_table(list(summaries.values()), d, study.eval.held_out) + "\n" for d in datasets),
        ]
    if compare:
        parts += ["", _compare_table(compare)]
    if len(study.eval.degradations) > 1:
        parts += ["", "In the source study's format:", "", _long_table(list(summaries.values()), scale)]
    paths = [
        atomic_write_text(
            out / "study.json", json.dumps({"arms": summaries, "compare": compare}, indent=2) + "\n"
        ),
        atomic_write_text(out / "study.md", "\n".join(parts).rstrip() + "\n"),
        atomic_write_text(out / "study.csv", _long_csv(list(summaries.values()), scale)),
    ]
    curves = _curves([r.source for r in runs if (r.source / "log.jsonl").is_file()], out / "curves.png")
    return paths + ([curves] if curves is not None else [])


def _curves(run_dirs: Sequence[Path], target: Path) -> Path | None:
    """The validation curves of every run overlaid (:func:`srkit.report.plot_runs`)."""
    if not run_dirs:
        return None
    from srkit.report import plot_runs

    plot_runs(list(run_dirs), target)
    return target
