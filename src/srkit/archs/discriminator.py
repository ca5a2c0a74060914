"""Discriminators for adversarial SR training.

:class:`VGGStyleDiscriminator` is ESRGAN's VGG-style discriminator ("VGG128": Ledig et al., "Photo-Realistic
Single Image Super-Resolution Using a Generative Adversarial Network" (SRGAN), CVPR 2017, Fig. 4; Wang et
al., "ESRGAN", ECCVW 2018), configurable in width, depth and input size, with BasicSR's
``VGGStyleDiscriminator`` key names so BasicSR/ESRGAN discriminator checkpoints load. Discriminators
are not SR networks: they live in :data:`DISCRIMINATORS`, not in the SR registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from torch import nn

from srkit.archs.common import check_float, check_int
from srkit.errors import ConfigError

#: Discriminator name -> constructor (keyword arguments as :class:`VGGStyleDiscriminator`'s), filled by
#: :func:`register_discriminator`.
DISCRIMINATORS: dict[str, Callable[..., nn.Module]] = {}

_D = TypeVar("_D", bound=Callable[..., nn.Module])


def register_discriminator(name: str) -> Callable[[_D], _D]:
    """Class (or factory) decorator adding a discriminator to :data:`DISCRIMINATORS` as ``name``."""

    def register(constructor: _D) -> _D:
        if name in DISCRIMINATORS:
            raise ValueError(f"discriminator {name!r} is already registered")
        DISCRIMINATORS[name] = constructor
        return constructor

    return register


#: BasicSR's ``VGGStyleDiscriminator`` (input 128, ``num_feat=64``): five stages of
#: (3x3 stride-1 conv, 4x4 stride-2 conv) with widths 64, 128, 256, 512, 512.
VGG128_CHANNELS: tuple[int, ...] = (64, 64, 128, 128, 256, 256, 512, 512, 512, 512)


@register_discriminator("vgg_style")
class VGGStyleDiscriminator(nn.Module):
    """VGG-style discriminator: a logit per image.

    ``vgg_blk_ch`` is read in pairs ``(a, b)``, one pair per stage ``i`` (0-based): ``conv{i}_0`` a 3x3
    stride-1 convolution to ``a`` channels, then ``conv{i}_1`` a 4x4 stride-2 convolution (padding 1,
    halving the size) to ``b`` channels. Every convolution is followed by BatchNorm ``bn{i}_{j}``
    (except ``conv0_0``, which has a bias instead) and LeakyReLU(0.2). The features are flattened and
    go through ``linear1 .. linearK`` (``fc_features`` hidden widths, LeakyReLU(0.2) after each) and a
    last linear layer to one logit (``linear{len(fc_features) + 1}``).

    Key names: with the defaults (``vgg_blk_ch`` = :data:`VGG128_CHANNELS`, ``fc_features=[100]``,
    ``input_size=128``) the state dict is exactly BasicSR's ``VGGStyleDiscriminator(num_in_ch=3,
    num_feat=64, input_size=128)`` (``conv0_0``, ``conv0_1``, ``bn0_1``, ``conv1_0``, ``bn1_0``, ...,
    ``conv4_1``, ``bn4_1``, ``linear1`` (8192 -> 100), ``linear2`` (100 -> 1)). BasicSR's
    ``input_size=256`` variant is six stages: ``vgg_blk_ch = VGG128_CHANNELS + (512, 512)``. Another
    input size keeps the layout and changes only ``linear1``'s input, ``b_last * s * s`` with
    ``s = input_size`` halved (rounded down) once per stage: 192 -> 6, so 512 * 36.

    No operation is in place, so the network is safe under DistributedDataParallel with separate
    backward passes for real and fake batches.

    Args:
        in_channels: image channels (3).
        vgg_blk_ch: an even number of channel widths, two per stage.
        fc_features: hidden widths of the fully connected head.
        input_size: the side of the (square) inputs, e.g. the HR patch size 128 or 192.
        negative_slope: LeakyReLU slope (0.2).
    """

    def __init__(
        self,
        in_channels: int = 3,
        vgg_blk_ch: Sequence[int] = VGG128_CHANNELS,
        fc_features: Sequence[int] = (100,),
        input_size: int = 128,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        name = "discriminator"
        in_channels = check_int(name, "in_channels", in_channels)
        widths = [check_int(name, "vgg_blk_ch", w) for w in vgg_blk_ch]
        hidden = [check_int(name, "fc_features", w) for w in fc_features]
        input_size = check_int(name, "input_size", input_size)
        negative_slope = check_float(name, "negative_slope", negative_slope, positive=False)
        if not widths or len(widths) % 2:
            raise ConfigError(
                f"{name}: vgg_blk_ch={list(vgg_blk_ch)} must hold an even number of widths (two per stage)"
            )
        stages = len(widths) // 2
        side = input_size
        for _ in range(stages):
            side //= 2
        if side < 1:
            raise ConfigError(
                f"{name}: input_size={input_size} is too small for {stages} stride-2 stages "
                f"(needs >= {2**stages})"
            )
        self.in_channels = in_channels
        self.input_size = input_size
        self.vgg_blk_ch = widths
        self.fc_features = hidden
        self.hparams = {
            "in_channels": in_channels,
            "vgg_blk_ch": widths,
            "fc_features": hidden,
            "input_size": input_size,
            "negative_slope": negative_slope,
        }

        self._convs: list[tuple[str, str | None]] = []  # (conv name, bn name or None) in order
        channels = in_channels
        for i in range(stages):
            for j, (kernel, stride) in enumerate(((3, 1), (4, 2))):
                width = widths[2 * i + j]
                first = i == 0 and j == 0
                conv_name = f"conv{i}_{j}"
                self.add_module(conv_name, nn.Conv2d(channels, width, kernel, stride, 1, bias=first))
                bn_name = None if first else f"bn{i}_{j}"
                if bn_name is not None:
                    self.add_module(bn_name, nn.BatchNorm2d(width, affine=True))
                self._convs.append((conv_name, bn_name))
                channels = width
        self.flat_features = channels * side * side
        sizes = [self.flat_features, *hidden, 1]
        self._linears = [f"linear{k + 1}" for k in range(len(sizes) - 1)]
        for k, linear in enumerate(self._linears):
            self.add_module(linear, nn.Linear(sizes[k], sizes[k + 1]))
        self.lrelu = nn.LeakyReLU(negative_slope=negative_slope, inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, input_size, input_size)`` -> logits ``(N, 1)``."""
        if x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(
                f"discriminator: input {tuple(x.shape[-2:])} must be {self.input_size}x{self.input_size} "
                "(its input_size)"
            )
        feat = x
        for conv_name, bn_name in self._convs:
            feat = getattr(self, conv_name)(feat)
            if bn_name is not None:
                feat = getattr(self, bn_name)(feat)
            feat = self.lrelu(feat)
        feat = feat.flatten(1)
        for k, linear in enumerate(self._linears):
            feat = getattr(self, linear)(feat)
            if k < len(self._linears) - 1:
                feat = self.lrelu(feat)
        return feat


def build_discriminator(name: str, /, **kwargs: object) -> nn.Module:
    """A discriminator of :data:`DISCRIMINATORS` by name; ConfigError naming an unknown one."""
    if name not in DISCRIMINATORS:
        raise ConfigError(f"discriminator: unknown type {name!r}; valid: {', '.join(DISCRIMINATORS)}")
    return DISCRIMINATORS[name](**kwargs)
