"""VGG feature extractor for perceptual losses (ESRGAN's VGG19 ``conv5_4``, LPIPS's VGG16 ``relu*``).

The network is srkit's own code with torchvision's ``features`` layout (Simonyan & Zisserman, "Very Deep
Convolutional Networks for Large-Scale Image Recognition", ICLR 2015; configurations A, B, D, E =
``vgg11``, ``vgg13``, ``vgg16``, ``vgg19``, each optionally with batch normalisation, ``_bn``), so the
standard ImageNet state dicts published with torchvision load unchanged: ``features.N.weight`` /
``features.N.bias`` (``N`` = the index in the ``features`` Sequential). Keys with a ``vgg.``,
``vgg_net.`` or ``vgg.features.`` prefix, or none (``N.weight``), load as well; a full torchvision
model's ``classifier.*`` keys are ignored.

Layer names (BasicSR's convention): ``conv{b}_{i}``, (``bn{b}_{i}`` for ``_bn`` variants),
``relu{b}_{i}`` and ``pool{b}`` for block ``b`` and convolution ``i`` of the block, mapped to ``features``
indices by :func:`layer_indices` (e.g. VGG19 ``conv5_4`` = ``features.34``, ``relu5_4`` =
``features.35``; VGG16 ``conv4_3`` = ``features.21``, ``relu4_3`` = ``features.22``, ``conv5_3`` =
``features.28``). ``conv5_4`` is the output *before* the activation (ESRGAN Sec. 3.3, "perceptual loss
before activation"), ``relu5_4`` after it. ReLUs here are never in place, so a requested pre-activation
output is not overwritten by the following ReLU.

Weights: ``weights='default'`` loads the torchvision ImageNet file from srkit's cache,
``<cache>/weights/<torchvision file name>`` (e.g. ``~/.cache/srkit/weights/vgg19-dcbb9e9d.pth``, see
:func:`default_weights_path`); a path loads that file (``.pth`` read with ``torch.load(weights_only=True)``,
or ``.safetensors``); ``None`` leaves the random initialisation (tests, tiny runs). A missing file is a
one-line :class:`~srkit.errors.SrkitError` naming the path and the download URL (and ``srkit
fetch-weights vgg19`` for the files it fetches, with their SHA-256, into the same cache folder).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from srkit.errors import ConfigError, SrkitError
from srkit.io.safe_load import read_checkpoint
from srkit.io.weight_files import fetch_hint
from srkit.settings import cache_dir

#: torchvision's VGG configurations (filled by :func:`_register_vgg`): output channels of each 3x3
#: convolution, ``"M"`` = 2x2 max pooling.
VGG_CONFIGS: dict[str, list[int | str]] = {}

#: The torchvision ImageNet weight files (IMAGENET1K_V1) of every VGG type (filled by
#: :func:`_register_vgg`); the 8 hex digits are the start of the SHA-256.
WEIGHT_FILES: dict[str, str] = {}
WEIGHTS_BASE_URL = "https://download.pytorch.org/models/"

#: VGG type -> constructor of its extractor (``ctor(layer_names, **kwargs)``), filled by
#: :func:`_register_vgg`; not SR networks, so not in :data:`srkit.archs.ARCHS`.
VGG_EXTRACTORS: dict[str, Callable[..., VGGFeatureExtractor]] = {}


def _constructor(vgg_type: str) -> Callable[..., VGGFeatureExtractor]:
    def build(layer_names: Sequence[str], **kwargs: object) -> VGGFeatureExtractor:
        return VGGFeatureExtractor(layer_names, vgg_type=vgg_type, **kwargs)  # type: ignore[arg-type]

    build.__name__ = build.__qualname__ = vgg_type
    build.__doc__ = f"A :class:`VGGFeatureExtractor` on {vgg_type}."
    return build


def _register_vgg(name: str, config: Sequence[int | str], weight_file: str, bn_weight_file: str) -> None:
    """Register the VGG configuration ``name`` and its batch-normalised variant ``<name>_bn``, with the
    torchvision ImageNet weight file of each."""
    VGG_CONFIGS[name] = list(config)
    for vgg_type, file in ((name, weight_file), (f"{name}_bn", bn_weight_file)):
        WEIGHT_FILES[vgg_type] = file
        VGG_EXTRACTORS[vgg_type] = _constructor(vgg_type)


# Simonyan & Zisserman 2015, Table 1: configurations A, B, D, E.
_register_vgg(
    "vgg11",
    [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg11-8a719046.pth",
    "vgg11_bn-6002323d.pth",
)
_register_vgg(
    "vgg13",
    [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13-19584684.pth",
    "vgg13_bn-abd245e5.pth",
)
_register_vgg(
    "vgg16",
    [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg16-397923af.pth",
    "vgg16_bn-6c64b313.pth",
)
_register_vgg(
    "vgg19",
    [
        *(64, 64, "M", 128, 128, "M"),
        *(256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
    ],
    "vgg19-dcbb9e9d.pth",
    "vgg19_bn-c79401a0.pth",
)

#: Every VGG type: the registered configurations, then each with batch normalisation (``_bn``).
VGG_TYPES: tuple[str, ...] = (*VGG_CONFIGS, *(f"{name}_bn" for name in VGG_CONFIGS))

#: ImageNet mean and standard deviation of RGB in ``[0, 1]`` (torchvision's normalisation).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_KEY = re.compile(
    r"^(?:module\.)?(?:vgg_net\.|vgg\.)?(?:features\.)?(\d+)\."
    r"(weight|bias|running_mean|running_var|num_batches_tracked)$"
)


def _split_type(vgg_type: str) -> tuple[list[int | str], bool]:
    """``(config, batch_norm)`` of a VGG type name; ConfigError listing the valid names."""
    if not isinstance(vgg_type, str) or vgg_type not in VGG_TYPES:
        raise ConfigError(f"vgg_type: unknown VGG {vgg_type!r}; valid: {', '.join(VGG_TYPES)}")
    bn = vgg_type.endswith("_bn")
    return VGG_CONFIGS[vgg_type.removesuffix("_bn")], bn


def layer_names(vgg_type: str = "vgg19") -> list[str]:
    """The name of every module of ``features``, in order: ``conv1_1, relu1_1, conv1_2, ..., pool5``
    (``bn{b}_{i}`` after each convolution for ``_bn`` types)."""
    config, bn = _split_type(vgg_type)
    names: list[str] = []
    block, index = 1, 1
    for value in config:
        if value == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
            continue
        names.append(f"conv{block}_{index}")
        if bn:
            names.append(f"bn{block}_{index}")
        names.append(f"relu{block}_{index}")
        index += 1
    return names


def layer_indices(vgg_type: str = "vgg19") -> dict[str, int]:
    """Layer name -> index in ``features`` (e.g. ``layer_indices('vgg19')['conv5_4'] == 34``)."""
    return {name: i for i, name in enumerate(layer_names(vgg_type))}


def make_features(vgg_type: str = "vgg19", depth: int | None = None) -> nn.Sequential:
    """The ``features`` Sequential of torchvision's VGG (3x3 convolutions with padding 1, [BatchNorm],
    ReLU, 2x2 max pooling), with ReLUs *not* in place; only its first ``depth`` modules when given.
    Initialisation as torchvision's: Kaiming-normal (fan-out) convolutions with zero bias, BatchNorm
    weight 1 and bias 0."""
    config, bn = _split_type(vgg_type)
    layers: list[nn.Module] = []
    channels = 3
    for value in config:
        if value == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        width = int(value)
        conv = nn.Conv2d(channels, width, kernel_size=3, padding=1)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
        layers.append(conv)
        if bn:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU(inplace=False))
        channels = width
        if depth is not None and len(layers) >= depth:
            break
    return nn.Sequential(*layers[:depth])


def feature_shapes(vgg_type: str = "vgg19") -> dict[str, tuple[int, ...]]:
    """Key (``N.weight``, ``N.bias``, ``N.running_mean``...) -> shape of every tensor of the complete
    ``features`` state dict of ``vgg_type``, computed from its configuration."""
    config, bn = _split_type(vgg_type)
    shapes: dict[str, tuple[int, ...]] = {}
    channels, index = 3, 0
    for value in config:
        if value == "M":
            index += 1
            continue
        width = int(value)
        shapes[f"{index}.weight"] = (width, channels, 3, 3)
        shapes[f"{index}.bias"] = (width,)
        if bn:
            for name in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"{index + 1}.{name}"] = (width,)
            shapes[f"{index + 1}.num_batches_tracked"] = ()
        channels, index = width, index + (3 if bn else 2)
    return shapes


# --------------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------------


def weights_url(vgg_type: str) -> str:
    """The official torchvision download URL of ``vgg_type``'s ImageNet weights."""
    _split_type(vgg_type)
    return WEIGHTS_BASE_URL + WEIGHT_FILES[vgg_type]


def default_weights_path(vgg_type: str = "vgg19") -> Path:
    """Where ``weights='default'`` looks: ``<srkit cache>/weights/<torchvision file name>`` (the cache is
    ``$SRKIT_CACHE``, else ``$XDG_CACHE_HOME/srkit``, else ``~/.cache/srkit``)."""
    _split_type(vgg_type)
    return cache_dir() / "weights" / WEIGHT_FILES[vgg_type]


def resolve_weights(vgg_type: str, weights: str | Path | None) -> Path | None:
    """The weight file of ``weights`` (``'default'``: :func:`default_weights_path`; ``None``: none).

    Raises:
        SrkitError: one line naming the expected path and where to get the file, when it does not exist.
    """
    if weights is None:
        return None
    default = isinstance(weights, str) and weights == "default"
    path = default_weights_path(vgg_type) if default else Path(weights).expanduser()
    if not path.is_file():
        raise SrkitError(f"{path}: {vgg_type} ImageNet weights not found; {_how_to_get(vgg_type, path)}")
    return path


def _how_to_get(vgg_type: str, path: Path) -> str:
    """Where the missing weight file ``path`` of ``vgg_type`` comes from (``srkit fetch-weights`` for
    the cache files it knows, else torchvision's URL) and how to point at another file."""
    if vgg_type not in WEIGHT_FILES:
        return "pass an existing file, or pass weights=PATH"
    hint = fetch_hint(WEIGHT_FILES[vgg_type])
    if hint and path == default_weights_path(vgg_type):
        return f"{hint} (or download {weights_url(vgg_type)} there), or pass weights=PATH"
    return f"download {weights_url(vgg_type)} to that path, or pass weights=PATH"


def vgg_state_dict(path: str | Path, vgg_type: str) -> dict[str, torch.Tensor]:
    """The complete ``features`` state dict (keys ``N.weight``...) of a ``vgg_type`` checkpoint file.

    Accepts torchvision's keys ``features.N.*`` (a full model's ``classifier.*`` keys are ignored), the
    same with a ``vgg.``/``vgg_net.``/``vgg.features.`` prefix or without any. The whole file is checked
    against ``vgg_type`` (:func:`feature_shapes`; BatchNorm's ``num_batches_tracked`` may be absent, as
    in torchvision's files): a key of another form, a missing or unexpected key or a wrong shape is a
    one-line :class:`SrkitError` naming the file and the key.
    """
    path = Path(path)
    raw, _ = read_checkpoint(path)
    state: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if key.startswith(("classifier.", "vgg.classifier.", "avgpool.")):
            continue
        found = _KEY.match(key)
        if found is None:
            raise SrkitError(f"{path}: key {key!r} is not a VGG features key (expected features.N.weight)")
        state[f"{found.group(1)}.{found.group(2)}"] = value
    expected = feature_shapes(vgg_type)
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SrkitError(f"{path}: not {vgg_type} weights: missing features.{missing[0]}{more}")
    for key, value in state.items():
        if key not in expected:
            raise SrkitError(f"{path}: not {vgg_type} weights: unexpected key features.{key}")
        if tuple(value.shape) != expected[key]:
            raise SrkitError(
                f"{path}: not {vgg_type} weights: features.{key} has shape {tuple(value.shape)}, "
                f"expected {expected[key]}"
            )
    return state


# --------------------------------------------------------------------------------------------------
# The extractor
# --------------------------------------------------------------------------------------------------


class VGGFeatureExtractor(nn.Module):
    """Features of named VGG layers (see the module docstring).

    Args:
        layer_names: layers whose outputs :meth:`forward` returns, e.g. ``['conv5_4']`` (ESRGAN) or
            ``['relu1_2', 'relu2_2', 'relu3_3', 'relu4_3', 'relu5_3']`` with ``vgg16`` (LPIPS). Only the
            layers up to the deepest requested one are kept and run.
        vgg_type: ``vgg11``, ``vgg13``, ``vgg16``, ``vgg19`` or one of them with ``_bn``.
        use_input_norm: normalise the input with the ImageNet mean/std (input RGB in ``[0, 1]``).
        range_norm: the input is in ``[-1, 1]``; map it to ``[0, 1]`` first.
        weights: ``'default'`` (torchvision file in srkit's cache), a file path, or ``None`` (random).
        requires_grad: train the VGG too; by default it is frozen and always in eval mode.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        layer_names: Sequence[str],
        vgg_type: str = "vgg19",
        use_input_norm: bool = True,
        range_norm: bool = False,
        weights: str | Path | None = "default",
        requires_grad: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(layer_names, str):
            layer_names = [layer_names]
        names = list(layer_names)
        indices = layer_indices(vgg_type)
        if not names:
            raise ConfigError("layer_names: at least one VGG layer is needed")
        for name in names:
            if name not in indices:
                raise ConfigError(
                    f"layer_names: {vgg_type} has no layer {name!r}; valid: {', '.join(indices)}"
                )
        self.vgg_type = vgg_type
        self.layer_names = list(dict.fromkeys(names))
        self.use_input_norm = bool(use_input_norm)
        self.range_norm = bool(range_norm)
        self.requires_grad = bool(requires_grad)

        path = resolve_weights(vgg_type, weights)
        state = vgg_state_dict(path, vgg_type) if path is not None else None
        deepest = max(indices[name] for name in self.layer_names)
        self.features = make_features(vgg_type, deepest + 1)  # module names = torchvision indices
        if state is not None:
            kept = self.features.state_dict()
            self.features.load_state_dict({k: v for k, v in state.items() if k in kept}, strict=False)
        self.weights_path = path
        self._outputs = {indices[name]: name for name in self.layer_names}

        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if not self.requires_grad:
            self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> VGGFeatureExtractor:
        """Frozen extractors stay in eval mode whatever ``mode`` is (BatchNorm statistics never change)."""
        return super().train(mode and self.requires_grad)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, 3, H, W)`` RGB -> ``{layer name: features}`` in the order of ``layer_names``."""
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        found: dict[str, torch.Tensor] = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            name = self._outputs.get(index)
            if name is not None:
                found[name] = x
        return {name: found[name] for name in self.layer_names}

    def extra_repr(self) -> str:
        return (
            f"vgg_type={self.vgg_type!r}, layer_names={self.layer_names}, "
            f"use_input_norm={self.use_input_norm}, range_norm={self.range_norm}, "
            f"weights={str(self.weights_path) if self.weights_path else None!r}"
        )
