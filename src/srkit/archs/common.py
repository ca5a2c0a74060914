"""Building blocks shared by the networks: validation of hyper-parameters, BasicSR-style weight
initialisation, the EDSR residual block and the sub-pixel upsampler.

References:
- Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
  Convolutional Neural Network", CVPR 2016 (pixel shuffle / sub-pixel convolution).
- He et al., "Delving Deep into Rectifiers", ICCV 2015 (Kaiming initialisation).
- Lim et al., "Enhanced Deep Residual Networks for Single Image Super-Resolution", CVPRW 2017
  (residual block without batch normalisation, residual scaling).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from srkit.errors import ConfigError

# --------------------------------------------------------------------------------------------------
# Hyper-parameter validation. Every failure is a one-line ConfigError that names the key.
# --------------------------------------------------------------------------------------------------


def check_int(arch: str, key: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer ``>= minimum`` (bools rejected), else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{arch}: {key}={value!r} must be an integer >= {minimum}")
    if value < minimum:
        raise ConfigError(f"{arch}: {key}={value!r} must be an integer >= {minimum}")
    return int(value)


def check_float(arch: str, key: str, value: Any, *, positive: bool = True) -> float:
    """Return ``value`` as a float if it is a real number (``> 0`` when ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{arch}: {key}={value!r} must be a number")
    if positive and not value > 0:
        raise ConfigError(f"{arch}: {key}={value!r} must be > 0")
    return float(value)


def check_bool(arch: str, key: str, value: Any) -> bool:
    """Return ``value`` if it is a bool, else raise ConfigError."""
    if not isinstance(value, bool):
        raise ConfigError(f"{arch}: {key}={value!r} must be true or false")
    return value


def check_choice(arch: str, key: str, value: Any, choices: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``choices`` (bools never match ints), else raise ConfigError."""
    if isinstance(value, bool) or value not in choices:
        valid = ", ".join(str(c) for c in choices)
        raise ConfigError(f"{arch}: {key}={value!r} is not supported; valid: {valid}")
    return value


# --------------------------------------------------------------------------------------------------
# Initialisation
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def default_init_weights(
    modules: nn.Module | Iterable[nn.Module], scale: float = 1.0, bias_fill: float = 0.0
) -> None:
    """BasicSR's default initialisation: Kaiming-normal (fan-in, He et al. 2015) convolution and
    linear weights multiplied by ``scale`` (0.1 inside residual blocks keeps deep residual stacks
    close to identity at the start of training), biases filled with ``bias_fill``; batch-norm
    weights 1 and biases ``bias_fill``."""
    if isinstance(modules, nn.Module):
        modules = [modules]
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.fill_(bias_fill)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                nn.init.constant_(m.weight, 1.0)
                if m.bias is not None:
                    m.bias.fill_(bias_fill)


# --------------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------------


def conv3x3(in_ch: int, out_ch: int, bias: bool = True) -> nn.Conv2d:
    """3x3 convolution, stride 1, 'same' padding."""
    return nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=bias)


class ResidualBlockNoBN(nn.Module):
    """``x + res_scale * conv2(relu(conv1(x)))``: the residual block of EDSR (Lim et al. 2017) with
    batch normalisation removed. Keys ``conv1``/``conv2`` as in BasicSR.

    Args:
        num_feat: channels in and out.
        res_scale: residual scaling (0.1 for the 256-channel EDSR, 1 otherwise).
        pytorch_init: keep PyTorch's default initialisation (EDSR) instead of Kaiming x 0.1
            (BasicSR's MSRResNet).
    """

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0, pytorch_init: bool = False) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = conv3x3(num_feat, num_feat)
        self.conv2 = conv3x3(num_feat, num_feat)
        self.relu = nn.ReLU(inplace=True)
        if not pytorch_init:
            default_init_weights([self.conv1, self.conv2], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.conv1(x)))
        if self.res_scale != 1.0:
            out = out * self.res_scale
        return x + out


def upsample_factors(scale: int) -> list[int]:
    """Split ``scale`` into sub-pixel stages: powers of two into x2 stages, 3 into one x3 stage.

    >>> upsample_factors(8)
    [2, 2, 2]
    """
    if scale == 3:
        return [3]
    if scale >= 2 and scale & (scale - 1) == 0:
        return [2] * (scale.bit_length() - 1)
    raise ValueError(f"scale {scale} is not a power of two or 3")


class Upsample(nn.Sequential):
    """Sub-pixel upsampler (Shi et al. 2016) laid out as in BasicSR/EDSR: for each stage, a 3x3 conv
    to ``f*f*num_feat`` channels followed by ``PixelShuffle(f)`` (keys ``0``, ``2``, ... are the
    convs). No activation, as in EDSR."""

    def __init__(self, scale: int, num_feat: int) -> None:
        layers: list[nn.Module] = []
        for f in upsample_factors(scale):
            layers += [conv3x3(num_feat, f * f * num_feat), nn.PixelShuffle(f)]
        super().__init__(*layers)


class Interpolate(nn.Module):
    """Parameter-free resize by an integer factor with :func:`torch.nn.functional.interpolate`."""

    def __init__(self, scale_factor: int, mode: str = "bicubic") -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            return F.interpolate(x, scale_factor=self.scale_factor, mode="nearest")
        return F.interpolate(x, scale_factor=self.scale_factor, mode=self.mode, align_corners=False)

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}"
