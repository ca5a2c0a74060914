"""Pixel losses (see :mod:`srkit.losses`).

- :func:`l1_loss` -- mean absolute error (EDSR, RRDBNet-PSNR);
- :func:`mse_loss` -- mean squared error (SRResNet, SRCNN);
- :func:`charbonnier_loss` -- ``mean(sqrt((x - y)^2 + eps^2))``, a differentiable L1 (Lai et al.,
  LapSRN, 2017; ``eps = 1e-3``). Note that BasicSR's variant uses ``sqrt(d^2 + eps)`` with
  ``eps = 1e-12``; here ``eps`` is in pixel units (images in ``[0, 1]``).

:class:`WeightedSum` combines named terms and reports each term (unweighted) next to the total.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

import torch
from torch import nn

LossType = Literal["l1", "mse", "charbonnier"]
Reduction = Literal["mean", "sample"]
CHARBONNIER_EPS = 1e-3

#: Pixel-loss type -> module class (keyword options as its constructor's), filled by
#: :func:`register_pixel_loss`.
PIXEL_LOSSES: dict[str, Callable[..., nn.Module]] = {}

_L = TypeVar("_L", bound=Callable[..., nn.Module])


def register_pixel_loss(name: str) -> Callable[[_L], _L]:
    """Class decorator adding a pixel loss to :data:`PIXEL_LOSSES` as ``name``."""

    def register(cls: _L) -> _L:
        if name in PIXEL_LOSSES:
            raise ValueError(f"pixel loss {name!r} is already registered")
        PIXEL_LOSSES[name] = cls
        return cls

    return register


def _pair32(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both tensors as float32 after checking that their shapes agree."""
    if pred.shape != target.shape:
        raise ValueError(f"loss: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    return pred.float(), target.float()


def _reduce(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """``'mean'``: the mean over all elements (a scalar); ``'sample'``: the mean over every dimension
    but the first (shape ``(N,)``, one value per sample, as per-group objectives need)."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sample":
        return values.reshape(values.shape[0], -1).mean(dim=1)
    raise ValueError(f"loss: reduction must be 'mean' or 'sample', got {reduction!r}")


def l1_loss(pred: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """Mean absolute error, in float32."""
    a, b = _pair32(pred, target)
    return _reduce((a - b).abs(), reduction)


def mse_loss(pred: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """Mean squared error, in float32."""
    a, b = _pair32(pred, target)
    return _reduce((a - b).square(), reduction)


def charbonnier_loss(
    pred: torch.Tensor, target: torch.Tensor, eps: float = CHARBONNIER_EPS, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Charbonnier loss ``mean(sqrt((pred - target)^2 + eps^2))``, in float32."""
    if not eps > 0:
        raise ValueError(f"charbonnier: eps must be > 0, got {eps}")
    a, b = _pair32(pred, target)
    return _reduce(torch.sqrt((a - b).square() + eps * eps), reduction)


@register_pixel_loss("l1")
class L1Loss(nn.Module):
    """:func:`l1_loss` as a module."""

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean"
    ) -> torch.Tensor:
        return l1_loss(pred, target, reduction)


@register_pixel_loss("mse")
class MSELoss(nn.Module):
    """:func:`mse_loss` as a module."""

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean"
    ) -> torch.Tensor:
        return mse_loss(pred, target, reduction)


@register_pixel_loss("charbonnier")
class CharbonnierLoss(nn.Module):
    """:func:`charbonnier_loss` as a module with a fixed ``eps``."""

    def __init__(self, eps: float = CHARBONNIER_EPS) -> None:
        super().__init__()
        if not eps > 0:
            raise ValueError(f"charbonnier: eps must be > 0, got {eps}")
        self.eps = float(eps)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean"
    ) -> torch.Tensor:
        return charbonnier_loss(pred, target, self.eps, reduction)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class WeightedSum(nn.Module):
    """``sum_i weight_i * loss_i(pred, target)`` over named terms.

    ``forward`` returns ``(total, parts)`` where ``parts`` maps each term's name to its *unweighted*
    value (detached), for logging. Names must be unique. With ``reduction='sample'`` every value has
    shape ``(N,)``: one loss per sample (the mean over its elements).
    """

    def __init__(self, terms: Sequence[tuple[str, float, nn.Module]]) -> None:
        super().__init__()
        if not terms:
            raise ValueError("loss: at least one term is needed")
        names = [name for name, _, _ in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"loss: term names must be unique, got {names}")
        self.names = names
        self.weights = [float(w) for _, w, _ in terms]
        self.terms = nn.ModuleList(module for _, _, module in terms)

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean"
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        parts: dict[str, torch.Tensor] = {}
        total: torch.Tensor | None = None
        for name, weight, term in zip(self.names, self.weights, self.terms, strict=True):
            value = term(pred, target, reduction)
            parts[name] = value.detach()
            total = weight * value if total is None else total + weight * value
        assert total is not None
        return total, parts


def build_loss(specs: Sequence[tuple[str, float, dict]]) -> WeightedSum:
    """A :class:`WeightedSum` from ``(type, weight, options)`` triples, e.g. ``[('l1', 1.0, {})]``.

    Terms are named by their type; a repeated type gets a ``_2``, ``_3``... suffix.
    """
    terms: list[tuple[str, float, nn.Module]] = []
    seen: dict[str, int] = {}
    for kind, weight, options in specs:
        if kind not in PIXEL_LOSSES:
            raise ValueError(f"loss: unknown type {kind!r}; valid: {', '.join(PIXEL_LOSSES)}")
        seen[kind] = seen.get(kind, 0) + 1
        name = kind if seen[kind] == 1 else f"{kind}_{seen[kind]}"
        terms.append((name, weight, PIXEL_LOSSES[kind](**options)))
    return WeightedSum(terms)
