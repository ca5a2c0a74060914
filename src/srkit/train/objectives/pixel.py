"""The pixel objective (``objective.name: pixel``): a weighted sum of pixel losses between SR and HR."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, model_validator

from srkit.losses import LOSS_TYPES, WeightedSum, build_loss, set_progress
from srkit.train.objectives.base import Batch, StepContext, register_objective
from srkit.train.optim import build_optimizer, build_scheduler, current_lr
from srkit.train.sections import Section, SubKeyError

# --------------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------------


class LossOptions(Section):
    """A pixel loss's options: ``eps`` for ``charbonnier`` only; ``mix`` (share of plain L1 mixed in) and
    ``start`` (fraction of training before the edge weighting switches on; the seed used 0.5) for
    ``edge_l1`` only (:class:`srkit.losses.EdgeL1Loss`)."""

    eps: float | None = Field(None, gt=0.0)
    mix: float | None = Field(None, ge=0.0, le=1.0)
    start: float | None = Field(None, ge=0.0, lt=1.0)

    def check_for(self, loss_type: str) -> None:
        """Raise :class:`SubKeyError` naming the first option that ``loss_type`` does not take."""
        takes = {"eps": "charbonnier", "mix": "edge_l1", "start": "edge_l1"}
        for key, owner in takes.items():
            if getattr(self, key) is not None and loss_type != owner:
                raise SubKeyError(key, f"only {owner} takes {key}, not {loss_type}")

    def options(self) -> dict[str, float]:
        """The loss's keyword options that are set."""
        return {k: v for k in ("eps", "mix", "start") if (v := getattr(self, k)) is not None}


class LossConfig(LossOptions):
    """One weighted pixel-loss term (``type``, ``weight`` and the :class:`LossOptions`)."""

    type: Literal[LOSS_TYPES]  # type: ignore[valid-type]
    weight: float = Field(1.0, ge=0.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _options(self) -> LossConfig:
        self.check_for(self.type)
        return self


class PixelObjectiveConfig(Section):
    """``name: pixel``: minimise a weighted sum of pixel losses between SR and HR."""

    name: Literal["pixel"] = "pixel"
    losses: list[LossConfig] = Field(default_factory=lambda: [LossConfig(type="l1")])

    @model_validator(mode="after")
    def _nonempty(self) -> PixelObjectiveConfig:
        if not self.losses:
            raise SubKeyError("losses", "at least one loss term is needed")
        if sum(term.weight for term in self.losses) <= 0:
            raise SubKeyError("losses", "the weights must not all be zero")
        return self


# --------------------------------------------------------------------------------------------------
# objective
# --------------------------------------------------------------------------------------------------


@register_objective("pixel", PixelObjectiveConfig)
class PixelObjective:
    """Minimise ``sum_i w_i * loss_i(model(lr), hr)`` with one optimiser (``optim``) and one schedule
    (``schedule``) from the top level of the configuration."""

    def __init__(self, cfg: PixelObjectiveConfig) -> None:
        self.cfg = cfg
        self.ctx: StepContext | None = None
        self.loss: WeightedSum | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    def setup(self, ctx: StepContext) -> None:
        self.ctx = ctx
        specs = [(term.type, term.weight, term.options()) for term in self.cfg.losses]
        self.loss = build_loss(specs).to(ctx.device)
        self.optimizer = build_optimizer(ctx.raw_model, ctx.config.optim)
        self.scheduler = build_scheduler(self.optimizer, ctx.config.schedule, ctx.total_steps)

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        ctx, loss_fn, optimizer, scheduler = self.ctx, self.loss, self.optimizer, self.scheduler
        assert ctx is not None and loss_fn is not None and optimizer is not None and scheduler is not None
        set_progress(loss_fn, step, ctx.total_steps)  # losses that switch on late (edge_l1 start)
        with ctx.autocast():
            sr = ctx.model(batch["lr"])
        total, parts = loss_fn(sr, batch["hr"])  # float32, outside autocast
        ctx.backward(total)
        grad_norm = ctx.optimizer_step(optimizer)
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
