"""Exponential moving average of a network's parameters and buffers.

After every optimiser step, ``ema = decay_n * ema + (1 - decay_n) * current`` for every floating-point
parameter and buffer (BatchNorm running statistics included); integer buffers (e.g.
``num_batches_tracked``) are copied. With ``warmup`` the decay after ``n`` updates is
``min(decay, (1 + n) / (10 + n))`` (the TensorFlow/timm convention), so a short run is not dominated by
the random initialisation. The averaged network is a full copy of the module, so it can be validated
and exported like the original.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def ema_decay_at(decay: float, updates: int, warmup: bool) -> float:
    """The decay used for update number ``updates`` (0-based)."""
    if not warmup:
        return decay
    return min(decay, (1.0 + updates) / (10.0 + updates))


def _tensors(module: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """Every parameter and buffer of ``module`` (non-persistent buffers included), by name."""
    return [*module.named_parameters(), *module.named_buffers()]


class EMA:
    """An averaged copy of ``model`` (see the module docstring). ``module`` is that copy (in eval mode,
    without gradients)."""

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> float:
        """Fold the current ``model`` into the average; returns the decay used."""
        decay = ema_decay_at(self.decay, self.updates, self.warmup)
        current = dict(_tensors(model))
        for name, avg in _tensors(self.module):
            value = current[name].detach()
            if avg.is_floating_point():
                avg.lerp_(value.to(avg.dtype), 1.0 - decay)
            else:
                avg.copy_(value)
        self.updates += 1
        return decay

    def state_dict(self) -> dict[str, Any]:
        """Decay settings, update count and the averaged tensors (persistent ones, as ``state_dict``)."""
        return {
            "decay": self.decay,
            "warmup": self.warmup,
            "updates": self.updates,
            "module": self.module.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (the decay settings come from the config)."""
        self.updates = int(state["updates"])
        self.module.load_state_dict(state["module"])
