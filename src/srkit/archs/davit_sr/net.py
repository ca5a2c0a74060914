"""A DaViT-like super-resolution transformer: alternating window (spatial) and channel attention.

The design of ``transformerSR`` (the seed write-up in ``shared/seeds/004_*``), after DaViT (Ding et al.,
"DaViT: Dual Attention Vision Transformers", ECCV 2022): a 3x3 conv into ``dim`` channels, ``num_pairs``
pairs of [window-attention block, channel-attention block], a 3x3 conv to ``out_channels * scale**2``
channels and a pixel shuffle. The image is shifted by -0.5 before the network and by +0.5 after it.

Every block is pre-LayerNorm: ``x + MHSA(LN1 x)`` then ``x + MLP(LN2 x)``, the MLP ``dim -> 4 dim -> dim``
with GELU; every linear layer, conv and norm has a bias.

- **Window attention**: multi-head self-attention inside non-overlapping ``window_size`` x
  ``window_size`` windows (tokens are pixels, ``d = dim / num_heads`` channels per head).
- **Channel attention**: per head, the ``d`` channels of the head attend to each other, the "tokens"
  being the head's channels and the features their values at *all* pixels of the image:
  ``softmax(q^T k * scale) v^T`` with ``q, k, v`` of shape ``(L, d)`` (``L`` pixels).

Attention logit scaling (``attn_scaling``):

- ``'seed'``: the published code's, ``1/d**2`` for window attention and ``1/L**2`` for channel attention
  (``L`` = pixels of the input), needed to read its weights. The channel logits then shrink with the
  input size, so channel attention flattens towards a per-head channel mean on larger inputs.
- ``'standard'``: ``1/sqrt(d)`` for both (DaViT). The channel logits are sums over all ``L`` pixels and
  grow with the input size, so channel attention sharpens on larger inputs.

Either way channel attention sees global statistics of whatever it is given, so tiles differ from the
whole image (``NetInfo.tiling`` is ``'approximate'``; ``docs/transformers.md`` has the numbers).

Options beyond the seed, each off by default (off = the seed):

- ``conv_pos_enc``: DaViT's ConvPosEnc, ``x + DWConv3x3(x)`` before each attention (key ``cpe``);
- ``long_residual``: ``body(f) + f`` around all pairs (``f`` = the first conv's output);
- ``image_skip``: the output is ``bicubic(x) + tail(...)`` (PyTorch bicubic, ``align_corners=False``)
  instead of ``tail(...) + 0.5``.

Precision: fp32 and bf16. fp16 is excluded because of the channel-attention logits. With the seed's
scaling the published code's factors ``q / L`` and ``k / L`` fall below fp16's smallest normal number
(6.1e-5) beyond 128x128 pixels for unit-size features, and the logits themselves (about ``|q| |k| / L``)
keep only a few bits or flush to zero; with the standard scaling the logits are sums over all ``L``
pixels and grow with ``L`` (about 3200 at 256x256 for random weights, so near 1000x1000 pixels they
pass fp16's largest number, 65504). Whether fp16 then works depends on where a kernel applies the
scale; bf16 has fp32's exponent range.

Sizes: input sides should be multiples of ``window_size`` (the NetInfo's ``size_multiple``; the runner
pads). Other sizes still run: window attention pads the bottom and right edges of its windows and masks
the padded keys out.

srkit's keys: ``in_conv``, ``pairs.{i}.spatial.*`` and ``pairs.{i}.channel.*`` (each ``norm1``,
``attn.qkv`` (q, k, v stacked), ``attn.proj``, ``norm2``, ``mlp.0``, ``mlp.2``, and ``cpe`` with
``conv_pos_enc``), ``out_conv``. The seed hyper-parameters (``dim`` 256, 8 pairs, 16 heads, window 4,
x4) have 12,753,968 parameters: ``12 dim**2 + 13 dim`` per block (qkv ``3 dim**2 + 3 dim``, proj
``dim**2 + dim``, MLP ``8 dim**2 + 5 dim``, two norms ``4 dim``), plus ``28 dim`` for ``in_conv`` and
``(9 dim + 1) * 3 * scale**2`` for ``out_conv``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.common import check_bool, check_choice, check_int
from srkit.archs.contract import NetInfo, SRNet, color_space
from srkit.errors import ConfigError

DAVIT_SCALES = (2, 3, 4, 8)
ATTN_SCALINGS = ("seed", "standard")
AttnScaling = Literal["seed", "standard"]
MLP_RATIO = 4


def window_scale(head_dim: int, scaling: str) -> float:
    """The logit scale of window attention: ``1/d**2`` (seed) or ``1/sqrt(d)`` (standard)."""
    return 1.0 / head_dim**2 if scaling == "seed" else head_dim**-0.5


def channel_scale(head_dim: int, pixels: int, scaling: str) -> float:
    """The logit scale of channel attention: ``1/L**2`` (seed, ``L`` pixels) or ``1/sqrt(d)``."""
    return 1.0 / float(pixels) ** 2 if scaling == "seed" else head_dim**-0.5


class Attention(nn.Module):
    """The projections of one attention layer: ``qkv`` (``dim -> 3 dim``, q, k, v stacked, each split into
    ``num_heads`` heads of ``dim / num_heads`` channels) and ``proj`` (``dim -> dim``)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def heads(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(N, T, dim)`` -> q, k, v stacked: ``(3, N, heads, T, d)``."""
        n, t, c = tokens.shape
        return self.qkv(tokens).view(n, t, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)

    def merge(self, heads: torch.Tensor) -> torch.Tensor:
        """``(N, heads, T, d)`` -> ``proj`` of ``(N, T, dim)``."""
        n, h, t, d = heads.shape
        return self.proj(heads.transpose(1, 2).reshape(n, t, h * d))


def _window_mask(h: int, w: int, window: int, device: torch.device) -> torch.Tensor:
    """Which keys of each window are real pixels, for an ``h`` x ``w`` map padded at the bottom and right
    to multiples of ``window``: ``(windows, 1, 1, window**2)`` booleans for SDPA's ``attn_mask``."""
    hp, wp = -(-h // window) * window, -(-w // window) * window
    valid = torch.zeros(hp, wp, dtype=torch.bool, device=device)
    valid[:h, :w] = True
    valid = valid.view(hp // window, window, wp // window, window).permute(0, 2, 1, 3)
    return valid.reshape(-1, 1, 1, window * window)


def window_attention(attn: Attention, x: torch.Tensor, window: int, scaling: str) -> torch.Tensor:
    """Multi-head self-attention within non-overlapping windows of ``x`` ``(B, H, W, C)``."""
    b, h, w, c = x.shape
    pad_h, pad_w = -h % window, -w % window
    mask = None
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        mask = _window_mask(h, w, window, x.device).repeat(b, 1, 1, 1)
    hp, wp = h + pad_h, w + pad_w
    tokens = x.view(b, hp // window, window, wp // window, window, c).permute(0, 1, 3, 2, 4, 5)
    q, k, v = attn.heads(tokens.reshape(-1, window * window, c))
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, scale=window_scale(c // attn.num_heads, scaling)
    )
    out = attn.merge(out).view(b, hp // window, wp // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return out.reshape(b, hp, wp, c)[:, :h, :w]


def channel_attention(attn: Attention, x: torch.Tensor, scaling: str) -> torch.Tensor:
    """Per head, the head's channels attend to each other over all pixels of ``x`` ``(B, H, W, C)``:
    SDPA with the channels as the sequence and the ``L = H * W`` pixels as the feature dimension."""
    b, h, w, c = x.shape
    q, k, v = attn.heads(x.reshape(b, h * w, c)).transpose(-2, -1)  # each (B, heads, d, L)
    if scaling == "seed":  # 1/L**2 as the published code applies it: q/L and k/L (and L stays symbolic
        pixels = h * w  # in exported graphs, where a Python-float scale would be fixed to the traced size)
        q, k, scale = q / pixels, k / pixels, 1.0
    else:
        scale = channel_scale(c // attn.num_heads, h * w, scaling)
    out = F.scaled_dot_product_attention(q, k, v, scale=scale)
    return attn.merge(out.transpose(-2, -1)).view(b, h, w, c)


class Block(nn.Module):
    """One pre-LayerNorm transformer block on ``(B, H, W, C)`` features: ``x + attn(norm1(x))`` then
    ``x + mlp(norm2(x))``; window attention (``kind='window'``) or channel attention (``'channel'``);
    with ``conv_pos_enc``, ``x + cpe(x)`` (3x3 depthwise conv) first."""

    def __init__(
        self, kind: str, dim: int, num_heads: int, window_size: int, scaling: str, conv_pos_enc: bool
    ) -> None:
        super().__init__()
        self.kind, self.window_size, self.scaling = kind, window_size, scaling
        self.cpe = nn.Conv2d(dim, dim, 3, padding=1, groups=dim) if conv_pos_enc else None
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, MLP_RATIO * dim), nn.GELU(), nn.Linear(MLP_RATIO * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cpe is not None:
            x = x + self.cpe(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        y = self.norm1(x)
        if self.kind == "window":
            x = x + window_attention(self.attn, y, self.window_size, self.scaling)
        else:
            x = x + channel_attention(self.attn, y, self.scaling)
        return x + self.mlp(self.norm2(x))

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, window_size={self.window_size}, scaling={self.scaling!r}"


class Pair(nn.Module):
    """A window-attention block (``spatial``) followed by a channel-attention block (``channel``)."""

    def __init__(self, dim: int, num_heads: int, window_size: int, scaling: str, conv_pos_enc: bool) -> None:
        super().__init__()
        self.spatial = Block("window", dim, num_heads, window_size, scaling, conv_pos_enc)
        self.channel = Block("channel", dim, num_heads, window_size, scaling, conv_pos_enc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel(self.spatial(x))


class DaViTSR(SRNet):
    """The window/channel-attention SR transformer (see the module docstring).

    The defaults are the published model's (``transformerSR_b8_d256_w4_h16``): 12,753,968 parameters.

    Args:
        scale: 2, 3, 4 or 8 (one pixel shuffle by ``scale``).
        in_channels, out_channels: image channels (3; 1 for a luminance network).
        dim: feature channels ``C``.
        num_pairs: pairs of [window attention, channel attention] blocks.
        num_heads: attention heads; must divide ``dim``.
        window_size: side of the attention windows.
        attn_scaling: ``'seed'`` or ``'standard'`` (see the module docstring).
        conv_pos_enc, long_residual, image_skip: the options (see the module docstring).
    """

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        dim: int = 256,
        num_pairs: int = 8,
        num_heads: int = 16,
        window_size: int = 4,
        attn_scaling: AttnScaling = "seed",
        conv_pos_enc: bool = False,
        long_residual: bool = False,
        image_skip: bool = False,
    ) -> None:
        super().__init__()
        arch = "davit_sr"
        scale = check_choice(arch, "scale", scale, DAVIT_SCALES)
        in_channels = check_int(arch, "in_channels", in_channels)
        out_channels = check_int(arch, "out_channels", out_channels)
        dim = check_int(arch, "dim", dim)
        num_pairs = check_int(arch, "num_pairs", num_pairs, minimum=0)
        num_heads = check_int(arch, "num_heads", num_heads)
        window_size = check_int(arch, "window_size", window_size)
        scaling = check_choice(arch, "attn_scaling", attn_scaling, ATTN_SCALINGS)
        conv_pos_enc = check_bool(arch, "conv_pos_enc", conv_pos_enc)
        self.long_residual = check_bool(arch, "long_residual", long_residual)
        self.image_skip = check_bool(arch, "image_skip", image_skip)
        if dim % num_heads:
            raise ConfigError(f"{arch}: dim={dim} is not a multiple of num_heads={num_heads}")
        if self.image_skip and in_channels != out_channels:
            raise ConfigError(f"{arch}: image_skip needs in_channels == out_channels")
        self.scale = scale

        self.in_conv = nn.Conv2d(in_channels, dim, 3, padding=1)
        self.pairs = nn.ModuleList(
            Pair(dim, num_heads, window_size, scaling, conv_pos_enc) for _ in range(num_pairs)
        )
        self.out_conv = nn.Conv2d(dim, out_channels * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["in_channels"]
        return NetInfo(
            "davit_sr",
            hparams["scale"],
            channels,
            hparams["out_channels"],
            color_space(channels),
            size_multiple=hparams["window_size"],
            precisions=("fp32", "bf16"),
            tiling="approximate",
        )

    def body(self, feat: torch.Tensor) -> torch.Tensor:
        """The pairs of blocks on ``(B, C, H, W)`` features (run as ``(B, H, W, C)`` tokens)."""
        x = feat.permute(0, 2, 3, 1)
        for pair in self.pairs:
            x = pair(x)
        out = x.permute(0, 3, 1, 2)
        return out + feat if self.long_residual else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in [0, 1] -> ``(B, C, scale*H, scale*W)`` (not clamped)."""
        out = self.shuffle(self.out_conv(self.body(self.in_conv(x - 0.5))))
        if self.image_skip:
            return out + F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return out + 0.5
