"""The inputs of ``srkit report``: ``srkit eval`` output folders, each holding an ``eval.json``.

A folder is either one evaluation (``eval.json`` in it) or the ``--out`` folder of an evaluation of
several models (one sub-folder per model, listed in ``comparison.csv``). Every ``eval.json`` is checked
enough for the report to use it: a missing or corrupt file, or one without the rows the report needs,
fails with one line naming the file and the reason (:class:`ReportError`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srkit.errors import SrkitError

__all__ = ["EVAL_FILE", "EvalRun", "ReportError", "expand_folders", "load_eval", "load_runs"]

#: The file ``srkit eval`` writes into its output folder.
EVAL_FILE = "eval.json"
#: Where ``srkit eval --save-images`` puts the SR images: ``images/<dataset>/<group>/x<scale>/<stem>.png``.
IMAGES_DIR = "images"

# The fields the report reads from each row kind of eval.json (numbers may be null: non-finite values).
_ROWS: dict[str, dict[str, tuple[type, ...]]] = {
    "groups": {"dataset": (str,), "degradation": (str,), "scale": (int,), "psnr": (float,), "ssim": (float,)},
    "summary": {
        "dataset": (str,),
        "scale": (int,),
        "worst_group": (str,),
        "worst_psnr": (float,),
        "worst_ssim": (float,),
        "mean_psnr": (float,),
        "mean_ssim": (float,),
    },
    "images": {
        "dataset": (str,),
        "degradation": (str,),
        "scale": (int,),
        "image": (str,),
        "psnr": (float,),
        "ssim": (float,),
    },
}


class ReportError(SrkitError):
    """An input of the report (a folder, ``eval.json``, a saved image) is missing or unusable."""


@dataclass(frozen=True)
class EvalRun:
    """One ``srkit eval`` output folder: its ``eval.json`` (``data``) and the label the report uses."""

    folder: Path
    label: str
    data: dict[str, Any]

    @property
    def path(self) -> Path:
        """The ``eval.json`` file."""
        return self.folder / EVAL_FILE

    @property
    def settings(self) -> dict[str, Any]:
        """The ``settings`` block (empty for files written before srkit recorded it)."""
        value = self.data.get("settings")
        return value if isinstance(value, dict) else {}

    @property
    def model_record(self) -> dict[str, Any]:
        """``settings.model``: kind, file, sha256, metadata, precision, device, ..."""
        value = self.settings.get("model")
        return value if isinstance(value, dict) else {}

    @property
    def convention(self) -> tuple[str, object, object]:
        """``(channel, crop_border, center_crop)``: what must agree between the runs of one report."""
        return (str(self.data.get("channel")), self.data.get("crop_border"), self.data.get("center_crop"))

    @property
    def y_channel(self) -> bool:
        return self.data.get("channel", "y") == "y"

    def border(self, scale: int) -> int:
        """The pixels shaved at each border at ``scale`` (``crop_border`` ``"scale"`` means the scale)."""
        crop = self.data.get("crop_border", "scale")
        return scale if crop == "scale" else int(crop)

    @property
    def baseline_kernel(self) -> str | None:
        """The interpolation kernel when this run is a baseline (``srkit eval --model bicubic``)."""
        record = self.model_record
        if record.get("kind") == "baseline":
            return str(record.get("kernel", self.data["model"]))
        if not record and self.data["model"] in (
            "bicubic",
            "bilinear",
            "nearest",
            "area",
            "lanczos2",
            "lanczos3",
        ):
            return str(self.data["model"])
        return None

    def sr_path(self, dataset: str, group: str, scale: int, image: str, sample: int = 0) -> Path:
        """Where ``--save-images`` wrote the SR image of one row."""
        stem = Path(image).stem if int(self.data.get("samples", 1)) == 1 else f"{Path(image).stem}_s{sample}"
        return self.folder / IMAGES_DIR / dataset / group / f"x{scale}" / f"{stem}.png"

    def groups(self) -> list[dict[str, Any]]:
        return list(self.data["groups"])

    def summaries(self) -> list[dict[str, Any]]:
        return list(self.data["summary"])

    def images(self) -> list[dict[str, Any]]:
        return list(self.data["images"])


def expand_folders(folders: Sequence[str | Path]) -> list[Path]:
    """The evaluation folders behind the folders given: a folder with ``eval.json`` is itself, the output
    folder of several models is its model folders (in ``comparison.csv`` order), an ``eval.json`` file
    is its folder."""
    out: list[Path] = []
    for given in folders:
        folder = Path(given)
        if folder.is_file() and folder.name == EVAL_FILE:
            folder = folder.parent
        if not folder.is_dir():
            raise ReportError(f"{folder}: no such folder (give srkit eval output folders)")
        if (folder / EVAL_FILE).exists():
            out.append(folder)
            continue
        models = _model_folders(folder)
        if not models:
            raise ReportError(
                f"{folder}: no {EVAL_FILE} here or in its sub-folders (not an srkit eval output folder)"
            )
        out += models
    return out


def _model_folders(folder: Path) -> list[Path]:
    """The sub-folders of ``folder`` holding an ``eval.json``: first those ``comparison.csv`` names, in
    its order, then the others by name."""
    found = sorted(p.parent for p in folder.glob(f"*/{EVAL_FILE}"))
    order: list[str] = []
    table = folder / "comparison.csv"
    if table.is_file():
        try:
            with table.open(newline="", encoding="utf-8") as handle:
                order = list(dict.fromkeys(row.get("model", "") for row in csv.DictReader(handle)))
        except (OSError, UnicodeDecodeError, csv.Error):
            order = []
    rank = {name.replace("/", "_"): i for i, name in enumerate(order)}
    return sorted(found, key=lambda p: (rank.get(p.name, len(rank)), p.name))


def load_eval(path: Path) -> dict[str, Any]:
    """Read and check one ``eval.json``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot be read ({exc.__class__.__name__}: {exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: not an srkit eval.json (the top level is not an object)")
    if not isinstance(data.get("model"), str):
        raise ReportError(f"{path}: not an srkit eval.json (no 'model' name)")
    for key, fields in _ROWS.items():
        _check_rows(path, data, key, fields)
    if not data["images"]:
        raise ReportError(f"{path}: no image was scored (nothing to report)")
    return data


def _check_rows(path: Path, data: dict[str, Any], key: str, fields: dict[str, tuple[type, ...]]) -> None:
    rows = data.get(key)
    if not isinstance(rows, list):
        raise ReportError(f"{path}: not an srkit eval.json (no '{key}' list)")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ReportError(f"{path}: {key}[{index}] is not an object")
        for name, types in fields.items():
            if name not in row:
                raise ReportError(f"{path}: {key}[{index}] has no '{name}'")
            value = row[name]
            if types == (float,):
                ok = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
            elif types == (int,):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, types)
            if not ok:
                kind = "a number" if types in ((float,), (int,)) else "text"
                raise ReportError(f"{path}: {key}[{index}].{name} is {value!r}, not {kind}")


def load_runs(folders: Sequence[str | Path]) -> list[EvalRun]:
    """The evaluations of ``folders`` (see :func:`expand_folders`), each with a distinct label (its
    model name, and its folder's name where two runs share a model name); they must have been measured
    the same way (channel, border crop, centre crop)."""
    paths = expand_folders(folders)
    datas = [load_eval(p / EVAL_FILE) for p in paths]
    models = [d["model"] for d in datas]
    labels = [f"{m} ({p.name})" if models.count(m) > 1 else m for m, p in zip(models, paths, strict=True)]
    labels = [str(p) if labels.count(label) > 1 else label for label, p in zip(labels, paths, strict=True)]
    runs = [EvalRun(p, label, d) for p, label, d in zip(paths, labels, datas, strict=True)]
    first = runs[0]
    for run in runs[1:]:
        if run.convention != first.convention:
            raise ReportError(
                f"{run.path}: measured with (channel, border crop, centre crop) = {run.convention}, but "
                f"{first.path} with {first.convention}; a report compares runs measured the same way"
            )
    return runs
