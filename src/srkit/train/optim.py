"""Optimisers and learning-rate schedules, and their configuration sections (``optim``, ``schedule``).

A schedule is a pure function :func:`lr_factor` of the step (the number of optimiser steps already
taken) returning the factor applied to the base learning rate, wrapped in a ``LambdaLR``; its only
state is the step counter, so it resumes exactly from ``scheduler.state_dict()``. Convention: the
optimiser step with index ``k`` (0-based) uses ``base_lr * lr_factor(k)``; e.g. ``step`` with
``step_size=200000`` keeps the base LR for steps ``0..199999`` and halves it from step 200000, as
PyTorch's ``StepLR``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal

import torch
from pydantic import Field, field_validator, model_validator
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from srkit.archs import SRNet
from srkit.train.sections import Section, SubKeyError

# --------------------------------------------------------------------------------------------------
# The ``optim`` and ``schedule`` sections (also the GAN discriminator's ``d_optim`` and ``d_schedule``)
# --------------------------------------------------------------------------------------------------


class OptimConfig(Section):
    """Adam or AdamW (decoupled weight decay).

    ``weight_decay`` applies to the network's weight matrices and kernels only: ``decay_exclude: auto``
    (the default) leaves out what the network names in ``no_weight_decay()`` (every 1-D parameter, i.e.
    biases and norm scales, and position tables such as SwinIR's ``relative_position_bias_table``), in a
    second parameter group with weight decay 0; ``none`` decays every parameter (one flat group).
    """

    type: Literal["adam", "adamw"] = "adam"
    lr: float = Field(gt=0.0, allow_inf_nan=False)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    decay_exclude: Literal["auto", "none"] = "auto"

    @field_validator("betas")
    @classmethod
    def _betas(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"each beta must be in [0, 1), got {list(betas)}")
        return betas


ScheduleType = Literal["constant", "step", "multistep", "cosine", "cosine_restarts", "piecewise"]

#: The keys each schedule type uses (besides ``type`` and ``warmup_steps``); the first group is required.
SCHEDULE_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "constant": ((), ()),
    "step": (("step_size",), ("gamma",)),
    "multistep": (("milestones",), ("gamma",)),
    "cosine": ((), ("period", "eta_min")),
    "cosine_restarts": (("periods",), ("restart_weights", "eta_min")),
    "piecewise": (("boundaries", "factors"), ()),
}


class ScheduleConfig(Section):
    """Learning-rate schedule, a factor of ``optim.lr`` per step, after a linear warm-up.

    - ``constant``;
    - ``step``: ``gamma ** (step // step_size)`` (PyTorch ``StepLR``);
    - ``multistep``: ``gamma ** (number of milestones <= step)`` (``MultiStepLR``);
    - ``cosine``: cosine from ``optim.lr`` to ``eta_min`` (an absolute LR) over ``period`` steps
      (default ``train.steps``), then constant;
    - ``cosine_restarts``: consecutive cosine cycles of lengths ``periods``, cycle ``i`` starting at
      ``restart_weights[i] * optim.lr`` (BasicSR ``CosineAnnealingRestartLR``), ``eta_min`` after the last;
    - ``piecewise``: ``factors[i]`` on ``[boundaries[i-1], boundaries[i])``
      (``len(factors) == len(boundaries) + 1``).

    ``warmup_steps``: the factor is multiplied by ``min(1, (step + 1) / warmup_steps)``.
    Setting a key that the chosen type does not use is an error.
    """

    type: ScheduleType = "constant"
    warmup_steps: int = Field(0, ge=0)
    step_size: int | None = Field(None, gt=0)
    gamma: float = Field(0.5, gt=0.0, allow_inf_nan=False)
    milestones: list[int] | None = None
    period: int | None = Field(None, gt=0)
    periods: list[int] | None = None
    restart_weights: list[float] | None = None
    eta_min: float = Field(0.0, ge=0.0)
    boundaries: list[int] | None = None
    factors: list[float] | None = None

    @model_validator(mode="after")
    def _check(self) -> ScheduleConfig:
        required, optional = SCHEDULE_KEYS[self.type]
        for key in required:
            if getattr(self, key) is None:
                raise SubKeyError(key, f"required for schedule type {self.type!r}")
        allowed = {"type", "warmup_steps", *required, *optional}
        for key in sorted(self.model_fields_set - allowed):
            if getattr(self, key) != type(self).model_fields[key].default:
                uses = ", ".join(sorted(allowed))
                raise SubKeyError(key, f"not used by schedule type {self.type!r} (it uses: {uses})")
        if self.milestones is not None:
            _check_increasing("milestones", self.milestones)
        if self.boundaries is not None:
            _check_increasing("boundaries", self.boundaries)
            if self.factors is not None and len(self.factors) != len(self.boundaries) + 1:
                raise SubKeyError(
                    "factors",
                    f"needs len(boundaries) + 1 = {len(self.boundaries) + 1} values, got {len(self.factors)}",
                )
        if self.factors is not None and not all(math.isfinite(f) and f >= 0 for f in self.factors):
            raise SubKeyError("factors", f"must be finite and >= 0, got {self.factors}")
        if self.periods is not None:
            if not self.periods or any(p <= 0 for p in self.periods):
                raise SubKeyError(
                    "periods", f"must be a non-empty list of positive integers, got {self.periods}"
                )
            weights = self.restart_weights
            if weights is not None and len(weights) != len(self.periods):
                raise SubKeyError(
                    "restart_weights",
                    f"needs one weight per period ({len(self.periods)}), got {len(weights)}",
                )
        return self


def _check_increasing(key: str, values: Sequence[int]) -> None:
    if not values or any(v <= 0 for v in values) or any(b <= a for a, b in itertools.pairwise(values)):
        raise SubKeyError(
            key, f"must be a non-empty, strictly increasing list of positive steps, got {values}"
        )


# --------------------------------------------------------------------------------------------------
# Optimisers and schedules
# --------------------------------------------------------------------------------------------------


def no_decay_names(module: nn.Module) -> set[str]:
    """The parameters of ``module`` that weight decay leaves alone: an :class:`~srkit.archs.SRNet`'s own
    ``no_weight_decay()`` (1-D parameters and its position tables), for any other module (a
    discriminator) the parameters with at most one dimension (biases, norm scales)."""
    if isinstance(module, SRNet):
        return module.no_weight_decay()
    return {name for name, p in module.named_parameters() if p.ndim <= 1}


def parameter_groups(module: nn.Module, cfg: OptimConfig) -> list[dict[str, Any]]:
    """The optimiser's parameter groups for ``module`` (trainable parameters only): one group when
    there is no weight decay or ``decay_exclude`` is ``none``, else ``decay`` (weight matrices and
    kernels, ``cfg.weight_decay``) and ``no_decay`` (:func:`no_decay_names`, weight decay 0), each
    named by a ``name`` entry; empty groups are left out."""
    named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
    if cfg.weight_decay == 0 or cfg.decay_exclude == "none":
        return [{"name": "all", "params": [p for _, p in named], "weight_decay": cfg.weight_decay}]
    exclude = no_decay_names(module)
    decay = [p for name, p in named if name not in exclude]
    keep = [p for name, p in named if name in exclude]
    groups = [
        {"name": "decay", "params": decay, "weight_decay": cfg.weight_decay},
        {"name": "no_decay", "params": keep, "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


def build_optimizer(module: nn.Module, cfg: OptimConfig) -> Optimizer:
    """Adam or AdamW over the trainable parameters of ``module`` with the settings of ``cfg``, in the
    groups of :func:`parameter_groups`."""
    beta1, beta2 = cfg.betas
    optimizer = torch.optim.Adam if cfg.type == "adam" else torch.optim.AdamW
    return optimizer(parameter_groups(module, cfg), lr=cfg.lr, betas=(beta1, beta2), eps=cfg.eps)


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warm-up: ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps, then 1."""
    if warmup_steps <= 0:
        return 1.0
    return min(1.0, (step + 1) / warmup_steps)


def cosine_factor(t: int, period: int, floor: float) -> float:
    """Cosine from 1 at ``t = 0`` to ``floor`` at ``t = period`` (constant after)."""
    t = min(t, period)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t / period))


def restarts_factor(step: int, periods: list[int], weights: list[float], floor: float) -> float:
    """Cosine cycles of lengths ``periods``, cycle ``i`` starting from ``weights[i]`` (BasicSR's
    ``CosineAnnealingRestartLR``: ``floor + w * (1 - floor) * (1 + cos(pi * t / p)) / 2``); ``floor``
    after the last cycle."""
    start = 0
    for period, weight in zip(periods, weights, strict=True):
        if step < start + period:
            t = step - start
            return floor + weight * (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t / period))
        start += period
    return floor


def schedule_factor(step: int, cfg: ScheduleConfig, base_lr: float, total_steps: int) -> float:
    """The schedule's factor at ``step`` without warm-up (see :class:`ScheduleConfig`)."""
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    kind = cfg.type
    if kind == "constant":
        return 1.0
    if kind == "step":
        assert cfg.step_size is not None
        return cfg.gamma ** (step // cfg.step_size)
    if kind == "multistep":
        assert cfg.milestones is not None
        return cfg.gamma ** bisect.bisect_right(cfg.milestones, step)
    floor = cfg.eta_min / base_lr
    if kind == "cosine":
        return cosine_factor(step, cfg.period or total_steps, floor)
    if kind == "cosine_restarts":
        assert cfg.periods is not None
        weights = cfg.restart_weights or [1.0] * len(cfg.periods)
        return restarts_factor(step, cfg.periods, weights, floor)
    if kind == "piecewise":
        assert cfg.boundaries is not None and cfg.factors is not None
        return cfg.factors[bisect.bisect_right(cfg.boundaries, step)]
    raise ValueError(f"schedule.type: unknown schedule {kind!r}")


def lr_factor(step: int, cfg: ScheduleConfig, base_lr: float, total_steps: int) -> float:
    """Warm-up times schedule: the factor of the base LR used by optimiser step ``step``."""
    return warmup_factor(step, cfg.warmup_steps) * schedule_factor(step, cfg, base_lr, total_steps)


def build_scheduler(optimizer: Optimizer, cfg: ScheduleConfig, total_steps: int) -> LambdaLR:
    """A ``LambdaLR`` applying :func:`lr_factor` to every parameter group's initial LR.

    Call ``scheduler.step()`` once after every ``optimizer.step()``.
    """
    lambdas: list[Callable[[int], float]] = [
        partial(lr_factor, cfg=cfg, base_lr=group["lr"], total_steps=total_steps)
        for group in optimizer.param_groups
    ]
    return LambdaLR(optimizer, lambdas)


def current_lr(optimizer: Optimizer) -> float:
    """The learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])
