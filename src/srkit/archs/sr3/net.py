"""SR3's noise-predicting U-Net: Saharia et al., "Image Super-Resolution via Iterative Refinement", 2021
(arXiv:2104.07636), after the DDPM U-Net (Ho et al., "Denoising Diffusion Probabilistic Models", NeurIPS
2020) with SR3's changes, each a hyper-parameter.

Layout (``D = len(channel_mults)`` depths, ``c_d = base_channels * channel_mults[d]``):

- ``noise_embed``: the noise level ``sqrt(gamma)`` of each example -> a sinusoidal vector of
  ``base_channels`` values -> ``linear1`` -> SiLU -> ``linear2`` (``emb_mult * base_channels`` values), added
  (through each block's own linear layer) to every residual block;
- ``conv_in``: 3x3 conv of the concatenated ``(noisy image, bicubic-upsampled LR)`` (``2 * in_channels``;
  the order is ``input_order``) to ``base_channels``;
- ``down``: per depth ``d``, ``num_res_blocks`` residual blocks to ``c_d`` channels, then (except at the last
  depth) a stride-2 3x3 conv; every output is kept for a skip connection;
- ``mid``: a residual block with self-attention (``mid_attn``) and one without;
- ``up``: per depth from the last, ``num_res_blocks + 1`` residual blocks, each taking the concatenation
  with one kept skip, then (except at depth 0) nearest x2 upsampling and a 3x3 conv;
- ``norm_out`` (GroupNorm) -> SiLU -> ``conv_out`` (3x3 to ``in_channels``): the predicted noise.

A residual block (DDPM's wide-ResNet block): ``h = conv1(SiLU(norm1(x))) + emb_proj(SiLU(emb))``;
``h = conv2(dropout(SiLU(norm2(h))))``; ``out = skip(x) + h`` (``skip`` a 1x1 conv when the channels
change); at the depths in ``attn_depths`` it ends with single-stage self-attention
``out + proj(attention(norm(out)))`` over all pixels (``attn_heads`` heads, scale ``1/sqrt(head dim)``).

SR3's changes against the DDPM U-Net (and the seed re-implementation novwaul/SR3, whose write-up is
``shared/seeds/003_*``): GroupNorm of ``num_groups`` = 8 groups instead of 32; self-attention at the last
depth and the one before it (``attn_depths``, default ``[-2, -1]``) and in the middle block, instead of at
16x16 only; channel multipliers ``[1, 2, 4, 4, 8, 8]``; conditioning on the continuous noise level
``sqrt(gamma)`` instead of the step index (WaveGrad, Chen et al. 2021).

**Noise-level embedding** (two different knobs, often confused):

- ``emb_base`` is the *frequency base* of the sinusoid (``max_timescale`` of tensor2tensor, 10000 in
  DDPM): channel ``i < n = base_channels / 2`` is ``sin(v * emb_base**(-i / (n - 1)))`` and channel
  ``n + i`` the cosine;
- ``emb_scale`` multiplies the noise level first, ``v = emb_scale * sqrt(gamma)``: WaveGrad's "linear
  scale" (5000), which spreads ``sqrt(gamma)`` in [0, 1] over the range DDPM's step index covers.

The seed's README says it changed "the linear scale from 10,000 to 5,000", but its code changes the
*frequency base* to 5000 and feeds ``sqrt(gamma)`` unscaled: its presets are ``emb_base=5000,
emb_scale=1``. srkit's default is the WaveGrad convention, ``emb_base=10000, emb_scale=5000``.

**Initialisation** (DDPM's, as the seed): Xavier-uniform weights and zero biases everywhere, and the last
conv of each residual block, each attention's output projection and ``conv_out`` scaled to
``res_init_gain`` (Xavier gain; 1e-5 = the seed's ``sqrt(1e-10)``, 0 = zero init), so every block starts
near the identity.

**The noise schedule belongs to the weights.** ``train_beta_start``, ``train_beta_end`` and
``train_timesteps`` are the training schedule the ``diffusion`` objective reads (so the trained noise
levels, ``[alpha_bar_T, 1]``, travel with the weights), and ``sample_steps``, ``sample_betas`` and
``sampler`` the default sampling of :class:`~srkit.archs.sr3.runner.SR3Runner` (``sample_betas``: SR3
Algorithm 2's linear betas ``[beta_1, beta_N]``; ``None``: linear betas from ``train_beta_start``
ending at the trained ``alpha_bar_T``). ``scale`` is the factor the network was trained for: it runs on
the bicubic-upsampled image, so NetInfo's ``scale`` is 1, and its ``scales`` is ``(scale,)``.

Precision: fp32 and bf16 (GroupNorm and softmax run in fp32 under autocast). fp16 is not listed: srkit has
not measured this network in fp16 (the attention logits and the unnormalised residual stream of a
600M-parameter U-Net are where fp16 overflows first), so the runner refuses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.common import check_bool, check_choice, check_float, check_int
from srkit.archs.contract import NetInfo, SRNet, color_space
from srkit.archs.sr3 import sampling as S
from srkit.errors import ConfigError

ARCH = "sr3"
#: ``prediction`` values: the noise (SR3, DDPM) or ``v = sqrt(gamma) eps - sqrt(1 - gamma) y0`` (Salimans
#: and Ho 2022, "Progressive Distillation for Fast Sampling of Diffusion Models", Sec. 4).
PREDICTIONS = ("eps", "v")
#: ``target`` values: the HR image (SR3) or its residual over the upsampled LR (SRDiff).
TARGETS = ("image", "residual")
#: ``input_order`` values: which half of the input channels holds the noisy image.
INPUT_ORDERS = ("noisy_cond", "cond_noisy")
SAMPLERS = S.SAMPLER_NAMES


def _xavier(module: nn.Conv2d | nn.Linear, gain: float = 1.0) -> None:
    """Xavier-uniform weight with ``gain`` (0: zeros) and a zero bias (DDPM's initialisation)."""
    if gain == 0.0:
        nn.init.zeros_(module.weight)
    else:
        nn.init.xavier_uniform_(module.weight, gain=gain)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def _conv(cin: int, cout: int, kernel: int = 3, stride: int = 1, gain: float = 1.0) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2)
    _xavier(conv, gain)
    return conv


def _linear(cin: int, cout: int, gain: float = 1.0) -> nn.Linear:
    linear = nn.Linear(cin, cout)
    _xavier(linear, gain)
    return linear


class NoiseLevelEmbedding(nn.Module):
    """``sqrt(gamma)`` ``(B,)`` -> ``(B, out_dim)``: sinusoid of ``emb_scale * sqrt(gamma)`` with frequency
    base ``emb_base`` over ``dim`` channels (sines then cosines, a zero channel when ``dim`` is odd), then
    ``linear1`` -> SiLU -> ``linear2`` (see the module docstring)."""

    def __init__(self, dim: int, out_dim: int, base: float, scale: float) -> None:
        super().__init__()
        self.dim, self.base, self.scale = dim, base, scale
        self.linear1 = _linear(dim, out_dim)
        self.linear2 = _linear(out_dim, out_dim)

    def sinusoid(self, level: torch.Tensor) -> torch.Tensor:
        """The sinusoidal part, float32 ``(B, dim)``."""
        half = self.dim // 2
        steps = torch.arange(half, device=level.device, dtype=torch.float32)
        freqs = torch.exp(steps * (-math.log(self.base) / (half - 1)))
        arg = (self.scale * level.float())[:, None] * freqs[None]
        emb = torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)
        return F.pad(emb, (0, self.dim % 2))

    def forward(self, level: torch.Tensor) -> torch.Tensor:
        return self.linear2(F.silu(self.linear1(self.sinusoid(level))))


class SelfAttention(nn.Module):
    """``x + proj(MHSA(norm(x)))`` over all ``H * W`` pixels; ``qkv`` and ``proj`` are 1x1 convs."""

    def __init__(self, channels: int, heads: int, groups: int, out_gain: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = _conv(channels, 3 * channels, kernel=1)
        self.proj = _conv(channels, channels, kernel=1, gain=out_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w)
        q, k, v = (qkv[:, i].transpose(-1, -2) for i in range(3))  # (B, heads, HW, d)
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class ResBlock(nn.Module):
    """DDPM's residual block with the noise embedding added after ``conv1`` and optional self-attention
    (see the module docstring)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        emb_dim: int,
        *,
        attn: bool,
        heads: int,
        groups: int,
        dropout: float,
        out_gain: float,
    ) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = _conv(cin, cout)
        self.emb_proj = _linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _conv(cout, cout, gain=out_gain)
        self.skip = _conv(cin, cout, kernel=1) if cin != cout else None
        self.attn = SelfAttention(cout, heads, groups, out_gain) if attn else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        out = (x if self.skip is None else self.skip(x)) + h
        return out if self.attn is None else self.attn(out)


class Downsample(nn.Module):
    """Stride-2 3x3 conv (key ``conv``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = _conv(channels, channels, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest x2 upsampling and a 3x3 conv (key ``conv``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = _conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _int_list(key: str, value: Any, minimum: int) -> list[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ConfigError(f"{ARCH}: {key}={value!r} must be a non-empty list of integers")
    return [check_int(ARCH, key, v, minimum=minimum) for v in value]


def attention_depths(attn_depths: Sequence[int], depths: int) -> set[int]:
    """``attn_depths`` (negative counts from the last depth) as depth indices ``0..depths-1``."""
    if isinstance(attn_depths, (str, bytes)) or not isinstance(attn_depths, Sequence):
        raise ConfigError(f"{ARCH}: attn_depths={attn_depths!r} must be a list of depth indices")
    found: set[int] = set()
    for d in attn_depths:
        if isinstance(d, bool) or not isinstance(d, int) or not -depths <= d < depths:
            raise ConfigError(
                f"{ARCH}: attn_depths has {d!r}; depths are 0..{depths - 1} (or -{depths}..-1 from the last)"
            )
        found.add(d % depths)
    return found


def _check_sample_betas(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ConfigError(f"{ARCH}: sample_betas={value!r} must be [beta_1, beta_N] or null")
    first, last = (check_float(ARCH, "sample_betas", v) for v in value)
    if not (first < 1.0 and last < 1.0):
        raise ConfigError(f"{ARCH}: sample_betas={value!r} must lie in (0, 1)")
    return first, last


class SR3UNet(SRNet):
    """SR3's noise-predicting U-Net (see the module docstring for the layout and every hyper-parameter).

    ``forward(x, noise_level)``: ``x`` ``(B, 2 * in_channels, H, W)`` is the noisy image and the
    bicubic-upsampled LR, both in [-1, 1], concatenated in ``input_order`` (:meth:`join`);
    ``noise_level`` ``(B,)`` is ``sqrt(gamma)``; returns the predicted noise ``(B, in_channels, H, W)``.
    ``H`` and ``W`` must be multiples of ``2 ** (len(channel_mults) - 1)``.

    Args:
        in_channels: image channels (3 = RGB, 1 = Y).
        scale: the upscaling factor the network is trained for (reported by NetInfo's ``scales``).
        base_channels: channels of depth 0 (and of the sinusoidal embedding).
        channel_mults: one channel multiplier per depth.
        num_res_blocks: residual blocks per depth on the way down (``+ 1`` on the way up).
        attn_depths: depths with self-attention (negative from the last).
        mid_attn: self-attention in the first middle block.
        attn_heads: heads of every self-attention (1 in DDPM and the seed).
        num_groups: GroupNorm groups (8 in SR3; every channel count must be a multiple).
        dropout: dropout rate inside the residual blocks.
        emb_mult: the embedding MLP's width as a multiple of ``base_channels``.
        emb_base, emb_scale: the noise-level sinusoid's frequency base and input multiplier.
        res_init_gain: Xavier gain of each block's last conv, attention projection and ``conv_out``.
        input_order: ``'noisy_cond'`` (the seed's) or ``'cond_noisy'``.
        target: what the diffusion generates: ``'image'`` (SR3: the HR image) or ``'residual'`` (the HR
            image minus the upsampled LR, as SRDiff does: Li et al. 2022, "SRDiff: Single Image
            Super-Resolution with Diffusion Probabilistic Models"; the runner adds the LR back).
        prediction: what the network outputs: ``'eps'`` (SR3: the noise) or ``'v'`` (``sqrt(gamma) eps -
            sqrt(1 - gamma) y0``, Salimans and Ho 2022), which stays well conditioned at high noise, where
            ``eps`` determines ``y0`` only up to a factor ``1 / sqrt(gamma)``; :meth:`noise_from` turns
            either into the noise the samplers take.
        train_beta_start, train_beta_end, train_timesteps: the training schedule.
        sample_steps, sample_betas, sampler: the default sampling.
    """

    def __init__(
        self,
        in_channels: int = 3,
        scale: int = 4,
        base_channels: int = 64,
        channel_mults: Sequence[int] = (1, 2, 4, 4, 8, 8),
        num_res_blocks: int = 3,
        attn_depths: Sequence[int] = (-2, -1),
        mid_attn: bool = True,
        attn_heads: int = 1,
        num_groups: int = 8,
        dropout: float = 0.0,
        emb_mult: int = 4,
        emb_base: float = 10000.0,
        emb_scale: float = 5000.0,
        res_init_gain: float = 1e-5,
        input_order: str = "noisy_cond",
        target: str = "image",
        prediction: str = "eps",
        train_beta_start: float = 1e-4,
        train_beta_end: float = 0.005,
        train_timesteps: int = 1000,
        sample_steps: int = 100,
        sample_betas: Sequence[float] | None = None,
        sampler: str = "sr3",
    ) -> None:
        super().__init__()
        in_channels = check_int(ARCH, "in_channels", in_channels)
        check_int(ARCH, "scale", scale)
        base = check_int(ARCH, "base_channels", base_channels, minimum=4)
        mults = _int_list("channel_mults", channel_mults, 1)
        blocks = check_int(ARCH, "num_res_blocks", num_res_blocks)
        attn_at = attention_depths(attn_depths, len(mults))
        #: the shallowest depth with self-attention (``len(mults) - 1`` for the middle block's), where the
        #: attention map is largest: ``(H W / 4 ** depth) ** 2`` entries per head
        self.first_attention_depth = min(attn_at, default=len(mults) - 1) if (attn_at or mid_attn) else None
        mid_attn = check_bool(ARCH, "mid_attn", mid_attn)
        heads = check_int(ARCH, "attn_heads", attn_heads)
        groups = check_int(ARCH, "num_groups", num_groups)
        dropout = check_float(ARCH, "dropout", dropout, positive=False)
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"{ARCH}: dropout={dropout!r} must be in [0, 1)")
        emb_dim = check_int(ARCH, "emb_mult", emb_mult) * base
        emb_base = check_float(ARCH, "emb_base", emb_base)
        if emb_base <= 1.0:
            raise ConfigError(f"{ARCH}: emb_base={emb_base!r} must be > 1")
        emb_scale = check_float(ARCH, "emb_scale", emb_scale)
        gain = check_float(ARCH, "res_init_gain", res_init_gain, positive=False)
        if gain < 0:
            raise ConfigError(f"{ARCH}: res_init_gain={gain!r} must be >= 0")
        self.input_order = check_choice(ARCH, "input_order", input_order, INPUT_ORDERS)
        self.target = check_choice(ARCH, "target", target, TARGETS)
        self.prediction = check_choice(ARCH, "prediction", prediction, PREDICTIONS)
        self._check_schedules(train_beta_start, train_beta_end, train_timesteps, sample_steps, sample_betas)
        check_choice(ARCH, "sampler", sampler, SAMPLERS)
        widths = sorted({base, *(base * m for m in mults)})
        bad = [c for c in widths if c % groups or c % heads]
        if bad:
            raise ConfigError(
                f"{ARCH}: {bad[0]} channels (base_channels x channel_mults) is not a multiple of "
                f"num_groups={groups} and attn_heads={heads}"
            )

        def block(cin: int, cout: int, attn: bool) -> ResBlock:
            return ResBlock(
                cin, cout, emb_dim, attn=attn, heads=heads, groups=groups, dropout=dropout, out_gain=gain
            )

        self.in_channels = in_channels
        self.noise_embed = NoiseLevelEmbedding(base, emb_dim, emb_base, emb_scale)
        self.conv_in = _conv(2 * in_channels, base)
        self.down = nn.ModuleList()
        skips = [base]
        ch = base
        for d, mult in enumerate(mults):
            for _ in range(blocks):
                self.down.append(block(ch, base * mult, d in attn_at))
                ch = base * mult
                skips.append(ch)
            if d < len(mults) - 1:
                self.down.append(Downsample(ch))
                skips.append(ch)
        self.mid = nn.ModuleList([block(ch, ch, mid_attn), block(ch, ch, False)])
        self.up = nn.ModuleList()
        for d in reversed(range(len(mults))):
            for _ in range(blocks + 1):
                self.up.append(block(ch + skips.pop(), base * mults[d], d in attn_at))
                ch = base * mults[d]
            if d > 0:
                self.up.append(Upsample(ch))
        self.norm_out = nn.GroupNorm(groups, ch)
        self.conv_out = _conv(ch, in_channels, gain=gain)

    @staticmethod
    def _check_schedules(
        beta_start: Any, beta_end: Any, timesteps: Any, sample_steps: Any, sample_betas: Any
    ) -> None:
        for key, value in (("train_beta_start", beta_start), ("train_beta_end", beta_end)):
            v = check_float(ARCH, key, value)
            if v >= 1.0:
                raise ConfigError(f"{ARCH}: {key}={value!r} must be in (0, 1)")
        check_int(ARCH, "train_timesteps", timesteps)
        check_int(ARCH, "sample_steps", sample_steps)
        _check_sample_betas(sample_betas)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["in_channels"]
        return NetInfo(
            ARCH,
            1,
            channels,
            channels,
            color_space(channels),
            input="upsampled",
            scales=(int(hparams["scale"]),),
            size_multiple=2 ** (len(hparams["channel_mults"]) - 1),
            precisions=("fp32", "bf16"),
            tiling="per_step",
            kind="iterative",
        )

    # -- the schedules stored with the weights -----------------------------------------------------------

    def train_alpha_bars(self) -> torch.Tensor:
        """``alpha_bar_0..alpha_bar_T`` of the training schedule (float64, ``sampling.train_alpha_bars``)."""
        hp = self.hparams
        return S.train_alpha_bars(hp["train_beta_start"], hp["train_beta_end"], hp["train_timesteps"])

    def trained_gamma_range(self) -> tuple[float, float]:
        """``(alpha_bar_T, 1)``: the noise levels the training schedule draws (the trained range)."""
        return S.trained_gamma_range(self.train_alpha_bars())

    def default_gammas(
        self,
        steps: int | None = None,
        gamma_range: Sequence[float] | None = None,
        spacing: str = "linear_beta",
    ) -> torch.Tensor:
        """The sampling gamma schedule. With no arguments: ``sample_betas`` over ``sample_steps`` (SR3's
        Algorithm 2), or, when ``sample_betas`` is null, linear betas from ``train_beta_start`` ending at the
        trained ``alpha_bar_T``. Otherwise ``steps`` levels between the ends of ``gamma_range`` (default: the
        default schedule's ends), spaced as ``spacing`` says: ``'linear_beta'`` (linear betas, the last one
        solved) or ``'logsnr'`` (uniform in log-SNR)."""
        hp = self.hparams
        betas = _check_sample_betas(hp["sample_betas"])
        default_steps = hp["sample_steps"]
        if betas is not None:
            default = S.linear_beta_gammas(betas[0], betas[1], default_steps)
            same_steps = steps is None or steps == default_steps
            if gamma_range is None and same_steps and spacing == "linear_beta":
                return default
            ends = S.schedule_range(default)
        else:
            ends = (self.trained_gamma_range()[0], 1.0 - hp["train_beta_start"])
        if gamma_range is not None:
            if isinstance(gamma_range, (str, bytes)) or len(gamma_range) != 2:
                raise ConfigError(f"gamma_range: {gamma_range!r} must be [gamma_min, gamma_max]")
            ends = (gamma_range[0], gamma_range[1])
        return S.gammas_between(ends[0], ends[1], default_steps if steps is None else steps, spacing)

    # -- the network ---------------------------------------------------------------------------------

    def clean_target(self, hr: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """What the diffusion generates for HR ``hr`` given the upsampled LR ``cond`` (both in [-1, 1]):
        ``hr`` (``target: image``) or ``hr - cond`` (``target: residual``)."""
        return hr - cond if self.target == "residual" else hr

    def training_target(self, y0: torch.Tensor, eps: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """What the network learns to output for the clean ``y0``, the noise ``eps`` and ``gamma`` ``(B,)``:
        ``eps``, or ``v = sqrt(gamma) eps - sqrt(1 - gamma) y0``."""
        if self.prediction == "eps":
            return eps
        g = gamma.reshape(-1, *([1] * (eps.dim() - 1))).to(eps)
        return g.sqrt() * eps - (1.0 - g).sqrt() * y0

    def noise_from(self, output: torch.Tensor, y: torch.Tensor, sqrt_gamma: torch.Tensor) -> torch.Tensor:
        """The predicted noise for the network's ``output`` on ``y`` at ``sqrt(gamma)`` ``(B,)``: the output
        itself, or ``sqrt(gamma) v + sqrt(1 - gamma) y`` (which equals ``eps`` for the exact ``v``)."""
        if self.prediction == "eps":
            return output
        a = sqrt_gamma.reshape(-1, *([1] * (y.dim() - 1))).to(output)
        return a * output + (1.0 - a * a).clamp_min(0.0).sqrt() * y

    def image_from(self, y0: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The HR image in [-1, 1] for a generated ``y0`` (the inverse of :meth:`clean_target`)."""
        return y0 + cond if self.target == "residual" else y0

    def join(self, noisy: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The network input: ``noisy`` and ``cond`` (both ``(B, in_channels, H, W)`` in [-1, 1]) concatenated
        along channels in ``input_order``."""
        pair = (noisy, cond) if self.input_order == "noisy_cond" else (cond, noisy)
        return torch.cat(pair, dim=1)

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, 2C, H, W)``, ``sqrt(gamma)`` ``(B,)`` -> predicted noise ``(B, C, H, W)``."""
        if noise_level is None:
            raise ConfigError(
                f"{ARCH}: the network predicts noise and needs noise_level=sqrt(gamma); train it with "
                "objective.name: diffusion and run it through its runner (srkit upscale / eval)"
            )
        if x.dim() != 4 or x.shape[1] != 2 * self.in_channels:
            raise ConfigError(
                f"{ARCH}: expected (B, {2 * self.in_channels}, H, W) = cat(noisy, upsampled LR), got "
                f"{tuple(x.shape)}"
            )
        level = noise_level.reshape(-1).to(x.device)
        if level.numel() == 1:
            level = level.expand(x.shape[0])
        if level.numel() != x.shape[0]:
            raise ConfigError(f"{ARCH}: noise_level has {level.numel()} values for a batch of {x.shape[0]}")
        emb = self.noise_embed(level)
        h = self.conv_in(x)
        kept = [h]
        for module in self.down:
            h = module(h, emb) if isinstance(module, ResBlock) else module(h)
            kept.append(h)
        for module in self.mid:
            h = module(h, emb)
        for module in self.up:
            h = module(torch.cat([h, kept.pop()], dim=1), emb) if isinstance(module, ResBlock) else module(h)
        return self.conv_out(F.silu(self.norm_out(h)))
