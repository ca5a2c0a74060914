"""The training loop: one loop for every model, with the update delegated to an
:class:`~srkit.train.objectives.Objective` (which reaches the run through a
:class:`~srkit.train.objectives.StepContext`). The network is built by :mod:`srkit.train.network`, the
data loaded by :mod:`srkit.train.loaders`, validation measured by :mod:`srkit.train.validation`.

Per step: take batch ``step`` of the resumable loader, move it to the device (channels-last when asked),
``objective.train_step``, the fp16 scaler update, the non-finite guard, the EMA update; then, when due,
a log record, validation (rank 0, the EMA network when EMA is on), ``best.safetensors``, the training
state and ``latest.safetensors``. At the end ``model.safetensors`` (EMA weights when EMA is on).

Before anything is built, every configured data folder is checked (:func:`~srkit.train.loaders.
check_data_folders`). Ctrl-C stops at the next step boundary: the training state is saved as a periodic
checkpoint saves it and :class:`~srkit.train.interrupt.TrainingInterrupted` is raised (``srkit train``
prints the command that resumes the run and exits with 130); a second Ctrl-C stops at once
(:mod:`srkit.train.interrupt`).

Run folder (``runs/<name>`` unless ``--out``): ``config.yaml`` (the resolved config), ``state.pt`` (exact
resume), ``model.safetensors``, ``best.safetensors``, ``latest.safetensors``, ``checkpoints/``,
``log.jsonl``, ``train.csv``, ``val.csv``, ``tb/``. A file of it that cannot be written (a full disk) stops
the run with one line naming the file (:mod:`srkit.train.disk`).

Exactness: the data of step ``k`` depends only on ``(seed, k)``, and the state file holds the network,
EMA, objective (optimisers, schedulers), scaler and every RNG, so an interrupted run resumed from its last
state ends with the same weights, bit for bit, as an uninterrupted one on the same hardware and thread
count (on CUDA also set ``train.deterministic: true``). The state also holds the running sums of the
logged values since the last log record, so the first record after a resume averages over the same
window as the uninterrupted run's.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from srkit.archs import net_info, save_weights
from srkit.devices import autocast_dtype, resolve_device, resolve_precision
from srkit.errors import ConfigError, SrkitError
from srkit.io.atomic import atomic_write_text, remove_stale_temporaries
from srkit.train import distributed as D
from srkit.train.config import TrainConfig, config_to_dict, diff_keys, dump_config
from srkit.train.disk import with_disk_hint, writing
from srkit.train.ema import EMA
from srkit.train.interrupt import StopRequest, TrainingInterrupted
from srkit.train.loaders import check_data_folders, prepare_batch, train_loader
from srkit.train.logging import RunLogger
from srkit.train.network import build_network, load_init_weights
from srkit.train.objectives import Objective, StepContext, build_objective
from srkit.train.state import STATE_FILE, capture_rng_state, load_state, restore_rng_state, save_state
from srkit.train.validation import BEST_METRICS, ValSets, bicubic_baseline, load_val_sets, validate

CONFIG_FILE = "config.yaml"
FINAL_WEIGHTS = "model.safetensors"
BEST_WEIGHTS = "best.safetensors"
LATEST_WEIGHTS = "latest.safetensors"
SNAPSHOT_DIR = "checkpoints"

#: Keys that may change when a run is resumed (they do not change what is computed).
RESUMABLE_CHANGES: tuple[str, ...] = (
    "description",
    "train.steps",
    "train.log_every",
    "train.checkpoint_every",
    "train.snapshot_every",
    "train.best_checkpoint_warmup",
    "train.threads",
    "train.device",
    "train.deterministic",
    "data.train.num_workers",
    "data.val",
    "logging",
)


class NonFiniteError(SrkitError):
    """A loss or gradient became NaN or infinite; the message names the step."""


@dataclass
class TrainResult:
    """What :func:`train` leaves behind."""

    run_dir: Path
    step: int
    weights: Path
    val: dict[str, dict[str, float]] = field(default_factory=dict)
    best: dict[str, Any] | None = None


# --------------------------------------------------------------------------------------------------
# Small pure helpers
# --------------------------------------------------------------------------------------------------


def default_run_dir(config: TrainConfig) -> Path:
    """``runs/<name>`` (relative to the working directory)."""
    return Path("runs") / config.name


def incompatible_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys that differ between two resolved configs and are not in :data:`RESUMABLE_CHANGES`."""
    changed = diff_keys(old, new)
    return [k for k in changed if not any(k == a or k.startswith(f"{a}.") for a in RESUMABLE_CHANGES)]


def to_channels_last(module: nn.Module) -> nn.Module:
    """``module`` in the channels-last memory format, except buffers whose layout is ambiguous, which
    keep the standard strides.

    A buffer like EDSR's ``(1, 3, 1, 1)`` mean is contiguous in both formats, and ``.to(memory_format=
    channels_last)`` gives it strides ``(3, 1, 3, 3)``. DistributedDataParallel broadcasts the buffers
    before every forward; a lone buffer is sent through a flat view of its own memory (strides
    ``(3, 1, 1, 1)`` when unflattened) and copied back, which PyTorch refuses ("some elements of the input
    tensor and the written-to tensor refer to a single memory location") because the two views of one
    memory differ in strides. Strides of size-1 dimensions change no arithmetic, so results are the same.
    """
    module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # stubs lack it
    for sub in module.modules():
        for name, buffer in list(sub.named_buffers(recurse=False)):
            if buffer.is_contiguous() and buffer.stride() != _standard_strides(buffer.shape):
                setattr(sub, name, buffer.clone(memory_format=torch.contiguous_format))
    return module


def _standard_strides(shape: torch.Size) -> tuple[int, ...]:
    """The row-major strides of a tensor of ``shape`` (what ``torch.empty(shape)`` gets)."""
    strides: list[int] = []
    step = 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def due(step: int, every: int | None, total: int) -> bool:
    """Whether an every-``every``-steps action runs after ``step`` (always after the last step)."""
    return step == total or (every is not None and step % every == 0)


# --------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------


class Engine:
    """Everything of one training run (see the module docstring); its objective gets the part it may use
    as a :class:`~srkit.train.objectives.StepContext` (:attr:`context`)."""

    def __init__(self, config: TrainConfig, run_dir: Path) -> None:
        check_data_folders(config)  # a missing folder is reported before anything is built or run
        self.config = config
        self.run_dir = Path(run_dir)
        self.total_steps = config.train.steps
        self.dist = D.dist_info_from_env()
        self.device = resolve_device(config.train.device, local_rank=self.dist.local_rank, key="train.device")
        self.precision = resolve_precision(config.train.precision, self.device, training=True)
        self.amp_dtype = autocast_dtype(self.precision, self.device, key="train.precision")
        if config.data.train.batch_size % self.dist.world_size:
            raise ConfigError(
                f"data.train.batch_size: {config.data.train.batch_size} is not divisible by the "
                f"{self.dist.world_size} processes (it is the global batch)"
            )
        self.batch_size = config.data.train.batch_size // self.dist.world_size
        self._configure_torch()
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        D.init_distributed(self.dist, self.device)
        self.step = 0
        self.best: dict[str, Any] | None = None
        self.last_val: dict[str, dict[str, float]] = {}
        self.meter = Meter(0)
        self.stop = StopRequest()
        self._saved_step: int | None = None

        torch.manual_seed(config.seed)  # the same initial weights on every rank
        model = build_network(config)
        self.init_note = ""
        if config.model.init is not None:
            loaded, kept = load_init_weights(model, config.model.init, config.model.init_strict)
            self.init_note = f"initial weights: {loaded} tensors from {config.model.init}" + (
                f" ({len(kept)} kept as initialised, e.g. {kept[0]})" if kept else ""
            )
        model = model.to(self.device)
        if config.train.channels_last:  # before the EMA copy, so both share the layout
            model = to_channels_last(model)
        self.raw_model: nn.Module = model
        self.model: nn.Module = self.prepare_module(model)
        self.ema = (
            EMA(model, config.train.ema_decay, config.train.ema_warmup) if config.train.ema_decay else None
        )
        self.scaler = torch.amp.GradScaler("cuda") if self.precision == "fp16" else None
        self.context = StepContext(
            model=self.model,
            raw_model=self.raw_model,
            config=config,
            device=self.device,
            total_steps=self.total_steps,
            world_size=self.dist.world_size,
            autocast=self.autocast,
            backward=self.backward,
            optimizer_step=self.optimizer_step,
            prepare_module=self.prepare_module,
        )
        self.objective: Objective = build_objective(config.objective)
        self.objective.setup(self.context)

    def _configure_torch(self) -> None:
        cfg = self.config.train
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    # -- the step context's helpers ----------------------------------------------------------------------

    def prepare_module(self, module: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
        """Another trainable network of the objective (e.g. a GAN's discriminator) on the device, in the
        configured memory format, wrapped in DistributedDataParallel when distributed (with
        ``find_unused_parameters`` passed on). Returns the module to call in training; build its optimiser
        from the unwrapped ``module`` and keep its weights in the objective's ``state_dict``."""
        module = module.to(self.device)
        if self.config.train.channels_last:
            module = to_channels_last(module)
        if not self.dist.enabled:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused_parameters)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast in the configured precision (a null context for fp32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def backward(self, loss: torch.Tensor) -> None:
        """Backward of ``loss`` (scaled by the fp16 scaler when there is one)."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def optimizer_step(self, optimizer: torch.optim.Optimizer) -> float:
        """Unscale, clip to ``train.grad_clip``, check the gradients, step and zero them; returns the
        global gradient norm before clipping.

        Non-finite gradients raise :class:`NonFiniteError` before the parameters change, except with
        fp16, where the scaler skips such a step and lowers its scale (the normal fp16 behaviour).
        Gradients are already averaged over processes here, so every process decides alike.
        """
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        max_norm = self.config.train.grad_clip if self.config.train.grad_clip is not None else math.inf
        norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm)) if params else 0.0
        if not math.isfinite(norm) and self.scaler is None:
            optimizer.zero_grad(set_to_none=True)
            raise NonFiniteError(self._non_finite_message("gradient norm", norm))
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return norm

    def _non_finite_message(self, what: str, value: float) -> str:
        last = self.run_dir / STATE_FILE
        saved = f"the last saved state is {last}" if last.exists() else "no state was saved yet"
        return (
            f"step {self.step + 1}: {what} is {value} (training diverged); stopped without saving; "
            f"{saved}; {self._divergence_hint()}"
        )

    def _divergence_hint(self) -> str:
        """What may keep the run finite: a lower learning rate, (tighter) gradient clipping, and fp32 only
        for a run that is not fp32 already."""
        hints = ["lower optim.lr"]
        clip = self.config.train.grad_clip
        hints.append("set train.grad_clip" if clip is None else f"lower train.grad_clip (now {clip:g})")
        if self.precision != "fp32":
            hints.append(f"use train.precision=fp32 (this run uses {self.precision})")
        return ", ".join(hints[:-1]) + " or " + hints[-1]

    @property
    def eval_model(self) -> nn.Module:
        """The network validated and exported: the EMA copy when EMA is on."""
        return self.ema.module if self.ema is not None else self.raw_model

    # -- state ---------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The training state (collective: every process contributes its RNG state)."""
        rng = D.all_gather_objects(capture_rng_state())
        meters = D.all_gather_objects(self.meter.state_dict())  # each process averages its own batches
        return {
            "step": self.step,
            "world_size": self.dist.world_size,
            "model": self.raw_model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "objective": self.objective.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng,
            "trainer": {"best": self.best, "meters": meters},
            "config": config_to_dict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (after the objective's ``setup``)."""
        self.raw_model.load_state_dict(state["model"])
        if (self.ema is None) != (state["ema"] is None):
            raise ConfigError("train.ema_decay: EMA was on/off in the saved state; keep it as it was")
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.objective.load_state_dict(state["objective"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.best = state["trainer"].get("best")
        self.step = int(state["step"])
        self.meter = Meter(self.step)
        self.meter.load_state_dict(_own_meter(state["trainer"].get("meters"), self.dist))
        rng = state["rng"]
        if len(rng) == self.dist.world_size:
            restore_rng_state(rng[self.dist.rank])
        else:
            restore_rng_state(rng[0])

    def _metadata(self, metrics: dict[str, dict[str, float]] | None) -> dict[str, Any]:
        return {
            "recipe": self.config.name,
            "step": self.step,
            "ema": self.ema is not None,
            "val": metrics or {},
            "train_data": list(self.config.data.train.hr),
            "objective": self.config.objective.name,
            "config": config_to_dict(self.config),
        }

    def export(self, path: Path, metrics: dict[str, dict[str, float]] | None = None) -> Path:
        """Write the evaluated network's weights (EMA when on) with metadata (rank 0 only)."""
        try:
            return save_weights(path, self.eval_model, extra=self._metadata(metrics))
        except SrkitError as err:
            raise with_disk_hint(err) from err.__cause__

    # -- data ------------------------------------------------------------------------------------------

    def _loader(self, start_step: int) -> torch.utils.data.DataLoader:
        return train_loader(self.config, self.batch_size, self.dist, self.device, start_step)

    def _prepare(self, batch: dict[str, Any]) -> dict[str, Any]:
        return prepare_batch(batch, net_info(self.raw_model), self.config, self.device)

    # -- the loop ----------------------------------------------------------------------------------------

    def _check_finite(self, values: dict[str, float]) -> None:
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if not D.all_true(not bad, self.device):
            key, value = next(iter(bad.items()), ("loss", float("nan")))
            raise NonFiniteError(
                self._non_finite_message(f"{key} (on some process)" if not bad else key, value)
            )

    def _save(self, logger: RunLogger) -> None:
        state = self.state_dict()  # collective
        if self.dist.is_main:
            save_state(self.run_dir / STATE_FILE, state)
            self.export(self.run_dir / LATEST_WEIGHTS, self.last_val)
        D.barrier()
        self._saved_step = self.step

    def _stop_requested(self) -> bool:
        """Whether Ctrl-C was pressed on any process (every process stops after the same step)."""
        return not D.all_true(not self.stop.requested, self.device)

    def _interrupted(self, logger: RunLogger) -> TrainingInterrupted:
        """Save the training state after this step (unless it was just saved) for Ctrl-C."""
        if self._saved_step != self.step:
            self._save(logger)
        return TrainingInterrupted(self.step, self.run_dir / STATE_FILE, self.run_dir, main=self.dist.is_main)

    def _until_stopped(self, batches: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """``batches``; when Ctrl-C has been pressed, a loader that fails (its worker processes got the
        SIGINT too) ends them instead, at the step boundary where the loop stops anyway."""
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except Exception:
                if self.stop.requested:
                    return
                raise
            yield batch

    def _maybe_best(self, metrics: dict[str, dict[str, float]], logger: RunLogger) -> None:
        if not metrics or self.step < self.config.train.best_checkpoint_warmup:
            return
        key = self.config.train.best_metric
        value = BEST_METRICS[key](metrics)
        if self.best is None or value > self.best.get(key, -math.inf):
            self.best = {key: value, "step": self.step, "val": metrics}
            self.export(self.run_dir / BEST_WEIGHTS, metrics)
            logger.log_event("best", self.step, **{key: round(value, 4)})

    def _batches(self, start_step: int) -> Iterator[dict[str, Any]]:
        try:
            loader = self._loader(start_step)
        except ConfigError as err:  # the data pipeline names its own keys
            raise ConfigError(f"data.train: {err}") from None
        yield from loader

    def fit(self, resume: Path | None = None) -> TrainResult:
        """Train to ``train.steps`` (from the state file ``resume`` when given)."""
        cfg = self.config
        if resume is not None:
            state = load_state(resume)
            changed = incompatible_changes(state["config"], config_to_dict(cfg))
            if changed:
                raise ConfigError(
                    f"{changed[0]}: differs from the resumed run ({resume}); an exact resume needs the same "
                    f"value{f' (and {len(changed) - 1} more key(s) differ)' if len(changed) > 1 else ''}"
                )
            self.load_state_dict(state)
            del state
            if self.step > self.total_steps:
                raise ConfigError(
                    f"train.steps: {self.total_steps} is less than the resumed step {self.step}"
                )
        elif (self.run_dir / STATE_FILE).exists():
            raise ConfigError(
                f"{self.run_dir}: already holds a training state ({STATE_FILE}); resume it with --resume or "
                "choose another folder with --out"
            )
        main = self.dist.is_main
        if main:
            with writing(self.run_dir, "the run folder"):
                self.run_dir.mkdir(parents=True, exist_ok=True)
            # temporaries of an earlier run that was killed while saving (their pid is dead)
            remove_stale_temporaries(self.run_dir)
            remove_stale_temporaries(self.run_dir / SNAPSHOT_DIR)
            with writing(self.run_dir / CONFIG_FILE, "the resolved config"):
                atomic_write_text(self.run_dir / CONFIG_FILE, dump_config(cfg))
        logger = RunLogger(
            self.run_dir,
            cfg.logging,
            run_name=cfg.name,
            total_steps=self.total_steps,
            start_step=self.step,
            config_dict=config_to_dict(cfg),
            enabled=main,
        )
        try:
            result = self._loop(logger)
        except BaseException:
            logger.close(quiet=True)  # the error that stopped the run is the one to report
            raise
        logger.close()
        return result

    def _loop(self, logger: RunLogger) -> TrainResult:
        cfg = self.config
        main = self.dist.is_main
        sets = load_val_sets(cfg) if main and (cfg.data.val.datasets or cfg.data.val.holdout) else {}
        if sets and self.step == 0:
            logger.log_val(0, bicubic_baseline(cfg, sets), kind="bicubic")
        if self.step < self.total_steps:
            logger.print(
                f"training {cfg.name}: {cfg.model.arch} x{cfg.scale}, steps {self.step}->{self.total_steps}, "
                f"{self.dist.world_size} process(es) on {self.device}, precision {self.precision}, "
                f"run folder {self.run_dir}"
            )
        if self.init_note and self.step == 0:
            logger.print(self.init_note)
        self.raw_model.train()
        with self.stop.installed():
            self._train_steps(sets, logger)
        if sets and not self.last_val:
            self.last_val, _ = validate(self.eval_model, sets, cfg, self.device)
        weights = self.run_dir / FINAL_WEIGHTS
        if main:
            self.export(weights, self.last_val)
            logger.print(f"wrote {weights}")
        D.barrier()
        return TrainResult(self.run_dir, self.step, weights, dict(self.last_val), self.best)

    def _train_steps(self, sets: ValSets, logger: RunLogger) -> None:
        """The steps from :attr:`step` to ``train.steps``, each with its log record and periodic work
        when due; Ctrl-C stops after a step (:meth:`_interrupted`)."""
        cfg = self.config
        meter = self.meter
        meter.restart_timer(self.step)
        stopped = False
        batches = self._batches(self.step) if self.step < self.total_steps else iter(())
        for batch in self._until_stopped(batches):
            values = self.train_step(batch)
            meter.add(values)
            logger.step(self.step, values)
            if due(self.step, cfg.train.log_every, self.total_steps):
                record = D.all_mean(meter.means(), self.device)
                record.update(self.objective.learning_rates())
                record.update(meter.rates(self.step, self.total_steps))
                logger.log_train(self.step, record)
                meter.reset(self.step)
            with meter.paused():
                self._periodic(sets, logger)
            if self.step >= self.total_steps:
                break
            if self._stop_requested():
                stopped = True
                break
        else:
            stopped = self.stop.requested  # the loader ended early: Ctrl-C reached its workers
        del batches
        if stopped and self.step < self.total_steps:
            raise self._interrupted(logger)

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One step: the objective's update, the scaler update, the non-finite guard, EMA; returns the
        objective's values."""
        values = self.objective.train_step(self._prepare(batch), self.step)
        if self.scaler is not None:
            self.scaler.update()
        self._check_finite(values)
        if self.ema is not None:
            self.ema.update(self.raw_model)
        self.step += 1
        return values

    def _periodic(self, sets: ValSets, logger: RunLogger) -> None:
        """Validation, best weights, snapshots and the training state, each when due after this step."""
        cfg = self.config
        if sets and due(self.step, cfg.data.val.every, self.total_steps):
            self.last_val, images = validate(self.eval_model, sets, cfg, self.device)
            logger.log_val(self.step, self.last_val, images if cfg.logging.images else None)
            self._maybe_best(self.last_val, logger)
        if cfg.train.snapshot_every and self.step % cfg.train.snapshot_every == 0 and self.dist.is_main:
            self.export(self.run_dir / SNAPSHOT_DIR / f"step_{self.step:07d}.safetensors", self.last_val)
        if due(self.step, cfg.train.checkpoint_every, self.total_steps):
            self._save(logger)


def _own_meter(meters: list[dict[str, Any]] | None, dist: D.DistInfo) -> dict[str, Any] | None:
    """This process's saved log window (``None`` in states of older versions): its own when the job has
    as many processes as the saved one, else the mean of the saved ones (the logged record, a mean over
    processes, stays the same)."""
    if not meters:
        return None
    if len(meters) == dist.world_size:
        return meters[dist.rank]
    keys = meters[0]["sums"]
    sums = {k: sum(m["sums"].get(k, 0.0) for m in meters) / len(meters) for k in keys}
    return {"sums": sums, "count": meters[0]["count"]}


class Meter:
    """Running means of the logged values over a window of steps, and the training speed in the window
    with validation and checkpoint time left out.

    The sums and the count are part of the training state (:meth:`state_dict`), so a resumed run's first
    record averages over the same steps as the uninterrupted run's; the speed is measured from the
    resume on (:meth:`restart_timer`).
    """

    def __init__(self, step: int) -> None:
        self.reset(step)

    def reset(self, step: int) -> None:
        """Start a new window after ``step``."""
        self.sums: dict[str, float] = {}
        self.count = 0
        self.restart_timer(step)

    def restart_timer(self, step: int) -> None:
        """Measure the speed from now, after ``step`` (the window's sums are kept)."""
        self.start_step = step
        self.start = time.perf_counter()
        self.excluded = 0.0

    def state_dict(self) -> dict[str, Any]:
        """The window's sums and step count (plain floats and ints)."""
        return {"sums": dict(self.sums), "count": self.count}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore :meth:`state_dict`'s output (``None``: an empty window)."""
        if not state:
            return
        self.sums = {str(k): float(v) for k, v in state["sums"].items()}
        self.count = int(state["count"])

    def add(self, values: dict[str, float]) -> None:
        """Add one step's values."""
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def means(self) -> dict[str, float]:
        """The mean of every value over the window."""
        return {k: v / max(self.count, 1) for k, v in self.sums.items()}

    def rates(self, step: int, total: int) -> dict[str, float]:
        """``it_s`` (steps per second of training time) and ``eta_s`` (seconds to ``total``)."""
        elapsed = max(time.perf_counter() - self.start - self.excluded, 1e-9)
        rate = (step - self.start_step) / elapsed
        return {"it_s": rate, "eta_s": (total - step) / max(rate, 1e-9)}

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside is not training time."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - start


def train(config: TrainConfig, run_dir: Path | None = None, resume: Path | None = None) -> TrainResult:
    """Train ``config`` into ``run_dir`` (default ``runs/<name>``), resuming from the state file
    ``resume`` when given; see the module docstring."""
    try:
        engine = Engine(config, run_dir if run_dir is not None else default_run_dir(config))
        return engine.fit(resume)
    finally:
        D.shutdown_distributed()
