"""Training objectives: what one training step does, plugged into the single loop of
:mod:`srkit.train.engine`.

The loop owns the network, the data, precision, EMA, validation, checkpoints and logs; an objective owns
everything about the update: its losses, its optimisers and schedulers (a GAN has two of each, plus a
discriminator), and any state of its own (Group DRO's group weights). Its :meth:`~Objective.state_dict`
goes into the training-state file, so whatever it keeps there resumes exactly.

An objective uses the engine's helpers so that precision, gradient clipping, the fp16 scaler and the
non-finite guard behave the same for every objective:

- ``engine.model`` -- the network to call in training (wrapped in DistributedDataParallel when
  distributed); ``engine.raw_model`` -- the bare network (parameters, optimiser construction);
- ``with engine.autocast(): ...`` -- the forward pass in the configured precision;
- ``engine.backward(loss)`` -- backward (through the fp16 scaler when there is one);
- ``engine.optimizer_step(optimizer)`` -- unscale, clip, check gradients are finite (raising
  :class:`~srkit.train.engine.NonFiniteError` naming the step), step, zero the gradients; returns the
  gradient norm;
- ``engine.prepare_module(net)`` -- another trainable network (a discriminator) on the device, wrapped
  for DistributedDataParallel when distributed;
- ``engine.config``, ``engine.device``, ``engine.total_steps``.

To add an objective: a config model in :mod:`srkit.train.config` (a new member of ``ObjectiveConfig``)
and a factory in :data:`OBJECTIVES`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch

from srkit.losses import WeightedSum, build_loss
from srkit.train.config import PixelObjectiveConfig
from srkit.train.gan import GANObjective
from srkit.train.optim import build_optimizer, build_scheduler, current_lr

if TYPE_CHECKING:
    from srkit.train.engine import Engine

Batch = dict[str, Any]


@runtime_checkable
class Objective(Protocol):
    """One training step, with its optimisers and state (see the module docstring)."""

    name: str

    def setup(self, engine: Engine) -> None:
        """Build losses, optimisers and schedulers for ``engine`` (called once, before any resume)."""
        ...

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        """One update on ``batch`` (``'lr'``, ``'hr'`` on the device, ``'group'``, ``'index'``); ``step`` is
        the 0-based index of this step. Returns values to log; ``'loss'`` is required."""
        ...

    def learning_rates(self) -> dict[str, float]:
        """Current learning rates to log, e.g. ``{'lr': 1e-4}``."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (tensors, numbers, strings, lists, dicts only)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (called after :meth:`setup`)."""
        ...


class PixelObjective:
    """Minimise ``sum_i w_i * loss_i(model(lr), hr)`` with one optimiser (``optim``) and one schedule
    (``schedule``) from the top level of the configuration."""

    name = "pixel"

    def __init__(self, cfg: PixelObjectiveConfig) -> None:
        self.cfg = cfg
        self.engine: Engine | None = None
        self.loss: WeightedSum | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    def setup(self, engine: Engine) -> None:
        self.engine = engine
        specs = [
            (term.type, term.weight, {"eps": term.eps} if term.eps is not None else {})
            for term in self.cfg.losses
        ]
        self.loss = build_loss(specs).to(engine.device)
        self.optimizer = build_optimizer(engine.raw_model.parameters(), engine.config.optim)
        self.scheduler = build_scheduler(self.optimizer, engine.config.schedule, engine.total_steps)

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        engine, loss_fn, optimizer, scheduler = self.engine, self.loss, self.optimizer, self.scheduler
        assert engine is not None and loss_fn is not None and optimizer is not None and scheduler is not None
        with engine.autocast():
            sr = engine.model(batch["lr"])
        total, parts = loss_fn(sr, batch["hr"])  # float32, outside autocast
        engine.backward(total)
        grad_norm = engine.optimizer_step(optimizer)
        scheduler.step()
        values = {"loss": float(total.detach())}
        if len(parts) > 1:
            values.update({f"loss_{name}": float(v) for name, v in parts.items()})
        values["grad_norm"] = grad_norm
        return values

    def learning_rates(self) -> dict[str, float]:
        assert self.optimizer is not None
        return {"lr": current_lr(self.optimizer)}

    def state_dict(self) -> dict[str, Any]:
        assert self.optimizer is not None and self.scheduler is not None
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        assert self.optimizer is not None and self.scheduler is not None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])


def _erm(cfg: Any) -> Objective:
    from srkit.train.robust import ERMObjective  # robust.py builds on PixelObjective above

    return ERMObjective(cfg)


def _group_dro(cfg: Any) -> Objective:
    from srkit.train.robust import GroupDROObjective

    return GroupDROObjective(cfg)


#: Objective name -> factory taking the objective's config.
OBJECTIVES: dict[str, Callable[[Any], Objective]] = {
    "pixel": PixelObjective,
    "erm": _erm,
    "group_dro": _group_dro,
    "gan": GANObjective,
}


def build_objective(cfg: Any) -> Objective:
    """The objective for a validated objective config (its ``name`` selects the factory)."""
    factory = OBJECTIVES.get(cfg.name)
    if factory is None:
        from srkit.errors import ConfigError

        raise ConfigError(f"objective.name: unknown objective {cfg.name!r}; valid: {', '.join(OBJECTIVES)}")
    return factory(cfg)
