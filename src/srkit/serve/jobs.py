"""Jobs of ``srkit serve``: one uploaded image, one or more models, one folder; no web framework here.

Every job gets a random id (32 hex digits) and its own folder ``<root>/<id>/`` inside the server's
temporary folder (``tempfile.mkdtemp``, removed by :meth:`JobStore.close`); the upload is stored there
under a sanitised file name and every result beside it, so jobs of concurrent requests never share a
file. Ids are looked up in a dictionary, never joined to a path, and file names lose every folder part,
so no request can reach a file outside the temporary folder.

The models run one job at a time on a single worker thread (:class:`JobStore` queues them), each model
of a job in turn, through :func:`srkit.infer.upscale.upscale_file` — the file rules of
``srkit upscale``: the input's format, bit depth, alpha, ICC profile, EXIF and dpi kept, frames of an
animation upscaled. Progress is counted per tile by :class:`CountingUpscaler`.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from srkit.archs import Runner, Upscaler
from srkit.errors import ConfigError, ImageError, SrkitError, one_line
from srkit.infer.frames import OutputOptions, wants_frames
from srkit.infer.tiling import tile_count
from srkit.infer.upscale import TileSize, resolve_scale, upscale_file
from srkit.infer.upscalers import load_upscaler
from srkit.io import IMAGE_SUFFIXES, Image, read_header, read_image, write_image
from srkit.io.images import SUFFIX_FORMATS
from srkit.serve.choices import ModelChoice
from srkit.serve.config import PRECISIONS, ServeConfig

__all__ = [
    "CountingUpscaler",
    "Job",
    "JobCancelled",
    "JobOptions",
    "JobStore",
    "Run",
    "parse_options",
    "safe_name",
]

#: The scale of a baseline when the page asks for the model's own (``srkit upscale``'s default).
DEFAULT_SCALE = 4
#: Largest ``scale`` a request may ask for.
MAX_SCALE = 16
#: Upscalers kept loaded between jobs.
MODEL_CACHE = 3
#: Suffixes a browser shows as they are; other inputs and results (TIFF) get a PNG preview.
BROWSER_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})
#: How outputs are encoded: as ``srkit upscale`` does by default (alpha over white in JPEG and BMP).
OUTPUT = OutputOptions.from_cli(None, None)

_JOB_ID = re.compile(r"[0-9a-f]{32}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._ +()-]+")
_NAME_LIMIT = 100


class JobCancelled(SrkitError):
    """The server is shutting down; the run stops at its next tile."""


def safe_name(raw: str) -> str:
    """A file name for an upload named ``raw`` (as the browser sends it): folder parts dropped (``/``
    and ``\\``), characters outside ``[A-Za-z0-9._ +()-]`` replaced by ``_``, no leading dot, at most
    100 characters; its suffix must be an image one.

    Raises:
        ConfigError: one line: no name, or not an image suffix.
    """
    base = re.split(r"[/\\]", raw.strip())[-1].strip()
    cleaned = _UNSAFE.sub("_", base).lstrip(". ")
    suffix = Path(cleaned).suffix
    if not cleaned or suffix.lower() not in IMAGE_SUFFIXES:
        accepted = ", ".join(sorted(IMAGE_SUFFIXES))
        shown = base or "(no name)"
        raise ConfigError(f"{shown}: not an image file name (accepted suffixes: {accepted})")
    stem = Path(cleaned).stem[: _NAME_LIMIT - len(suffix)] or "image"
    return stem + suffix


@dataclasses.dataclass(frozen=True)
class JobOptions:
    """What a job runs: ``models`` (names of :func:`srkit.serve.choices.model_choices`, each once),
    ``scale`` (``None``: the model's own), ``tile`` (``None``: automatic, 0: whole image) and
    ``precision``."""

    models: tuple[str, ...]
    scale: int | None = None
    tile: int | None = None
    precision: str = "auto"


def _int_option(flag: str, text: str | None, auto: tuple[str, ...] = ("", "auto")) -> int | None:
    if text is None or text.strip().lower() in auto:
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise ConfigError(f"{flag}: must be an integer or 'auto', got {text!r}") from None


def parse_options(
    models: Sequence[str],
    scale: str | None,
    tile: str | None,
    precision: str | None,
    choices: Sequence[ModelChoice],
) -> JobOptions:
    """Validate a request's options against the offered ``choices``.

    Raises:
        ConfigError: one line naming the bad option.
    """
    offered = {c.name for c in choices}
    names = tuple(dict.fromkeys(m.strip().lower() for m in models if m.strip()))
    if not names:
        raise ConfigError("model: pick at least one model")
    unknown = [m for m in names if m not in offered]
    if unknown:
        raise ConfigError(
            f"model: {unknown[0]!r} is not offered here; available: {', '.join(sorted(offered))} "
            "(`srkit models`; published models must be pulled first)"
        )
    factor = _int_option("scale", scale)
    if factor is not None and not 1 <= factor <= MAX_SCALE:
        raise ConfigError(f"scale: must be from 1 to {MAX_SCALE}, got {factor}")
    side = _int_option("tile", tile)
    TileSize(side)  # one-line errors for bad tiles
    chosen = (precision or "auto").strip().lower()
    if chosen not in PRECISIONS:
        raise ConfigError(f"precision: must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return JobOptions(names, factor, side, chosen)


class CountingUpscaler:
    """An upscaler that counts its calls (one per tile): ``on_tile()`` after each, and
    :class:`JobCancelled` before one when ``stop()`` is true.

    Everything else is the wrapped upscaler's (attributes are delegated), and ``isinstance`` sees its
    class (``__class__``), so the tiling reads a network's overlap, size multiple and per-step tiling
    (:func:`srkit.infer.upscale.upscale_tensor`) exactly as for the network itself.
    """

    def __init__(self, inner: Upscaler, on_tile: Callable[[], None], stop: Callable[[], bool]) -> None:
        self._inner = inner
        self._on_tile = on_tile
        self._stop = stop

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def name(self) -> str:
        return self._inner.name

    def supports_scale(self, scale: int) -> bool:
        return self._inner.supports_scale(scale)

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        if self._stop():
            raise JobCancelled("the server is shutting down; the job was stopped")
        out = self._inner(lr, scale)
        self._on_tile()
        return out


@dataclasses.dataclass
class Run:
    """One model of a job: ``state`` ``queued``, ``running``, ``done``, ``failed`` or ``cancelled``;
    ``done``/``total`` tiles; the result's ``path`` and size once done, else the one-line ``error``."""

    model: str
    state: str = "queued"
    scale: int | None = None
    done: int = 0
    total: int = 0
    error: str | None = None
    path: Path | None = None
    width: int | None = None
    height: int | None = None
    seconds: float | None = None

    def tick(self) -> None:
        """One more tile done (never past the total: an out-of-memory retry runs tiles again)."""
        self.done = min(self.done + 1, self.total) if self.total else self.done + 1

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")


@dataclasses.dataclass
class Job:
    """One uploaded image and its runs, in ``folder`` (``source`` is the upload)."""

    id: str
    name: str
    folder: Path
    options: JobOptions
    runs: list[Run]
    created: float = dataclasses.field(default_factory=time.time)
    width: int | None = None
    height: int | None = None
    error: str | None = None

    @property
    def source(self) -> Path:
        return self.folder / self.name

    @property
    def state(self) -> str:
        """``failed`` (the upload itself), ``done`` (every run finished), ``running`` or ``queued``."""
        if self.error is not None:
            return "failed"
        if all(r.finished for r in self.runs):
            return "done"
        return "running" if any(r.state != "queued" for r in self.runs) else "queued"

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def result_name(self, run: Run) -> str:
        """The download name of ``run``'s result: ``<stem>_<model>_x<scale><suffix>``."""
        return f"{Path(self.name).stem}_{run.model}_x{run.scale}{Path(self.name).suffix.lower()}"

    def snapshot(self) -> dict[str, Any]:
        """The job as JSON (what the page and ``GET /api/jobs/ID`` show)."""
        base = f"/api/jobs/{self.id}"
        runs = []
        for index, run in enumerate(self.runs):
            entry = {
                "index": index,
                "model": run.model,
                "state": run.state,
                "scale": run.scale,
                "done": run.done,
                "total": run.total,
                "error": run.error,
                "width": run.width,
                "height": run.height,
                "seconds": run.seconds,
            }
            if run.state == "done":
                entry["filename"] = self.result_name(run)
                entry["download_url"] = f"{base}/results/{index}"
                entry["view_url"] = f"{base}/results/{index}?view=1"
            runs.append(entry)
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "error": self.error,
            "width": self.width,
            "height": self.height,
            "input_url": None if self.error else f"{base}/input",
            "runs": runs,
        }


def _reason(exc: BaseException, job: Job) -> str:
    """One line about ``exc`` that names the upload as the user named it, never the server's folder."""
    if isinstance(exc, ImageError) and Path(exc.path) == job.source:
        text = f"{job.name}: {' '.join(exc.reason.split())}"
    elif isinstance(exc, SrkitError):
        text = one_line(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        text = f"{job.name}: {exc.strerror}"
    else:
        text = f"{type(exc).__name__}: {one_line(exc, 300)}"
    return text.replace(str(job.source), job.name).replace(str(job.folder) + os.sep, "")


def _upright_size(path: Path, width: int, height: int) -> tuple[int, int]:
    """``(width, height)`` of the header turned as the EXIF orientation turns the pixels (orientations
    5-8 swap the sides), which is how :func:`srkit.io.read_image` and browsers show the image."""
    from PIL import Image as PILImage  # the EXIF block only; the pixels are not decoded

    try:
        with warnings.catch_warnings():  # the size is within srkit's pixel limit, checked before
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)
            with PILImage.open(path) as im:
                orientation = im.getexif().get(0x0112, 1)
    except Exception:  # no readable EXIF (or Pillow's own size guard): the stored size
        return width, height
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _planned_tiles(upscaler: Upscaler, image: Image, scale: int, tiles: TileSize, fmt: str) -> int:
    """How many upscaler calls ``upscale_file`` makes for ``image``: tiles per frame times frames."""
    tile, overlap = tiles.resolve(upscaler, scale), tiles.overlap_for(upscaler)
    if isinstance(upscaler, Runner) and upscaler.info.tiling == "per_step":
        per_frame = 1  # the runner tiles every step itself; the image goes whole
    else:
        align = upscaler.size_multiple if isinstance(upscaler, Runner) else 1
        per_frame = tile_count(image.height, image.width, tile, overlap, align)
    frames = image.info.frames if wants_frames(image.info, fmt, OUTPUT) else 1
    return per_frame * frames


class JobStore:
    """The jobs of one server: its temporary folder, the jobs by id, the worker thread, loaded models.

    ``create`` makes a job's folder for an upload, ``admit`` checks the uploaded file (header, pixel
    limit) and queues its runs, ``get`` finds a job by id, ``close`` stops the worker and removes the
    temporary folder.
    """

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.root = Path(tempfile.mkdtemp(prefix="srkit-serve-"))
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="srkit-serve")
        self._models: collections.OrderedDict[tuple[str, str], Upscaler] = collections.OrderedDict()
        self.closing = False

    # -- jobs ----------------------------------------------------------------------------------

    def create(self, name: str, options: JobOptions) -> Job:
        """A new job for an upload called ``name`` (already :func:`safe_name`), its folder made; the
        caller writes the upload to ``job.source`` and then calls :meth:`admit` or :meth:`discard`."""
        if self.closing:
            raise SrkitError("the server is shutting down")
        job_id = secrets.token_hex(16)
        folder = self.root / job_id
        folder.mkdir(mode=0o700)
        return Job(job_id, name, folder, options, [Run(m) for m in options.models])

    def discard(self, job: Job) -> None:
        """Remove a job that was never admitted (its upload was refused)."""
        shutil.rmtree(job.folder, ignore_errors=True)

    def admit(self, job: Job) -> Job:
        """Check the upload (:func:`srkit.io.read_header`: a readable image within the pixel limit of
        :mod:`srkit.io.images.limits`) and queue the runs; a bad file makes a failed job with the one-line
        error (the upload removed). Either way the job is registered and returned."""
        try:
            header = read_header(job.source)
        except SrkitError as exc:
            job.error = _reason(exc, job)
            job.source.unlink(missing_ok=True)
            for run in job.runs:
                run.state, run.error = "failed", job.error
        else:
            job.width, job.height = _upright_size(job.source, header.width, header.height)
        with self._lock:
            self._jobs[job.id] = job
            self._evict()
        if job.error is None:
            self._worker.submit(self._work, job)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with id ``job_id`` (32 hex digits), or ``None``."""
        if not _JOB_ID.fullmatch(job_id):
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def _evict(self) -> None:
        """Drop the oldest finished jobs (and their folders) beyond ``config.max_jobs``; call locked."""
        finished = [j for j in self._jobs.values() if j.finished]
        for job in sorted(finished, key=lambda j: j.created)[: max(0, len(finished) - self.config.max_jobs)]:
            del self._jobs[job.id]
            shutil.rmtree(job.folder, ignore_errors=True)

    # -- files ---------------------------------------------------------------------------------

    def result_path(self, job: Job, index: int) -> Path | None:
        """The result file of run ``index`` of ``job`` when it is done, else ``None``."""
        if not 0 <= index < len(job.runs) or job.runs[index].state != "done":
            return None
        return job.runs[index].path

    def preview_path(self, job: Job, path: Path) -> Path:
        """``path`` when a browser shows its format, else an 8-bit PNG made from it once (TIFF)."""
        if path.suffix.lower() in BROWSER_SUFFIXES:
            return path
        preview = job.folder / f"{path.name}.preview.png"
        if not preview.is_file():
            write_image(preview, read_image(path), bit_depth=8)
        return preview

    # -- running -------------------------------------------------------------------------------

    def _upscaler(self, model: str, precision: str) -> Upscaler:
        """The loaded upscaler of ``model`` at ``precision`` (the last few kept); worker thread only."""
        key = (model, precision)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        files = {path.stem: path for path in self.config.model_files}
        source = files.get(model, model)  # a --model FILE by its stem, else a name of the list
        upscaler = load_upscaler(source, device=self.config.device, precision=precision, download=False)
        self._models[key] = upscaler
        while len(self._models) > MODEL_CACHE:
            self._models.popitem(last=False)
        return upscaler

    def _work(self, job: Job) -> None:
        """Every run of ``job``, one after another (the worker thread)."""
        for run in job.runs:
            if self.closing:
                run.state, run.error = "cancelled", "the server is shutting down; the job was stopped"
                continue
            self._run(job, run)

    def _run(self, job: Job, run: Run) -> None:
        """One model on the job's image; the outcome recorded in ``run``, never raised."""
        run.state = "running"
        start = time.perf_counter()
        try:
            upscaler = self._upscaler(run.model, job.options.precision)
            run.scale = resolve_scale(upscaler, job.options.scale, DEFAULT_SCALE)
            tiles = TileSize(job.options.tile)
            image = read_image(job.source)
            fmt = SUFFIX_FORMATS[job.source.suffix.lower()]
            run.total = _planned_tiles(upscaler, image, run.scale, tiles, fmt)
            del image
            target = job.folder / job.result_name(run)
            counting = CountingUpscaler(upscaler, run.tick, lambda: self.closing)
            _, (width, height) = upscale_file(
                counting, job.source, target, run.scale, tiles=tiles, overwrite=False, output=OUTPUT
            )
        except Exception as exc:  # any failure is this run's; the server goes on
            run.error = _reason(exc, job)
            run.state = "cancelled" if isinstance(exc, JobCancelled) else "failed"
            print(f"srkit serve: {job.name} with {run.model}: {run.error}", file=sys.stderr)
        else:
            run.path, run.width, run.height = target, width, height
            run.done = run.total
            run.state = "done"
        run.seconds = round(time.perf_counter() - start, 2)

    # -- shutting down -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker (a running job stops at its next tile, queued ones are dropped) and remove
        the temporary folder with everything in it. Idempotent."""
        self.closing = True
        self._worker.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.root, ignore_errors=True)
