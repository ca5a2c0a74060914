"""Adversarial losses on discriminator logits, as pure functions computed in float32.

- ``vanilla``: the original GAN loss as binary cross-entropy on logits (Goodfellow et al., "Generative
  Adversarial Nets", NeurIPS 2014), the generator side non-saturating (``-log D(G(z))``); SRGAN's
  adversarial loss (Ledig et al., CVPR 2017).
- ``ragan``: relativistic average GAN (Jolicoeur-Martineau, "The relativistic discriminator: a key
  element missing from standard GAN", ICLR 2019) as used by ESRGAN (Wang et al., ECCVW 2018, Sec. 3.2):
  with ``C`` the discriminator logit, ``D_Ra(x_r, x_f) = sigmoid(C(x_r) - E[C(x_f)])``,
  ``L_D = -E[log D_Ra(x_r, x_f)] - E[log(1 - D_Ra(x_f, x_r))]`` and the symmetric generator loss
  ``L_G = -E[log(1 - D_Ra(x_r, x_f))] - E[log D_Ra(x_f, x_r)]``. Following BasicSR's ``ESRGANModel``
  (on which ESRGAN's ``gan_weight = 0.005`` was tuned) each discriminator term is halved and the
  generator loss is the mean of its two terms.
- ``hinge``: Lim & Ye, "Geometric GAN", 2017; Miyato et al., "Spectral Normalization for GANs",
  ICLR 2018: ``L_D = E[relu(1 - C(x_r))] + E[relu(1 + C(x_f))]``, ``L_G = -E[C(x_f)]``.
- ``lsgan``: least squares (Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017):
  ``L_D = E[(C(x_r) - 1)^2] + E[C(x_f)^2]``, ``L_G = E[(C(x_f) - 1)^2]``.

The discriminator loss is split into a real and a fake term so that a trainer can run a separate
backward pass for each (needed under DistributedDataParallel with BatchNorm, see
:mod:`srkit.train.objectives.gan`). Where a relativistic term needs the mean logit of the other batch,
that batch is passed *detached* by the caller (ESRGAN/BasicSR: the generator step uses ``C(x_r)``
without gradient, and each discriminator term treats the other batch's mean as a constant).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F

GANType = Literal["ragan", "vanilla", "hinge", "lsgan"]
GAN_TYPES: tuple[str, ...] = get_args(GANType)
RELATIVISTIC: frozenset[str] = frozenset({"ragan"})


def _check(gan_type: str) -> None:
    if gan_type not in GAN_TYPES:
        raise ValueError(f"gan_type: unknown GAN loss {gan_type!r}; valid: {', '.join(GAN_TYPES)}")


def _other(gan_type: str, other: torch.Tensor | None, what: str) -> torch.Tensor:
    if other is None:
        raise ValueError(f"{gan_type}: needs the {what} logits (detached) for the relativistic average")
    return other.detach().float()


def bce_logits(logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """Mean binary cross-entropy of ``sigmoid(logits)`` against 1 (real) or 0 (fake), in float32."""
    x = logits.float()
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, 1.0 if target_is_real else 0.0))


def discriminator_real_loss(
    gan_type: str, real_logits: torch.Tensor, fake_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """The discriminator's loss term on real images (float32).

    ``ragan``: ``0.5 * BCE(C(x_r) - mean C(x_f), real)`` with ``fake_logits`` treated as constant;
    ``vanilla``: ``BCE(C(x_r), real)``; ``hinge``: ``mean(relu(1 - C(x_r)))``;
    ``lsgan``: ``mean((C(x_r) - 1)^2)``.
    """
    _check(gan_type)
    real = real_logits.float()
    if gan_type == "ragan":
        return 0.5 * bce_logits(real - _other(gan_type, fake_logits, "fake").mean(), True)
    if gan_type == "vanilla":
        return bce_logits(real, True)
    if gan_type == "hinge":
        return F.relu(1.0 - real).mean()
    return (real - 1.0).square().mean()


def discriminator_fake_loss(
    gan_type: str, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """The discriminator's loss term on generated images (float32).

    ``ragan``: ``0.5 * BCE(C(x_f) - mean C(x_r), fake)`` with ``real_logits`` treated as constant;
    ``vanilla``: ``BCE(C(x_f), fake)``; ``hinge``: ``mean(relu(1 + C(x_f)))``; ``lsgan``:
    ``mean(C(x_f)^2)``.
    """
    _check(gan_type)
    fake = fake_logits.float()
    if gan_type == "ragan":
        return 0.5 * bce_logits(fake - _other(gan_type, real_logits, "real").mean(), False)
    if gan_type == "vanilla":
        return bce_logits(fake, False)
    if gan_type == "hinge":
        return F.relu(1.0 + fake).mean()
    return fake.square().mean()


def discriminator_loss(
    gan_type: str, real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(real term, fake term)`` of the discriminator loss (each relativistic mean detached)."""
    return (
        discriminator_real_loss(gan_type, real_logits, fake_logits),
        discriminator_fake_loss(gan_type, fake_logits, real_logits),
    )


def generator_loss(
    gan_type: str, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None
) -> torch.Tensor:
    """The generator's adversarial loss (float32, unweighted).

    ``ragan``: ``(BCE(C(x_r) - mean C(x_f), fake) + BCE(C(x_f) - mean C(x_r), real)) / 2`` with
    ``real_logits`` detached (gradients reach the generator through ``C(x_f)`` in both terms);
    ``vanilla``: ``BCE(C(x_f), real)`` (non-saturating); ``hinge``: ``-mean(C(x_f))``;
    ``lsgan``: ``mean((C(x_f) - 1)^2)``.
    """
    _check(gan_type)
    fake = fake_logits.float()
    if gan_type == "ragan":
        real = _other(gan_type, real_logits, "real")
        return 0.5 * (bce_logits(real - fake.mean(), False) + bce_logits(fake - real.mean(), True))
    if gan_type == "vanilla":
        return bce_logits(fake, True)
    if gan_type == "hinge":
        return -fake.mean()
    return (fake - 1.0).square().mean()
