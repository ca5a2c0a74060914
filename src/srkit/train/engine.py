"""The training loop: one loop for every model, with the update delegated to an
:class:`~srkit.train.objectives.Objective`.

Per step: take batch ``step`` of the resumable loader, move it to the device (channels-last when asked),
``objective.train_step``, the fp16 scaler update, the non-finite guard, the EMA update; then, when due,
a log record, validation (rank 0, the EMA network when EMA is on), ``best.safetensors``, the training
state and ``latest.safetensors``. At the end ``model.safetensors`` (EMA weights when EMA is on).

Run folder (``runs/<name>`` unless ``--out``): ``config.yaml`` (the resolved config), ``state.pt`` (exact
resume), ``model.safetensors``, ``best.safetensors``, ``latest.safetensors``, ``checkpoints/``,
``log.jsonl``, ``train.csv``, ``val.csv``, ``tb/``.

Exactness: the data of step ``k`` depends only on ``(seed, k)``, and the state file holds the network,
EMA, objective (optimisers, schedulers), scaler and every RNG, so an interrupted run resumed from its last
state ends with the same weights, bit for bit, as an uninterrupted one on the same hardware and thread
count (on CUDA also set ``train.deterministic: true``).
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

from srkit.errors import ConfigError, SrkitError
from srkit.infer.upscalers import InterpolationUpscaler, pad_to_multiple
from srkit.io.images import to_uint8
from srkit.train import distributed as D
from srkit.train.config import TrainConfig, config_to_dict, diff_keys, dump_config
from srkit.train.ema import EMA
from srkit.train.logging import RunLogger, mean_psnr, worst_psnr
from srkit.train.objectives import Objective, build_objective
from srkit.train.state import STATE_FILE, capture_rng_state, load_state, restore_rng_state, save_state

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


def build_network(config: TrainConfig) -> nn.Module:
    """The configured network; a hyper-parameter value it rejects is a ConfigError naming ``model``."""
    from srkit.archs import build_model

    try:
        return build_model(config.model.arch, **config.model_kwargs())
    except ConfigError as err:
        raise ConfigError(f"model: {err}") from None


def load_init_weights(model: nn.Module, path: str | Path, strict: bool = True) -> tuple[int, list[str]]:
    """Load the weight file ``path`` (``model.init``) into ``model``; returns the number of tensors
    loaded and the names of the network's tensors left as they were.

    Strict: every name and shape must match (a one-line error naming the file and the first mismatch).
    Not strict: tensors whose name and shape match are loaded, the others kept -- at least half of the
    network's tensors must match, else the file is taken to be the wrong network."""
    from srkit.io.checkpoint import check_state_dict, load_state_dict_any

    try:
        state = load_state_dict_any(path)
    except SrkitError as err:
        raise ConfigError(f"model.init: {err}") from None
    if strict:
        try:
            check_state_dict(path, model, state)
        except SrkitError as err:
            raise ConfigError(
                f"model.init: {err} (set model.init_strict: false to load what matches)"
            ) from None
        model.load_state_dict(state, strict=True)
        return len(state), []
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if len(usable) * 2 < len(own):
        raise ConfigError(
            f"model.init: {path}: only {len(usable)} of the network's {len(own)} tensors match by name and "
            "shape; is it the same architecture?"
        )
    model.load_state_dict(usable, strict=False)
    return len(usable), [k for k in own if k not in usable]


def resolve_device(name: str, info: D.DistInfo) -> torch.device:
    """``auto`` -> CUDA when available; a CUDA device is ``cuda:<local_rank>``."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("train.device: cuda asked for, but CUDA is not available here; use cpu or auto")
        return torch.device("cuda", info.local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a precision on a device (``None`` for fp32); ConfigError where unsupported."""
    if precision == "fp32":
        return None
    if precision == "fp16":
        if device.type != "cuda":
            raise ConfigError("train.precision: fp16 needs CUDA; use bf16 on CPU")
        return torch.float16
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("train.precision: this GPU has no bf16 support; use fp16")
    return torch.bfloat16


def due(step: int, every: int | None, total: int) -> bool:
    """Whether an every-``every``-steps action runs after ``step`` (always after the last step)."""
    return step == total or (every is not None and step % every == 0)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Clamp to ``[0, 1]`` and round to 8-bit levels (as saved images are), in float32."""
    return to_uint8(x.float()).float() / 255


@torch.no_grad()
def upscale(model: nn.Module, lr: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """``model(lr)`` in float32 after padding to the network's ``window_multiple`` (cropped back)."""
    x = pad_to_multiple(lr, int(getattr(model, "window_multiple", 1)))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    scale = int(model.scale)
    return model(x).float()[..., : lr.shape[-2] * scale, : lr.shape[-1] * scale]


def measure(sr: torch.Tensor, hr: torch.Tensor, crop_border: int, y_channel: bool) -> dict[str, float]:
    """PSNR/SSIM of one quantised SR image against its HR (both ``(1, 3, H, W)`` in ``[0, 1]``)."""
    from srkit.metrics import psnr_torch, ssim_torch

    sr, hr = quantize(sr).double(), hr.double()
    kwargs = {"crop_border": crop_border, "y_channel": y_channel}
    return {"psnr": float(psnr_torch(sr, hr, **kwargs)[0]), "ssim": float(ssim_torch(sr, hr, **kwargs)[0])}


def average_metrics(per_image: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over images."""
    return {key: sum(m[key] for m in per_image) / len(per_image) for key in per_image[0]}


#: ``train.best_metric`` -> the monitored value for ``best.safetensors`` (higher is better).
BEST_METRICS = {"mean_psnr": mean_psnr, "worst_psnr": worst_psnr}


# --------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------


class Engine:
    """Everything of one training run (see the module docstring); objectives use the helpers listed in
    :mod:`srkit.train.objectives`."""

    def __init__(self, config: TrainConfig, run_dir: Path) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.total_steps = config.train.steps
        self.dist = D.dist_info_from_env()
        self.device = resolve_device(config.train.device, self.dist)
        self.amp_dtype = autocast_dtype(config.train.precision, self.device)
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
            model = model.to(memory_format=torch.channels_last)
        self.raw_model: nn.Module = model
        self.model: nn.Module = self.prepare_module(model)
        self.ema = (
            EMA(model, config.train.ema_decay, config.train.ema_warmup) if config.train.ema_decay else None
        )
        self.scaler = torch.amp.GradScaler("cuda") if config.train.precision == "fp16" else None
        self.objective: Objective = build_objective(config.objective)
        self.objective.setup(self)

    def _configure_torch(self) -> None:
        cfg = self.config.train
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    # -- helpers for objectives ------------------------------------------------------------------------

    def prepare_module(self, module: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
        """Another trainable network of the objective (e.g. a GAN's discriminator) on the device, in the
        configured memory format, wrapped in DistributedDataParallel when distributed (with
        ``find_unused_parameters`` passed on). Returns the module to call in training; build its optimiser
        from the unwrapped ``module`` and keep its weights in the objective's ``state_dict``."""
        module = module.to(self.device)
        if self.config.train.channels_last:
            module = module.to(memory_format=torch.channels_last)
        if not self.dist.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

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
            f"{saved}; lower optim.lr, set train.grad_clip or use train.precision=fp32"
        )

    @property
    def eval_model(self) -> nn.Module:
        """The network validated and exported: the EMA copy when EMA is on."""
        return self.ema.module if self.ema is not None else self.raw_model

    # -- state ---------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The training state (collective: every process contributes its RNG state)."""
        rng = D.all_gather_objects(capture_rng_state())
        return {
            "step": self.step,
            "world_size": self.dist.world_size,
            "model": self.raw_model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "objective": self.objective.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng,
            "trainer": {"best": self.best},
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
        from srkit.io.checkpoint import save_weights

        return save_weights(path, self.eval_model, extra=self._metadata(metrics))

    # -- validation ------------------------------------------------------------------------------------

    def _val_sets(self) -> dict[str, list[dict[str, Any]]]:
        """Validation images by set name (decoded once, on rank 0)."""
        from srkit.data import resolve_dataset
        from srkit.data.train import ValDataset

        cfg = self.config.data.val
        sets: dict[str, list[dict[str, Any]]] = {}
        names: set[str] = set()
        for name in cfg.datasets:
            hr = resolve_dataset(name, progress=False)
            base = hr.name.lower()
            if base in names:
                base = f"{base}_{len(names)}"
            names.add(base)
            for group in cfg.groups:
                key = base if len(cfg.groups) == 1 else f"{base}/{group}"
                data = ValDataset(list(hr.files), self.config.scale, group=group, center_crop=cfg.center_crop)
                sets[key] = [data[i] for i in range(len(data))]
        return sets

    def _crop_border(self) -> int:
        crop = self.config.data.val.crop_border
        return self.config.scale if crop is None else crop

    def baseline(self, sets: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
        """Bicubic PSNR/SSIM of every validation set (the level a network must beat)."""
        y, crop = self.config.data.val.y_channel, self._crop_border()
        return {
            name: average_metrics(
                [
                    measure(
                        InterpolationUpscaler("bicubic")(item["lr"][None].cpu(), self.config.scale),
                        item["hr"][None],
                        crop,
                        y,
                    )
                    for item in items
                ]
            )
            for name, items in sets.items()
        }

    def validate(
        self, sets: dict[str, list[dict[str, Any]]]
    ) -> tuple[dict[str, dict[str, float]], dict[str, tuple[torch.Tensor, ...]]]:
        """Mean PSNR/SSIM per set of :attr:`eval_model`, and the first image's (LR, SR, HR) of each set."""
        model = self.eval_model
        was_training = model.training
        model.eval()
        y, crop = self.config.data.val.y_channel, self._crop_border()
        results: dict[str, dict[str, float]] = {}
        images: dict[str, tuple[torch.Tensor, ...]] = {}
        try:
            for name, items in sets.items():
                per_image = []
                for i, item in enumerate(items):
                    lr = item["lr"][None].to(self.device)
                    sr = upscale(model, lr, self.config.train.channels_last).cpu()
                    per_image.append(measure(sr, item["hr"][None], crop, y))
                    if i == 0:
                        images[name] = (item["lr"], quantize(sr[0]), item["hr"])
                results[name] = average_metrics(per_image)
        finally:
            model.train(was_training)
        return results, images

    # -- data ------------------------------------------------------------------------------------------

    def _loader(self, start_step: int) -> torch.utils.data.DataLoader:
        from srkit.data.sampler import build_train_loader
        from srkit.data.train import GroupWeight, SRTrainDataset

        cfg = self.config.data.train
        dataset = SRTrainDataset(
            cfg.hr,
            scale=self.config.scale,
            patch_size=cfg.patch_size,
            lr_dirs=cfg.lr,
            groups=[GroupWeight(g.name, g.weight) for g in cfg.groups],
            augment=cfg.augment.to_augment_config(),
            cache=cfg.cache,
            length=cfg.length,
            seed=self.config.seed,
        )
        return build_train_loader(
            dataset,
            self.batch_size,
            cfg.num_workers,
            self.config.seed,
            distributed=self.dist.enabled,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            start_step=start_step,
            pin_memory=self.device.type == "cuda",
            balance_groups=cfg.balance_groups,
        )

    def _prepare(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = dict(batch)
        for key in ("lr", "hr"):
            t = batch[key].to(self.device, non_blocking=True)
            if self.config.train.channels_last:
                t = t.contiguous(memory_format=torch.channels_last)
            out[key] = t
        return out

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
            self.run_dir.mkdir(parents=True, exist_ok=True)
            from srkit.io.atomic import atomic_write_text

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
            return self._loop(logger)
        finally:
            logger.close()

    def _loop(self, logger: RunLogger) -> TrainResult:
        cfg = self.config
        main = self.dist.is_main
        sets = self._val_sets() if main and cfg.data.val.datasets else {}
        if sets and self.step == 0:
            logger.log_val(0, self.baseline(sets), kind="bicubic")
        if self.step < self.total_steps:
            logger.print(
                f"training {cfg.name}: {cfg.model.arch} x{cfg.scale}, steps {self.step}->{self.total_steps}, "
                f"{self.dist.world_size} process(es) on {self.device}, precision {cfg.train.precision}, "
                f"run folder {self.run_dir}"
            )
        if self.init_note and self.step == 0:
            logger.print(self.init_note)
        meter = Meter(self.step)
        batches = self._batches(self.step) if self.step < self.total_steps else iter(())
        self.raw_model.train()
        for batch in batches:
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
        del batches
        if sets and not self.last_val:
            self.last_val, _ = self.validate(sets)
        weights = self.run_dir / FINAL_WEIGHTS
        if main:
            self.export(weights, self.last_val)
            logger.print(f"wrote {weights}")
        D.barrier()
        return TrainResult(self.run_dir, self.step, weights, dict(self.last_val), self.best)

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

    def _periodic(self, sets: dict[str, list[dict[str, Any]]], logger: RunLogger) -> None:
        """Validation, best weights, snapshots and the training state, each when due after this step."""
        cfg = self.config
        if sets and due(self.step, cfg.data.val.every, self.total_steps):
            self.last_val, images = self.validate(sets)
            logger.log_val(self.step, self.last_val, images if cfg.logging.images else None)
            self._maybe_best(self.last_val, logger)
        if cfg.train.snapshot_every and self.step % cfg.train.snapshot_every == 0 and self.dist.is_main:
            self.export(self.run_dir / SNAPSHOT_DIR / f"step_{self.step:07d}.safetensors", self.last_val)
        if due(self.step, cfg.train.checkpoint_every, self.total_steps):
            self._save(logger)


class Meter:
    """Running means of the logged values over a window of steps, and the training speed in the window
    with validation and checkpoint time left out."""

    def __init__(self, step: int) -> None:
        self.reset(step)

    def reset(self, step: int) -> None:
        """Start a new window after ``step``."""
        self.sums: dict[str, float] = {}
        self.count = 0
        self.start_step = step
        self.start = time.perf_counter()
        self.excluded = 0.0

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
