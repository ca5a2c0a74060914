"""SPAN: Wan et al., "Swift Parameter-free Attention Network for Efficient Super-Resolution", CVPRW 2024
(NTIRE 2024 efficient SR challenge winner; hongyuanyu/SPAN)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.common import check_bool, check_float, check_int
from srkit.archs.contract import NetInfo, SRNet, color_space
from srkit.errors import ConfigError

DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    assert conv.bias is not None  # every conv of SPAN has one
    return conv.bias


class Conv3XC(nn.Module):
    """SPAN's re-parameterisable 3x3 convolution (``Conv3XC``).

    Training form (``reparameterized=False``): ``conv`` = 1x1 (``c_in -> gain * c_in``), 3x3 without
    padding (``-> gain * c_out``), 1x1 (``-> c_out``), applied to the zero-padded input, plus the 1x1
    shortcut ``sk``; every conv has a bias. All of it is linear, so it equals one 3x3 conv with zero
    padding, ``eval_conv`` (the form the released files hold, ``reparameterized=True``); :meth:`fused`
    computes that conv's weight and bias.
    """

    def __init__(self, c_in: int, c_out: int, gain: int = 2, reparameterized: bool = False) -> None:
        super().__init__()
        self.reparameterized = reparameterized
        if reparameterized:
            self.eval_conv = nn.Conv2d(c_in, c_out, 3, 1, 1)
        else:
            self.sk = nn.Conv2d(c_in, c_out, 1)
            self.conv = nn.Sequential(
                nn.Conv2d(c_in, c_in * gain, 1),
                nn.Conv2d(c_in * gain, c_out * gain, 3),
                nn.Conv2d(c_out * gain, c_out, 1),
            )

    @torch.no_grad()
    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(weight, bias)`` of the single 3x3 conv this one equals (computed in float64, returned in
        the weights' dtype)."""
        if self.reparameterized:
            return self.eval_conv.weight.detach().clone(), _bias(self.eval_conv).detach().clone()
        first, mid, last = (layer for layer in self.conv if isinstance(layer, nn.Conv2d))
        dtype = mid.weight.dtype
        w1, b1 = first.weight.double()[:, :, 0, 0], _bias(first).double()
        w2, b2 = mid.weight.double(), _bias(mid).double()
        w3, b3 = last.weight.double()[:, :, 0, 0], _bias(last).double()
        weight = torch.einsum("on,nmhw,mi->oihw", w3, w2, w1)
        weight[:, :, 1, 1] += self.sk.weight.double()[:, :, 0, 0]
        bias = w3 @ (w2.sum(dim=(2, 3)) @ b1 + b2) + b3 + _bias(self.sk).double()
        return weight.to(dtype), bias.to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reparameterized:
            return self.eval_conv(x)
        return self.conv(F.pad(x, (1, 1, 1, 1))) + self.sk(x)


class SPAB(nn.Module):
    """Swift parameter-free attention block: three :class:`Conv3XC` (``c1_r``, ``c2_r``, ``c3_r``) with
    SiLU after the first two; the attention ``sigmoid(out3) - 0.5`` (no parameters) multiplies
    ``out3 + x``. Returns the block's output and the first conv's activated output (SPAN's
    in-place SiLU makes the second value the activated one, which the tail concatenates)."""

    def __init__(self, channels: int, gain: int = 2, reparameterized: bool = False) -> None:
        super().__init__()
        self.c1_r = Conv3XC(channels, channels, gain, reparameterized)
        self.c2_r = Conv3XC(channels, channels, gain, reparameterized)
        self.c3_r = Conv3XC(channels, channels, gain, reparameterized)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out1 = F.silu(self.c1_r(x))
        out3 = self.c3_r(F.silu(self.c2_r(out1)))
        attention = torch.sigmoid(out3) - 0.5
        return (out3 + x) * attention, out1


class SPAN(SRNet):
    """SPAN (Wan et al. 2024), laid out as in hongyuanyu/SPAN so its checkpoints load key for key.

    ``conv_1`` (:class:`Conv3XC`, ``channels -> feature_channels``) -> ``block_1`` ... ``block_N``
    (:class:`SPAB`) -> ``conv_2`` (:class:`Conv3XC`) on the last block's output; ``conv_cat`` (1x1) on the
    concatenation of ``conv_1``'s output, ``conv_2``'s, ``block_1``'s and the last block's first
    activated conv; ``upsampler.0`` 3x3 conv to ``channels * scale**2`` + ``PixelShuffle(scale)``. The paper's
    SPAN is 48 channels and 6 blocks (x4: 426,108 parameters re-parameterised); the NTIRE 2024 challenge
    entry 28 channels (150,688).

    Input: RGB in [0, 1]; the network subtracts ``rgb_mean`` and multiplies by ``img_range`` (255)
    itself, and its output is the [0, 1] image directly (SPAN adds nothing back).

    **Forms.** ``reparameterized=False`` (the default, what trains) holds each :class:`Conv3XC` as its
    training-time branches (``sk``, ``conv.0``-``conv.2``); ``True`` holds only ``eval_conv`` per
    :class:`Conv3XC`, the form of the released files. :meth:`fused` turns the first into the second
    (the same function, up to float rounding).

    Args:
        channels: image channels in and out (must equal ``len(rgb_mean)``).
        feature_channels: channels of the trunk (48 in the paper, 28 in the challenge model).
        num_block: SPABs (6).
        scale: upscaling factor (any integer >= 1; 2, 3, 4 in the paper).
        gain: channel expansion inside the training-time :class:`Conv3XC` (2; unused when
            ``reparameterized``).
        reparameterized: the single-conv form (see above).
        img_range, rgb_mean: the input normalisation, ``(x - rgb_mean) * img_range``.
    """

    mean: torch.Tensor

    def __init__(
        self,
        channels: int = 3,
        feature_channels: int = 48,
        num_block: int = 6,
        scale: int = 4,
        gain: int = 2,
        reparameterized: bool = False,
        img_range: float = 255.0,
        rgb_mean: Sequence[float] = DIV2K_RGB_MEAN,
    ) -> None:
        super().__init__()
        arch = "span"
        channels = check_int(arch, "channels", channels)
        feat = check_int(arch, "feature_channels", feature_channels)
        num_block = check_int(arch, "num_block", num_block)
        scale = check_int(arch, "scale", scale)
        gain = check_int(arch, "gain", gain)
        reparameterized = check_bool(arch, "reparameterized", reparameterized)
        self.img_range = check_float(arch, "img_range", img_range)
        if isinstance(rgb_mean, (str, bytes)) or not isinstance(rgb_mean, Sequence):
            raise ConfigError(f"{arch}: rgb_mean={rgb_mean!r} must be a list of numbers")
        mean = [check_float(arch, "rgb_mean", v, positive=False) for v in rgb_mean]
        if len(mean) != channels:
            raise ConfigError(f"{arch}: rgb_mean has {len(mean)} values but channels={channels}")
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)

        self.conv_1 = Conv3XC(channels, feat, gain, reparameterized)
        self.block_names = [f"block_{i}" for i in range(1, num_block + 1)]
        for name in self.block_names:
            self.add_module(name, SPAB(feat, gain, reparameterized))
        self.conv_cat = nn.Conv2d(feat * 4, feat, 1)
        self.conv_2 = Conv3XC(feat, feat, gain, reparameterized)
        self.upsampler = nn.Sequential(
            nn.Conv2d(feat, channels * scale * scale, 3, 1, 1), nn.PixelShuffle(scale)
        )
        # fp32 islands (docs/speed.md, issue 14): the image in and out, the first block (the stream it
        # multiplies runs through all the others) and the last (two of conv_cat's four inputs); also the
        # second block: on an AMX CPU (whose bf16 kernels round differently from AVX512-BF16's) the
        # shipped SPAN lost 0.0115 dB on Set5 x4 without it, 0.0087 dB with it (2026-12-02)
        ends = ("conv_1", *self.block_names[:2], self.block_names[-1], "upsampler")
        self.fp32_modules = tuple(dict.fromkeys(ends))

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["channels"]
        return NetInfo("span", hparams["scale"], channels, channels, color_space(channels))

    def fused(self) -> SPAN:
        """This network in the re-parameterised form (``eval_conv`` per :class:`Conv3XC`), in eval mode on
        the same device; itself when it already is."""
        if self.hparams["reparameterized"]:
            return self
        out = type(self)(**{**self.hparams, "reparameterized": True})
        state = {}
        for name, module in self.named_modules():
            if isinstance(module, Conv3XC):
                weight, bias = module.fused()
                state[f"{name}.eval_conv.weight"], state[f"{name}.eval_conv.bias"] = weight, bias
        state.update(
            {k: v for k, v in self.state_dict().items() if k.startswith(("conv_cat.", "upsampler."))}
        )
        out.load_state_dict(state, strict=True)
        return out.to(self.mean.device).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in [0, 1] -> ``(B, C, scale*H, scale*W)`` (not clamped)."""
        x = (x - self.mean.to(dtype=x.dtype)) * self.img_range
        feat = self.conv_1(x)
        out, first, inner = feat, feat, feat
        for i, name in enumerate(self.block_names):
            out, inner = getattr(self, name)(out)
            if i == 0:
                first = out
        out = self.conv_cat(torch.cat([feat, self.conv_2(out), first, inner], dim=1))
        return self.upsampler(out)
