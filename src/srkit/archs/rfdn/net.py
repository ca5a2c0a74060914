"""RFDN: Liu, Tang and Wu, "Residual Feature Distillation Network for Lightweight Image
Super-Resolution", ECCVW 2020 (AIM 2020 efficient-SR winner)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from srkit.archs.blocks import ESA, pixelshuffle_upsampler
from srkit.archs.common import check_float, check_int
from srkit.archs.contract import NetInfo, SRNet, lr_net_info


class RFDB(nn.Module):
    """Residual feature distillation block (Liu et al. 2020, Sec. 3.2): three shallow-residual steps
    (``cK_r`` 3x3 conv plus its input, leaky ReLU 0.05) each distilling ``channels // 2`` features by a
    1x1 conv (``cK_d``, leaky ReLU), a last 3x3 conv ``c4``, the concatenation fused by ``c5`` (1x1) and
    a full :class:`~srkit.archs.blocks.ESA` (ReLU)."""

    def __init__(self, channels: int, esa_channels: int) -> None:
        super().__init__()
        dc = channels // 2
        self.c1_d = nn.Conv2d(channels, dc, 1)
        self.c1_r = nn.Conv2d(channels, channels, 3, padding=1)
        self.c2_d = nn.Conv2d(channels, dc, 1)
        self.c2_r = nn.Conv2d(channels, channels, 3, padding=1)
        self.c3_d = nn.Conv2d(channels, dc, 1)
        self.c3_r = nn.Conv2d(channels, channels, 3, padding=1)
        self.c4 = nn.Conv2d(channels, dc, 3, padding=1)
        self.act = nn.LeakyReLU(0.05)
        self.c5 = nn.Conv2d(dc * 4, channels, 1)
        self.esa = ESA(channels, esa_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.act(self.c1_d(x))
        r1 = self.act(self.c1_r(x) + x)
        d2 = self.act(self.c2_d(r1))
        r2 = self.act(self.c2_r(r1) + r1)
        d3 = self.act(self.c3_d(r2))
        r3 = self.act(self.c3_r(r2) + r2)
        r4 = self.act(self.c4(r3))
        return self.esa(self.c5(torch.cat([d1, d2, d3, r4], dim=1)))


class RFDN(SRNet):
    """RFDN (Liu et al. 2020): ``fea_conv`` (3x3), ``num_block`` :class:`RFDB` blocks ``B1..BN`` whose
    outputs are concatenated and fused by ``c`` (1x1 conv + leaky ReLU 0.05, key ``c.0``), ``LR_conv``
    (3x3) plus the ``fea_conv`` features, and a one-step sub-pixel upsampler (``upsampler.0``).

    The state-dict keys are the authors' (njulj/RFDN ``RFDN.py``): the paper's RFDN is ``num_feat=48``,
    ``num_block=6``; the AIM 2020 challenge model (``RFDN_AIM.pth``, the NTIRE 2022/2023 baseline) is
    ``num_feat=50``, ``num_block=4`` (the constructor's defaults, as in the authors' code).

    Input: RGB in [0, 1] (srkit's convention); the network multiplies by ``img_range`` first and divides
    its output by it: the authors' weights work on [0, 255] (their test code feeds uint8 values as
    floats), so ``img_range=255`` for them. No mean is subtracted.

    Args:
        scale: upscaling factor.
        in_channels, out_channels: image channels.
        num_feat: feature channels.
        num_block: number of RFDBs.
        esa_channels: the ESA branch's channels (``None``: ``num_feat // 4``, the authors' choice).
        img_range: the value range the network works in (255 for the authors' weights).
    """

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 50,
        num_block: int = 4,
        esa_channels: int | None = None,
        img_range: float = 255.0,
    ) -> None:
        super().__init__()
        arch = "rfdn"
        scale = check_int(arch, "scale", scale)
        in_channels = check_int(arch, "in_channels", in_channels)
        out_channels = check_int(arch, "out_channels", out_channels)
        num_feat = check_int(arch, "num_feat", num_feat, minimum=4)
        num_block = check_int(arch, "num_block", num_block)
        f = num_feat // 4 if esa_channels is None else check_int(arch, "esa_channels", esa_channels)
        self.img_range = check_float(arch, "img_range", img_range)
        self.num_block = num_block

        self.fea_conv = nn.Conv2d(in_channels, num_feat, 3, padding=1)
        for i in range(1, num_block + 1):
            self.add_module(f"B{i}", RFDB(num_feat, f))
        self.c = nn.Sequential(nn.Conv2d(num_feat * num_block, num_feat, 1), nn.LeakyReLU(0.05))
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.upsampler = pixelshuffle_upsampler(num_feat, out_channels, scale)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        return lr_net_info("rfdn", hparams, tiling="approximate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` in [0, 1] -> ``(B, out_channels, scale*H, scale*W)``."""
        feature = self.fea_conv(x * self.img_range)
        outs = []
        out = feature
        for i in range(1, self.num_block + 1):
            out = getattr(self, f"B{i}")(out)
            outs.append(out)
        out = self.LR_conv(self.c(torch.cat(outs, dim=1))) + feature
        return self.upsampler(out) / self.img_range
