"""Name -> network constructor, named presets, and rebuilding a network from stored hyper-parameters.

Every network records ``arch_name`` (a key of :data:`ARCHS`) and ``hparams`` (all constructor
arguments, resolved, as plain JSON/YAML values) on itself, so a checkpoint that stores
:func:`model_spec` can rebuild the same network with :func:`build_from_spec`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from srkit.archs.edsr import EDSR
from srkit.archs.fsrcnn import FSRCNN
from srkit.archs.rrdbnet import RRDBNet
from srkit.archs.srresnet import MSRResNet, SRResNet
from srkit.archs.vdsr import VDSR
from srkit.errors import ConfigError

ARCHS: dict[str, Callable[..., nn.Module]] = {
    "srresnet": SRResNet,
    "msrresnet": MSRResNet,
    "edsr": EDSR,
    "rrdbnet": RRDBNet,
    "fsrcnn": FSRCNN,
    "vdsr": VDSR,
}

_EDSR_FULL = {"num_feat": 256, "num_block": 32, "res_scale": 0.1}
_ESRGAN = {"num_feat": 64, "num_block": 23, "num_grow_ch": 32}

#: Named settings: name -> (arch, hyper-parameters). A preset name shadows an arch of the same name
#: (``'edsr'`` is the paper's full EDSR; the bare constructor's defaults are EDSR-baseline).
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "edsr-baseline": ("edsr", {"num_feat": 64, "num_block": 16, "res_scale": 1.0}),
    "edsr": ("edsr", dict(_EDSR_FULL)),
    "edsr-full": ("edsr", dict(_EDSR_FULL)),
    "rrdbnet": ("rrdbnet", dict(_ESRGAN)),
    "esrgan": ("rrdbnet", dict(_ESRGAN)),
    "rrdbnet-16": ("rrdbnet", {**_ESRGAN, "num_block": 16}),
}


def model_names() -> list[str]:
    """Every name :func:`build_model` accepts (arch names and presets), sorted."""
    return sorted(set(ARCHS) | set(PRESETS))


def valid_hparams(arch: str) -> list[str]:
    """The constructor argument names of ``arch`` (a key of :data:`ARCHS`), in signature order."""
    if arch not in ARCHS:
        raise ConfigError(f"arch: unknown architecture {arch!r}; valid: {', '.join(sorted(ARCHS))}")
    params = inspect.signature(ARCHS[arch]).parameters.values()
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


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


def _construct(arch: str, params: Mapping[str, Any]) -> nn.Module:
    try:
        return ARCHS[arch](**params)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # a value of a type the layers cannot take
        raise ConfigError(f"{arch}: invalid hyper-parameters {dict(params)!r}: {exc}") from exc


def build_model(name: str, /, **hyper: Any) -> nn.Module:
    """Build a network by arch or preset name, e.g. ``build_model('edsr-baseline', scale=2)``.

    Hyper-parameters override the preset's. Unknown names, unknown hyper-parameters and invalid
    values raise :class:`~srkit.errors.ConfigError` naming the offending key (and listing the
    valid ones). The returned module carries ``arch_name`` and ``hparams`` for :func:`model_spec`.
    """
    arch, params = resolve(name, **hyper)
    return _construct(arch, params)


def model_hparams(model: nn.Module) -> dict[str, Any]:
    """A copy of the resolved hyper-parameters a network was built with."""
    hparams = getattr(model, "hparams", None)
    if not isinstance(getattr(model, "arch_name", None), str) or not isinstance(hparams, dict):
        raise TypeError(f"{type(model).__name__} is not an srkit network (no arch_name/hparams)")
    return dict(hparams)


def model_spec(model: nn.Module) -> dict[str, Any]:
    """``{'arch': name, 'hparams': {...}}``: what a checkpoint stores to rebuild ``model``."""
    hparams = model_hparams(model)
    return {"arch": model.arch_name, "hparams": hparams}


def build_from_spec(spec: Mapping[str, Any]) -> nn.Module:
    """Rebuild a network from :func:`model_spec`'s output (e.g. read back from a checkpoint).

    The stored ``arch`` is a constructor name, never a preset, so the stored hyper-parameters alone
    decide the layout.
    """
    if not isinstance(spec, Mapping) or not isinstance(spec.get("arch"), str):
        raise ConfigError(f"arch: model spec must hold an 'arch' name, got {spec!r}")
    arch = spec["arch"]
    if arch not in ARCHS:
        raise ConfigError(f"arch: unknown architecture {arch!r}; valid: {', '.join(sorted(ARCHS))}")
    hparams = spec.get("hparams", {})
    if not isinstance(hparams, Mapping):
        raise ConfigError(f"hparams: must be a mapping, got {type(hparams).__name__}")
    _check_keys(arch, hparams)
    return _construct(arch, hparams)
