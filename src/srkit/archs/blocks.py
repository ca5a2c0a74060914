"""Attention and convolution blocks shared by the efficient super-resolution families.

Module names inside each block equal the original projects' names, so a family's state-dict keys are
the authors' keys.

- :class:`ESA`: enhanced spatial attention (Liu et al. 2020, RFANet), in RFDN's full form, RLFN's light
  form and BSRN's form with blueprint separable convolutions and GELU;
- :class:`CCA`: contrast-aware channel attention (Hui et al. 2019, IMDN), also in BSRN;
- :class:`BSConvU`: blueprint separable convolution (Haase and Amthor 2020), BSRN's convolution;
- :class:`PixelAttention`: pixel attention (Zhao et al. 2020, PAN);
- :func:`pixelshuffle_upsampler` and :func:`subpixel_scale`: the one-step sub-pixel upsampler these
  families end with (Shi et al. 2016) and its factor read off a checkpoint.

References:
- Liu, Zhang, Ma, Shi and Zhang, "Residual Feature Aggregation Network for Image Super-Resolution",
  CVPR 2020 (ESA).
- Liu, Tang and Wu, "Residual Feature Distillation Network for Lightweight Image Super-Resolution",
  ECCVW 2020 (RFDN; ESA in every block).
- Kong et al., "Residual Local Feature Network for Efficient Super-Resolution", CVPRW 2022 (RLFN; ESA
  without ``conv_max`` and ``conv3_``).
- Hui, Gao, Yang and Wang, "Lightweight Image Super-Resolution with Information Multi-distillation
  Network", ACM MM 2019 (IMDN; CCA).
- Haase and Amthor, "Rethinking Depthwise Separable Convolutions: How Intra-Kernel Correlations Lead to
  Improved MobileNets", CVPR 2020 (BSConv).
- Li et al., "Blueprint Separable Residual Network for Efficient Image Super-Resolution", CVPRW 2022
  (BSRN; BSConvU, ESA and CCA in every block).
- Zhao, Kong, He, Qiao and Dong, "Efficient Image Super-Resolution Using Pixel Attention", ECCVW 2020
  (PAN; pixel attention).
- Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
  Convolutional Neural Network", CVPR 2016 (pixel shuffle).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs.layouts import Hints

#: ESA's max-pooling window and stride (the same in RFANet, RFDN, RLFN and BSRN).
ESA_POOL_KERNEL = 7
ESA_POOL_STRIDE = 3
#: The smallest input side ESA's strided conv and pooling accept (3x3 stride-2 conv to 7, then 7x7 pooling).
ESA_MIN_SIZE = 2 * (ESA_POOL_KERNEL - 1) + 3


class BSConvU(nn.Module):
    """Unconstrained blueprint separable convolution (Haase and Amthor 2020, BSConv-U): a pointwise 1x1
    convolution without bias (``pw``, ``in -> out``) followed by a depthwise ``kernel_size`` convolution
    with bias (``dw``, one filter per output channel). BSRN's convolution (Li et al. 2022).

    Keys: ``pw.weight`` (``out x in x 1 x 1``), ``dw.weight`` (``out x 1 x k x k``), ``dw.bias``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1
    ) -> None:
        super().__init__()
        self.pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.dw = nn.Conv2d(
            out_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=out_channels
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dw(self.pw(x))


def _conv3(
    in_channels: int, out_channels: int, separable: bool, stride: int = 1, padding: int = 1
) -> nn.Module:
    if separable:
        return BSConvU(in_channels, out_channels, 3, stride=stride, padding=padding)
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=padding)


class ESA(nn.Module):
    """Enhanced spatial attention (Liu et al. 2020, RFANet, Sec. 3.3): a spatial mask from a reduced,
    strided, max-pooled branch, multiplied onto the input.

    ``conv1`` (1x1, ``channels -> esa_channels``) gives ``c1_``; ``conv2`` (3x3, stride 2, no padding)
    and a 7x7 max-pool with stride 3 shrink it; the full form (``full=True``, RFDN and BSRN) then applies
    ``conv_max``, the activation, ``conv3``, the activation and ``conv3_`` (3x3 each), the light form
    (``full=False``, RLFN) only ``conv3``; the result is resized bilinearly to the input size, added to
    ``conv_f(c1_)`` (1x1), mapped back to ``channels`` by ``conv4`` (1x1) and squashed by a sigmoid.

    Args:
        channels: the feature channels the mask applies to.
        esa_channels: the reduced branch's channels (RFDN and BSRN: ``channels // 4``; RLFN: 16).
        full: with ``conv_max`` and ``conv3_`` (RFDN, BSRN) or without (RLFN).
        separable: the 3x3 convolutions are :class:`BSConvU` (BSRN) instead of plain convolutions.
        activation: ``'relu'`` (RFDN) or ``'gelu'`` (BSRN); the light form has none.

    Inputs smaller than 15 pixels on a side, which the original code cannot pool, are edge-replicated to
    15 inside the reduced branch (the mask is still resized to the input size); larger inputs are
    computed exactly as the original.
    """

    def __init__(
        self,
        channels: int,
        esa_channels: int | None = None,
        *,
        full: bool = True,
        separable: bool = False,
        activation: Literal["relu", "gelu"] = "relu",
    ) -> None:
        super().__init__()
        f = channels // 4 if esa_channels is None else esa_channels
        self.full = full
        self.conv1 = nn.Conv2d(channels, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        if full:
            self.conv_max = _conv3(f, f, separable)
        self.conv2 = _conv3(f, f, separable, stride=2, padding=0)
        self.conv3 = _conv3(f, f, separable)
        if full:
            self.conv3_ = _conv3(f, f, separable)
        self.conv4 = nn.Conv2d(f, channels, 1)
        self.act: nn.Module = nn.GELU() if activation == "gelu" else nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        h, w = c1_.shape[-2:]
        small = c1_
        if h < ESA_MIN_SIZE or w < ESA_MIN_SIZE:
            small = F.pad(c1_, (0, max(0, ESA_MIN_SIZE - w), 0, max(0, ESA_MIN_SIZE - h)), mode="replicate")
        c1 = self.conv2(small)
        v_max = F.max_pool2d(c1, kernel_size=ESA_POOL_KERNEL, stride=ESA_POOL_STRIDE)
        if self.full:
            v_range = self.act(self.conv_max(v_max))
            c3 = self.conv3_(self.act(self.conv3(v_range)))
        else:
            c3 = self.conv3(v_max)
        c3 = F.interpolate(c3, (h, w), mode="bilinear", align_corners=False)
        mask = torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))
        return x * mask


def contrast(x: torch.Tensor) -> torch.Tensor:
    """Per-channel standard deviation over the spatial dimensions (population form, ``(B, C, 1, 1)``),
    the "contrast" of IMDN's CCA. The variance is floored at 1e-12 before the square root, so a constant
    channel gets a zero (not infinite) gradient; the value differs from the plain root by at most 1e-6."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    variance = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True)
    return variance.clamp_min(1e-12).sqrt()


class CCA(nn.Module):
    """Contrast-aware channel attention (Hui et al. 2019, IMDN, Sec. 3.2): the per-channel standard
    deviation plus mean (:func:`contrast` + global average pooling) goes through ``conv_du`` (1x1 conv to
    ``channels // reduction``, ReLU, 1x1 conv back, sigmoid) and scales the channels.

    Keys: ``conv_du.0.{weight,bias}``, ``conv_du.2.{weight,bias}`` (IMDN's and BSRN's ``CCALayer``).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = channels // reduction
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = contrast(x) + x.mean(dim=(2, 3), keepdim=True)
        return x * self.conv_du(y)


class PixelAttention(nn.Module):
    """Pixel attention (Zhao et al. 2020, PAN, Sec. 3.1): a 1x1 convolution (``conv``, with bias)
    followed by a sigmoid gives a per-pixel, per-channel weight that multiplies the input.

    Keys: ``conv.weight`` (``channels x channels x 1 x 1``), ``conv.bias`` (PAN's ``PA`` module).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


def pixelshuffle_upsampler(in_channels: int, out_channels: int, scale: int) -> nn.Sequential:
    """One-step sub-pixel upsampler (Shi et al. 2016): a 3x3 convolution to ``out_channels * scale**2``
    channels (key ``0``) and ``PixelShuffle(scale)`` (``1``), as RFDN's, IMDN's, RLFN's ``pixelshuffle_block``
    and BSRN's ``UpsampleOneStep``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
    )


def subpixel_scale(hints: Hints, layout: str, conv_out: int, out_channels: int, what: str) -> int:
    """The factor of a one-step sub-pixel upsampler from its convolution's output channels
    (``out_channels * scale**2``), checked against the scale the user asked for."""
    ratio, rest = divmod(conv_out, out_channels)
    scale = math.isqrt(ratio) if ratio > 0 else 0
    if rest or scale < 1 or scale * scale != ratio:
        raise hints.error(
            layout, f"{what} has {conv_out} output channels, not {out_channels} x a square (scale**2)"
        )
    return hints.check_scale(layout, scale, f"{what}: {conv_out} = {out_channels} x {scale}^2 channels")


__all__ = [
    "CCA",
    "ESA",
    "ESA_MIN_SIZE",
    "BSConvU",
    "PixelAttention",
    "contrast",
    "pixelshuffle_upsampler",
    "subpixel_scale",
]
