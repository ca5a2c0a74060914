"""CARN-M: Ahn, Kang and Sohn, "Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual
Network", ECCV 2018 (nmhkahn/CARN-pytorch), the mobile version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.common import check_bool, check_choice, check_int
from srkit.archs.contract import NetInfo, SRNet
from srkit.errors import ConfigError

#: Factors of a single-scale branch, and the branches of the multi-scale network.
CARN_SCALES = (2, 3, 4, 8)
MULTI_SCALES = (2, 3, 4)
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class Shifter(nn.Module):
    """A fixed 1x1 convolution (CARN's frozen ``MeanShift.shifter``): buffers ``weight`` (identity) and
    ``bias`` (``sign * mean``), stored with the network but never trained."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __init__(self, mean: tuple[float, ...], sign: float) -> None:
        super().__init__()
        n = len(mean)
        eye = [[[[1.0 if i == j else 0.0]] for j in range(n)] for i in range(n)]
        self.register_buffer("weight", torch.tensor(eye))
        self.register_buffer("bias", torch.tensor([sign * m for m in mean]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype))


class MeanShift(nn.Module):
    """``shifter``: subtracts (``sign=-1``) or adds (``sign=1``) the RGB mean."""

    def __init__(self, mean: tuple[float, ...], sign: float) -> None:
        super().__init__()
        self.shifter = Shifter(mean, sign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifter(x)


class BasicBlock(nn.Module):
    """1x1 conv + ReLU (``body.0``): CARN's cascading fusion of the concatenated features."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class EResidualBlock(nn.Module):
    """Efficient residual block: 3x3 group conv, ReLU, 3x3 group conv, ReLU, 1x1 conv
    (``body.0/2/4``), ``relu(body(x) + x)``."""

    def __init__(self, channels: int, group: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, groups=group),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, groups=group),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x)


class CascadingBlock(nn.Module):
    """CARN-M's local cascading block: one :class:`EResidualBlock` ``b1`` applied three times (its
    weights shared, the recursion of CARN-M), each output concatenated to everything before it and
    fused by ``c1``/``c2``/``c3`` (:class:`BasicBlock`, 2, 3 and 4 x ``channels`` in)."""

    def __init__(self, channels: int, group: int) -> None:
        super().__init__()
        self.b1 = EResidualBlock(channels, group)
        self.c1 = BasicBlock(channels * 2, channels)
        self.c2 = BasicBlock(channels * 3, channels)
        self.c3 = BasicBlock(channels * 4, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cat = x
        out = x
        for fuse in (self.c1, self.c2, self.c3):
            cat = torch.cat([cat, self.b1(out)], dim=1)
            out = fuse(cat)
        return out


class UpsampleBranch(nn.Module):
    """Per x2 stage (x3: one stage) a 3x3 group conv to ``f * f * channels``, ReLU, ``PixelShuffle(f)``
    (``body.0``, ``body.3``, ...)."""

    def __init__(self, channels: int, scale: int, group: int) -> None:
        super().__init__()
        factors = [3] if scale == 3 else [2] * (scale.bit_length() - 1)
        layers: list[nn.Module] = []
        for f in factors:
            layers += [nn.Conv2d(channels, f * f * channels, 3, 1, 1, groups=group), nn.ReLU(inplace=True)]
            layers.append(nn.PixelShuffle(f))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UpsampleBlock(nn.Module):
    """``up2``/``up3``/``up4`` (multi-scale) or ``up`` (one factor) :class:`UpsampleBranch`es."""

    def __init__(self, channels: int, scale: int, multi_scale: bool, group: int) -> None:
        super().__init__()
        self.multi_scale = multi_scale
        if multi_scale:
            for s in MULTI_SCALES:
                self.add_module(f"up{s}", UpsampleBranch(channels, s, group))
        else:
            self.up = UpsampleBranch(channels, scale, group)

    def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        branch: nn.Module = getattr(self, f"up{scale}") if self.multi_scale else self.up
        return branch(x)


class CARNM(SRNet):
    """CARN-M (Ahn et al. 2018), laid out as in nmhkahn/CARN-pytorch so its checkpoints load key for key.

    ``sub_mean`` -> ``entry`` 3x3 conv -> three :class:`CascadingBlock` ``b1``/``b2``/``b3`` cascaded
    globally (``c1``/``c2``/``c3`` fuse the concatenations, as inside the blocks) -> ``upsample`` ->
    ``exit`` 3x3 conv -> ``add_mean``. ``group`` is the group count of the 3x3 convs of the residual
    blocks and the upsamplers (4 in the released model: 414,811 parameters with its three branches).

    **Scales.** The released network is multi-scale (``multi_scale=True``): one trunk and an x2, x3 and
    x4 upsampling branch, the branch chosen per call, ``forward(x, scale)``; its NetInfo lists
    ``scales`` (2, 3, 4) and ``scale_arg``, so the runner passes the factor of each call. ``scale`` is
    the factor a call without one uses (and what training trains).
    With ``multi_scale=False`` there is one branch ``up`` of factor ``scale`` (2, 3, 4 or 8).

    Input/output: RGB in [0, 1]; the mean shift is part of the network (``sub_mean``/``add_mean``, fixed
    1x1 convs stored as buffers with the weights, so the released values are used as they are).
    PyTorch's default initialisation, as in CARN-pytorch.

    Args:
        scale: see above.
        multi_scale: x2, x3 and x4 branches (True) or one branch of ``scale``.
        num_feat: features (64).
        group: groups of the efficient residual blocks' and the upsamplers' 3x3 convs (4 for CARN-M).
    """

    def __init__(self, scale: int = 4, multi_scale: bool = True, num_feat: int = 64, group: int = 4) -> None:
        super().__init__()
        arch = "carn_m"
        self.multi_scale = check_bool(arch, "multi_scale", multi_scale)
        self.scale = check_choice(arch, "scale", scale, MULTI_SCALES if self.multi_scale else CARN_SCALES)
        num_feat = check_int(arch, "num_feat", num_feat)
        group = check_int(arch, "group", group)
        if num_feat % group:
            raise ConfigError(f"{arch}: num_feat={num_feat} must be a multiple of group={group}")

        self.sub_mean = MeanShift(DIV2K_RGB_MEAN, -1.0)
        self.add_mean = MeanShift(DIV2K_RGB_MEAN, 1.0)
        self.entry = nn.Conv2d(3, num_feat, 3, 1, 1)
        self.b1 = CascadingBlock(num_feat, group)
        self.b2 = CascadingBlock(num_feat, group)
        self.b3 = CascadingBlock(num_feat, group)
        self.c1 = BasicBlock(num_feat * 2, num_feat)
        self.c2 = BasicBlock(num_feat * 3, num_feat)
        self.c3 = BasicBlock(num_feat * 4, num_feat)
        self.upsample = UpsampleBlock(num_feat, self.scale, self.multi_scale, group)
        self.exit = nn.Conv2d(num_feat, 3, 3, 1, 1)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        scale = hparams["scale"]
        scales = MULTI_SCALES if hparams["multi_scale"] else (scale,)
        return NetInfo("carn_m", scale, 3, 3, "rgb", scales=scales, scale_arg=True)

    def forward(self, x: torch.Tensor, scale: int | None = None) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> ``(B, 3, s*H, s*W)`` (not clamped), ``s`` = ``scale`` or the
        network's own; a multi-scale network takes 2, 3 or 4, a single-scale one only its own."""
        s = self.scale if scale is None else scale
        if s not in (MULTI_SCALES if self.multi_scale else (self.scale,)):
            raise ConfigError(f"carn_m: cannot upscale by x{s}; the network serves {self.info.scales_text()}")
        x = self.entry(self.sub_mean(x))
        cat = x
        out = x
        for block, fuse in ((self.b1, self.c1), (self.b2, self.c2), (self.b3, self.c3)):
            cat = torch.cat([cat, block(out)], dim=1)
            out = fuse(cat)
        return self.add_mean(self.exit(self.upsample(out, s)))
