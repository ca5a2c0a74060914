"""RRDBNet, the ESRGAN generator: Wang et al., "ESRGAN: Enhanced Super-Resolution Generative
Adversarial Networks", ECCVW 2018; scale 1/2 input handling from Wang et al., "Real-ESRGAN:
Training Real-World Blind Super-Resolution with Pure Synthetic Data", ICCVW 2021."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.common import (
    Interpolate,
    check_bool,
    check_choice,
    check_int,
    conv3x3,
    default_init_weights,
    upsample_factors,
)
from srkit.archs.contract import NetInfo, SRNet, color_space
from srkit.errors import ConfigError

RRDBNET_SCALES = (1, 2, 3, 4, 8)
RESIDUAL_BETA = 0.2  # residual scaling inside dense blocks and RRDBs (ESRGAN Sec. 3.1)
LEAKY_SLOPE = 0.2


def unshuffle_factor(scale: int, pixel_unshuffle: bool) -> int:
    """Real-ESRGAN's input pixel-unshuffle factor: 4 at x1, 2 at x2 (when enabled), else 1."""
    return {1: 4, 2: 2}.get(scale, 1) if pixel_unshuffle else 1


class ResidualDenseBlock(nn.Module):
    """Residual dense block (ESRGAN Fig. 4): five 3x3 convs ``conv1..conv5``, each seeing the block
    input and all earlier outputs (growth ``num_grow_ch``), LeakyReLU(0.2) after the first four;
    output ``x + 0.2 * conv5(...)``. Convs are Kaiming-normal x 0.1 (BasicSR)."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.conv1 = conv3x3(num_feat, num_grow_ch)
        self.conv2 = conv3x3(num_feat + num_grow_ch, num_grow_ch)
        self.conv3 = conv3x3(num_feat + 2 * num_grow_ch, num_grow_ch)
        self.conv4 = conv3x3(num_feat + 3 * num_grow_ch, num_grow_ch)
        self.conv5 = conv3x3(num_feat + 4 * num_grow_ch, num_feat)
        self.lrelu = nn.LeakyReLU(negative_slope=LEAKY_SLOPE, inplace=True)
        default_init_weights([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x + RESIDUAL_BETA * x5


class RRDB(nn.Module):
    """Residual-in-residual dense block (ESRGAN Fig. 4): ``x + 0.2 * rdb3(rdb2(rdb1(x)))``."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_BETA * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(SRNet):
    """ESRGAN generator (Wang et al. 2018) with BasicSR's state-dict layout: ``conv_first`` ->
    ``body.N`` RRDBs (``rdb1..3``, each ``conv1..5``) -> ``conv_body`` + long skip -> upsampling
    stages ``conv_up1``, ``conv_up2``, ... -> ``conv_hr`` + LeakyReLU(0.2) -> ``conv_last``.
    x4 with 23 blocks (the published ESRGAN) has 16,697,987 parameters.

    Upsampling: each stage is nearest-neighbour interpolation by 2 (or 3) then a 3x3 conv and
    LeakyReLU(0.2) (the paper's choice, avoiding checkerboard artefacts); with
    ``use_subpixel_conv=True`` each stage is instead a conv to ``f*f*num_feat`` channels and
    ``PixelShuffle(f)`` (sub-pixel convolution) then LeakyReLU(0.2). x2 uses one stage, x3 one
    (factor 3), x4 two, x8 three.

    Scales 1 and 2 (when ``pixel_unshuffle`` is true, the default) follow Real-ESRGAN: the input is
    first pixel-unshuffled by 4 (scale 1) or 2 (scale 2), so ``conv_first`` takes 16x or 4x the
    channels (48 or 12 for RGB), and the x4 trunk follows; such models load Real-ESRGAN x2
    weights and need ``H`` and ``W`` divisible by 4 or 2 (the NetInfo's ``size_multiple``). With
    ``pixel_unshuffle=False`` scale 2 uses a single upsampling stage instead (scale 1 then is
    invalid).

    Init (BasicSR): dense-block convs Kaiming-normal x 0.1, other convs PyTorch's default.

    Args:
        in_channels, out_channels: image channels.
        scale: 1, 2, 3, 4 or 8.
        num_feat: trunk channels (64). num_block: RRDBs (23 for ESRGAN, 16 for lighter models).
        num_grow_ch: dense-block growth channels (32).
        use_subpixel_conv: sub-pixel convolution instead of nearest interpolation + conv.
        pixel_unshuffle: Real-ESRGAN input handling for scales 1 and 2.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        use_subpixel_conv: bool = False,
        pixel_unshuffle: bool = True,
    ) -> None:
        super().__init__()
        arch = "rrdbnet"
        in_channels = check_int(arch, "in_channels", in_channels)
        out_channels = check_int(arch, "out_channels", out_channels)
        scale = check_choice(arch, "scale", scale, RRDBNET_SCALES)
        num_feat = check_int(arch, "num_feat", num_feat)
        num_block = check_int(arch, "num_block", num_block, minimum=0)
        num_grow_ch = check_int(arch, "num_grow_ch", num_grow_ch)
        use_subpixel_conv = check_bool(arch, "use_subpixel_conv", use_subpixel_conv)
        pixel_unshuffle = check_bool(arch, "pixel_unshuffle", pixel_unshuffle)
        if scale == 1 and not pixel_unshuffle:
            raise ConfigError(f"{arch}: scale=1 needs pixel_unshuffle=true (Real-ESRGAN unshuffle by 4)")

        self.unshuffle = unshuffle_factor(scale, pixel_unshuffle)
        self.scale = scale
        self.use_subpixel_conv = use_subpixel_conv

        self.conv_first = conv3x3(in_channels * self.unshuffle**2, num_feat)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = conv3x3(num_feat, num_feat)
        self.up_factors = upsample_factors(scale * self.unshuffle)
        for i, f in enumerate(self.up_factors, start=1):
            out_ch = num_feat * f * f if use_subpixel_conv else num_feat
            self.add_module(f"conv_up{i}", conv3x3(num_feat, out_ch))
        self.up_resample = nn.ModuleList(
            nn.PixelShuffle(f) if use_subpixel_conv else Interpolate(f, "nearest") for f in self.up_factors
        )
        self.conv_hr = conv3x3(num_feat, num_feat)
        self.conv_last = conv3x3(num_feat, out_channels)
        self.lrelu = nn.LeakyReLU(negative_slope=LEAKY_SLOPE, inplace=True)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["in_channels"]
        return NetInfo(
            "rrdbnet",
            hparams["scale"],
            channels,
            hparams["out_channels"],
            color_space(channels),
            size_multiple=unshuffle_factor(hparams["scale"], hparams["pixel_unshuffle"]),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, out_channels, scale*H, scale*W)``; ``H``, ``W`` must be
        multiples of the pixel-unshuffle factor (the NetInfo's ``size_multiple``)."""
        if self.unshuffle > 1:
            h, w = x.shape[-2:]
            if h % self.unshuffle or w % self.unshuffle:
                raise ValueError(
                    f"rrdbnet x{self.scale}: input {h}x{w} must be a multiple of {self.unshuffle} "
                    "(pixel-unshuffle); pad it first"
                )
            feat = F.pixel_unshuffle(x, self.unshuffle)
        else:
            feat = x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        for i, resample in enumerate(self.up_resample, start=1):
            conv = getattr(self, f"conv_up{i}")
            if self.use_subpixel_conv:
                feat = self.lrelu(resample(conv(feat)))
            else:
                feat = self.lrelu(conv(resample(feat)))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))
