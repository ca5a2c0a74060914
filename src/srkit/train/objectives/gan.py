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

The discriminator runs through :attr:`StepContext.prepare_module
<srkit.train.objectives.base.StepContext.prepare_module>` (DDP-wrapped when distributed) for the two
forwards whose gradients update it; forwards that only produce constants or gradients for the generator
call the unwrapped network (its parameters frozen), so no DDP reduction is ever left waiting.

With ``gan_weight: 0`` there is no discriminator at all: the generator trains on its content losses
alone (pixel and perceptual), e.g. SRGAN's SRResNet-VGG54 (``configs/srresnet_x2_vgg54.yaml``).

Logged values (BasicSR's names, each term with its weight applied): ``loss`` (the generator's total),
``l_g_pix``, ``l_g_percep``, ``l_g_gan``, ``l_d_real``, ``l_d_fake``, ``out_d_real``/``out_d_fake`` (mean
discriminator logits of the discriminator step), ``grad_norm`` (G; 0 on steps without a G update) and
``grad_norm_d``; learning rates ``lr`` (G) and ``lr_d``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from srkit.archs import net_info
from srkit.archs.discriminator import DISCRIMINATORS, build_discriminator
from srkit.archs.vgg import VGG_TYPES, layer_indices
from srkit.errors import ConfigError, SrkitError
from srkit.losses import LOSS_TYPES, PerceptualLoss, build_loss, set_progress
from srkit.losses.gan import (
    GAN_TYPES,
    RELATIVISTIC,
    discriminator_fake_loss,
    discriminator_real_loss,
    generator_loss,
)
from srkit.losses.perceptual import PERCEPTUAL_CRITERIA
from srkit.train.objectives.base import StepContext, register_objective
from srkit.train.objectives.pixel import LossOptions
from srkit.train.optim import OptimConfig, ScheduleConfig, build_optimizer, build_scheduler, current_lr
from srkit.train.sections import Section, SubKeyError

# --------------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------------


class PerceptualConfig(Section):
    """The GAN objective's VGG feature loss (:class:`srkit.losses.PerceptualLoss`).

    ``layer_weights``: VGG layer -> weight (ESRGAN: ``{conv5_4: 1.0}``, before the activation);
    ``vgg_type``: ``vgg11``/``13``/``16``/``19`` (``_bn`` variants too); ``criterion``: ``l1``, ``l2``,
    ``fro``; ``normalize_loss``: divide by the sum of the layer weights; ``weights``: ``default`` (the
    torchvision ImageNet file in srkit's cache, e.g. ``~/.cache/srkit/weights/vgg19-dcbb9e9d.pth``), a
    file path, or ``null`` (random VGG: only for tests and smoke runs).
    """

    layer_weights: dict[str, float] = Field(default_factory=lambda: {"conv5_4": 1.0})
    vgg_type: Literal[VGG_TYPES] = "vgg19"  # type: ignore[valid-type]
    use_input_norm: bool = True
    range_norm: bool = False
    criterion: Literal[PERCEPTUAL_CRITERIA] = "l1"  # type: ignore[valid-type]
    normalize_loss: bool = False
    weights: str | None = "default"

    @model_validator(mode="after")
    def _layers(self) -> PerceptualConfig:
        valid = layer_indices(self.vgg_type)
        if not self.layer_weights:
            raise SubKeyError("layer_weights", "at least one VGG layer is needed")
        for name, weight in self.layer_weights.items():
            if name not in valid:
                raise SubKeyError(
                    "layer_weights", f"{self.vgg_type} has no layer {name!r}; valid: {', '.join(valid)}"
                )
            if not (math.isfinite(weight) and weight >= 0):
                raise SubKeyError(f"layer_weights.{name}", f"must be finite and >= 0, got {weight}")
        return self


class DiscriminatorConfig(Section):
    """The GAN objective's discriminator (:data:`srkit.archs.discriminator.DISCRIMINATORS`).

    ``vgg_style`` (ESRGAN's VGG128, BasicSR key names): ``vgg_blk_ch`` widths read in pairs, one pair per
    stage (a 3x3 stride-1 conv then a 4x4 stride-2 conv); ``fc_features``: hidden widths of the head;
    ``input_size``: the side of the HR patches (``null``: ``data.train.patch_size * scale``).
    """

    type: Literal[tuple(DISCRIMINATORS)] = "vgg_style"  # type: ignore[valid-type]
    vgg_blk_ch: list[int] = Field(default_factory=lambda: [64, 64, 128, 128, 256, 256, 512, 512, 512, 512])
    fc_features: list[int] = Field(default_factory=lambda: [100])
    input_size: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _widths(self) -> DiscriminatorConfig:
        if not self.vgg_blk_ch or len(self.vgg_blk_ch) % 2 or min(self.vgg_blk_ch) <= 0:
            raise SubKeyError("vgg_blk_ch", f"needs an even number of positive widths, got {self.vgg_blk_ch}")
        if any(w <= 0 for w in self.fc_features):
            raise SubKeyError("fc_features", f"widths must be positive, got {self.fc_features}")
        return self


class GANObjectiveConfig(Section):
    """``name: gan``: ESRGAN-style adversarial training (Wang et al. 2018; see the module docstring).

    Generator loss ``perceptual_weight * L_percep + gan_weight * L_G + pixel_weight * L_pixel``;
    ``pixel_type`` and ``pixel_options`` (its ``eps``/``mix``/``start``, as the pixel objective's loss
    terms) choose the pixel term; ``gan_type``: ``ragan`` (relativistic average, ESRGAN), ``vanilla``,
    ``hinge``, ``lsgan``. The generator uses the top-level ``optim``/``schedule``, the discriminator
    ``d_optim``/``d_schedule`` (ESRGAN: Adam 1e-4, betas (0.9, 0.99), halved at 50k, 100k, 200k, 300k
    steps). ``net_d_iters``: the generator is updated every ``net_d_iters`` steps, and not during the
    first ``net_d_init_iters`` (the discriminator every step). ``find_unused_parameters``: passed to
    DistributedDataParallel for the discriminator.
    """

    name: Literal["gan"] = "gan"
    gan_type: Literal[GAN_TYPES] = "ragan"  # type: ignore[valid-type]
    gan_weight: float = Field(0.005, ge=0.0, allow_inf_nan=False)
    pixel_type: Literal[LOSS_TYPES] = "l1"  # type: ignore[valid-type]
    pixel_weight: float = Field(0.01, ge=0.0, allow_inf_nan=False)
    pixel_options: LossOptions = Field(default_factory=LossOptions)
    perceptual_weight: float = Field(1.0, ge=0.0, allow_inf_nan=False)
    perceptual: PerceptualConfig = Field(default_factory=PerceptualConfig)
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig)
    d_optim: OptimConfig = Field(default_factory=lambda: OptimConfig(lr=1e-4, betas=(0.9, 0.99)))
    d_schedule: ScheduleConfig = Field(
        default_factory=lambda: ScheduleConfig(
            type="multistep", milestones=[50_000, 100_000, 200_000, 300_000], gamma=0.5
        )
    )
    net_d_iters: int = Field(1, gt=0)
    net_d_init_iters: int = Field(0, ge=0)
    find_unused_parameters: bool = False

    @model_validator(mode="after")
    def _some_loss(self) -> GANObjectiveConfig:
        if self.gan_weight + self.pixel_weight + self.perceptual_weight <= 0:
            raise SubKeyError("gan_weight", "the generator loss weights must not all be zero")
        try:
            self.pixel_options.check_for(self.pixel_type)
        except SubKeyError as err:
            raise SubKeyError(f"pixel_options.{err.key}", str(err)) from None
        return self


# --------------------------------------------------------------------------------------------------
# Objective
# --------------------------------------------------------------------------------------------------

#: Seeds of the discriminator's and the random VGG's initialisation, offset from ``seed`` so that they do
#: not depend on the generator's size and leave the global RNG untouched.
_D_SEED_OFFSET = 1
_VGG_SEED_OFFSET = 2


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    """Freeze (``False``) or unfreeze every parameter of ``module``."""
    for p in module.parameters():
        p.requires_grad_(flag)


@register_objective("gan", GANObjectiveConfig)
class GANObjective:
    """ESRGAN's alternating generator/discriminator update (see the module docstring)."""

    def __init__(self, cfg: GANObjectiveConfig) -> None:
        self.cfg = cfg
        self.ctx: StepContext | None = None
        self.net_d: nn.Module | None = None  # what training calls (DDP-wrapped when distributed)
        self.raw_net_d: nn.Module | None = None
        self.pixel: nn.Module | None = None
        self.perceptual: PerceptualLoss | None = None
        self.optimizer_g: torch.optim.Optimizer | None = None
        self.optimizer_d: torch.optim.Optimizer | None = None
        self.scheduler_g: torch.optim.lr_scheduler.LRScheduler | None = None
        self.scheduler_d: torch.optim.lr_scheduler.LRScheduler | None = None

    # -- setup ---------------------------------------------------------------------------------------------

    def setup(self, ctx: StepContext) -> None:
        cfg, config = self.cfg, ctx.config
        self.ctx = ctx
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
                    in_channels=net_info(ctx.raw_model).out_channels,
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
                    ).to(ctx.device)
                except ConfigError as err:
                    raise ConfigError(f"objective.perceptual.{err}") from None
                except SrkitError as err:  # the VGG weight file is missing or unusable
                    raise ConfigError(f"objective.perceptual.weights: {err}") from None
        self.pixel = build_loss([(cfg.pixel_type, 1.0, cfg.pixel_options.options())]).to(ctx.device)
        self.optimizer_g = build_optimizer(ctx.raw_model, config.optim)
        self.scheduler_g = build_scheduler(self.optimizer_g, config.schedule, ctx.total_steps)
        if cfg.gan_weight == 0:  # content losses only: no discriminator
            return
        self.raw_net_d = net_d
        self.net_d = ctx.prepare_module(net_d, find_unused_parameters=cfg.find_unused_parameters)
        self.raw_net_d.train()
        self.optimizer_d = build_optimizer(net_d, cfg.d_optim)
        self.scheduler_d = build_scheduler(self.optimizer_d, cfg.d_schedule, ctx.total_steps)

    # -- one step --------------------------------------------------------------------------------------------

    def _generator_losses(
        self, sr: torch.Tensor, hr: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(total, weighted terms)`` of the generator loss (float32)."""
        cfg, ctx, net_d = self.cfg, self.ctx, self.raw_net_d
        assert ctx is not None and self.pixel is not None
        zero = sr.new_zeros((), dtype=torch.float32)
        l_pix = cfg.pixel_weight * self.pixel(sr, hr)[0] if cfg.pixel_weight > 0 else zero
        l_percep = self.perceptual(sr, hr) if self.perceptual is not None else zero
        if net_d is not None:
            real_logits = None
            if cfg.gan_type in RELATIVISTIC:
                with torch.no_grad(), ctx.autocast():
                    real_logits = net_d(hr)
            with ctx.autocast():
                fake_logits = net_d(sr)
            l_gan = cfg.gan_weight * generator_loss(cfg.gan_type, fake_logits, real_logits)
        else:
            l_gan = zero
        total = l_pix + l_percep + l_gan
        return total, {"l_g_pix": l_pix, "l_g_percep": l_percep, "l_g_gan": l_gan}

    def _content_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """A generator step on the content losses alone (``gan_weight: 0``, no discriminator)."""
        ctx, opt_g, sched_g = self.ctx, self.optimizer_g, self.scheduler_g
        assert ctx is not None and opt_g is not None and sched_g is not None
        with ctx.autocast():
            sr = ctx.model(batch["lr"])
        total, parts = self._generator_losses(sr, batch["hr"])
        ctx.backward(total)
        grad_norm = ctx.optimizer_step(opt_g)
        sched_g.step()
        values = {"loss": float(total.detach())}
        values.update({key: float(v.detach()) for key, v in parts.items() if key != "l_g_gan"})
        values["grad_norm"] = grad_norm
        return values

    def train_step(self, batch: dict[str, Any], step: int) -> dict[str, float]:
        assert self.ctx is not None and self.pixel is not None
        set_progress(self.pixel, step, self.ctx.total_steps)  # edge_l1 with pixel_options.start
        if self.raw_net_d is None:
            return self._content_step(batch)
        cfg, ctx = self.cfg, self.ctx
        net_d, raw_net_d = self.net_d, self.raw_net_d
        opt_g, opt_d = self.optimizer_g, self.optimizer_d
        sched_g, sched_d = self.scheduler_g, self.scheduler_d
        assert ctx is not None and net_d is not None and raw_net_d is not None
        assert opt_g is not None and opt_d is not None and sched_g is not None and sched_d is not None
        lr, hr = batch["lr"], batch["hr"]
        it = step + 1
        update_g = it % cfg.net_d_iters == 0 and it > cfg.net_d_init_iters

        # generator
        set_requires_grad(raw_net_d, False)
        if update_g:
            with ctx.autocast():
                sr = ctx.model(lr)
            total, parts = self._generator_losses(sr, hr)
            ctx.backward(total)
            grad_norm = ctx.optimizer_step(opt_g)
        else:
            with torch.no_grad():
                with ctx.autocast():
                    sr = ctx.model(lr)
                total, parts = self._generator_losses(sr, hr)
            grad_norm = 0.0

        # discriminator
        set_requires_grad(raw_net_d, True)
        fake = sr.detach()
        relativistic = cfg.gan_type in RELATIVISTIC
        fake_const = None
        if relativistic:
            with torch.no_grad(), ctx.autocast():
                fake_const = raw_net_d(fake)
        with ctx.autocast():
            real_logits = net_d(hr)
        l_d_real = discriminator_real_loss(cfg.gan_type, real_logits, fake_const)
        ctx.backward(l_d_real)
        real_const = real_logits.detach()
        with ctx.autocast():
            fake_logits = net_d(fake)
        l_d_fake = discriminator_fake_loss(cfg.gan_type, fake_logits, real_const if relativistic else None)
        ctx.backward(l_d_fake)
        grad_norm_d = ctx.optimizer_step(opt_d)

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
