"""Training logs: JSONL and CSV always, a tqdm bar on a TTY, TensorBoard and Weights & Biases on request.

Files in the run folder (written by rank 0 only):

- ``log.jsonl``: one JSON object per line, ``{"kind": "train"|"val"|"baseline"|"best", "step": N, ...}``;
  train records hold the objective's values averaged over the last ``log_every`` steps (``loss``, its
  terms, ``grad_norm``), ``lr`` and ``it_s``; val records hold ``<set>/psnr``, ``<set>/ssim`` and
  ``mean_psnr``/``mean_ssim``;
- ``train.csv`` and ``val.csv``: the same train and val records as tables (columns from the first record
  of each kind);
- ``tb/``: TensorBoard events (scalars, and LR | SR | HR of the first image of every validation set).

On resume, records after the resumed step are removed from ``log.jsonl`` and the CSVs (and TensorBoard
purges its events after that step), so the logs of a resumed run read as those of an uninterrupted one.
A log file that cannot be written (a full disk) stops the run with one line naming it.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import torch

from srkit.errors import ConfigError, SrkitError
from srkit.io.atomic import atomic_write_text
from srkit.train.config import LoggingConfig
from srkit.train.disk import writing

LOG_WHAT = "the training log"
LOG_FILE = "log.jsonl"
TRAIN_CSV = "train.csv"
VAL_CSV = "val.csv"
TB_DIR = "tb"
WANDB_ID_FILE = "wandb-id.txt"


def _clean(value: Any) -> Any:
    """JSON-safe scalar: non-finite floats become strings (``"nan"``, ``"inf"``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def truncate_jsonl(path: Path, last_step: int) -> None:
    """Keep only the records of ``path`` with ``step <= last_step`` (and drop a torn last line); the file
    is replaced atomically, so a failed rewrite leaves it as it was."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and int(record.get("step", 0)) <= last_step:
            kept.append(line)
    with writing(path, LOG_WHAT):
        atomic_write_text(path, "".join(f"{line}\n" for line in kept))


def truncate_csv(path: Path, last_step: int) -> None:
    """Keep the header and the rows of ``path`` whose ``step`` column is ``<= last_step``."""
    if not path.exists():
        return
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or "step" not in rows[0]:
        return
    col = rows[0].index("step")
    kept = [rows[0]]
    for row in rows[1:]:
        if len(row) == len(rows[0]) and row[col].isdigit() and int(row[col]) <= last_step:
            kept.append(row)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(kept)
    with writing(path, LOG_WHAT):
        atomic_write_text(path, buffer.getvalue())


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` for a duration in seconds."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    total = round(seconds)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


def format_train_line(step: int, total: int, values: Mapping[str, float]) -> str:
    """The plain console line of a train record."""
    parts = [f"step {step}/{total}"]
    for key, value in values.items():
        if key in ("it_s", "eta_s", "time"):
            continue
        parts.append(f"{key} {value:.3e}" if key == "lr" else f"{key} {value:.5g}")
    if "it_s" in values:
        parts.append(f"{values['it_s']:.2f} it/s")
    if "eta_s" in values:
        parts.append(f"eta {format_duration(values['eta_s'])}")
    return "  ".join(parts)


def format_val_line(step: int, metrics: Mapping[str, Mapping[str, float]], label: str = "val") -> str:
    """The plain console line of validation results."""
    sets = "  ".join(f"{name} {m['psnr']:.2f} dB / {m['ssim']:.4f}" for name, m in metrics.items())
    return f"{label} step {step}: {sets}"


def side_by_side(lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor, max_side: int = 256) -> torch.Tensor:
    """``(3, H, 3W)`` image: LR (nearest-upsampled to the HR size) | SR | HR, centre-cropped to at most
    ``max_side`` HR pixels per side, values clamped to ``[0, 1]``."""
    scale = hr.shape[-1] // lr.shape[-1]
    up = torch.repeat_interleave(torch.repeat_interleave(lr, scale, dim=-2), scale, dim=-1)
    h, w = hr.shape[-2], hr.shape[-1]
    ch, cw = min(h, max_side), min(w, max_side)
    top, left = (h - ch) // 2, (w - cw) // 2
    crops = [t[..., top : top + ch, left : left + cw] for t in (up, sr, hr)]
    return torch.cat(crops, dim=-1).clamp(0, 1).float().cpu()


def mean_psnr(metrics: Mapping[str, Mapping[str, float]]) -> float:
    """Mean PSNR over the validation entries (sets x groups)."""
    return sum(m["psnr"] for m in metrics.values()) / len(metrics)


def worst_psnr(metrics: Mapping[str, Mapping[str, float]]) -> float:
    """The lowest PSNR of the validation entries (sets x groups)."""
    return min(m["psnr"] for m in metrics.values())


class _CsvSink:
    """Appends records to a CSV file; the columns are those of the first record ever written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] | None = None
        if path.exists() and path.stat().st_size > 0:
            with path.open(newline="", encoding="utf-8") as handle:
                self.columns = next(csv.reader(handle), None)

    def write(self, record: Mapping[str, Any]) -> None:
        new = self.columns is None
        if self.columns is None:
            self.columns = list(record)
        with writing(self.path, LOG_WHAT), self.path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _clean(v) for k, v in record.items()})


def _import_optional(module: str, key: str, package: str, required: bool) -> Any:
    """Import an optional logging back-end; ``None`` when absent and not ``required``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if required:
            raise ConfigError(
                f"{key}: enabled, but the {package!r} package is not installed (pip install {package}, "
                f"or set {key}=false)"
            ) from None
        return None


class RunLogger:
    """Every log sink of one run (see the module docstring). On ranks other than 0 (``enabled=False``)
    every method is a no-op."""

    def __init__(
        self,
        run_dir: Path,
        cfg: LoggingConfig,
        *,
        run_name: str,
        total_steps: int,
        start_step: int,
        config_dict: Mapping[str, Any],
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.enabled = enabled
        self.total_steps = total_steps
        self.stream = stream if stream is not None else sys.stdout
        self.bar: Any = None
        self.tb: Any = None
        self.wandb: Any = None
        if not enabled:
            return
        with writing(run_dir, "the run folder"):
            run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        for name in (TRAIN_CSV, VAL_CSV):
            truncate_csv(run_dir / name, start_step)
        truncate_jsonl(run_dir / LOG_FILE, start_step)
        with writing(run_dir / LOG_FILE, LOG_WHAT):
            self.jsonl = (run_dir / LOG_FILE).open("a", encoding="utf-8")
        self.csv = {"train": _CsvSink(run_dir / TRAIN_CSV), "val": _CsvSink(run_dir / VAL_CSV)}
        self._open_tensorboard(cfg, start_step)
        self._open_wandb(cfg, run_name, config_dict)
        show_bar = cfg.progress if isinstance(cfg.progress, bool) else sys.stderr.isatty()
        if show_bar:
            from tqdm import tqdm  # import-time cost: only when a bar is shown

            self.bar = tqdm(total=total_steps, initial=start_step, unit="it", dynamic_ncols=True, leave=True)

    # -- back-ends -----------------------------------------------------------------------------------

    def _open_tensorboard(self, cfg: LoggingConfig, start_step: int) -> None:
        if cfg.tensorboard is False:
            return
        required = cfg.tensorboard is True
        if _import_optional("tensorboard", "logging.tensorboard", "tensorboard", required) is None:
            return
        from torch.utils.tensorboard import SummaryWriter  # optional dependency (tensorboard)

        self.tb = SummaryWriter(log_dir=str(self.run_dir / TB_DIR), purge_step=start_step or None)

    def _open_wandb(self, cfg: LoggingConfig, run_name: str, config_dict: Mapping[str, Any]) -> None:
        if not cfg.wandb:
            return
        wandb = _import_optional("wandb", "logging.wandb", "wandb", required=True)
        id_file = self.run_dir / WANDB_ID_FILE
        run_id = id_file.read_text().strip() if id_file.exists() else wandb.util.generate_id()
        with writing(id_file, "the W&B run id"):
            atomic_write_text(id_file, run_id + "\n")
        self.wandb = wandb.init(
            project=cfg.wandb_project,
            entity=cfg.wandb_entity,
            name=run_name,
            id=run_id,
            resume="allow",
            dir=str(self.run_dir),
            config=dict(config_dict),
        )

    # -- records -------------------------------------------------------------------------------------

    def _write(self, kind: str, step: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        record = {"kind": kind, "step": step, "time": round(time.time(), 3), **fields}
        with writing(self.run_dir / LOG_FILE, LOG_WHAT):
            self.jsonl.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")
            self.jsonl.flush()
        return record

    def print(self, line: str) -> None:
        """A console line that does not break the progress bar."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=self.stream, flush=True)

    def step(self, step: int, values: Mapping[str, float]) -> None:
        """Advance the progress bar to ``step`` with the latest values in its postfix."""
        if self.bar is None:
            return
        self.bar.update(step - self.bar.n)
        if "loss" in values:
            self.bar.set_postfix(loss=f"{values['loss']:.4g}", refresh=False)

    def log_train(self, step: int, values: Mapping[str, float]) -> None:
        """A train record (JSONL, CSV, TensorBoard, W&B, and a console line without a bar)."""
        if not self.enabled:
            return
        record = self._write("train", step, values)
        self.csv["train"].write(record)
        if self.tb is not None:
            for key, value in values.items():
                self.tb.add_scalar(f"train/{key}", value, step)
        if self.wandb is not None:
            self.wandb.log({f"train/{k}": v for k, v in values.items()}, step=step)
        if self.bar is None:
            self.print(format_train_line(step, self.total_steps, values))

    def log_val(
        self,
        step: int,
        metrics: Mapping[str, Mapping[str, float]],
        images: Mapping[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None,
        kind: str = "val",
    ) -> None:
        """Validation metrics (``{set: {'psnr':, 'ssim':}}``) and optionally one LR/SR/HR triple per set."""
        if not self.enabled or not metrics:
            return
        flat: dict[str, float] = {}
        for name, values in metrics.items():
            for key, value in values.items():
                flat[f"{name}/{key}"] = value
        flat["mean_psnr"] = mean_psnr(metrics)
        flat["mean_ssim"] = sum(m["ssim"] for m in metrics.values()) / len(metrics)
        if len(metrics) > 1:
            flat["worst_psnr"] = worst_psnr(metrics)
        record = self._write(kind, step, flat)
        if kind == "val":
            self.csv["val"].write(record)
        prefix = "val" if kind == "val" else kind
        if self.tb is not None:
            for key, value in flat.items():
                self.tb.add_scalar(f"{prefix}/{key}", value, step)
            for name, triple in (images or {}).items():
                self.tb.add_image(f"{prefix}/{name}", side_by_side(*triple), step)
        if self.wandb is not None:
            payload: dict[str, Any] = {f"{prefix}/{k}": v for k, v in flat.items()}
            for name, triple in (images or {}).items():
                array = side_by_side(*triple).permute(1, 2, 0).numpy()
                payload[f"{prefix}/{name}"] = self.wandb_image(array, "LR | SR | HR")
            self.wandb.log(payload, step=step)
        self.print(format_val_line(step, metrics, kind))

    def wandb_image(self, array: Any, caption: str) -> Any:
        """A ``wandb.Image`` (kept separate so the W&B module is only touched when enabled)."""
        import wandb  # optional dependency

        return wandb.Image(array, caption=caption)

    def log_event(self, kind: str, step: int, **fields: Any) -> None:
        """Any other record (e.g. ``best``) to the JSONL log and the console."""
        if not self.enabled:
            return
        self._write(kind, step, fields)
        details = "  ".join(f"{k} {v}" for k, v in fields.items())
        self.print(f"{kind} step {step}: {details}")

    def close(self, quiet: bool = False) -> None:
        """Flush and close every sink; ``quiet``: a log that cannot be flushed is left as it is (when
        another error already stops the run)."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        try:
            with writing(self.run_dir / LOG_FILE, LOG_WHAT):
                self.jsonl.close()
        except SrkitError:
            if not quiet:
                raise
        if self.tb is not None:
            self.tb.close()
            self.tb = None
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None
