"""The edge-weighted L1 loss (pixel-loss type ``edge_l1``): L1 weighted by a Sobel edge map of the target.

``E = sqrt(gx**2 + gy**2)`` per channel of the HR image, with the 3x3 Sobel kernels
``gx = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]`` and ``gy = gx^T``, on the image padded by replication (the
border of a crop makes no edge of its own; zero padding would make one all around it), computed in
float32 and detached. The loss is

    edge_l1 = sum(|SR - HR| * E) / (sum(E) + eps)

an edge-weighted mean of the absolute error, in the same units as L1 (an image whose edge map is
uniform gives exactly L1). A flat target (``E = 0``) gives 0 rather than 0/0 (the ``eps``).

Options:

- ``mix``: ``(1 - mix) * edge_l1 + mix * l1`` (0: edge-weighted only; 1: plain L1);
- ``start``: the fraction of training before which the loss is plain L1 (the seed used plain L1 for
  the first half, ``start = 0.5``). The loss does not know the step by itself: the training loop tells
  it through :func:`set_progress` (the progress hook, below). With ``start > 0`` and no progress given
  the loss raises instead of guessing.

**The progress hook.** Any loss module may define ``set_progress(step, total_steps)``;
:func:`set_progress` calls it on every submodule of a loss (a :class:`~srkit.losses.WeightedSum`
included) that defines it. An objective calls ``set_progress(loss, step, ctx.total_steps)`` before
computing the loss of step ``step`` (0-based: the number of optimiser steps already taken, the ``step``
its ``train_step`` receives); the edge term is on from step ``ceil(start * total_steps)`` on. The loss
keeps no other state, so a resumed run switches at the same step.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from srkit.losses.pixel import Reduction, _pair32, _reduce, register_pixel_loss

EDGE_EPS = 1e-8
PADDINGS = ("replicate", "reflect")


def sobel_magnitude(image: torch.Tensor, padding: str = "replicate") -> torch.Tensor:
    """``sqrt(gx**2 + gy**2)`` of each channel of ``image`` ``(N, C, H, W)``, in float32, detached,
    the same shape (the image is padded by one pixel with ``padding``: ``'replicate'`` or ``'reflect'``)."""
    if image.dim() != 4:
        raise ValueError(f"edge_l1: expected a (N, C, H, W) image, got shape {tuple(image.shape)}")
    if padding not in PADDINGS:
        raise ValueError(f"edge_l1: padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
    p = F.pad(image.detach().float(), (1, 1, 1, 1), mode=padding)
    # separable Sobel (the central difference, then the [1, 2, 1] smoothing across it) by slicing: a
    # flat region gives exactly 0, where a convolution kernel's summation order leaves round-off (6e-8)
    dx = p[..., :, 2:] - p[..., :, :-2]
    dy = p[..., 2:, :] - p[..., :-2, :]
    gx = dx[..., :-2, :] + 2.0 * dx[..., 1:-1, :] + dx[..., 2:, :]
    gy = dy[..., :, :-2] + 2.0 * dy[..., :, 1:-1] + dy[..., :, 2:]
    return torch.sqrt(gx.square() + gy.square())


def edge_l1_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    eps: float = EDGE_EPS,
    reduction: Reduction = "mean",
    padding: str = "replicate",
) -> torch.Tensor:
    """``sum(|pred - target| * E) / (sum(E) + eps)`` with ``E`` the Sobel magnitude of ``target``
    (:func:`sobel_magnitude`), in float32. ``reduction='mean'`` sums over the whole batch (a scalar);
    ``'sample'`` gives one value per sample (shape ``(N,)``)."""
    a, b = _pair32(pred, target)
    weight = sobel_magnitude(b, padding)
    weighted = (a - b).abs() * weight
    if reduction == "mean":
        return weighted.sum() / (weight.sum() + eps)
    if reduction == "sample":
        n = weighted.shape[0]
        return weighted.reshape(n, -1).sum(dim=1) / (weight.reshape(n, -1).sum(dim=1) + eps)
    raise ValueError(f"loss: reduction must be 'mean' or 'sample', got {reduction!r}")


@register_pixel_loss("edge_l1")
class EdgeL1Loss(nn.Module):
    """:func:`edge_l1_loss` with the ``mix`` and ``start`` options (see the module docstring).

    Args:
        mix: weight of plain L1 in ``[0, 1]``.
        start: fraction of training in ``[0, 1)`` that uses plain L1 only.
        eps: added to ``sum(E)``.
        padding: ``'replicate'`` or ``'reflect'``.
    """

    def __init__(
        self, mix: float = 0.0, start: float = 0.0, eps: float = EDGE_EPS, padding: str = "replicate"
    ) -> None:
        super().__init__()
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"edge_l1: mix must be in [0, 1], got {mix}")
        if not 0.0 <= start < 1.0:
            raise ValueError(f"edge_l1: start must be in [0, 1), got {start}")
        if not eps > 0:
            raise ValueError(f"edge_l1: eps must be > 0, got {eps}")
        if padding not in PADDINGS:
            raise ValueError(f"edge_l1: padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        self.mix, self.start, self.eps, self.padding = float(mix), float(start), float(eps), padding
        self.step: int | None = None
        self.total_steps: int | None = None

    def set_progress(self, step: int, total_steps: int) -> None:
        """The progress hook: the 0-based step about to be computed and the run's total steps."""
        if step < 0 or total_steps < 1:
            raise ValueError(f"edge_l1: bad progress step={step}, total_steps={total_steps}")
        self.step, self.total_steps = int(step), int(total_steps)

    @property
    def edge_on(self) -> bool:
        """Whether the edge-weighted term is on at the current progress."""
        if self.start == 0.0:
            return True
        if self.step is None or self.total_steps is None:
            raise RuntimeError(
                f"edge_l1: start={self.start} needs the training progress; the objective must call "
                "srkit.losses.set_progress(loss, step, total_steps) before each step"
            )
        return self.step >= math.ceil(self.start * self.total_steps)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean"
    ) -> torch.Tensor:
        mix = self.mix if self.edge_on else 1.0
        if mix == 1.0:
            a, b = _pair32(pred, target)
            return _reduce((a - b).abs(), reduction)
        edge = edge_l1_loss(pred, target, self.eps, reduction, self.padding)
        if mix == 0.0:
            return edge
        a, b = _pair32(pred, target)
        return (1.0 - mix) * edge + mix * _reduce((a - b).abs(), reduction)

    def extra_repr(self) -> str:
        return f"mix={self.mix}, start={self.start}, eps={self.eps}, padding={self.padding!r}"


@runtime_checkable
class ProgressAware(Protocol):
    """A loss whose value depends on the training progress (see the module docstring)."""

    def set_progress(self, step: int, total_steps: int) -> None: ...


def set_progress(loss: nn.Module, step: int, total_steps: int) -> None:
    """Tell every submodule of ``loss`` that has the progress hook (:class:`ProgressAware`) which step
    (0-based) of ``total_steps`` is about to be computed."""
    for module in loss.modules():
        if isinstance(module, ProgressAware):
            module.set_progress(step, total_steps)
