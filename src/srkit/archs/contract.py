"""The network contract: one typed description of what a super-resolution network takes and gives.

Every consumer (the runner, tiling, export, training, ``srkit models``) learns about a network from its
:class:`NetInfo`, never from attributes looked up with defaults. A registered network class derives
from :class:`SRNet`, which records the constructor's arguments (``hparams``, bound against the
signature once, defaults filled in) so a checkpoint can rebuild it, and gets its ``info`` from its
registry entry.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from torch import nn

from srkit.errors import ConfigError

ColorSpace = Literal["rgb", "y", "raw"]
InputKind = Literal["lr", "upsampled"]
Tiling = Literal["seamless", "approximate", "per_step", "none"]
RunKind = Literal["forward", "iterative"]
Precision = Literal["fp32", "bf16", "fp16"]

ALL_PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class NetInfo:
    """What a network takes and gives.

    Attributes:
        arch: registry name of the architecture.
        scale: the factor one forward pass enlarges by (1 for networks that take a pre-upsampled image).
        scales: the output factors the network serves: ``(scale,)`` for most, ``None`` for any integer
            factor (networks on a pre-upsampled image, such as VDSR).
        in_channels, out_channels: image channels the network takes and gives.
        color: ``'rgb'``, ``'y'`` (BT.601 luma, see :mod:`srkit.colour`) or ``'raw'`` (other channels).
        input: ``'lr'`` (the low-resolution image) or ``'upsampled'`` (the bicubic-upsampled image).
        size_multiple: input height and width must be multiples of it (the runner pads and crops).
        min_size: the smallest input side the network accepts.
        precisions: the arithmetic it may run in (a transformer may refuse fp16).
        tiling: ``'seamless'`` (tiles blend to the whole-image result up to a fraction of a level),
            ``'approximate'`` (global operations make tiles differ more), ``'per_step'`` (an iterative
            runner tiles every network call itself, blending the tiles' predictions at every step:
            :meth:`srkit.archs.Runner.step_tiles`) or ``'none'``.
        tile_overlap: the input pixels neighbouring tiles share by default (``srkit upscale`` without
            ``--tile-overlap``): enough for the network's reach across a tile's cut edge (16 for the
            convolutional networks; the window transformers reach further, docs/transformers.md).
        kind: ``'forward'`` (one pass) or ``'iterative'`` (a sampler calls the network many times).
        scale_arg: the forward pass takes the factor of the call, ``forward(x, scale)``, one of
            ``scales`` (networks that serve several factors with one set of weights: CARN-M's branches,
            LapSRN's pyramid levels); ``scale`` is then the default factor (the one training trains).
    """

    arch: str
    scale: int
    in_channels: int = 3
    out_channels: int = 3
    color: ColorSpace = "rgb"
    input: InputKind = "lr"
    scales: tuple[int, ...] | None = None
    size_multiple: int = 1
    min_size: int = 1
    precisions: tuple[Precision, ...] = ALL_PRECISIONS
    tiling: Tiling = "seamless"
    tile_overlap: int = 16
    kind: RunKind = "forward"
    scale_arg: bool = False

    def __post_init__(self) -> None:
        if self.scales is None and self.input == "lr":
            object.__setattr__(self, "scales", (self.scale,))

    def supports_scale(self, scale: int) -> bool:
        """Whether the network can produce an output ``scale`` times the input."""
        if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
            return False
        return self.scales is None or scale in self.scales

    def scales_text(self) -> str:
        """``'x2'``, ``'x2/x3/x4'`` or ``'any'`` for messages."""
        return "any" if self.scales is None else "/".join(f"x{s}" for s in self.scales)


def color_space(channels: int) -> ColorSpace:
    """``'rgb'`` for 3 channels, ``'y'`` for 1 (luminance-only models), ``'raw'`` otherwise."""
    if channels == 3:
        return "rgb"
    return "y" if channels == 1 else "raw"


def lr_net_info(arch: str, hparams: Mapping[str, Any], **fields: Any) -> NetInfo:
    """The NetInfo of a network on the LR image whose hyper-parameters are ``scale``, ``in_channels`` and
    ``out_channels`` (the colour space read from ``in_channels``); ``fields`` set the rest."""
    channels = hparams["in_channels"]
    return NetInfo(arch, hparams["scale"], channels, hparams["out_channels"], color_space(channels), **fields)


def _plain(value: Any) -> Any:
    """JSON/YAML-plain form of a hyper-parameter value (tuples become lists)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _capture_hparams(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap ``__init__`` so the outermost call records its bound arguments as ``self.hparams``."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapped(self: SRNet, *args: Any, **kwargs: Any) -> None:
        outermost = "_hparams_pending" not in self.__dict__
        if outermost:
            try:
                bound = signature.bind(self, *args, **kwargs)
            except TypeError as exc:
                raise ConfigError(f"{self.arch_name}: {exc}") from None
            bound.apply_defaults()
            self.__dict__["_hparams_pending"] = {
                k: _plain(v) for k, v in bound.arguments.items() if k != "self"
            }
        try:
            init(self, *args, **kwargs)
        finally:
            if outermost:
                pending = self.__dict__.pop("_hparams_pending")
        if outermost:
            self.hparams = pending

    return wrapped


class SRNet(nn.Module):
    """Base class of every registered super-resolution network.

    Subclasses implement the network and :meth:`describe`; the constructor's arguments are captured as
    :attr:`hparams` (plain JSON values, defaults filled in) and ``arch_name`` is set when the class is
    registered (:func:`srkit.archs.register_arch`).
    """

    arch_name: ClassVar[str] = ""
    #: Parameter-name parts that are never weight-decayed besides every 1-D parameter (biases, norm
    #: scales): position tables and embeddings (SwinIR's ``relative_position_bias_table``).
    no_decay_keywords: ClassVar[tuple[str, ...]] = ()
    #: Submodules (names as in ``named_modules()``) that run in float32 when a runner autocasts, the
    #: "fp32 islands" (:func:`srkit.archs.speed.fp32_islands`): layers that read or write the image
    #: itself rather than features or a small residual, which bf16's 8-bit mantissa would round by up to
    #: half an 8-bit level. A class attribute, or an instance attribute where the names depend on
    #: ``hparams``; training's own autocast ignores them.
    fp32_modules: tuple[str, ...] = ()
    hparams: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _capture_hparams(cls.__dict__["__init__"])  # type: ignore[method-assign]

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        """The :class:`NetInfo` of this network built with ``hparams`` (every subclass implements it)."""
        raise NotImplementedError(f"{cls.__name__} does not describe itself (implement describe)")

    @property
    def info(self) -> NetInfo:
        """This network's :class:`NetInfo`."""
        return self.describe(self.hparams)

    def no_weight_decay(self) -> set[str]:
        """Names of the parameters weight decay must not touch: every parameter with at most one
        dimension (biases, LayerNorm/BatchNorm scales, PReLU slopes) and those whose name contains one of
        :attr:`no_decay_keywords` (position tables), the convention of SwinIR's and timm's
        ``no_weight_decay``/``no_weight_decay_keywords`` (Liu et al. 2021, Swin Transformer)."""
        return {
            name
            for name, p in self.named_parameters()
            if p.ndim <= 1 or any(key in name for key in self.no_decay_keywords)
        }
