"""LPIPS: the Learned Perceptual Image Patch Similarity, srkit's own implementation.

Zhang, Isola, Efros, Shechtman & Wang, "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", CVPR 2018 (eq. 1), as the authors' ``lpips`` package computes it (version 0.1):

1. images in [0, 1] are mapped to [-1, 1] (``2 x - 1``) and through the ScalingLayer,
   ``(x - shift) / scale`` with ``shift = (-0.030, -0.088, -0.188)`` and ``scale = (0.458, 0.448, 0.450)``;
2. a frozen ImageNet backbone gives five feature maps ("taps") ``y^l`` per image: ``'alex'`` AlexNet
   (Krizhevsky et al. 2012; torchvision's ``features``, taps after relu1..relu5, 64/192/384/256/256
   channels) or ``'vgg'`` VGG16 (Simonyan & Zisserman 2015; relu1_2, relu2_2, relu3_3, relu4_3, relu5_3,
   64/128/256/512/512 channels, :class:`srkit.archs.vgg.VGGFeatureExtractor`);
3. each tap is unit-normalised over channels, ``y / (||y||_2 + 1e-10)`` per pixel;
4. ``d(x, x0) = sum_l mean_{h,w} w_l . (y^l - y0^l)^2``: squared difference, a 1x1 'lin' convolution
   without bias and with non-negative learned weights ``w_l`` (one output channel), the spatial mean, and
   the sum over taps.

The result is ``(N,)``: 0 for identical images, larger for perceptually more different ones.

Weights. The linear layers are the published v0.1 files ``alex.pth`` / ``vgg.pth`` of the official
package (keys ``lin0.model.1.weight`` ... ``lin4.model.1.weight``, shape ``(1, C, 1, 1)``; ``model.0``
is a Dropout used in training, an identity here), looked up as ``<srkit cache>/lpips/v0.1/<net>.pth``
(:func:`default_lin_weights_path`), then in an installed ``lpips`` package
(``site-packages/lpips/weights/v0.1/<net>.pth``, found without importing it:
:func:`installed_lin_weights_path`), unless a path is given. The backbones are torchvision's ImageNet
files ``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth`` in ``<srkit cache>/weights/``
(:func:`default_backbone_weights_path`, shared with :mod:`srkit.archs.vgg`) unless a path is given.
``srkit fetch-weights lpips-alex`` (or ``lpips-vgg``) downloads and verifies both files into those cache
paths (:mod:`srkit.io.weight_files`). A missing file is a one-line :class:`~srkit.errors.SrkitError`
naming the expected path, where the official file comes from and how to pass other paths. ``None``
instead of a path builds random backbone weights (tests) or
all-ones linear weights (the paper's uncalibrated baseline "lin = off": the channel sum of the squared
normalised differences).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from srkit.archs.vgg import VGGFeatureExtractor, default_weights_path, weights_url
from srkit.errors import SrkitError
from srkit.io.safe_load import read_checkpoint
from srkit.io.weight_files import LPIPS_LIN_URL, fetch_hint
from srkit.settings import cache_dir

__all__ = [
    "ALEXNET_WEIGHTS_FILE",
    "BACKBONES",
    "LIN_WEIGHTS_URL",
    "LPIPS",
    "AlexNetFeatures",
    "default_backbone_weights_path",
    "default_lin_weights_path",
    "installed_lin_weights_path",
    "lin_state_dict",
    "lpips_uint8",
    "normalize_channels",
    "resolve_lpips_weights",
]

#: The backbones LPIPS v0.1 publishes linear layers for, with the channels of their five taps.
BACKBONES: dict[str, tuple[int, ...]] = {
    "alex": (64, 192, 384, 256, 256),
    "vgg": (64, 128, 256, 512, 512),
}
#: The ScalingLayer of the official package, applied to images in [-1, 1].
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
#: Epsilon of the official ``normalize_tensor``.
NORM_EPS = 1e-10
#: Smallest image side each backbone accepts (AlexNet's stride-4 conv and two 3/2 max-pools; VGG16's
#: four 2x2 pools before relu5_3).
MIN_SIZE = {"alex": 31, "vgg": 16}

ALEXNET_WEIGHTS_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = "https://download.pytorch.org/models/" + ALEXNET_WEIGHTS_FILE
#: The official linear layers (``.format(net=...)``), pinned to a commit of the authors' repository.
LIN_WEIGHTS_URL = LPIPS_LIN_URL
#: How ``srkit eval`` takes other weight files than the cache's.
EVAL_FLAGS = "srkit eval --lpips-weights FILE --lpips-backbone FILE"
#: VGG16 layers whose outputs are the LPIPS taps.
VGG_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")

_LIN_KEY = re.compile(r"^lin(\d)\.model\.([01])\.weight$")


def _check_net(net: str) -> None:
    if net not in BACKBONES:
        raise SrkitError(f"lpips: unknown backbone {net!r}; valid: {', '.join(BACKBONES)}")


# --------------------------------------------------------------------------------------------------
# Backbones
# --------------------------------------------------------------------------------------------------


class AlexNetFeatures(nn.Module):
    """AlexNet's convolutional part in torchvision's ``features.N`` layout (Krizhevsky, Sutskever &
    Hinton 2012; torchvision's single-tower "one weird trick" variant), up to relu5:

    ``features.0`` conv 3->64 k11 s4 p2, ``1`` ReLU, ``2`` max-pool 3/2, ``3`` conv 64->192 k5 p2, ``4``
    ReLU, ``5`` max-pool 3/2, ``6`` conv 192->384 k3 p1, ``7`` ReLU, ``8`` conv 384->256 k3 p1, ``9`` ReLU,
    ``10`` conv 256->256 k3 p1, ``11`` ReLU. :meth:`forward` returns the outputs of the five ReLUs (the
    LPIPS taps relu1..relu5). ReLUs are not in place.
    """

    TAPS = (1, 4, 7, 9, 11)

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.TAPS:
                taps.append(x)
        return taps

    def load_torchvision(self, path: str | Path) -> None:
        """Load torchvision's AlexNet file (``features.N.*``; ``classifier.*`` ignored); a one-line
        :class:`SrkitError` naming the file and the first missing, unexpected or misshapen key."""
        path = Path(path)
        raw, _ = read_checkpoint(path)
        expected = self.state_dict()
        state = {k: v for k, v in raw.items() if not k.startswith("classifier.")}
        for key in expected:
            if key not in state:
                raise SrkitError(f"{path}: not torchvision AlexNet weights: missing {key!r}")
        for key, value in state.items():
            if key not in expected:
                raise SrkitError(f"{path}: not torchvision AlexNet weights: unexpected key {key!r}")
            if tuple(value.shape) != tuple(expected[key].shape):
                raise SrkitError(
                    f"{path}: not torchvision AlexNet weights: {key!r} has shape {tuple(value.shape)}, "
                    f"expected {tuple(expected[key].shape)}"
                )
        self.load_state_dict(state)


class _VGGTaps(nn.Module):
    """VGG16 up to relu5_3 (:class:`srkit.archs.vgg.VGGFeatureExtractor`, no ImageNet input
    normalisation: LPIPS's ScalingLayer takes its place), returning the five taps as a list."""

    def __init__(self, weights: Path | None) -> None:
        super().__init__()
        self.net = VGGFeatureExtractor(VGG_TAPS, vgg_type="vgg16", use_input_norm=False, weights=weights)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        found = self.net(x)
        return [found[name] for name in VGG_TAPS]


# --------------------------------------------------------------------------------------------------
# Weight files
# --------------------------------------------------------------------------------------------------


def default_lin_weights_path(net: str) -> Path:
    """``<srkit cache>/lpips/v0.1/<net>.pth``: where the published linear layers are looked up."""
    _check_net(net)
    return cache_dir() / "lpips" / "v0.1" / f"{net}.pth"


def installed_lin_weights_path(net: str) -> Path | None:
    """``<site-packages>/lpips/weights/v0.1/<net>.pth`` of an installed ``lpips`` package (``pip install
    lpips`` ships them), or ``None``. The package is located with :func:`importlib.util.find_spec`,
    never imported (importing it imports torchvision)."""
    _check_net(net)
    try:
        spec = importlib.util.find_spec("lpips")
    except (ImportError, ValueError):  # ValueError: a module of that name without a spec
        return None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "weights" / "v0.1" / f"{net}.pth"
        if path.is_file():
            return path
    return None


def _default_lin(net: str) -> Path:
    """The cache's linear layers when there, else an installed lpips package's, else the cache path
    (reported missing)."""
    cached = default_lin_weights_path(net)
    if cached.is_file():
        return cached
    return installed_lin_weights_path(net) or cached


def default_backbone_weights_path(net: str) -> Path:
    """``<srkit cache>/weights/<torchvision file>``: ``alexnet-owt-7be5be79.pth`` or
    ``vgg16-397923af.pth`` (the folder :mod:`srkit.archs.vgg` uses too)."""
    _check_net(net)
    if net == "vgg":
        return default_weights_path("vgg16")
    return cache_dir() / "weights" / ALEXNET_WEIGHTS_FILE


def _backbone_url(net: str) -> str:
    if net == "vgg":
        return weights_url("vgg16")
    return ALEXNET_URL


def resolve_lpips_weights(
    net: str,
    lin_weights: str | Path | None = "default",
    backbone_weights: str | Path | None = "default",
) -> tuple[Path | None, Path | None]:
    """The files ``(linear layers, backbone)`` an :class:`LPIPS` of ``net`` reads (``'default'``: the
    cache paths; ``None``: no file).

    Raises:
        SrkitError: one line naming every expected file that does not exist and where the official
            one comes from.
    """
    _check_net(net)
    lin = _pick(lin_weights, _default_lin(net))
    backbone = _pick(backbone_weights, default_backbone_weights_path(net))
    missing = []
    if lin is not None and not lin.is_file():
        missing.append(
            f"{lin}: LPIPS v0.1 {net} linear-layer weights not found (the official {net}.pth of the lpips "
            f"package: {LIN_WEIGHTS_URL.format(net=net)}; an installed lpips package's "
            "lpips/weights/v0.1/ is looked in too)"
        )
    if backbone is not None and not backbone.is_file():
        missing.append(
            f"{backbone}: {'AlexNet' if net == 'alex' else 'VGG16'} ImageNet weights not found "
            f"(torchvision's file: {_backbone_url(net)})"
        )
    if missing:
        defaults = (default_lin_weights_path(net), default_backbone_weights_path(net))
        fetch = fetch_hint(f"{net}.pth") if any(p in defaults for p in (lin, backbone)) else ""
        how = f"{fetch.replace('verifies it', 'verifies them')}, " if fetch else ""
        raise SrkitError(
            "; ".join(missing) + f"; {how}download them to those paths or pass other paths ({EVAL_FLAGS})"
        )
    return lin, backbone


def _pick(value: str | Path | None, default: Path) -> Path | None:
    if value is None:
        return None
    if isinstance(value, str) and value == "default":
        return default
    return Path(value).expanduser()


def lin_state_dict(
    state: Mapping[str, torch.Tensor], net: str, source: str | Path = "state dict"
) -> dict[str, torch.Tensor]:
    """The linear-layer tensors of an official LPIPS weight file, as ``lin{i}.model.1.weight``.

    Accepts the published layout (``lin{i}.model.1.weight``, after a Dropout) and the no-dropout one
    (``lin{i}.model.0.weight``); backbone (``net.*``) and ScalingLayer (``scaling_layer.*``) keys of a full
    LPIPS module dump are ignored.

    Raises:
        SrkitError: one line naming ``source``: an unknown key, a missing layer, or a shape that does
            not fit ``net`` (e.g. vgg weights for alex).
    """
    _check_net(net)
    channels = BACKBONES[net]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(("net.", "scaling_layer.")):
            continue
        found = _LIN_KEY.match(key)
        if found is None or int(found.group(1)) >= len(channels):
            raise SrkitError(
                f"{source}: key {key!r} is not an LPIPS linear-layer key (expected lin0.model.1.weight ... "
                f"lin{len(channels) - 1}.model.1.weight)"
            )
        out[f"lin{found.group(1)}.model.1.weight"] = value
    for i, c in enumerate(channels):
        key = f"lin{i}.model.1.weight"
        if key not in out:
            raise SrkitError(f"{source}: not LPIPS {net} linear-layer weights: missing {key!r}")
        if tuple(out[key].shape) != (1, c, 1, 1):
            raise SrkitError(
                f"{source}: not LPIPS {net} linear-layer weights: {key!r} has shape "
                f"{tuple(out[key].shape)}, expected {(1, c, 1, 1)}"
            )
    return out


# --------------------------------------------------------------------------------------------------
# The metric
# --------------------------------------------------------------------------------------------------


def normalize_channels(x: torch.Tensor, eps: float = NORM_EPS) -> torch.Tensor:
    """``x / (||x||_2 over channels + eps)`` per pixel (the official ``normalize_tensor``)."""
    return x / (torch.sqrt(torch.sum(x * x, dim=1, keepdim=True)) + eps)


class _Lin(nn.Module):
    """One 'lin' layer in the official key layout: ``model.0`` (Dropout in training; identity here),
    ``model.1`` a 1x1 convolution ``C -> 1`` without bias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        conv = nn.Conv2d(channels, 1, kernel_size=1, bias=False)
        self.model = nn.Sequential(nn.Identity(), conv)
        nn.init.ones_(conv.weight)

    @property
    def conv(self) -> nn.Conv2d:
        """The 1x1 convolution ``model.1``."""
        return cast(nn.Conv2d, self.model[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LPIPS(nn.Module):
    """LPIPS distance (Zhang et al. 2018, version 0.1); see the module docstring for the formula.

    Args:
        net: ``'alex'`` (the authors' recommended forward metric) or ``'vgg'``.
        lin_weights: the official linear-layer file (``'default'``: ``<cache>/lpips/v0.1/<net>.pth``), a
            path, or ``None`` for all-ones weights (uncalibrated).
        backbone_weights: torchvision's ImageNet file (``'default'``: ``<cache>/weights/...``), a path,
            or ``None`` for a randomly initialised backbone (tests).

    The module is frozen (no parameter requires grad; gradients still flow to the inputs) and always
    in eval mode. Its state-dict keys are ``net.features.N.*`` (backbone; ``net.net.features.N.*`` for
    vgg) and ``lin{i}.model.1.weight`` (the official lpips keys).

    Raises:
        SrkitError: one line, when a weight file is missing (naming the path and the official source)
            or does not fit.
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self,
        net: str = "alex",
        *,
        lin_weights: str | Path | None = "default",
        backbone_weights: str | Path | None = "default",
    ) -> None:
        super().__init__()
        lin_path, backbone_path = resolve_lpips_weights(net, lin_weights, backbone_weights)
        self.net_name = net
        if net == "alex":
            self.net: nn.Module = AlexNetFeatures()
            if backbone_path is not None:
                self.net.load_torchvision(backbone_path)
        else:
            self.net = _VGGTaps(backbone_path)
        for i, channels in enumerate(BACKBONES[net]):
            self.add_module(f"lin{i}", _Lin(channels))  # official keys: lin{i}.model.1.weight
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)
        if lin_path is not None:
            self.load_lin_weights(read_checkpoint(lin_path)[0], source=lin_path)
        self.requires_grad_(False)
        self.train(False)

    @property
    def lins(self) -> list[_Lin]:
        """The five linear layers ``lin0`` ... ``lin4``, in tap order."""
        return [getattr(self, f"lin{i}") for i in range(len(BACKBONES[self.net_name]))]

    def load_lin_weights(self, state: Mapping[str, torch.Tensor], source: str | Path = "state dict") -> None:
        """Load official LPIPS linear layers (see :func:`lin_state_dict`)."""
        for key, value in lin_state_dict(state, self.net_name, source).items():
            index = int(key[3])
            self.lins[index].conv.weight.data.copy_(value)

    def train(self, mode: bool = True) -> LPIPS:
        """A metric: always in eval mode."""
        return super().train(False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five backbone taps of ``x`` (RGB in [0, 1]), after the [-1, 1] mapping and ScalingLayer."""
        x = (2 * x - 1 - self.shift.to(x.dtype)) / self.scale.to(x.dtype)
        return self.net(x)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS between ``x`` and ``y``: ``(N, C, H, W)`` images in [0, 1] with C = 3 (RGB) or 1 (gray,
        repeated to RGB) -> ``(N,)``.

        Raises:
            SrkitError: the two shapes differ, or the images are smaller than the backbone accepts.
        """
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] not in (1, 3):
            raise SrkitError(
                f"lpips: expected two (N, 3, H, W) or (N, 1, H, W) images of one shape, got "
                f"{tuple(x.shape)} and {tuple(y.shape)}"
            )
        small = MIN_SIZE[self.net_name]
        if min(x.shape[-2:]) < small:
            raise SrkitError(
                f"lpips: the {self.net_name} backbone needs images of at least {small}x{small} pixels, "
                f"got {x.shape[-2]}x{x.shape[-1]}"
            )
        if x.shape[1] == 1:
            x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)
        n = x.shape[0]
        taps = self.features(torch.cat([x, y]))
        total = x.new_zeros(n)
        for tap, lin in zip(taps, self.lins, strict=True):
            diff = (normalize_channels(tap[:n]) - normalize_channels(tap[n:])) ** 2
            total = total + lin(diff).mean(dim=(1, 2, 3))
        return total


def lpips_uint8(metric: LPIPS, sr: np.ndarray, hr: np.ndarray, *, crop_border: int = 0) -> float:
    """LPIPS of two uint8 ``(H, W, C)`` / ``(H, W)`` images (RGB or gray) with ``crop_border`` pixels
    shaved from each side, as ``srkit eval`` measures it (RGB in [0, 1], on the metric's device)."""
    if crop_border:
        sr = sr[crop_border:-crop_border, crop_border:-crop_border, ...]
        hr = hr[crop_border:-crop_border, crop_border:-crop_border, ...]
    device = next(metric.parameters()).device

    def tensor(a: np.ndarray) -> torch.Tensor:
        chw = a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)
        t = torch.from_numpy(np.ascontiguousarray(chw)).to(device=device, dtype=torch.float32) / 255
        return t.unsqueeze(0)

    with torch.no_grad():
        return float(metric(tensor(sr), tensor(hr))[0])
