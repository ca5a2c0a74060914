"""SRResNet and BasicSR's modified SRResNet (MSRResNet).

References:
- Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
  Network", CVPR 2017 (SRResNet: the generator of SRGAN trained with MSE).
- Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCVW 2018, and
  the BasicSR toolbox (MSRResNet: SRResNet without batch norm, LeakyReLU, bilinear image skip).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.common import (
    Interpolate,
    ResidualBlockNoBN,
    check_bool,
    check_choice,
    check_int,
    conv3x3,
    default_init_weights,
    upsample_factors,
)
from srkit.archs.contract import NetInfo, SRNet, color_space
from srkit.errors import ConfigError

SRRESNET_SCALES = (2, 3, 4, 8)
MSRRESNET_SCALES = (2, 3, 4)
LEAKY_SLOPE_SRRESNET = 0.2


def _make_act(kind: str) -> nn.Module:
    """A fresh activation module: PReLU (one learnt slope, init 0.25, as in Ledig et al.) or
    LeakyReLU(0.2)."""
    if kind == "prelu":
        return nn.PReLU()
    return nn.LeakyReLU(LEAKY_SLOPE_SRRESNET, inplace=True)


class SRResBlock(nn.Module):
    """SRResNet residual block (Ledig et al. 2017, Fig. 4): ``x + BN(conv(act(BN(conv(x)))))``.

    Keys: ``conv1``, ``bn1``, ``act``, ``conv2``, ``bn2``; without batch norm, ``bn1``/``bn2`` are
    parameter-free identities.
    """

    def __init__(self, num_feat: int, batch_norm: bool, act: str) -> None:
        super().__init__()
        self.conv1 = conv3x3(num_feat, num_feat)
        self.bn1: nn.Module = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()
        self.act = _make_act(act)
        self.conv2 = conv3x3(num_feat, num_feat)
        self.bn2: nn.Module = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class SRResNet(SRNet):
    """SRResNet (Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a GAN",
    Sec. 2.2 and Fig. 4), with a switch for each design choice so ablations can be trained.

    Layout (paper defaults): 9x9 conv (64 ch) + PReLU -> ``num_blocks`` residual blocks
    (conv3x3-BN-PReLU-conv3x3-BN + identity) -> conv3x3 + BN -> global skip from the first conv's
    output -> upsampling -> 9x9 conv to ``out_channels``. The output is linear (no tanh).

    Args:
        in_channels, out_channels: image channels (3 for RGB in [0, 1]).
        num_feat: feature channels (64 in the paper).
        num_blocks: residual blocks (16 in the paper; 8/12/24 for depth ablations).
        scale: 2, 3, 4 or 8.
        global_skip: add the first conv's features to the body's output (the paper's long skip).
        upsampler: ``'pixelshuffle'`` - per x2 (or x3) stage a conv3x3 to ``f*f*num_feat`` channels,
            ``PixelShuffle(f)`` and the activation (the paper's sub-pixel layers); ``'bicubic'`` - per
            stage a bicubic interpolation of the features by ``f`` then conv3x3 (``num_feat`` ->
            ``num_feat``) and the activation (interpolation instead of learnt sub-pixel upsampling).
        batch_norm: batch norm in the residual blocks and after the body's last conv.
        act: ``'prelu'`` (paper) or ``'leakyrelu'`` (slope 0.2).

    Init: convolutions Kaiming-normal, the residual blocks' convs scaled by 0.1 (BasicSR's default),
    batch norm weight 1 / bias 0.

    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_blocks: int = 16,
        scale: int = 4,
        global_skip: bool = True,
        upsampler: str = "pixelshuffle",
        batch_norm: bool = True,
        act: str = "prelu",
    ) -> None:
        super().__init__()
        arch = "srresnet"
        in_channels = check_int(arch, "in_channels", in_channels)
        out_channels = check_int(arch, "out_channels", out_channels)
        num_feat = check_int(arch, "num_feat", num_feat)
        num_blocks = check_int(arch, "num_blocks", num_blocks, minimum=0)
        scale = check_choice(arch, "scale", scale, SRRESNET_SCALES)
        global_skip = check_bool(arch, "global_skip", global_skip)
        upsampler = check_choice(arch, "upsampler", upsampler, ("pixelshuffle", "bicubic"))
        batch_norm = check_bool(arch, "batch_norm", batch_norm)
        act = check_choice(arch, "act", act, ("prelu", "leakyrelu"))

        self.global_skip = global_skip

        self.conv_first = nn.Conv2d(in_channels, num_feat, 9, 1, 4)
        self.act_first = _make_act(act)
        self.body = nn.Sequential(*(SRResBlock(num_feat, batch_norm, act) for _ in range(num_blocks)))
        self.conv_after_body = conv3x3(num_feat, num_feat)
        self.bn_after_body: nn.Module = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()
        stages: list[nn.Module] = []
        for f in upsample_factors(scale):
            if upsampler == "pixelshuffle":
                stages += [conv3x3(num_feat, f * f * num_feat), nn.PixelShuffle(f), _make_act(act)]
            else:
                stages += [Interpolate(f, "bicubic"), conv3x3(num_feat, num_feat), _make_act(act)]
        self.upsample = nn.Sequential(*stages)
        self.conv_last = nn.Conv2d(num_feat, out_channels, 9, 1, 4)

        default_init_weights([self.conv_first, self.conv_after_body, self.bn_after_body, self.upsample])
        default_init_weights(self.conv_last)
        default_init_weights(self.body, 0.1)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["in_channels"]
        return NetInfo("srresnet", hparams["scale"], channels, hparams["out_channels"], color_space(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` -> ``(B, out_channels, scale*H, scale*W)``."""
        feat = self.act_first(self.conv_first(x))
        out = self.bn_after_body(self.conv_after_body(self.body(feat)))
        if self.global_skip:
            out = out + feat
        return self.conv_last(self.upsample(out))


class MSRResNet(SRNet):
    """Modified SRResNet as in BasicSR (Wang et al. 2018, ESRGAN's PSNR-oriented baseline; SRResNet
    of Ledig et al. 2017 without batch norm).

    Layout and state-dict keys follow BasicSR exactly: ``conv_first`` (3x3) + LeakyReLU(0.1) ->
    ``body.N`` residual blocks ``conv1``-ReLU-``conv2`` (+ identity, no BN) -> ``upconv1`` (+
    ``upconv2`` for x4; each conv + PixelShuffle + LeakyReLU(0.1)) -> ``conv_hr`` + LeakyReLU(0.1)
    -> ``conv_last``; the bilinearly upsampled input is added to the output. No long feature skip.
    x4 with the defaults has 1,517,571 parameters.

    Init: every conv Kaiming-normal x 0.1 (BasicSR).

    Args:
        in_channels, out_channels: image channels. ``in_channels`` must equal ``out_channels`` for
            the image skip.
        num_feat: feature channels (64). num_block: residual blocks (16). scale: 2, 3 or 4.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        scale: int = 4,
    ) -> None:
        super().__init__()
        arch = "msrresnet"
        in_channels = check_int(arch, "in_channels", in_channels)
        out_channels = check_int(arch, "out_channels", out_channels)
        if out_channels != in_channels:
            raise ConfigError(
                f"{arch}: out_channels={out_channels} must equal in_channels={in_channels} (image skip)"
            )
        num_feat = check_int(arch, "num_feat", num_feat)
        num_block = check_int(arch, "num_block", num_block, minimum=0)
        scale = check_choice(arch, "scale", scale, MSRRESNET_SCALES)

        self.scale = scale

        self.conv_first = conv3x3(in_channels, num_feat)
        self.body = nn.Sequential(*(ResidualBlockNoBN(num_feat) for _ in range(num_block)))
        shuffle = 2 if scale == 4 else scale
        self.upconv1 = conv3x3(num_feat, num_feat * shuffle * shuffle)
        self.upconv2 = conv3x3(num_feat, num_feat * 4) if scale == 4 else None
        self.pixel_shuffle = nn.PixelShuffle(shuffle)
        self.conv_hr = conv3x3(num_feat, num_feat)
        self.conv_last = conv3x3(num_feat, out_channels)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

        default_init_weights([self.conv_first, self.upconv1, self.conv_hr, self.conv_last], 0.1)
        if self.upconv2 is not None:
            default_init_weights(self.upconv2, 0.1)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["in_channels"]
        return NetInfo("msrresnet", hparams["scale"], channels, channels, color_space(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, scale*H, scale*W)``."""
        feat = self.lrelu(self.conv_first(x))
        out = self.body(feat)
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.upconv2 is not None:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        base = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out + base
