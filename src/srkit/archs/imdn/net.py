"""IMDN: Hui, Gao, Yang and Wang, "Lightweight Image Super-Resolution with Information Multi-distillation
Network", ACM MM 2019 (AIM 2019 constrained-SR winner); and the simplified IMDN of KAIR (Zhang et al.),
the NTIRE 2022 efficient-SR baseline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from srkit.archs.blocks import CCA, pixelshuffle_upsampler
from srkit.archs.common import check_int
from srkit.archs.contract import NetInfo, SRNet, color_space, lr_net_info
from srkit.errors import ConfigError

#: The leaky-ReLU slope of both IMDN code bases.
NEGATIVE_SLOPE = 0.05


def _split_channels(arch: str, num_feat: int, *, exact: bool = True) -> tuple[int, int]:
    """``(distilled, remaining)`` channels of a distillation step: a quarter of ``num_feat`` (rounded
    down) distilled. ``exact``: the four quarters must make ``num_feat`` again (the authors' IMDN fuses
    them with a ``num_feat``-input conv; KAIR's with a ``4 * distilled``-input one)."""
    if exact and num_feat % 4:
        raise ConfigError(f"{arch}: num_feat={num_feat} must be a multiple of 4 (a quarter is distilled)")
    distilled = num_feat // 4
    return distilled, num_feat - distilled


class IMDModule(nn.Module):
    """Information multi-distillation block (Hui et al. 2019, Sec. 3.1): three 3x3 convs (``c1``, ``c2``,
    ``c3``, leaky ReLU 0.05) each split off a quarter of their channels (distilled) and pass the rest on,
    a fourth 3x3 conv ``c4`` (no activation) gives the last quarter; the concatenation goes through
    :class:`~srkit.archs.blocks.CCA` and the 1x1 ``c5``, plus the block input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        d, r = _split_channels("imdn", channels)
        self.distilled, self.remaining = d, r
        self.c1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.c2 = nn.Conv2d(r, channels, 3, padding=1)
        self.c3 = nn.Conv2d(r, channels, 3, padding=1)
        self.c4 = nn.Conv2d(r, d, 3, padding=1)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)
        self.c5 = nn.Conv2d(channels, channels, 1)
        self.cca = CCA(d * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = [self.distilled, self.remaining]
        d1, r1 = torch.split(self.act(self.c1(x)), split, dim=1)
        d2, r2 = torch.split(self.act(self.c2(r1)), split, dim=1)
        d3, r3 = torch.split(self.act(self.c3(r2)), split, dim=1)
        d4 = self.c4(r3)
        return self.c5(self.cca(torch.cat([d1, d2, d3, d4], dim=1))) + x


class IMDN(SRNet):
    """IMDN (Hui et al. 2019): ``fea_conv`` (3x3), ``num_block`` :class:`IMDModule` blocks
    ``IMDB1..IMDBN`` whose outputs are concatenated and fused by ``c`` (1x1 conv + leaky ReLU 0.05, key
    ``c.0``), ``LR_conv`` (3x3) plus the ``fea_conv`` features, and a one-step sub-pixel upsampler
    (``upsampler.0``).

    The state-dict keys are the authors' (Zheng222/IMDN ``model/architecture.py``; their files add a
    ``module.`` prefix, removed when read): 64 features, 6 blocks at x2/x3/x4.

    Input: RGB in [0, 1] (the authors' test code divides by 255), no mean subtraction; output in [0, 1].

    Args:
        scale: upscaling factor.
        in_channels, out_channels: image channels.
        num_feat: feature channels (a multiple of 4, at least 16: CCA reduces them 16-fold).
        num_block: number of IMDBs.
    """

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 6,
    ) -> None:
        super().__init__()
        arch = "imdn"
        scale = check_int(arch, "scale", scale)
        in_channels = check_int(arch, "in_channels", in_channels)
        out_channels = check_int(arch, "out_channels", out_channels)
        num_feat = check_int(arch, "num_feat", num_feat, minimum=16)  # CCA reduces by 16
        _split_channels(arch, num_feat)
        num_block = check_int(arch, "num_block", num_block)
        self.num_block = num_block

        self.fea_conv = nn.Conv2d(in_channels, num_feat, 3, padding=1)
        for i in range(1, num_block + 1):
            self.add_module(f"IMDB{i}", IMDModule(num_feat))
        self.c = nn.Sequential(nn.Conv2d(num_feat * num_block, num_feat, 1), nn.LeakyReLU(NEGATIVE_SLOPE))
        self.LR_conv = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.upsampler = pixelshuffle_upsampler(num_feat, out_channels, scale)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        return lr_net_info("imdn", hparams, tiling="approximate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` in [0, 1] -> ``(B, out_channels, scale*H, scale*W)``."""
        feature = self.fea_conv(x)
        outs = []
        out = feature
        for i in range(1, self.num_block + 1):
            out = getattr(self, f"IMDB{i}")(out)
            outs.append(out)
        out = self.LR_conv(self.c(torch.cat(outs, dim=1))) + feature
        return self.upsampler(out)


class IMDBlock(nn.Module):
    """KAIR's simplified IMDB (no CCA): ``conv1``, ``conv2``, ``conv3`` (3x3 conv + leaky ReLU 0.05, keys
    ``convK.0``) split off a quarter each, ``conv4`` (3x3, no activation) gives the last quarter, the
    concatenation is fused by ``conv1x1``, plus the block input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        d, r = _split_channels("imdn_kair", channels, exact=False)
        self.distilled, self.remaining = d, r
        self.conv1 = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(NEGATIVE_SLOPE))
        self.conv2 = nn.Sequential(nn.Conv2d(r, channels, 3, padding=1), nn.LeakyReLU(NEGATIVE_SLOPE))
        self.conv3 = nn.Sequential(nn.Conv2d(r, channels, 3, padding=1), nn.LeakyReLU(NEGATIVE_SLOPE))
        self.conv4 = nn.Conv2d(r, d, 3, padding=1)
        self.conv1x1 = nn.Conv2d(d * 4, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = [self.distilled, self.remaining]
        d1, r1 = torch.split(self.conv1(x), split, dim=1)
        d2, r2 = torch.split(self.conv2(r1), split, dim=1)
        d3, r3 = torch.split(self.conv3(r2), split, dim=1)
        return x + self.conv1x1(torch.cat([d1, d2, d3, self.conv4(r3)], dim=1))


class Shortcut(nn.Module):
    """``x + sub(x)`` (KAIR's ``ShortcutBlock``; key ``sub``)."""

    def __init__(self, sub: nn.Module) -> None:
        super().__init__()
        self.sub = sub

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sub(x)


class IMDNKAIR(SRNet):
    """KAIR's simplified IMDN (cszn/KAIR ``models/network_imdn.py``; the NTIRE 2022 efficient-SR
    challenge baseline, ``imdn_baseline.py`` with 8 blocks): one ``nn.Sequential`` ``model``:
    ``model.0`` head conv (3x3), ``model.1`` a global skip around ``sub.0 .. sub.{N-1}``
    (:class:`IMDBlock`) and the 3x3 conv ``sub.N``, ``model.2`` the 3x3 conv to ``out_channels *
    scale**2`` and ``model.3`` the pixel shuffle. Unlike the authors' IMDN, the blocks have no CCA and
    their outputs are not concatenated.

    Input: RGB in [0, 1] (the challenge's test code), no mean subtraction; output in [0, 1].

    Args:
        scale: upscaling factor.
        in_channels, out_channels: image channels.
        num_feat: feature channels (at least 4; a quarter, rounded down, is distilled per step).
        num_block: number of IMDBlocks (8 in the challenge baseline).
    """

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 8,
    ) -> None:
        super().__init__()
        arch = "imdn_kair"
        scale = check_int(arch, "scale", scale)
        in_channels = check_int(arch, "in_channels", in_channels)
        out_channels = check_int(arch, "out_channels", out_channels)
        num_feat = check_int(arch, "num_feat", num_feat, minimum=4)
        num_block = check_int(arch, "num_block", num_block)
        body: list[nn.Module] = [IMDBlock(num_feat) for _ in range(num_block)]
        body.append(nn.Conv2d(num_feat, num_feat, 3, padding=1))
        self.model = nn.Sequential(
            nn.Conv2d(in_channels, num_feat, 3, padding=1),
            Shortcut(nn.Sequential(*body)),
            *pixelshuffle_upsampler(num_feat, out_channels, scale),
        )

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["in_channels"]
        return NetInfo(
            "imdn_kair", hparams["scale"], channels, hparams["out_channels"], color_space(channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` in [0, 1] -> ``(B, out_channels, scale*H, scale*W)``."""
        return self.model(x)
