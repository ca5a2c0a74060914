"""Perceptual (VGG feature) loss: Johnson et al., "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", ECCV 2016; Ledig et al. (SRGAN), CVPR 2017; ESRGAN (Wang et al., ECCVW 2018, Sec. 3.3)
compares VGG19 ``conv5_4`` features *before* the activation.

Semantics follow BasicSR's ``PerceptualLoss`` (without its style term): ``perceptual_weight *
sum_k layer_weights[k] * criterion(phi_k(sr), phi_k(hr))`` where ``phi_k`` are the features of layer
``k`` of a frozen VGG (:class:`~srkit.archs.vgg.VGGFeatureExtractor`), ``hr`` is detached and its
features are computed without gradient. Criteria: ``l1`` and ``l2`` are means over all elements,
``fro`` is the Frobenius norm of the difference (not normalised by size, as BasicSR). With
``normalize_loss`` the weighted sum is divided by the sum of the layer weights. The VGG runs in float32
with autocast disabled, so the loss does not depend on the training precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import nn

from srkit.archs.vgg import VGGFeatureExtractor
from srkit.errors import ConfigError

PerceptualCriterion = Literal["l1", "l2", "fro"]
PERCEPTUAL_CRITERIA: tuple[str, ...] = get_args(PerceptualCriterion)


def _criterion(kind: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if kind == "l1":
        return (a - b).abs().mean()
    if kind == "l2":
        return (a - b).square().mean()
    return torch.linalg.vector_norm(a - b)  # Frobenius norm of the whole tensor, as torch.norm(p='fro')


class PerceptualLoss(nn.Module):
    """``perceptual_weight * sum_k w_k * criterion(vgg_k(sr), vgg_k(hr))`` (see the module docstring).

    Args:
        layer_weights: VGG layer name -> weight, e.g. ``{'conv5_4': 1.0}`` (ESRGAN) or
            ``{'relu5_4': 1.0}`` (after the activation, as SRGAN).
        vgg_type, use_input_norm, range_norm, weights: as :class:`~srkit.archs.vgg.VGGFeatureExtractor`
            (``weights='default'``: torchvision's ImageNet file in srkit's cache; ``None``: random).
        criterion: ``l1``, ``l2`` or ``fro``.
        perceptual_weight: overall factor.
        normalize_loss: divide by the sum of the layer weights.
    """

    def __init__(
        self,
        layer_weights: Mapping[str, float] | None = None,
        vgg_type: str = "vgg19",
        use_input_norm: bool = True,
        range_norm: bool = False,
        criterion: str = "l1",
        perceptual_weight: float = 1.0,
        normalize_loss: bool = False,
        weights: str | Path | None = "default",
    ) -> None:
        super().__init__()
        layer_weights = dict(layer_weights) if layer_weights is not None else {"conv5_4": 1.0}
        if not layer_weights:
            raise ConfigError("layer_weights: at least one VGG layer is needed")
        if criterion not in PERCEPTUAL_CRITERIA:
            valid = ", ".join(PERCEPTUAL_CRITERIA)
            raise ConfigError(f"criterion: unknown perceptual criterion {criterion!r}; valid: {valid}")
        total = float(sum(layer_weights.values()))
        if normalize_loss and total <= 0:
            raise ConfigError("layer_weights: normalize_loss needs weights with a positive sum")
        self.layer_weights = {k: float(v) for k, v in layer_weights.items()}
        self.criterion = criterion
        self.perceptual_weight = float(perceptual_weight)
        self.normalize_loss = bool(normalize_loss)
        self._norm = total if normalize_loss else 1.0
        self.vgg = VGGFeatureExtractor(
            list(self.layer_weights),
            vgg_type=vgg_type,
            use_input_norm=use_input_norm,
            range_norm=range_norm,
            weights=weights,
            requires_grad=False,
        )

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """The loss of ``sr`` (gradients flow to it) against ``hr`` (detached), in float32."""
        if sr.shape != hr.shape:
            raise ValueError(
                f"perceptual loss: prediction {tuple(sr.shape)} and target {tuple(hr.shape)} differ"
            )
        with torch.autocast(device_type=sr.device.type, enabled=False):
            sr_features = self.vgg(sr.float())
            with torch.no_grad():
                hr_features = self.vgg(hr.detach().float())
            loss = sr.new_zeros((), dtype=torch.float32)
            for name, weight in self.layer_weights.items():
                loss = loss + weight * _criterion(self.criterion, sr_features[name], hr_features[name])
        return loss * (self.perceptual_weight / self._norm)

    def extra_repr(self) -> str:
        return (
            f"layer_weights={self.layer_weights}, criterion={self.criterion!r}, "
            f"perceptual_weight={self.perceptual_weight}, normalize_loss={self.normalize_loss}"
        )
