"""Losses for training: pixel losses (L1, MSE, Charbonnier, the edge-weighted L1 and their weighted sums),
the VGG perceptual loss (:class:`PerceptualLoss`) and adversarial losses (:mod:`srkit.losses.gan`).

Every loss is computed in float32 (inputs under bf16/fp16 autocast are upcast first). L1, MSE and
Charbonnier are reduced by the mean over all elements and the edge-weighted L1 is an edge-weighted
mean, so a loss value does not depend on batch or patch size.

A loss whose value depends on the training progress (``edge_l1`` with ``start``) has the progress hook
(:class:`ProgressAware`); objectives call :func:`set_progress` on their loss before each step.
"""

from srkit.losses.edge import EdgeL1Loss, ProgressAware, edge_l1_loss, set_progress, sobel_magnitude
from srkit.losses.perceptual import PerceptualLoss
from srkit.losses.pixel import (
    PIXEL_LOSSES,
    CharbonnierLoss,
    L1Loss,
    MSELoss,
    WeightedSum,
    build_loss,
    charbonnier_loss,
    l1_loss,
    mse_loss,
)

#: Every pixel-loss type, in registration order (the modules above have registered theirs).
LOSS_TYPES: tuple[str, ...] = tuple(PIXEL_LOSSES)

__all__ = [
    "LOSS_TYPES",
    "PIXEL_LOSSES",
    "CharbonnierLoss",
    "EdgeL1Loss",
    "L1Loss",
    "MSELoss",
    "PerceptualLoss",
    "ProgressAware",
    "WeightedSum",
    "build_loss",
    "charbonnier_loss",
    "edge_l1_loss",
    "l1_loss",
    "mse_loss",
    "set_progress",
    "sobel_magnitude",
]
