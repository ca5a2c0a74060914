"""FSRCNN: Dong, Loy and Tang, "Accelerating the Super-Resolution Convolutional Neural Network",
ECCV 2016."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from srkit.archs.common import check_int
from srkit.archs.contract import NetInfo, SRNet, color_space


class FSRCNN(SRNet):
    """FSRCNN(d, s, m) (Dong et al. 2016, Sec. 3): feature extraction conv 5x5 (``d`` ch) + PReLU,
    shrinking conv 1x1 (``s`` ch) + PReLU, ``m`` mapping convs 3x3 (``s`` ch) + PReLU, expanding
    conv 1x1 (``d`` ch) + PReLU, and a 9x9 deconvolution with stride ``scale``. PReLUs have one
    slope per channel.

    The state-dict keys match the widely used third-party PyTorch weights (yjn870/FSRCNN-pytorch):
    ``first_part.{0 conv, 1 PReLU}``, ``mid_part.{0,2,..,2m+2}`` convs with PReLUs at the odd
    indices, ``last_part`` (ConvTranspose2d, padding 4, output_padding ``scale - 1``, so the output
    is exactly ``scale`` times the input). With d=56, s=12, m=4 it has 12,809 parameters.

    Input: luminance Y/255 of the low-resolution image (``channels=1``), Y per ITU-R BT.601 on
    0..255 RGB (``16 + (64.738 R + 129.057 G + 25.064 B) / 256``); output: Y/255 at ``scale`` times
    the size.

    Init (paper): convs Gaussian with std ``sqrt(2 / (out_channels * k * k))``, deconvolution
    Gaussian with std 0.001, zero biases; PReLU slopes 0.25.

    Args:
        scale: upscaling factor (2, 3 and 4 in the paper; any integer >= 1 works).
        channels: image channels in and out (1 = Y).
        d, s, m: feature, shrunk and mapping-layer sizes (56, 12, 4 = the paper's FSRCNN).
    """

    def __init__(self, scale: int = 3, channels: int = 1, d: int = 56, s: int = 12, m: int = 4) -> None:
        super().__init__()
        arch = "fsrcnn"
        scale = check_int(arch, "scale", scale)
        channels = check_int(arch, "channels", channels)
        d = check_int(arch, "d", d)
        s = check_int(arch, "s", s)
        m = check_int(arch, "m", m, minimum=0)

        self.first_part = nn.Sequential(nn.Conv2d(channels, d, 5, padding=2), nn.PReLU(d))
        mid: list[nn.Module] = [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            mid += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        mid += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.mid_part = nn.Sequential(*mid)
        self.last_part = nn.ConvTranspose2d(d, channels, 9, stride=scale, padding=4, output_padding=scale - 1)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        for layer in [*self.first_part, *self.mid_part]:
            if isinstance(layer, nn.Conv2d):
                fan_out = layer.out_channels * layer.weight[0, 0].numel()
                nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / fan_out))
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        nn.init.normal_(self.last_part.weight, 0.0, 0.001)
        if self.last_part.bias is not None:
            nn.init.zeros_(self.last_part.bias)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["channels"]
        return NetInfo("fsrcnn", hparams["scale"], channels, channels, color_space(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, channels, H, W)`` -> ``(B, channels, scale*H, scale*W)``."""
        return self.last_part(self.mid_part(self.first_part(x)))
