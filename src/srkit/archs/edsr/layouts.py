"""EDSR checkpoints (Lim et al. 2017) -> srkit ``edsr``.

- **BasicSR** (also srkit's own keys): ``conv_first``, ``body.N.conv1``/``conv2``, ``conv_after_body``,
  ``upsample.0`` (+ ``upsample.2``, ...), ``conv_last``. The mean is not stored: BasicSR's EDSR uses
  the DIV2K RGB mean and ``img_range`` 255, as srkit's defaults.
- **EDSR-PyTorch** (sanghyun-son/EDSR-PyTorch, the authors' code and published ``edsr_*.pt`` files):
  ``sub_mean``, ``head.0``, ``body.N.body.0``/``body.N.body.2``, ``body.<num_block>`` (the conv after
  the blocks), ``tail.0.0`` (+ ``tail.0.2``, ...; the sub-pixel upsampler), ``tail.1``, ``add_mean``.
  Its ``MeanShift`` is a fixed 1x1 conv: weight ``I / std``, bias ``-rgb_range * mean / std``; the
  network takes images in ``[0, rgb_range]``. srkit's EDSR takes ``[0, 1]`` and computes
  ``(x - rgb_mean) * img_range``, the same map, so ``img_range = rgb_range`` and ``rgb_mean = mean``.
  The stored bias gives ``rgb_range * mean``: when it is a multiple of the DIV2K mean (the project's
  default, with ``rgb_range`` 255 for every published model) srkit uses exactly that mean and range;
  otherwise ``rgb_range`` 255 (EDSR-PyTorch's default) is assumed. ``rgb_std`` other than 1 is
  refused. Files without the mean-shift tensors get the DIV2K mean and 255.

Both: ``num_feat`` = first conv's output channels, ``num_block`` = residual blocks, ``scale`` from the
upsampling convs (4x ``num_feat`` outputs per x2 stage, 9x for one x3 stage). ``res_scale`` (residual
scaling) is not stored in the weights: srkit uses 0.1 when ``num_feat`` is 256 (the paper's full EDSR,
trained with 0.1) and 1 otherwise (EDSR-baseline and the other published settings). A model trained
with another residual scaling converts without error but computes something else.
"""

from __future__ import annotations

import torch

from srkit.archs.edsr.net import DIV2K_RGB_MEAN
from srkit.archs.layouts import (
    CheckpointFormat,
    Converted,
    Hints,
    StateDict,
    check_run,
    indices,
    rename,
    shape,
    subpixel_factors,
)

BASICSR = "edsr-basicsr"
EDSR_PYTORCH = "edsr-pytorch"

#: EDSR-PyTorch's ``--rgb_range`` default, used by all published EDSR models.
DEFAULT_RGB_RANGE = 255.0
FULL_EDSR_FEAT = 256


def res_scale_for(num_feat: int) -> float:
    """The residual scaling srkit assumes: 0.1 for the 256-feature full EDSR, else 1."""
    return 0.1 if num_feat == FULL_EDSR_FEAT else 1.0


def _from_basicsr_keys(
    state: StateDict, hints: Hints, layout: str, img_range: float, rgb_mean: list[float]
) -> Converted:
    weight = shape(state, "conv_first.weight", hints, layout)
    num_feat, in_channels = weight[:2]
    if weight[2:] != (3, 3):
        raise hints.error(layout, f"conv_first is {weight[2]}x{weight[3]}, EDSR's is 3x3")
    out_channels = shape(state, "conv_last.weight", hints, layout)[0]
    num_block = check_run(hints, layout, indices(state, r"body\.(\d+)\.conv1\.weight"), 0, "residual blocks")
    ups = indices(state, r"upsample\.(\d+)\.weight")
    if ups != list(range(0, 2 * len(ups), 2)):
        raise hints.error(layout, f"upsampling convs are at {ups}, expected 0, 2, ...")
    outs = [shape(state, f"upsample.{i}.weight", hints, layout)[0] for i in ups]
    factors = subpixel_factors(hints, layout, outs, num_feat, "an upsampling conv")
    scale = 1
    for f in factors:
        scale *= f
    scale = hints.check_scale(layout, scale, f"{len(factors)} sub-pixel stage(s)")
    if len(rgb_mean) != in_channels:
        raise hints.error(
            layout,
            f"{in_channels} input channels but a {len(rgb_mean)}-channel mean; srkit's EDSR needs both equal",
        )
    hparams = {
        "in_channels": in_channels,
        "out_channels": out_channels,
        "num_feat": num_feat,
        "num_block": num_block,
        "scale": scale,
        "res_scale": res_scale_for(num_feat),
        "img_range": img_range,
        "rgb_mean": rgb_mean,
    }
    return "edsr", hparams, dict(state)


def convert_basicsr(state: StateDict, hints: Hints) -> Converted:
    """BasicSR keys are srkit's: the hyper-parameters are inferred, the DIV2K mean and 255 assumed."""
    return _from_basicsr_keys(state, hints, BASICSR, DEFAULT_RGB_RANGE, list(DIV2K_RGB_MEAN))


def _mean_shift(state: StateDict, hints: Hints) -> tuple[float, list[float]]:
    """``(img_range, rgb_mean)`` from EDSR-PyTorch's ``sub_mean``/``add_mean`` convs."""
    layout = EDSR_PYTORCH
    if "add_mean.bias" not in state and "sub_mean.bias" not in state:
        return DEFAULT_RGB_RANGE, list(DIV2K_RGB_MEAN)
    biases = []
    for name, sign in (("sub_mean", -1.0), ("add_mean", 1.0)):
        weight, bias = state.get(f"{name}.weight"), state.get(f"{name}.bias")
        if weight is None or bias is None:
            raise hints.error(layout, f"{name} needs both weight and bias")
        channels = bias.numel()
        eye = torch.eye(channels, dtype=torch.float64).view(channels, channels, 1, 1)
        if tuple(weight.shape) != tuple(eye.shape) or not torch.allclose(weight.double(), eye, atol=1e-6):
            raise hints.error(layout, f"{name} is not the identity (rgb_std != 1), which srkit's EDSR lacks")
        biases.append(sign * bias.double())
    shift = biases[0]
    if not torch.allclose(biases[0], biases[1], rtol=1e-5, atol=1e-5):
        raise hints.error(layout, "sub_mean and add_mean disagree")
    div2k = torch.tensor(DIV2K_RGB_MEAN, dtype=torch.float64)
    if shift.numel() == div2k.numel():
        ratio = shift / div2k
        if torch.allclose(ratio, ratio.mean(), rtol=1e-5):
            rgb_range = float(ratio.mean())
            if abs(rgb_range - round(rgb_range)) < 1e-3:
                rgb_range = float(round(rgb_range))
            return rgb_range, list(DIV2K_RGB_MEAN)
    return DEFAULT_RGB_RANGE, [float(v) / DEFAULT_RGB_RANGE for v in shift]


def convert_edsr_pytorch(state: StateDict, hints: Hints) -> Converted:
    """EDSR-PyTorch -> BasicSR keys; the mean shift becomes ``img_range``/``rgb_mean``."""
    layout = EDSR_PYTORCH
    trunk = indices(state, r"body\.(\d+)\.weight")
    if len(trunk) != 1:
        raise hints.error(layout, f"expected one conv 'body.<num_block>' after the blocks, found {trunk}")
    renamed = rename(
        state,
        [
            (r"head\.0\.(weight|bias)", r"conv_first.\1"),
            (r"body\.(\d+)\.body\.0\.(weight|bias)", r"body.\1.conv1.\2"),
            (r"body\.(\d+)\.body\.2\.(weight|bias)", r"body.\1.conv2.\2"),
            (rf"body\.{trunk[0]}\.(weight|bias)", r"conv_after_body.\1"),
            (r"tail\.0\.(\d+)\.(weight|bias)", r"upsample.\1.\2"),
            (r"tail\.1\.(weight|bias)", r"conv_last.\1"),
        ],
        drop=[r"(sub|add)_mean\.(weight|bias)"],
    )
    img_range, rgb_mean = _mean_shift(state, hints)
    return _from_basicsr_keys(renamed, hints, layout, img_range, rgb_mean)


FORMATS = (
    CheckpointFormat(
        BASICSR,
        "EDSR, BasicSR layout (conv_first, body.N.conv1/2, conv_after_body, upsample.N)",
        ("conv_first.weight", "body.0.conv1.weight", "conv_after_body.weight", "upsample.0.weight"),
        convert_basicsr,
    ),
    CheckpointFormat(
        EDSR_PYTORCH,
        "EDSR, EDSR-PyTorch layout (sub_mean, head.0, body.N.body.0/2, tail.0.N, tail.1, add_mean)",
        ("head.0.weight", "body.0.body.0.weight", "tail.0.0.weight", "tail.1.weight"),
        convert_edsr_pytorch,
    ),
)
