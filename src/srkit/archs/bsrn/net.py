"""BSRN: Li, Liu, Kong, Dong, Gu and Timofte (and colleagues), "Blueprint Separable Residual Network for
Efficient Image Super-Resolution", CVPRW 2022 (NTIRE 2022 efficient SR, model-complexity track winner
BSRN-S)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from srkit.archs.blocks import CCA, ESA, BSConvU, pixelshuffle_upsampler
from srkit.archs.common import check_int
from srkit.archs.contract import NetInfo, SRNet, lr_net_info


class ESDB(nn.Module):
    """Efficient separable distillation block (Li et al. 2022, Sec. 3.2): RFDN's distillation scheme
    with :class:`~srkit.archs.blocks.BSConvU` 3x3 convolutions (``cK_r``, ``c4``), 1x1 distillation convs
    (``cK_d``) and GELU, fused by ``c5`` (1x1), then ESA (BSConvU, GELU) and CCA, plus the block input."""

    def __init__(self, channels: int, esa_channels: int) -> None:
        super().__init__()
        dc = channels // 2
        self.c1_d = nn.Conv2d(channels, dc, 1)
        self.c1_r = BSConvU(channels, channels)
        self.c2_d = nn.Conv2d(channels, dc, 1)
        self.c2_r = BSConvU(channels, channels)
        self.c3_d = nn.Conv2d(channels, dc, 1)
        self.c3_r = BSConvU(channels, channels)
        self.c4 = BSConvU(channels, dc)
        self.act = nn.GELU()
        self.c5 = nn.Conv2d(dc * 4, channels, 1)
        self.esa = ESA(channels, esa_channels, separable=True, activation="gelu")
        self.cca = CCA(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = self.act(self.c1_d(x))
        r1 = self.act(self.c1_r(x) + x)
        d2 = self.act(self.c2_d(r1))
        r2 = self.act(self.c2_r(r1) + r1)
        d3 = self.act(self.c3_d(r2))
        r3 = self.act(self.c3_r(r2) + r2)
        r4 = self.act(self.c4(r3))
        out = self.c5(torch.cat([d1, d2, d3, r4], dim=1))
        return self.cca(self.esa(out)) + x


class PixelShuffleDirect(nn.Module):
    """BSRN's ``pixelshuffledirect`` upsampler: one 3x3 conv to ``out_channels * scale**2`` and a pixel
    shuffle, under the key ``upsampleOneStep``."""

    def __init__(self, in_channels: int, out_channels: int, scale: int) -> None:
        super().__init__()
        self.upsampleOneStep = pixelshuffle_upsampler(in_channels, out_channels, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsampleOneStep(x)


class BSRN(SRNet):
    """BSRN (Li et al. 2022): the input repeated 4 times along the channels, ``fea_conv`` (BSConvU 3x3),
    ``num_block`` :class:`ESDB` blocks ``B1..BN`` whose outputs are concatenated and fused by ``c1``
    (1x1) and GELU, ``c2`` (BSConvU 3x3) plus the ``fea_conv`` features, and the one-step sub-pixel
    upsampler (``upsampler.upsampleOneStep.0``).

    The state-dict keys are the authors' (xiaom233/BSRN ``basicsr/archs/BSRN_arch.py`` with
    ``conv='BSConvU'``, ``upsampler='pixelshuffledirect'``): BSRN is ``num_feat=64``, ``num_block=8``;
    BSRN-S ``num_feat=48``, ``num_block=5``.

    Input: RGB in [0, 1] (BasicSR), no mean subtraction; output in [0, 1].

    Args:
        scale: upscaling factor.
        in_channels, out_channels: image channels.
        num_feat: feature channels (at least 16: CCA reduces them 16-fold).
        num_block: number of ESDBs.
        esa_channels: the ESA branch's channels (``None``: ``num_feat // 4``, the authors' choice).
    """

    #: fp32 islands (docs/speed.md, issue 14): the first conv's pointwise half, which reads the image
    #: (all of ``fea_conv`` would keep the blocks' residual stream in fp32 too: 15 % slower)
    fp32_modules = ("fea_conv.pw",)

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 8,
        esa_channels: int | None = None,
    ) -> None:
        super().__init__()
        arch = "bsrn"
        scale = check_int(arch, "scale", scale)
        in_channels = check_int(arch, "in_channels", in_channels)
        out_channels = check_int(arch, "out_channels", out_channels)
        num_feat = check_int(arch, "num_feat", num_feat, minimum=16)  # CCA reduces by 16
        num_block = check_int(arch, "num_block", num_block)
        f = num_feat // 4 if esa_channels is None else check_int(arch, "esa_channels", esa_channels)
        self.num_block = num_block

        self.fea_conv = BSConvU(in_channels * 4, num_feat)
        for i in range(1, num_block + 1):
            self.add_module(f"B{i}", ESDB(num_feat, f))
        self.c1 = nn.Conv2d(num_feat * num_block, num_feat, 1)
        self.GELU = nn.GELU()
        self.c2 = BSConvU(num_feat, num_feat)
        self.upsampler = PixelShuffleDirect(num_feat, out_channels, scale)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        return lr_net_info("bsrn", hparams, tiling="approximate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` in [0, 1] -> ``(B, out_channels, scale*H, scale*W)``."""
        feature = self.fea_conv(torch.cat([x, x, x, x], dim=1))
        outs = []
        out = feature
        for i in range(1, self.num_block + 1):
            out = getattr(self, f"B{i}")(out)
            outs.append(out)
        out = self.c2(self.GELU(self.c1(torch.cat(outs, dim=1)))) + feature
        return self.upsampler(out)
