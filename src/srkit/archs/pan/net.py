"""PAN: Zhao, Kong, He, Qiao and Dong, "Efficient Image Super-Resolution Using Pixel Attention",
ECCV Workshops 2020 (zhaohengyuan1/PAN)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.blocks import PixelAttention
from srkit.archs.common import check_choice, check_int
from srkit.archs.contract import NetInfo, SRNet, color_space
from srkit.errors import ConfigError

PAN_SCALES = (2, 3, 4)
_SLOPE = 0.2


class PAConv(nn.Module):
    """Pixel-attention convolution: ``k4(k3(x) * sigmoid(k2(x)))`` (``k2`` 1x1 with bias, ``k3`` and
    ``k4`` 3x3 without)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.k2 = nn.Conv2d(channels, channels, 1)
        self.k3 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.k4 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.k4(self.k3(x) * torch.sigmoid(self.k2(x)))


class SCPA(nn.Module):
    """Self-calibrated block with pixel attention: two 1x1 halves (``conv1_a``, ``conv1_b``, no bias, to
    ``channels / 2``), a plain 3x3 branch (``k1.0``) and a :class:`PAConv` branch, LeakyReLU(0.2) after
    each conv stage, ``conv3`` (1x1, no bias) on the concatenation, and a residual connection."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.conv1_a = nn.Conv2d(channels, half, 1, bias=False)
        self.conv1_b = nn.Conv2d(channels, half, 1, bias=False)
        self.k1 = nn.Sequential(nn.Conv2d(half, half, 3, padding=1, bias=False))
        self.PAConv = PAConv(half)
        self.conv3 = nn.Conv2d(2 * half, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.leaky_relu(self.conv1_a(x), _SLOPE)
        b = F.leaky_relu(self.conv1_b(x), _SLOPE)
        a = F.leaky_relu(self.k1(a), _SLOPE)
        b = F.leaky_relu(self.PAConv(b), _SLOPE)
        return self.conv3(torch.cat([a, b], dim=1)) + x


class PAN(SRNet):
    """PAN (Zhao et al. 2020), laid out as in zhaohengyuan1/PAN so its checkpoints load key for key.

    ``conv_first`` -> ``SCPA_trunk.N`` (:class:`SCPA`) -> ``trunk_conv`` + skip from ``conv_first`` ->
    upsampling-reconstruction: per stage (one x2/x3 stage, two x2 stages at x4) nearest-neighbour
    upsampling, ``upconvK`` (to ``num_up_feat``), pixel attention ``attK``
    (:class:`srkit.archs.blocks.PixelAttention`), LeakyReLU, ``HRconvK``, LeakyReLU -> ``conv_last`` +
    the bilinearly upsampled input. The paper's PAN: 40 features, 24 upsampling features, 16 SCPAs
    (272,419 parameters at x4).

    Input/output: RGB in [0, 1] (no mean shift). PyTorch's default initialisation.

    Args:
        in_channels, out_channels: image channels (equal: the output adds the upsampled input).
        num_feat: trunk features (``nf``, even: the SCPAs split them in halves).
        num_up_feat: upsampling-stage features (``unf``).
        num_block: SCPA blocks (``nb``).
        scale: 2, 3 or 4.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 40,
        num_up_feat: int = 24,
        num_block: int = 16,
        scale: int = 4,
    ) -> None:
        super().__init__()
        arch = "pan"
        in_channels = check_int(arch, "in_channels", in_channels)
        out_channels = check_int(arch, "out_channels", out_channels)
        num_feat = check_int(arch, "num_feat", num_feat, minimum=2)
        unf = check_int(arch, "num_up_feat", num_up_feat)
        num_block = check_int(arch, "num_block", num_block, minimum=0)
        self.scale = check_choice(arch, "scale", scale, PAN_SCALES)
        if num_feat % 2:
            raise ConfigError(f"{arch}: num_feat={num_feat} must be even (SCPA splits it in halves)")
        if in_channels != out_channels:
            raise ConfigError(f"{arch}: in_channels={in_channels} and out_channels={out_channels} must agree")

        self.conv_first = nn.Conv2d(in_channels, num_feat, 3, 1, 1)
        self.SCPA_trunk = nn.Sequential(*(SCPA(num_feat) for _ in range(num_block)))
        self.trunk_conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upconv1 = nn.Conv2d(num_feat, unf, 3, 1, 1)
        self.att1 = PixelAttention(unf)
        self.HRconv1 = nn.Conv2d(unf, unf, 3, 1, 1)
        if self.scale == 4:
            self.upconv2 = nn.Conv2d(unf, unf, 3, 1, 1)
            self.att2 = PixelAttention(unf)
            self.HRconv2 = nn.Conv2d(unf, unf, 3, 1, 1)
        self.conv_last = nn.Conv2d(unf, out_channels, 3, 1, 1)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["in_channels"]
        return NetInfo("pan", hparams["scale"], channels, hparams["out_channels"], color_space(channels))

    def _stage(self, x: torch.Tensor, factor: int, index: int) -> torch.Tensor:
        up: nn.Module = getattr(self, f"upconv{index}")
        att: nn.Module = getattr(self, f"att{index}")
        hr: nn.Module = getattr(self, f"HRconv{index}")
        x = up(F.interpolate(x, scale_factor=factor, mode="nearest"))
        x = F.leaky_relu(att(x), _SLOPE)
        return F.leaky_relu(hr(x), _SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in [0, 1] -> ``(B, C, scale*H, scale*W)`` (not clamped)."""
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.SCPA_trunk(fea))
        if self.scale == 4:
            fea = self._stage(self._stage(fea, 2, 1), 2, 2)
        else:
            fea = self._stage(fea, self.scale, 1)
        out = self.conv_last(fea)
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
