"""LapSRN: Lai, Huang, Ahuja and Yang, "Deep Laplacian Pyramid Networks for Fast and Accurate
Super-Resolution", CVPR 2017, in the layout of its PyTorch port twtygqyy/pytorch-LapSRN."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.common import check_int
from srkit.archs.contract import NetInfo, SRNet, color_space
from srkit.errors import ConfigError

_SLOPE = 0.2


def bilinear_kernel(size: int) -> torch.Tensor:
    """The ``size x size`` bilinear interpolation kernel a stride-``(size + 1) // 2`` transposed
    convolution upsamples with (LapSRN's initialisation of its transposed convolutions)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 else factor - 0.5
    ramp = 1 - (torch.arange(size, dtype=torch.float64) - center).abs() / factor
    return torch.outer(ramp, ramp).float()


class FeatureBlock(nn.Module):
    """One pyramid level's feature extraction (``cov_block``): ``depth`` 3x3 convs and a 4x4 stride-2
    transposed conv, each followed by LeakyReLU(0.2), no biases."""

    def __init__(self, num_feat: int, depth: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False), nn.LeakyReLU(_SLOPE, inplace=True)]
        layers += [
            nn.ConvTranspose2d(num_feat, num_feat, 4, 2, 1, bias=False),
            nn.LeakyReLU(_SLOPE, inplace=True),
        ]
        self.cov_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cov_block(x)


class LapSRN(SRNet):
    """LapSRN (Lai et al. 2017): a Laplacian pyramid of x2 levels, each adding a predicted residual to
    the x2-upsampled image of the level below.

    ``conv_input`` (3x3, LeakyReLU) on the LR image; level ``k`` (1 ..): features
    ``convt_F{k}.0`` (:class:`FeatureBlock`, ending in a x2 transposed conv), residual ``convt_R{k}``
    (3x3 to the image channels) and image upsampling ``convt_I{k}`` (4x4 stride-2 transposed conv of the
    previous level's image); ``image_k = convt_I{k}(image_{k-1}) + convt_R{k}(features_k)``. No biases.
    The twtygqyy/pytorch-LapSRN x4 model: 2 levels, depth 10, 64 features (870,112 parameters).

    **Scales.** Level ``k`` is the x``2**k`` output, so one network serves every ``2**k`` up to
    ``scale`` (LapSRN trains all levels at once, with a loss at each): ``forward(x, scale)`` stops at
    the level of ``scale``; NetInfo lists the factors and ``scale_arg``, so the
    runner passes the factor of each call.

    Input/output: luminance Y/255 (BT.601 studio swing, :mod:`srkit.colour`) of the LR image, not
    pre-upsampled; output Y/255.

    Init (as in the port): convs Gaussian with std ``sqrt(2 / (k * k * out_channels))``, transposed
    convs the bilinear kernel.

    Args:
        scale: the top level's factor, a power of two (4: two levels).
        num_feat: feature channels (64).
        depth: 3x3 convs per level (10).
        channels: image channels (1 = Y).
    """

    def __init__(self, scale: int = 4, num_feat: int = 64, depth: int = 10, channels: int = 1) -> None:
        super().__init__()
        arch = "lapsrn"
        scale = check_int(arch, "scale", scale, minimum=2)
        if scale & (scale - 1):
            raise ConfigError(f"lapsrn: scale={scale} must be a power of two (one x2 level per doubling)")
        num_feat = check_int(arch, "num_feat", num_feat)
        depth = check_int(arch, "depth", depth, minimum=0)
        channels = check_int(arch, "channels", channels)
        self.scale = scale
        self.levels = scale.bit_length() - 1

        self.conv_input = nn.Conv2d(channels, num_feat, 3, 1, 1, bias=False)
        for k in range(1, self.levels + 1):
            self.add_module(f"convt_I{k}", nn.ConvTranspose2d(channels, channels, 4, 2, 1, bias=False))
            self.add_module(f"convt_R{k}", nn.Conv2d(num_feat, channels, 3, 1, 1, bias=False))
            self.add_module(f"convt_F{k}", nn.Sequential(FeatureBlock(num_feat, depth)))
        # fp32 islands (docs/speed.md, issue 14): the convs that read the image, conv_input and every
        # level's image upsampling
        self.fp32_modules = ("conv_input", *(f"convt_I{k}" for k in range(1, self.levels + 1)))
        self._init_weights()

    @torch.no_grad()
    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d):
                size = m.kernel_size[0]
                m.weight.copy_(bilinear_kernel(size).view(1, 1, size, size).expand_as(m.weight))
            elif isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels, scale = hparams["channels"], hparams["scale"]
        scales = tuple(2**k for k in range(1, scale.bit_length()))
        return NetInfo(
            "lapsrn", scale, channels, channels, color_space(channels), scales=scales, scale_arg=True
        )

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        """``(B, channels, H, W)`` -> ``(B, channels, s*H, s*W)`` (not clamped): the pyramid's level of
        ``s`` = ``scale`` or the top one."""
        s = self.scale if scale is None else scale
        if s < 2 or s & (s - 1) or s > self.scale:
            raise ConfigError(f"lapsrn: cannot upscale by x{s}; the network serves {self.info.scales_text()}")
        feat = F.leaky_relu(self.conv_input(x), _SLOPE)
        image = x
        for k in range(1, s.bit_length()):
            feat = getattr(self, f"convt_F{k}")(feat)
            image = getattr(self, f"convt_I{k}")(image) + getattr(self, f"convt_R{k}")(feat)
        return image
