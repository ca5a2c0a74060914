"""``srkit study run FILE``: train every arm of a study one after another, each resumable, evaluate each
with ``srkit eval``'s conventions, and write the tables (:mod:`srkit.study.tables`) and the validation
curves of all arms overlaid.

Layout under the study's folder (``out``, default ``runs/study/<name>``):

- ``<arm>/`` (``<arm>-s<seed>/`` with several seeds): the arm's training run (``srkit train``'s files),
  ``study-run.json`` (training seconds summed over every invocation, whether it finished) and
  ``eval/eval.json`` (the arm's evaluation);
- ``study.json`` (every number of the tables), ``study.md`` (the tables), ``curves.png`` (validation
  PSNR of every arm, :func:`srkit.report.plot_runs`).

Run folders are not kept in git; ``srkit study archive FILE`` (:func:`archive_study`) copies what the
tables need of every finished run (``study-run.json`` with the parameter count and the machine, the
training ``log.jsonl`` and ``eval/eval.json``) into the study's ``archive:`` folder, which is. A run that
is absent from the study's folder but archived counts as done: it is not trained again and the tables
read it from the archive, so the seeds of several sessions pool into one table.

Re-running the command skips what is done: a finished arm is not trained again, an interrupted one
resumes from its ``state.pt`` (bit-exact, as ``srkit train --resume``), an evaluation newer than the
arm's weights is reused. Every arm's recipe is validated before the first one trains, so a typo in the
last arm does not surface hours later.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from srkit.errors import ConfigError
from srkit.io.atomic import atomic_write_text
from srkit.study.config import ArmConfig, Reference, StudyConfig, load_study
from srkit.study.tables import REFERENCE_RECORD, count_params, write_tables
from srkit.train.config import TrainConfig, load_config

if TYPE_CHECKING:
    from srkit.archs import Runner
    from srkit.infer.upscalers import InterpolationUpscaler

__all__ = ["ArmRun", "StudyResult", "archive_study", "plan_study", "run_study"]

RUN_RECORD = "study-run.json"


@dataclass
class ArmRun:
    """One training run of a study: an arm with one seed."""

    arm: ArmConfig
    seed: int
    run_dir: Path
    recipe: Path
    overrides: list[str]
    config: TrainConfig
    skip: str | None = None
    """Why the arm is not run (a weight file it needs is absent), else ``None``."""
    archive_dir: Path | None = None
    """Where ``srkit study archive`` keeps this run (``<archive>/<label>``), else ``None``."""

    @property
    def label(self) -> str:
        return self.run_dir.name

    @property
    def archived(self) -> bool:
        """The run is read from the archive: its run folder never started here, the archive has it."""
        return (
            not (self.run_dir / RUN_RECORD).is_file()
            and self.archive_dir is not None
            and (self.archive_dir / RUN_RECORD).is_file()
        )

    @property
    def source(self) -> Path:
        """The folder the tables read this run from: the run folder, or its archive (:attr:`archived`)."""
        return self.archive_dir if self.archive_dir is not None and self.archived else self.run_dir

    def record(self) -> dict[str, Any]:
        """``study-run.json`` (empty when the arm never started)."""
        path = self.source / RUN_RECORD
        return json.loads(path.read_text()) if path.is_file() else {}

    @property
    def done(self) -> bool:
        return bool(self.record().get("done"))

    def weights(self, which: str) -> Path:
        return self.run_dir / ("best.safetensors" if which == "best" else "model.safetensors")


@dataclass
class StudyResult:
    """What :func:`run_study` did and wrote."""

    runs: list[ArmRun]
    trained: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def _missing_weights(names: Sequence[str]) -> str | None:
    """Why the weight files of ``srkit fetch-weights`` ``names`` are not usable, or ``None``."""
    from srkit.io.weight_files import BUNDLES, bundle_files

    for name in names:
        if name not in BUNDLES:
            raise ConfigError(f"requires: unknown weight files {name!r}; known: {', '.join(BUNDLES)}")
        absent = [f for f in bundle_files(name) if not f.cache_path.is_file()]
        if absent:
            return (
                f"needs {absent[0].file} ({absent[0].what}) at {absent[0].cache_path}, which is absent: "
                f"`srkit fetch-weights {name}` puts it there; a random network would not be this loss"
            )
    return None


def study_folders(study: StudyConfig, base: Path) -> tuple[Path, Path | None]:
    """``(out, archive)``: the study's folder of runs and its ``archive:`` folder (resolved against the
    study file's folder ``base``), ``None`` without one."""
    out = study.out if study.out is not None else Path("runs") / "study" / study.name
    return out, (base / study.archive).resolve() if study.archive is not None else None


def reference_label(name: str) -> str:
    """The folder of reference model ``name`` in the study's folder and archive: ``ref-<name>`` (a file
    path: its file name), characters other than letters, digits, ``_.-`` replaced by ``-``."""
    return "ref-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(name).name)


def plan_study(study: StudyConfig, base: Path) -> list[ArmRun]:
    """Every run of ``study`` (recipe paths relative to ``base``), each recipe validated now.

    Raises:
        ConfigError: one line naming the arm and the bad key.
    """
    out, archive = study_folders(study, base)
    runs = []
    for arm in study.arms:
        recipe = (base / (arm.recipe or study.recipe)).resolve()
        seeds = study.arm_seeds(arm)
        for seed in seeds:
            label = arm.name if len(seeds) == 1 else f"{arm.name}-s{seed}"
            overrides = [*study.set, *arm.set, f"seed={seed}", f"name={study.name}-{label}"]
            try:
                config = load_config(recipe, overrides)
            except ConfigError as exc:
                raise ConfigError(f"arm {arm.name}: {exc}") from None
            skip = _missing_weights(arm.requires)
            archive_dir = archive / label if archive is not None else None
            runs.append(ArmRun(arm, seed, out / label, recipe, overrides, config, skip, archive_dir))
    return runs


def _machine() -> dict[str, Any]:
    """The CPU a run trained on (model name, AMX, cores, threads) and the accelerator, if any."""
    from srkit.evaluation.provenance import environment

    env = environment()
    return {k: env[k] for k in ("cpu", "cpu_capability", "amx", "cpu_count", "threads", "cuda", "torch")}


def _write_record(run: ArmRun, seconds: float, done: bool, step: int | None) -> None:
    record = run.record()
    if done:
        record.update(params=count_params(run.weights("model")), machine=_machine())
    record.update(
        seconds=round(float(record.get("seconds", 0.0)) + seconds, 2),
        done=done,
        invocations=int(record.get("invocations", 0)) + 1,
        recipe=str(run.recipe),
        overrides=run.overrides,
    )
    if step is not None:
        record["step"] = step
    run.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run.run_dir / RUN_RECORD, json.dumps(record, indent=2) + "\n")


def train_arm(run: ArmRun, echo: Callable[[str], None]) -> None:
    """Train ``run`` (resuming from its ``state.pt`` when an earlier invocation stopped), adding the
    seconds it took to its record even when it is interrupted."""
    from srkit.train.engine import train
    from srkit.train.state import STATE_FILE

    state = run.run_dir / STATE_FILE
    resume = state if state.is_file() else None
    echo(f"study: {'resuming' if resume else 'training'} {run.label} ({run.config.train.steps} steps)")
    start, done, step = time.monotonic(), False, None
    try:
        result = train(run.config, run_dir=run.run_dir, resume=resume)
        done, step = True, result.step
    finally:
        _write_record(run, time.monotonic() - start, done, step)


def evaluate_arm(run: ArmRun, study: StudyConfig, echo: Callable[[str], None]) -> Path:
    """The arm's ``eval/eval.json`` (reused when newer than its weights)."""
    from srkit.archs import load_network, make_runner

    if run.archived:
        archived = run.source / "eval" / "eval.json"
        if not archived.is_file():
            raise ConfigError(f"arm {run.label}: archived without {archived}; archive it again where it ran")
        return archived
    weights = run.weights(study.eval.weights)
    out = run.run_dir / "eval"
    report = out / "eval.json"
    if report.is_file() and weights.is_file() and report.stat().st_mtime >= weights.stat().st_mtime:
        return report
    if not weights.is_file():
        raise ConfigError(f"arm {run.label}: {weights} is missing; the arm has not finished training")
    upscaler = make_runner(
        load_network(weights), name=run.label, device="cpu", precision="fp32", optimize=True
    )
    _evaluate(upscaler, run.label, weights, study, study.eval.scale or run.config.scale, out, echo)
    return report


def _evaluate(
    upscaler: InterpolationUpscaler | Runner,
    label: str,
    given: str | Path,
    study: StudyConfig,
    scale: int,
    out: Path,
    echo: Callable[[str], None],
) -> None:
    """Evaluate ``upscaler`` as the study says (datasets, ``scale``, degradations) into ``out``."""
    from srkit.data import resolve_dataset
    from srkit.degrade import parse_groups
    from srkit.evaluation import evaluate, write_report
    from srkit.infer.upscalers import describe_model

    datasets = [resolve_dataset(d, progress=False) for d in study.eval.datasets]
    echo(f"study: evaluating {label} on {', '.join(d.name for d in datasets)} x{scale}")
    result = evaluate(
        upscaler,
        datasets,
        [scale],
        parse_groups(study.eval.degradations),
        progress=False,
        model_record=describe_model(given, upscaler),
    )
    write_report(result, out)


def _reference_report(name: str, out: Path, archive: Path | None) -> Path | None:
    """The existing evaluation of reference ``name``: in the study's folder, else in its archive."""
    for root in (out, archive):
        if root is not None and (root / reference_label(name) / "eval.json").is_file():
            return root / reference_label(name) / "eval.json"
    return None


def evaluate_reference(
    ref: Reference, study: StudyConfig, base: Path, scale: int, echo: Callable[[str], None]
) -> Path:
    """The evaluation of reference ``ref`` (``eval.references``), made once and then reused from the
    study's folder or its archive; a model that needs downloading is an error, not a download."""
    from srkit.infer.upscalers import load_upscaler

    out, archive = study_folders(study, base)
    found = _reference_report(ref.name, out, archive)
    if found is not None:
        return found
    upscaler = load_upscaler(ref.model, device="cpu", precision="fp32", download=False)
    target = out / reference_label(ref.name)
    _evaluate(upscaler, f"reference {ref.name}", ref.model, study, scale, target, echo)
    model = json.loads((target / "eval.json").read_text()).get("settings", {}).get("model", {})
    weights = model.get("file") if isinstance(model, dict) else None
    params = count_params(Path(weights)) if isinstance(weights, str) else None
    record = {"name": ref.name, "model": ref.model, "params": params}
    atomic_write_text(target / REFERENCE_RECORD, json.dumps(record, indent=2) + "\n")
    return target / "eval.json"


def run_study(
    path: str | Path,
    *,
    only: Sequence[str] = (),
    seeds: Sequence[int] = (),
    train_missing: bool = True,
    echo: Callable[[str], None] = print,
) -> StudyResult:
    """Run the study file ``path`` (see the module docstring). ``only``: these arms only, ``seeds``: these
    seeds only (the tables still cover every run that has results); ``train_missing=False``: evaluate and
    tabulate what is there without training (``srkit study report``)."""
    study, base = load_study(path)
    runs = plan_study(study, base)
    unknown = sorted(set(only) - {arm.name for arm in study.arms})
    if unknown:
        raise ConfigError(f"--arm: unknown arm {unknown[0]!r}; arms: {', '.join(a.name for a in study.arms)}")
    result = StudyResult(runs)
    for run in runs:
        if (only and run.arm.name not in only) or (seeds and run.seed not in seeds) or run.skip is not None:
            if run.skip is not None:
                echo(f"study: not running {run.label}: {run.skip}")
            continue
        if not run.done and train_missing:
            train_arm(run, echo)
            result.trained.append(run.label)
        if run.done:
            evaluate_arm(run, study, echo)
    scale = study.eval.scale or runs[0].config.scale
    references = {r.name: evaluate_reference(r, study, base, scale, echo) for r in study.eval.references}
    result.written = write_tables(study, runs, references)
    return result


ARCHIVED_FILES = (RUN_RECORD, "log.jsonl", "eval/eval.json")
"""What :func:`archive_study` keeps of a run: everything the tables and curves read, no weights."""


def _archive_run(run: ArmRun, target: Path) -> list[Path]:
    """Copy :data:`ARCHIVED_FILES` of ``run`` into ``target``, the record completed with the parameter
    count and the machine when an older srkit wrote it without them."""
    record = run.record()
    if record.get("params") is None:
        record["params"] = count_params(run.weights("model"))
    record.setdefault("machine", _machine())
    written = [atomic_write_text(target / RUN_RECORD, json.dumps(record, indent=2) + "\n")]
    for name in ARCHIVED_FILES[1:]:
        source = run.run_dir / name
        if source.is_file():
            written.append(atomic_write_text(target / name, source.read_text(encoding="utf-8")))
    return written


def archive_study(path: str | Path, *, echo: Callable[[str], None] = print) -> list[Path]:
    """Copy every finished, evaluated run of the study file ``path`` into its ``archive:`` folder
    (``<archive>/<label>/``: :data:`ARCHIVED_FILES`; the record gains the parameter count and the
    machine when an older srkit wrote it without them), then write the tables there too
    (``study.md``, ``study.json``, ``study.csv``). Each file is written to a temporary name and renamed,
    so an interrupted archive never leaves half a file. Returns the files written.

    Raises:
        ConfigError: the study has no ``archive:`` folder (one line naming the file).
    """
    study, base = load_study(path)
    if study.archive is None:
        raise ConfigError(f"{path}: the study has no archive: folder to copy its runs into")
    runs = plan_study(study, base)
    written: list[Path] = []
    for run in runs:
        if run.archived or not run.done or run.archive_dir is None:
            continue
        if not (run.run_dir / "eval" / "eval.json").is_file():
            echo(f"study: not archiving {run.label}: not evaluated yet (srkit study report {path})")
            continue
        written += _archive_run(run, run.archive_dir)
        echo(f"study: archived {run.label} in {run.archive_dir}")
    out, archive = study_folders(study, base)
    assert archive is not None
    references = {}
    for ref in study.eval.references:
        report = _reference_report(ref.name, out, archive)
        if report is None:
            echo(f"study: reference {ref.name} not evaluated yet (srkit study report {path})")
            continue
        references[ref.name] = report
        if report.parent.parent == out:
            for name in ("eval.json", REFERENCE_RECORD):
                if (report.parent / name).is_file():
                    text = (report.parent / name).read_text(encoding="utf-8")
                    written.append(atomic_write_text(archive / reference_label(ref.name) / name, text))
    tables = write_tables(study, runs, references)
    for table in tables:
        if table.suffix in (".md", ".json", ".csv"):
            written.append(atomic_write_text(archive / table.name, table.read_text(encoding="utf-8")))
    return written
