"""Optimisers and learning-rate schedules.

A schedule is a pure function :func:`lr_factor` of the step (the number of optimiser steps already
taken) returning the factor applied to the base learning rate, wrapped in a ``LambdaLR``; its only
state is the step counter, so it resumes exactly from ``scheduler.state_dict()``. Convention: the
optimiser step with index ``k`` (0-based) uses ``base_lr * lr_factor(k)``; e.g. ``step`` with
``step_size=200000`` keeps the base LR for steps ``0..199999`` and halves it from step 200000, as
PyTorch's ``StepLR``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from functools import partial

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from srkit.train.config import OptimConfig, ScheduleConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig) -> Optimizer:
    """Adam or AdamW over ``params`` with the settings of ``cfg``."""
    kwargs = {"lr": cfg.lr, "betas": tuple(cfg.betas), "eps": cfg.eps, "weight_decay": cfg.weight_decay}
    params = [p for p in params if p.requires_grad]
    if cfg.type == "adam":
        return torch.optim.Adam(params, **kwargs)
    return torch.optim.AdamW(params, **kwargs)


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
    lambdas = [
        partial(lr_factor, cfg=cfg, base_lr=group["lr"], total_steps=total_steps)
        for group in optimizer.param_groups
    ]
    return LambdaLR(optimizer, lambdas)


def current_lr(optimizer: Optimizer) -> float:
    """The learning rate of the first parameter group."""
    return float(optimizer.param_groups[0]["lr"])
