"""The architecture registry, filled by the family folders that register into it.

Each family (``srkit/archs/<family>/``) calls :func:`register_arch` once per network class with its
presets and checkpoint layouts; :data:`ARCHS`, :data:`PRESETS`, the layout list that ``srkit convert``
and checkpoint detection use, ``srkit models`` and config validation are all read from here. A network
built by name records ``arch_name`` and ``hparams``, so a checkpoint that stores :func:`model_spec`
rebuilds the same network with :func:`build_from_spec`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from torch import nn

from srkit.archs.contract import NetInfo, SRNet
from srkit.errors import ConfigError

if TYPE_CHECKING:
    from srkit.archs.layouts import CheckpointFormat
    from srkit.archs.runner import Runner


@dataclass(frozen=True)
class ArchEntry:
    """One registered architecture.

    Attributes:
        name: the registry name (stored in checkpoints as ``arch``).
        cls: the :class:`~srkit.archs.contract.SRNet` subclass; its constructor signature lists the
            hyper-parameters and its ``describe`` gives the :class:`NetInfo`.
        presets: named hyper-parameter settings (``'edsr-baseline'``); a preset may shadow the arch name.
        layouts: third-party checkpoint layouts that convert to this architecture, in detection order.
        runner: the LR->SR runner class for it (default :class:`~srkit.archs.runner.Runner`, one
            forward pass); iterative models (diffusion samplers) bring their own.
        scales: the factors the constructor builds (``None``: any integer, or not a constructor argument).
        summary: one line for listings.
    """

    name: str
    cls: type[SRNet]
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    layouts: Sequence[CheckpointFormat] = ()
    runner: type[Runner] | None = None
    scales: tuple[int, ...] | None = None
    summary: str = ""

    @property
    def hparam_names(self) -> list[str]:
        """The constructor's argument names, in signature order."""
        params = inspect.signature(self.cls).parameters.values()
        return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def describe(self, hparams: Mapping[str, Any]) -> NetInfo:
        """The :class:`NetInfo` of the network built with ``hparams`` (defaults filled in)."""
        return self.cls.describe({**self.defaults(), **dict(hparams)})

    def defaults(self) -> dict[str, Any]:
        """The constructor's default hyper-parameters."""
        params = inspect.signature(self.cls).parameters.values()
        return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


#: Architecture name -> entry, in registration order (filled by :func:`register_arch`).
ARCH_ENTRIES: dict[str, ArchEntry] = {}
#: Architecture name -> network class (a view of :data:`ARCH_ENTRIES`).
ARCHS: dict[str, type[SRNet]] = {}
#: Preset name -> ``(arch, hyper-parameters)`` from every entry's presets.
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {}


def register_arch(
    name: str,
    cls: type[SRNet],
    *,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    layouts: Sequence[CheckpointFormat] = (),
    runner: type[Runner] | None = None,
    scales: Sequence[int] | None = None,
    summary: str = "",
) -> ArchEntry:
    """Register a network class under ``name`` (lower case), with its presets and checkpoint layouts.

    The public way to add an architecture, from srkit's family folders or from user code::

        class TinyNet(SRNet):
            def __init__(self, scale: int = 2, num_feat: int = 8): ...
            @classmethod
            def describe(cls, hparams): return NetInfo(arch="tiny", scale=hparams["scale"])

        register_arch("tiny", TinyNet)

    Raises:
        ConfigError: a name that is taken, a class that is not an :class:`SRNet`, or a preset name that
            another entry already has.
    """
    key = name.strip().lower()
    if not (isinstance(cls, type) and issubclass(cls, SRNet)):
        raise ConfigError(f"register_arch: {name}: {cls!r} is not an srkit.archs.SRNet subclass")
    if key in ARCH_ENTRIES:
        raise ConfigError(f"register_arch: architecture {key!r} is already registered")
    clashes = [p for p in presets or {} if p in PRESETS]
    if clashes:
        raise ConfigError(f"register_arch: {name}: preset {clashes[0]!r} is already registered")
    cls.arch_name = key
    built = tuple(scales) if scales is not None else None
    entry_ = ArchEntry(key, cls, dict(presets or {}), tuple(layouts), runner, built, summary)
    ARCH_ENTRIES[key] = entry_
    ARCHS[key] = cls
    for preset, hparams in entry_.presets.items():
        PRESETS[preset] = (key, dict(hparams))
    return entry_


def unregister_arch(name: str) -> None:
    """Remove an architecture and its presets (for tests and plug-in reloads)."""
    entry_ = ARCH_ENTRIES.pop(name, None)
    ARCHS.pop(name, None)
    if entry_ is not None:
        for preset in entry_.presets:
            PRESETS.pop(preset, None)


def entry(arch: str) -> ArchEntry:
    """The entry of a registered architecture name; ConfigError listing the valid ones."""
    found = ARCH_ENTRIES.get(arch)
    if found is None:
        raise ConfigError(f"arch: unknown architecture {arch!r}; valid: {', '.join(sorted(ARCH_ENTRIES))}")
    return found


def model_names() -> list[str]:
    """Every name :func:`build_model` accepts (arch names and presets), sorted."""
    return sorted(set(ARCHS) | set(PRESETS))


def valid_hparams(arch: str) -> list[str]:
    """The constructor argument names of ``arch`` (a key of :data:`ARCHS`), in signature order."""
    return entry(arch).hparam_names


def resolve(name: str, **hyper: Any) -> tuple[str, dict[str, Any]]:
    """``(arch, hyper-parameters)`` for a model or preset name, preset values overridden by
    ``hyper``; raises :class:`ConfigError` naming an unknown name or hyper-parameter."""
    if not isinstance(name, str) or name.strip().lower() not in set(ARCHS) | set(PRESETS):
        raise ConfigError(f"model: unknown name {name!r}; valid: {', '.join(model_names())}")
    key = name.strip().lower()
    arch, base = PRESETS.get(key, (key, {}))
    params = {**base, **hyper}
    _check_keys(arch, params)
    return arch, params


def _check_keys(arch: str, params: Mapping[str, Any]) -> None:
    valid = valid_hparams(arch)
    for k in params:
        if k not in valid:
            raise ConfigError(f"{arch}: unknown hyper-parameter {k!r}; valid: {', '.join(valid)}")


def _construct(arch: str, params: Mapping[str, Any]) -> SRNet:
    try:
        return ARCHS[arch](**params)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # a value of a type the layers cannot take
        raise ConfigError(f"{arch}: invalid hyper-parameters {dict(params)!r}: {exc}") from exc


def build_model(name: str, /, **hyper: Any) -> SRNet:
    """Build a network by arch or preset name, e.g. ``build_model('edsr-baseline', scale=2)``.

    Hyper-parameters override the preset's. Unknown names, unknown hyper-parameters and invalid
    values raise :class:`~srkit.errors.ConfigError` naming the offending key (and listing the
    valid ones). The returned network carries ``arch_name`` and ``hparams`` for :func:`model_spec`.
    """
    arch, params = resolve(name, **hyper)
    return _construct(arch, params)


def as_srnet(model: nn.Module) -> SRNet:
    """``model`` itself when it is a registered srkit network; TypeError otherwise."""
    if not isinstance(model, SRNet) or model.arch_name not in ARCH_ENTRIES:
        raise TypeError(f"{type(model).__name__} is not a registered srkit network (srkit.archs.SRNet)")
    return model


def net_info(model: nn.Module) -> NetInfo:
    """The :class:`NetInfo` of a registered srkit network."""
    return as_srnet(model).info


def model_hparams(model: nn.Module) -> dict[str, Any]:
    """A copy of the resolved hyper-parameters a network was built with."""
    return dict(as_srnet(model).hparams)


def model_spec(model: nn.Module) -> dict[str, Any]:
    """``{'arch': name, 'hparams': {...}}``: what a checkpoint stores to rebuild ``model``."""
    net = as_srnet(model)
    return {"arch": net.arch_name, "hparams": dict(net.hparams)}


def build_from_spec(spec: Mapping[str, Any]) -> SRNet:
    """Rebuild a network from :func:`model_spec`'s output (e.g. read back from a checkpoint).

    The stored ``arch`` is a constructor name, never a preset, so the stored hyper-parameters alone
    decide the layout.
    """
    if not isinstance(spec, Mapping) or not isinstance(spec.get("arch"), str):
        raise ConfigError(f"arch: model spec must hold an 'arch' name, got {spec!r}")
    arch = spec["arch"]
    entry(arch)
    hparams = spec.get("hparams", {})
    if not isinstance(hparams, Mapping):
        raise ConfigError(f"hparams: must be a mapping, got {type(hparams).__name__}")
    _check_keys(arch, hparams)
    return _construct(arch, hparams)


def takes_scale(arch: str) -> bool:
    """Whether the architecture's constructor has a ``scale`` argument (VDSR's does not)."""
    return "scale" in entry(arch).hparam_names
