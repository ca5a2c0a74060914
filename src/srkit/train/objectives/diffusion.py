"""The diffusion objective (``objective.name: diffusion``): SR3's denoising loss (Saharia et al. 2021,
"Image Super-Resolution via Iterative Refinement", Eq. 6 and Algorithm 1).

Per example of the batch (``hr`` the HR patch, ``lr`` its bicubic-upsampled LR, as
:func:`srkit.archs.to_net_space` gives networks that take the upsampled image), both mapped to [-1, 1]:

1. ``t ~ U{1, ..., T}`` and ``gamma ~ U(alpha_bar_t, alpha_bar_{t-1})`` (``alpha_bar_0 = 1``;
   :func:`srkit.archs.sr3.sampling.draw_training_gammas`);
2. ``eps ~ N(0, I)`` and ``y = sqrt(gamma) * x0 + sqrt(1 - gamma) * eps`` (Eq. 4), ``x0 = hr`` (or
   ``hr - lr`` for a network with ``target: residual``, SRDiff's parameterisation);
3. optionally (``blur.prob``) the conditioning is blurred with a Gaussian of ``sigma ~ U(blur.sigma)`` in
   network-input pixels (conditioning augmentation, Ho et al. 2021, "Cascaded Diffusion Models for High
   Fidelity Image Generation", Sec. 4);
4. loss ``|| f(join(y, lr), sqrt(gamma)) - eps ||_p^p``, ``p = 1`` (``loss: l1``) or 2 (``l2``), the mean
   over pixels and examples (Eq. 6; DDPM's ``L_simple`` is ``l2``); a network with ``prediction: v``
   learns ``v = sqrt(gamma) eps - sqrt(1 - gamma) x0`` instead of ``eps`` (Salimans and Ho 2022).

**The noise schedule is the network's** (``model.hparams``: ``train_beta_start``, ``train_beta_end``,
``train_timesteps``), so the noise levels the weights were trained on, ``[alpha_bar_T, 1]``, travel with
them in every exported file and the runner refuses sampling schedules outside it. At setup the objective
also checks the network's default sampling schedule (``sample_betas``/``sample_steps``) against that
range (what validation and ``srkit upscale`` will sample with; set ``sample_betas: null`` for the
in-range default, or fewer ``sample_steps`` to keep validation cheap).

Randomness: every draw (``t``, ``gamma``, ``eps``, the blur) comes from a ``torch.Generator`` the objective
owns on the training device, seeded from ``seed`` and the process rank, and saved (every process's state)
in :meth:`DiffusionObjective.state_dict`, so a resumed run draws exactly what an uninterrupted one draws.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F
from pydantic import Field, model_validator

from srkit.archs import net_info
from srkit.archs.sr3 import SR3UNet
from srkit.archs.sr3 import sampling as S
from srkit.errors import ConfigError
from srkit.train import distributed as D
from srkit.train.objectives.base import Batch, StepContext, register_objective
from srkit.train.optim import build_optimizer, build_scheduler, current_lr
from srkit.train.sections import Section, SubKeyError

#: Offset of the objective's generator seed from ``seed`` (kept apart from the engine's global seed).
SEED_OFFSET = 0x5EED

# --------------------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------------------


class BlurConfig(Section):
    """Gaussian-blur augmentation of the conditioning input: with probability ``prob`` per example, a
    separable Gaussian of standard deviation ``sigma ~ U(sigma[0], sigma[1])`` (pixels of the network's
    input, i.e. the upsampled image) and side ``kernel_size`` (odd), reflect-padded."""

    prob: float = Field(0.0, ge=0.0, le=1.0)
    sigma: tuple[float, float] = (0.4, 0.6)
    kernel_size: int = Field(3, ge=3)

    @model_validator(mode="after")
    def _check(self) -> BlurConfig:
        low, high = self.sigma
        if not 0.0 < low <= high or not math.isfinite(high):
            raise SubKeyError("sigma", f"must be [low, high] with 0 < low <= high, got {list(self.sigma)}")
        if self.kernel_size % 2 == 0:
            raise SubKeyError("kernel_size", f"must be odd, got {self.kernel_size}")
        return self


class DiffusionObjectiveConfig(Section):
    """``name: diffusion``: SR3's noise-prediction loss (module docstring). ``loss``: ``l1`` or ``l2`` on the
    predicted noise; ``blur``: conditioning augmentation (off by default)."""

    name: Literal["diffusion"] = "diffusion"
    loss: Literal["l1", "l2"] = "l2"
    blur: BlurConfig = Field(default_factory=BlurConfig)


# --------------------------------------------------------------------------------------------------
# pure parts
# --------------------------------------------------------------------------------------------------


def gaussian_kernels(sigmas: torch.Tensor, size: int) -> torch.Tensor:
    """Normalised 1-D Gaussian kernels ``(B, size)`` of standard deviations ``sigmas`` ``(B,)``."""
    offsets = torch.arange(size, device=sigmas.device, dtype=torch.float32) - (size - 1) / 2
    kernels = torch.exp(-0.5 * (offsets[None] / sigmas.float()[:, None]) ** 2)
    return kernels / kernels.sum(dim=1, keepdim=True)


def blur_batch(x: torch.Tensor, sigmas: torch.Tensor, size: int) -> torch.Tensor:
    """``x`` ``(B, C, H, W)`` blurred per example with separable Gaussians of ``sigmas`` ``(B,)`` (reflect
    padding; replicate where the image is smaller than the kernel's reach)."""
    b, c, h, w = x.shape
    pad = size // 2
    k = gaussian_kernels(sigmas, size).to(x.dtype).repeat_interleave(c, dim=0)  # (B*C, size)
    flat = x.reshape(1, b * c, h, w)
    mode = "reflect" if pad < h and pad < w else "replicate"
    flat = F.pad(flat, (pad, pad, pad, pad), mode=mode)
    flat = F.conv2d(flat, k[:, None, None, :], groups=b * c)
    flat = F.conv2d(flat, k[:, None, :, None], groups=b * c)
    return flat.reshape(b, c, h, w)


def noisy_target(x0: torch.Tensor, gamma: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``y = sqrt(gamma) x0 + sqrt(1 - gamma) eps`` per example (SR3 Eq. 4); ``gamma`` ``(B,)``."""
    g = gamma.to(device=x0.device, dtype=torch.float64).view(-1, 1, 1, 1)
    return (g.sqrt().float() * x0 + (1.0 - g).sqrt().float() * eps).to(x0.dtype)


# --------------------------------------------------------------------------------------------------
# objective
# --------------------------------------------------------------------------------------------------


def _rank() -> int:
    return dist.get_rank() if D.is_distributed() else 0


@register_objective("diffusion", DiffusionObjectiveConfig)
class DiffusionObjective:
    """SR3's loss with one optimiser (``optim``) and one schedule (``schedule``) from the top level of the
    configuration; the noise schedule from the network's hyper-parameters (module docstring)."""

    def __init__(self, cfg: DiffusionObjectiveConfig) -> None:
        self.cfg = cfg
        self.ctx: StepContext | None = None
        self.net: SR3UNet | None = None
        self.alpha_bars: torch.Tensor | None = None
        self.generator: torch.Generator | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None

    def setup(self, ctx: StepContext) -> None:
        net = ctx.raw_model
        if not isinstance(net, SR3UNet):
            arch = net_info(net).arch
            raise ConfigError(f"objective.name: diffusion trains sr3 networks (noise prediction), not {arch}")
        info = net.info
        hr_side = ctx.config.data.train.patch_size * ctx.config.scale
        if hr_side % info.size_multiple:
            raise ConfigError(
                f"data.train.patch_size: HR patches of {hr_side} pixels are not a multiple of "
                f"{info.size_multiple} (2 ** (depths - 1) of the sr3 network); choose patch_size * scale "
                "divisible by it"
            )
        self.ctx, self.net = ctx, net
        self.alpha_bars = net.train_alpha_bars().to(ctx.device)
        try:  # what validation and srkit upscale sample with must lie in the trained range
            S.check_in_trained_range(net.default_gammas(), net.trained_gamma_range(), what="model.hparams")
        except ConfigError as err:
            raise ConfigError(f"{err} (or set sample_betas: null)") from None
        self.generator = torch.Generator(device=ctx.device)
        self.generator.manual_seed(ctx.config.seed * 65536 + SEED_OFFSET + _rank())
        self.optimizer = build_optimizer(net, ctx.config.optim)
        self.scheduler = build_scheduler(self.optimizer, ctx.config.schedule, ctx.total_steps)

    def _noise(self, like: torch.Tensor) -> torch.Tensor:
        assert self.generator is not None
        eps = torch.randn(
            like.shape, generator=self.generator, device=self.generator.device, dtype=torch.float32
        )
        return eps.to(like.device).contiguous(memory_format=_memory_format(like))

    def _condition(self, lr: torch.Tensor) -> torch.Tensor:
        blur, gen = self.cfg.blur, self.generator
        assert gen is not None
        if blur.prob <= 0.0:
            return lr
        b = lr.shape[0]
        pick = torch.rand(b, generator=gen, device=gen.device) < blur.prob
        u = torch.rand(b, generator=gen, device=gen.device)
        sigmas = (blur.sigma[0] + (blur.sigma[1] - blur.sigma[0]) * u).to(lr.device)
        blurred = blur_batch(lr.float(), sigmas, blur.kernel_size).to(lr.dtype)
        return torch.where(pick.to(lr.device).view(-1, 1, 1, 1), blurred, lr)

    def train_step(self, batch: Batch, step: int) -> dict[str, float]:
        ctx, net, bars, gen = self.ctx, self.net, self.alpha_bars, self.generator
        optimizer, scheduler = self.optimizer, self.scheduler
        assert ctx is not None and net is not None and bars is not None and gen is not None
        assert optimizer is not None and scheduler is not None
        hr = batch["hr"].float() * 2.0 - 1.0
        lr = batch["lr"].float() * 2.0 - 1.0
        _, gamma = S.draw_training_gammas(bars, hr.shape[0], gen)
        eps = self._noise(hr)
        y0 = net.clean_target(hr, lr)
        y = noisy_target(y0, gamma, eps)
        cond = self._condition(lr)
        level = gamma.sqrt().float().to(hr.device)
        with ctx.autocast():
            pred = ctx.model(net.join(y, cond), level)
        diff = pred.float() - net.training_target(y0, eps, gamma.to(eps.device))
        loss = diff.abs().mean() if self.cfg.loss == "l1" else diff.square().mean()
        ctx.backward(loss)
        grad_norm = ctx.optimizer_step(optimizer)
        scheduler.step()
        return {"loss": float(loss.detach()), "gamma_mean": float(gamma.mean()), "grad_norm": grad_norm}

    def learning_rates(self) -> dict[str, float]:
        assert self.optimizer is not None
        return {"lr": current_lr(self.optimizer)}

    def state_dict(self) -> dict[str, Any]:
        """Optimiser, schedule and every process's generator state (collective under DDP)."""
        assert self.optimizer is not None and self.scheduler is not None and self.generator is not None
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generators": D.all_gather_objects(self.generator.get_state().cpu()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; this process's generator (rank 0's when the process count changed)."""
        assert self.optimizer is not None and self.scheduler is not None and self.generator is not None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        states = state["generators"]
        rank = _rank()
        self.generator.set_state(states[rank] if len(states) > rank else states[0])


def _memory_format(t: torch.Tensor) -> torch.memory_format:
    if t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format
