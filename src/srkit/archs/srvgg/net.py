"""SRVGGNetCompact: the compact VGG-style network of Real-ESRGAN (Wang et al., "Real-ESRGAN: Training
Real-World Blind Super-Resolution with Pure Synthetic Data", ICCVW 2021; xinntao/Real-ESRGAN), used by
``realesr-animevideov3`` and ``realesr-general-x4v3``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.common import check_choice, check_int
from srkit.archs.contract import NetInfo, SRNet, color_space

ACT_TYPES = ("prelu", "relu", "leakyrelu")


def _activation(act_type: str, num_feat: int) -> nn.Module:
    if act_type == "prelu":
        return nn.PReLU(num_parameters=num_feat)
    if act_type == "relu":
        return nn.ReLU(inplace=True)
    return nn.LeakyReLU(negative_slope=0.1, inplace=True)


class SRVGGNetCompact(SRNet):
    """SRVGGNetCompact: ``num_conv + 2`` 3x3 convs at low resolution, an activation after all but the
    last, ``PixelShuffle(scale)``, plus the nearest-neighbour upsampled input as a global skip.

    One ``nn.ModuleList`` ``body``, as in Real-ESRGAN: ``body.0`` conv (``channels -> num_feat``),
    ``body.1`` activation, then ``num_conv`` (conv, activation) pairs at ``body.2``..``body.2*num_conv+1``
    and the last conv (``num_feat -> channels * scale**2``) at ``body.2*num_conv+2``; the PReLUs (one
    slope per channel) are the odd indices. ``realesr-animevideov3`` is ``num_feat=64, num_conv=16``
    (621,424 parameters at x4), ``realesr-general-x4v3`` ``num_feat=64, num_conv=32``.

    Input/output: RGB in [0, 1] (Real-ESRGAN's convention; no mean shift). PyTorch's default
    initialisation, as in Real-ESRGAN.

    Args:
        channels: image channels in and out (the skip adds the input to the output, so they are equal).
        num_feat: feature channels.
        num_conv: 3x3 convs between the first and the last.
        scale: upscaling factor (any integer >= 1).
        act_type: ``'prelu'`` (every released model), ``'relu'`` or ``'leakyrelu'`` (slope 0.1).
    """

    def __init__(
        self,
        channels: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        scale: int = 4,
        act_type: str = "prelu",
    ) -> None:
        super().__init__()
        arch = "srvgg_compact"
        channels = check_int(arch, "channels", channels)
        num_feat = check_int(arch, "num_feat", num_feat)
        num_conv = check_int(arch, "num_conv", num_conv, minimum=0)
        self.scale = check_int(arch, "scale", scale)
        act_type = check_choice(arch, "act_type", act_type, ACT_TYPES)

        self.body = nn.ModuleList([nn.Conv2d(channels, num_feat, 3, 1, 1), _activation(act_type, num_feat)])
        for _ in range(num_conv):
            self.body.append(nn.Conv2d(num_feat, num_feat, 3, 1, 1))
            self.body.append(_activation(act_type, num_feat))
        self.body.append(nn.Conv2d(num_feat, channels * self.scale * self.scale, 3, 1, 1))
        self.upsampler = nn.PixelShuffle(self.scale)
        # fp32 islands (docs/speed.md, issue 14): the first conv (reads the image) and the last
        self.fp32_modules = ("body.0", f"body.{len(self.body) - 1}")

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["channels"]
        return NetInfo("srvgg_compact", hparams["scale"], channels, channels, color_space(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, channels, H, W)`` in [0, 1] -> ``(B, channels, scale*H, scale*W)`` (not clamped)."""
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")
