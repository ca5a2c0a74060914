"""The GAN objective (``objective.name: gan``): ESRGAN's adversarial training (Wang et al., "ESRGAN:
Enhanced Super-Resolution Generative Adversarial Networks", ECCVW 2018), following BasicSR's
``ESRGANModel`` / ``SRGANModel`` step by step.

Per training step (0-based ``step``, ``it = step + 1``):

1. Generator step, when ``it % net_d_iters == 0 and it > net_d_init_iters``: the discriminator's
   parameters are frozen (``requires_grad=False``); ``sr = G(lr)``;
   ``L_G_total = pixel_weight * L_pixel(sr, hr) + L_percep(sr, hr) + gan_weight * L_G``, where
   ``L_percep`` already carries ``perceptual_weight`` and, for ``ragan``, ``L_G`` uses ``C(hr)``
   computed without gradient (:func:`srkit.losses.gan.generator_loss`); backward, G optimiser step.
   Otherwise ``sr`` is computed without gradient and the generator's losses are only measured.
2. Discriminator step (every step), on ``sr.detach()``: for relativistic losses the other batch's
   logits are computed without gradient first; then the real term's forward and backward, then the fake
   term's forward and backward (two separate backward passes: under DistributedDataParallel a second
   forward of a BatchNorm network before the first backward would change buffers the first graph still
   needs), and one D optimiser step.
3. Both schedulers step.

The discriminator runs through :meth:`~srkit.train.engine.Engine.prepare_module` (DDP-wrapped when
distributed) for the two forwards whose gradients update it; forwards that only produce constants or
gradients for the generator call the unwrapped network (its parameters frozen), so no DDP reduction is
ever left waiting.

With ``gan_weight: 0`` there is no discriminator at all: the generator trains on its content losses
alone (pixel and perceptual), e.g. SRGAN's SRResNet-VGG54 (``configs/srresnet_x2_vgg54.yaml``).

Logged values (BasicSR's names, each term with its weight applied): ``loss`` (the generator's total),
``l_g_pix``, ``l_g_percep``, ``l_g_gan``, ``l_d_real``, ``l_d_fake``, ``out_d_real``/``out_d_fake`` (mean
discriminator logits of the discriminator step), ``grad_norm`` (G; 0 on steps without a G update) and
``grad_norm_d``; learning rates ``lr`` (G) and ``lr_d``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from srkit.archs.discriminator import build_discriminator
from srkit.errors import ConfigError, SrkitError
from srkit.losses import PerceptualLoss, build_loss
from srkit.losses.gan import (
    RELATIVISTIC,
    discriminator_fake_loss,
    discriminator_real_loss,
    generator_loss,
)
from srkit.train.config import GANObjectiveConfig
from srkit.train.optim import build_optimizer, build_scheduler, current_lr

if TYPE_CHECKING:
    from srkit.train.engine import Engine

#: Seeds of the discriminator's and the random VGG's initialisation, offset from ``seed`` so that they do
#: not depend on the generator's size and leave the global RNG untouched.
_D_SEED_OFFSET = 1
_VGG_SEED_OFFSET = 2


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    """Freeze (``False``) or unfreeze every parameter of ``module``."""
    for p in module.parameters():
        p.requires_grad_(flag)


class GANObjective:
    """ESRGAN's alternating generator/discriminator update (see the module docstring)."""

    name = "gan"

    def __init__(self, cfg: GANObjectiveConfig) -> None:
        self.cfg = cfg
        self.engine: Engine | None = None
        self.net_d: nn.Module | None = None  # what training calls (DDP-wrapped when distributed)
        self.raw_net_d: nn.Module | None = None
        self.pixel: nn.Module | None = None
        self.perceptual: PerceptualLoss | None = None
        self.optimizer_g: torch.optim.Optimizer | None = None
        self.optimizer_d: torch.optim.Optimizer | None = None
        self.scheduler_g: torch.optim.lr_scheduler.LRScheduler | None = None
        self.scheduler_d: torch.optim.lr_scheduler.LRScheduler | None = None

    # -- setup ---------------------------------------------------------------------------------------------

    def setup(self, engine: Engine) -> None:
        cfg, config = self.cfg, engine.config
        self.engine = engine
        hr_size = config.data.train.patch_size * config.scale
        input_size = cfg.discriminator.input_size or hr_size
        if input_size != hr_size:
            raise ConfigError(
                f"objective.discriminator.input_size: {input_size} differs from the HR patch size {hr_size} "
                f"(data.train.patch_size {config.data.train.patch_size} x scale {config.scale}); "
                "set it to null to follow the patch size"
            )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed + _D_SEED_OFFSET)
            try:
                net_d = build_discriminator(
                    cfg.discriminator.type,
                    in_channels=int(getattr(engine.raw_model, "out_channels", 3)),
                    vgg_blk_ch=list(cfg.discriminator.vgg_blk_ch),
                    fc_features=list(cfg.discriminator.fc_features),
                    input_size=input_size,
                )
            except ConfigError as err:
                raise ConfigError(f"objective.{err}") from None
            if cfg.perceptual_weight > 0:
                torch.manual_seed(config.seed + _VGG_SEED_OFFSET)
                p = cfg.perceptual
                try:
                    self.perceptual = PerceptualLoss(
                        layer_weights=p.layer_weights,
                        vgg_type=p.vgg_type,
                        use_input_norm=p.use_input_norm,
                        range_norm=p.range_norm,
                        criterion=p.criterion,
                        perceptual_weight=cfg.perceptual_weight,
                        normalize_loss=p.normalize_loss,
                        weights=p.weights,
                    ).to(engine.device)
                except ConfigError as err:
                    raise ConfigError(f"objective.perceptual.{err}") from None
                except SrkitError as err:  # the VGG weight file is missing or unusable
                    raise ConfigError(f"objective.perceptual.weights: {err}") from None
        self.pixel = build_loss([(cfg.pixel_type, 1.0, {})]).to(engine.device)
        self.optimizer_g = build_optimizer(engine.raw_model.parameters(), config.optim)
        self.scheduler_g = build_scheduler(self.optimizer_g, config.schedule, engine.total_steps)
        if cfg.gan_weight == 0:  # content losses only: no discriminator
            return
        self.raw_net_d = net_d
        self.net_d = engine.prepare_module(net_d, find_unused_parameters=cfg.find_unused_parameters)
        self.raw_net_d.train()
        self.optimizer_d = build_optimizer(net_d.parameters(), cfg.d_optim)
        self.scheduler_d = build_scheduler(self.optimizer_d, cfg.d_schedule, engine.total_steps)

    # -- one step --------------------------------------------------------------------------------------------

    def _generator_losses(
        self, sr: torch.Tensor, hr: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(total, weighted terms)`` of the generator loss (float32)."""
        cfg, engine, net_d = self.cfg, self.engine, self.raw_net_d
        assert engine is not None and self.pixel is not None
        zero = sr.new_zeros((), dtype=torch.float32)
        l_pix = cfg.pixel_weight * self.pixel(sr, hr)[0] if cfg.pixel_weight > 0 else zero
        l_percep = self.perceptual(sr, hr) if self.perceptual is not None else zero
        if net_d is not None:
            real_logits = None
            if cfg.gan_type in RELATIVISTIC:
                with torch.no_grad(), engine.autocast():
                    real_logits = net_d(hr)
            with engine.autocast():
                fake_logits = net_d(sr)
            l_gan = cfg.gan_weight * generator_loss(cfg.gan_type, fake_logits, real_logits)
        else:
            l_gan = zero
        total = l_pix + l_percep + l_gan
        return total, {"l_g_pix": l_pix, "l_g_percep": l_percep, "l_g_gan": l_gan}

    def _content_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """A generator step on the content losses alone (``gan_weight: 0``, no discriminator)."""
        engine, opt_g, sched_g = self.engine, self.optimizer_g, self.scheduler_g
        assert engine is not None and opt_g is not None and sched_g is not None
        with engine.autocast():
            sr = engine.model(batch["lr"])
        total, parts = self._generator_losses(sr, batch["hr"])
        engine.backward(total)
        grad_norm = engine.optimizer_step(opt_g)
        sched_g.step()
        values = {"loss": float(total.detach())}
        values.update({key: float(v.detach()) for key, v in parts.items() if key != "l_g_gan"})
        values["grad_norm"] = grad_norm
        return values

    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        if self.raw_net_d is None:
            return self._content_step(batch)
        cfg, engine = self.cfg, self.engine
        net_d, raw_net_d = self.net_d, self.raw_net_d
        opt_g, opt_d = self.optimizer_g, self.optimizer_d
        sched_g, sched_d = self.scheduler_g, self.scheduler_d
        assert engine is not None and net_d is not None and raw_net_d is not None
        assert opt_g is not None and opt_d is not None and sched_g is not None and sched_d is not None
        lr, hr = batch["lr"], batch["hr"]
        it = step + 1
        update_g = it % cfg.net_d_iters == 0 and it > cfg.net_d_init_iters

        # generator
        set_requires_grad(raw_net_d, False)
        if update_g:
            with engine.autocast():
                sr = engine.model(lr)
            total, parts = self._generator_losses(sr, hr)
            engine.backward(total)
            grad_norm = engine.optimizer_step(opt_g)
        else:
            with torch.no_grad():
                with engine.autocast():
                    sr = engine.model(lr)
                total, parts = self._generator_losses(sr, hr)
            grad_norm = 0.0

        # discriminator
        set_requires_grad(raw_net_d, True)
        fake = sr.detach()
        relativistic = cfg.gan_type in RELATIVISTIC
        fake_const = None
        if relativistic:
            with torch.no_grad(), engine.autocast():
                fake_const = raw_net_d(fake)
        with engine.autocast():
            real_logits = net_d(hr)
        l_d_real = discriminator_real_loss(cfg.gan_type, real_logits, fake_const)
        engine.backward(l_d_real)
        real_const = real_logits.detach()
        with engine.autocast():
            fake_logits = net_d(fake)
        l_d_fake = discriminator_fake_loss(cfg.gan_type, fake_logits, real_const if relativistic else None)
        engine.backward(l_d_fake)
        grad_norm_d = engine.optimizer_step(opt_d)

        if update_g:
            sched_g.step()
        else:  # the schedule follows the step count, also while G waits (BasicSR); no "step order" warning
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                sched_g.step()
        sched_d.step()
        values = {"loss": float(total.detach())}
        values.update({key: float(v.detach()) for key, v in parts.items()})
        values.update(
            {
                "l_d_real": float(l_d_real.detach()),
                "l_d_fake": float(l_d_fake.detach()),
                "out_d_real": float(real_const.float().mean()),
                "out_d_fake": float(fake_logits.detach().float().mean()),
                "grad_norm": grad_norm,
                "grad_norm_d": grad_norm_d,
            }
        )
        return values

    # -- logging and state ---------------------------------------------------------------------------------

    def learning_rates(self) -> dict[str, float]:
        assert self.optimizer_g is not None
        rates = {"lr": current_lr(self.optimizer_g)}
        if self.optimizer_d is not None:
            rates["lr_d"] = current_lr(self.optimizer_d)
        return rates

    def state_dict(self) -> dict[str, Any]:
        assert self.optimizer_g is not None and self.scheduler_g is not None
        state: dict[str, Any] = {
            "optimizer_g": self.optimizer_g.state_dict(),
            "scheduler_g": self.scheduler_g.state_dict(),
        }
        if self.raw_net_d is not None:
            assert self.optimizer_d is not None and self.scheduler_d is not None
            state.update(
                net_d=self.raw_net_d.state_dict(),
                optimizer_d=self.optimizer_d.state_dict(),
                scheduler_d=self.scheduler_d.state_dict(),
            )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        assert self.optimizer_g is not None and self.scheduler_g is not None
        if (self.raw_net_d is None) != ("net_d" not in state):
            raise ConfigError(
                "objective.gan_weight: the saved state was trained "
                f"{'with' if 'net_d' in state else 'without'} a discriminator; resume with the same setting"
            )
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.scheduler_g.load_state_dict(state["scheduler_g"])
        if self.raw_net_d is not None:
            assert self.optimizer_d is not None and self.scheduler_d is not None
            self.raw_net_d.load_state_dict(state["net_d"])
            self.optimizer_d.load_state_dict(state["optimizer_d"])
            self.scheduler_d.load_state_dict(state["scheduler_d"])
