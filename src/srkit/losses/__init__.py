"""Losses for training: pixel losses (L1, MSE, Charbonnier and their weighted sums), the VGG perceptual
loss (:class:`PerceptualLoss`) and adversarial losses (:mod:`srkit.losses.gan`).

Every loss is computed in float32 (inputs under bf16/fp16 autocast are upcast first) and reduced by the
mean over all elements, so a loss value does not depend on batch or patch size.
"""

from srkit.losses.perceptual import PerceptualLoss
from srkit.losses.pixel import (
    LOSS_TYPES,
    CharbonnierLoss,
    L1Loss,
    MSELoss,
    WeightedSum,
    build_loss,
    charbonnier_loss,
    l1_loss,
    mse_loss,
)

__all__ = [
    "LOSS_TYPES",
    "CharbonnierLoss",
    "L1Loss",
    "MSELoss",
    "PerceptualLoss",
    "WeightedSum",
    "build_loss",
    "charbonnier_loss",
    "l1_loss",
    "mse_loss",
]
