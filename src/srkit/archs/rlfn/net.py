"""RLFN: Kong, Li, Liu, Gao, Chen, Chen, Xu and Zhang, "Residual Local Feature Network for Efficient
Super-Resolution", CVPRW 2022 (NTIRE 2022 efficient-SR winner)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from srkit.archs.blocks import ESA, pixelshuffle_upsampler
from srkit.archs.common import check_float, check_int
from srkit.archs.contract import NetInfo, SRNet, lr_net_info


class RLFB(nn.Module):
    """Residual local feature block (Kong et al. 2022, Sec. 3.2): three 3x3 convolutions
    (``c1_r``, ``c2_r``, ``c3_r``; ``channels -> mid -> mid -> channels``) each followed by a leaky ReLU
    (slope 0.05, as the authors' code), a local skip, a 1x1 convolution (``c5``) and a light
    :class:`~srkit.archs.blocks.ESA` (no ``conv_max``/``conv3_``)."""

    def __init__(self, channels: int, mid_channels: int, esa_channels: int) -> None:
        super().__init__()
        self.c1_r = nn.Conv2d(channels, mid_channels, 3, padding=1)
        self.c2_r = nn.Conv2d(mid_channels, mid_channels, 3, padding=1)
        self.c3_r = nn.Conv2d(mid_channels, channels, 3, padding=1)
        self.c5 = nn.Conv2d(channels, channels, 1)
        self.esa = ESA(channels, esa_channels, full=False)
        self.act = nn.LeakyReLU(0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.c1_r(x))
        out = self.act(self.c2_r(out))
        out = self.act(self.c3_r(out))
        return self.esa(self.c5(out + x))


class RLFN(SRNet):
    """RLFN (Kong et al. 2022): ``conv_1`` (3x3), ``num_block`` :class:`RLFB` blocks ``block_1..N``,
    ``conv_2`` (3x3) plus the ``conv_1`` features (global skip), and a one-step sub-pixel upsampler
    (``upsampler.0``, 3x3 conv to ``out_channels * scale**2``, pixel shuffle).

    The state-dict keys are the authors' (bytedance/RLFN ``model/rlfn.py``): RLFN is ``num_feat=52``,
    RLFN-S ``num_feat=48``, both with 6 blocks and ESA width 16; the NTIRE 2022 challenge model
    (``RLFN_Prune``) has 46 features, 48 mid channels and 4 blocks.

    Input: RGB in [0, 1] (srkit's convention); the network multiplies by ``img_range`` first and divides
    its output by it: the authors trained on [0, 255] (their ``test_demo.py`` scales by 255), so
    ``img_range=255`` for their weights. No mean is subtracted.

    Args:
        scale: upscaling factor (the upsampler's pixel shuffle).
        in_channels, out_channels: image channels.
        num_feat: feature channels.
        num_block: number of RLFBs.
        mid_channels: the RLFBs' inner channels (``None``: ``num_feat``; 48 in the pruned model).
        esa_channels: the ESA branch's channels (16).
        img_range: the value range the network works in (255 for the authors' weights).
    """

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 52,
        num_block: int = 6,
        mid_channels: int | None = None,
        esa_channels: int = 16,
        img_range: float = 255.0,
    ) -> None:
        super().__init__()
        arch = "rlfn"
        scale = check_int(arch, "scale", scale)
        in_channels = check_int(arch, "in_channels", in_channels)
        out_channels = check_int(arch, "out_channels", out_channels)
        num_feat = check_int(arch, "num_feat", num_feat)
        num_block = check_int(arch, "num_block", num_block)
        mid = num_feat if mid_channels is None else check_int(arch, "mid_channels", mid_channels)
        esa_channels = check_int(arch, "esa_channels", esa_channels)
        self.img_range = check_float(arch, "img_range", img_range)
        self.num_block = num_block

        self.conv_1 = nn.Conv2d(in_channels, num_feat, 3, padding=1)
        for i in range(1, num_block + 1):
            self.add_module(f"block_{i}", RLFB(num_feat, mid, esa_channels))
        self.conv_2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.upsampler = pixelshuffle_upsampler(num_feat, out_channels, scale)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        return lr_net_info("rlfn", hparams, tiling="approximate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` in [0, 1] -> ``(B, out_channels, scale*H, scale*W)``."""
        feature = self.conv_1(x * self.img_range)
        out = feature
        for i in range(1, self.num_block + 1):
            out = getattr(self, f"block_{i}")(out)
        return self.upsampler(self.conv_2(out) + feature) / self.img_range
