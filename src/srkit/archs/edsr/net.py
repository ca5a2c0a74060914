"""EDSR: Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution", CVPRW 2017."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from srkit.archs.common import ResidualBlockNoBN, Upsample, check_choice, check_float, check_int, conv3x3
from srkit.archs.contract import NetInfo, SRNet, color_space
from srkit.errors import ConfigError

EDSR_SCALES = (2, 3, 4, 8)
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


class EDSR(SRNet):
    """EDSR (Lim et al. 2017), laid out as in BasicSR so its checkpoints load key for key.

    ``conv_first`` -> ``body.N`` residual blocks (conv-ReLU-conv, no batch norm, output scaled by
    ``res_scale``) -> ``conv_after_body`` + long skip from ``conv_first`` -> ``upsample``
    (``upsample.0`` conv + PixelShuffle, and ``upsample.2`` for x4) -> ``conv_last``.

    The paper's two models are hyper-parameter settings: EDSR-baseline (``num_feat=64``,
    ``num_block=16``, ``res_scale=1``; the constructor's defaults; 1,369,859 / 1,554,499 /
    1,517,571 parameters at x2/x3/x4) and EDSR (``num_feat=256``, ``num_block=32``,
    ``res_scale=0.1``). The registry's ``'edsr'`` preset is the full model.

    Input/output are images in [0, 1]; internally, as in the original code, the DIV2K RGB mean is
    subtracted and the range is multiplied by ``img_range`` (255). The mean is a non-persistent
    buffer, so state dicts hold only the convolutions. PyTorch's default initialisation is kept.

    Args:
        in_channels, out_channels: image channels; both must equal ``len(rgb_mean)``.
        num_feat, num_block, res_scale: see above.
        scale: 2, 3, 4 or 8.
        img_range: value range the network works in (255 for DIV2K-trained weights).
        rgb_mean: per-channel mean in [0, 1] subtracted before the network and added back after.
    """

    mean: torch.Tensor

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        scale: int = 4,
        res_scale: float = 1.0,
        img_range: float = 255.0,
        rgb_mean: Sequence[float] = DIV2K_RGB_MEAN,
    ) -> None:
        super().__init__()
        arch = "edsr"
        in_channels = check_int(arch, "in_channels", in_channels)
        out_channels = check_int(arch, "out_channels", out_channels)
        num_feat = check_int(arch, "num_feat", num_feat)
        num_block = check_int(arch, "num_block", num_block, minimum=0)
        scale = check_choice(arch, "scale", scale, EDSR_SCALES)
        res_scale = check_float(arch, "res_scale", res_scale)
        img_range = check_float(arch, "img_range", img_range)
        if isinstance(rgb_mean, (str, bytes)) or not isinstance(rgb_mean, Sequence):
            raise ConfigError(f"{arch}: rgb_mean={rgb_mean!r} must be a list of numbers")
        mean = [check_float(arch, "rgb_mean", v, positive=False) for v in rgb_mean]
        if not len(mean) == in_channels == out_channels:
            raise ConfigError(
                f"{arch}: rgb_mean has {len(mean)} values but in_channels={in_channels}, "
                f"out_channels={out_channels}; all three must agree"
            )

        self.img_range = img_range
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)

        self.conv_first = conv3x3(in_channels, num_feat)
        self.body = nn.Sequential(
            *(ResidualBlockNoBN(num_feat, res_scale=res_scale, pytorch_init=True) for _ in range(num_block))
        )
        self.conv_after_body = conv3x3(num_feat, num_feat)
        self.upsample = Upsample(scale, num_feat)
        self.conv_last = conv3x3(num_feat, out_channels)

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        channels = hparams["in_channels"]
        return NetInfo("edsr", hparams["scale"], channels, hparams["out_channels"], color_space(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` in [0, 1] -> ``(B, C, scale*H, scale*W)`` (not clamped)."""
        mean = self.mean.to(dtype=x.dtype)
        x = (x - mean) * self.img_range
        feat = self.conv_first(x)
        res = self.conv_after_body(self.body(feat)) + feat
        out = self.conv_last(self.upsample(res))
        return out / self.img_range + mean
