"""VDSR: Kim, Lee and Lee, "Accurate Image Super-Resolution Using Very Deep Convolutional
Networks", CVPR 2016."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from srkit.archs.common import check_int
from srkit.archs.contract import NetInfo, SRNet, color_space


class ConvReLU(nn.Module):
    """3x3 conv without bias followed by ReLU; key ``conv``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


class VDSR(SRNet):
    """VDSR (Kim et al. 2016, Fig. 2): ``num_layers`` 3x3 convs (``num_feat`` channels, no bias),
    ReLU after all but the last, and a global residual: ``y = x + output(body(relu(input(x))))``.

    **Scale.** VDSR works on the bicubic-upsampled image, so the network itself does not change
    the size: its :class:`~srkit.archs.NetInfo` has ``scale`` 1, ``input='upsampled'`` and any output
    scale, and one model serves x2, x3 and x4 (the paper trains one network on all three).

    State-dict keys match the public PyTorch weights (twtygqyy/pytorch-vdsr): ``input.weight``,
    ``residual_layer.{0..num_layers-3}.conv.weight``, ``output.weight``; 20 layers of 64 channels
    have 664,704 parameters.

    Input: bicubic-upsampled luminance Y/255 (``channels=1``); output: Y/255, same size.

    Init (He et al. 2015, as in the paper): Gaussian with std ``sqrt(2 / (k * k * out_channels))``.

    Args:
        channels: image channels in and out (1 = Y).
        num_feat: feature channels (64).
        num_layers: total conv layers including input and output (20, the paper's depth).
    """

    def __init__(self, channels: int = 1, num_feat: int = 64, num_layers: int = 20) -> None:
        super().__init__()
        arch = "vdsr"
        channels = check_int(arch, "channels", channels)
        num_feat = check_int(arch, "num_feat", num_feat)
        num_layers = check_int(arch, "num_layers", num_layers, minimum=2)

        self.input = nn.Conv2d(channels, num_feat, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.residual_layer = nn.Sequential(*(ConvReLU(num_feat) for _ in range(num_layers - 2)))
        self.output = nn.Conv2d(num_feat, channels, 3, 1, 1, bias=False)
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                n = layer.kernel_size[0] * layer.kernel_size[1] * layer.out_channels
                nn.init.normal_(layer.weight, 0.0, math.sqrt(2.0 / n))

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["channels"]
        return NetInfo("vdsr", 1, channels, channels, color_space(channels), input="upsampled")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, channels, H, W)`` (already upsampled) -> same shape."""
        return x + self.output(self.residual_layer(self.relu(self.input(x))))
