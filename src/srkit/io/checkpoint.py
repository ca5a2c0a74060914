"""srkit weight files: safetensors with the metadata needed to rebuild the network.

A weight file is a plain `safetensors <https://huggingface.co/docs/safetensors>`_ file (no pickle, so
loading never executes code) whose header metadata (``str -> str``) holds:

``srkit_format``
    :data:`FORMAT_VERSION`; files without it are not srkit files.
``arch``
    a key of :data:`srkit.archs.ARCHS` (a constructor name, never a preset).
``hparams``
    JSON object: every constructor argument, as :func:`srkit.archs.model_spec` records them.
``scale``
    the model's upscaling factor as a decimal integer.
``extra``
    JSON object: free-form provenance (training step, validation metrics, training data, recipe
    name, ...). :func:`save_weights` adds ``created`` (UTC, ISO 8601) and ``srkit_version`` unless the
    caller gives them.

:func:`save_weights` writes atomically (temporary file beside the target, then rename), so an existing
file is never left half-written. :func:`read_weights` and :func:`load_model` raise
:class:`~srkit.errors.SrkitError` with a one-line message naming the file for every problem a user can
act on. :func:`load_state_dict_any` reads the bare tensors of other people's checkpoints (any safetensors
file, or a PyTorch ``.pth`` loaded with ``weights_only=True``; see :mod:`srkit.io.safe_load`), and
:mod:`srkit.io.thirdparty` converts known layouts into srkit networks (``srkit convert``).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as _safetensors_bytes
from torch import nn

from srkit.errors import ConfigError, SrkitError
from srkit.io.atomic import atomic_write_bytes

FORMAT_VERSION = "1"
"""Version of the metadata layout written into ``srkit_format``."""

WEIGHTS_SUFFIX = ".safetensors"

_META_KEYS = ("srkit_format", "arch", "hparams", "scale", "extra")


@dataclass(frozen=True)
class WeightsMeta:
    """What an srkit weight file says about its network.

    Attributes:
        arch: constructor name (a key of :data:`srkit.archs.ARCHS`).
        hparams: constructor arguments; ``build_from_spec({'arch': arch, 'hparams': hparams})``
            rebuilds the network.
        scale: upscaling factor of the network (1 for VDSR, which works on pre-upsampled input).
        extra: provenance: step, validation metrics, training data, recipe name, ``created``,
            ``srkit_version``, ...
    """

    arch: str
    hparams: dict[str, Any]
    scale: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> dict[str, Any]:
        """``{'arch': ..., 'hparams': ...}`` for :func:`srkit.archs.build_from_spec`."""
        return {"arch": self.arch, "hparams": dict(self.hparams)}


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    """Make the usual non-JSON leaves of metrics and configs serialisable (numpy and 0-d torch
    scalars, paths, sets, tuples handled by json already); anything else is rejected."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "shape", None) == ():
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _to_json(name: str, value: Mapping[str, Any]) -> str:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: must be a mapping, got {type(value).__name__}")
    try:
        return json.dumps(dict(value), default=_json_default, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: cannot be stored as JSON: {exc}") from None


def _cpu_tensors(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies-or-views of ``state``; tensors sharing storage with an earlier
    one (tied weights, slices of one buffer) are cloned, since safetensors stores each tensor on its own."""
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[str, int]] = set()
    for key, value in state.items():
        if not isinstance(key, str):
            raise ConfigError(f"state dict: keys must be strings, got {key!r}")
        if not isinstance(value, torch.Tensor):
            raise ConfigError(f"state dict: {key!r} is a {type(value).__name__}, not a tensor")
        if value.is_sparse or value.layout != torch.strided:
            raise ConfigError(f"state dict: {key!r} is a {value.layout} tensor; only dense ones are stored")
        t = value.detach().to("cpu").contiguous()
        ptr = ("cpu", t.untyped_storage().data_ptr())
        if ptr in seen and t.numel() > 0:
            t = t.clone()
            ptr = ("cpu", t.untyped_storage().data_ptr())
        seen.add(ptr)
        out[key] = t
    return out


def unwrap_model(model: nn.Module) -> nn.Module:
    """The network inside training wrappers: ``torch.compile``'s ``OptimizedModule`` (``_orig_mod``) and
    ``DataParallel``/``DistributedDataParallel`` (``module``), so saved keys carry no wrapper prefix."""
    while True:
        inner = getattr(model, "_orig_mod", None)
        if isinstance(inner, nn.Module):
            model = inner
        elif isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        else:
            return model


def _creation_time() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def save_weights(
    path: str | Path,
    model_or_state: nn.Module | Mapping[str, torch.Tensor],
    *,
    arch: str | None = None,
    hparams: dict[str, Any] | None = None,
    scale: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write an srkit weight file (safetensors + metadata) to ``path`` atomically; returns ``path``.

    From an ``nn.Module`` (unwrapped from ``torch.compile``/``DataParallel``/DDP, see
    :func:`unwrap_model`), ``arch``/``hparams``/``scale`` default to the network's ``arch_name``,
    ``hparams`` and ``scale``. From a bare state dict ``arch`` and ``hparams`` must be given, and
    ``scale`` defaults to ``hparams['scale']``. Tensors are stored detached, contiguous and on the CPU
    in their own dtype; shared tensors are stored as separate copies. ``extra`` (JSON-serialisable;
    numpy/torch scalars and paths are converted) gets ``created`` and ``srkit_version`` added unless
    present. The parent folder is created; an existing file is replaced only once the new one is
    complete.

    Raises:
        ConfigError: a missing or invalid ``arch``/``hparams``/``scale``, a non-tensor state value, or
            ``hparams``/``extra`` that cannot be stored as JSON.
        SrkitError: the file cannot be written (an existing file is then left as it was).
    """
    path = Path(path)
    if isinstance(model_or_state, nn.Module):
        model_or_state = unwrap_model(model_or_state)
        state: Mapping[str, Any] = model_or_state.state_dict()
        arch = arch if arch is not None else getattr(model_or_state, "arch_name", None)
        if hparams is None:
            hparams = getattr(model_or_state, "hparams", None)
        if scale is None:
            scale = getattr(model_or_state, "scale", None)
    elif isinstance(model_or_state, Mapping):
        state = model_or_state
    else:
        raise ConfigError(
            f"{path}: save_weights takes an nn.Module or a state dict, got {type(model_or_state).__name__}"
        )
    if not isinstance(arch, str) or not arch:
        raise ConfigError(f"{path}: arch is required (an srkit architecture name) to save weights")
    if not isinstance(hparams, Mapping):
        raise ConfigError(f"{path}: hparams is required (a mapping of constructor arguments) to save weights")
    if scale is None:
        scale = hparams.get("scale")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"{path}: scale must be a positive integer, got {scale!r}")

    from srkit import __version__

    extra_full = {"created": _creation_time(), "srkit_version": __version__, **dict(extra or {})}
    metadata = {
        "srkit_format": FORMAT_VERSION,
        "arch": arch,
        "hparams": _to_json("hparams", hparams),
        "scale": str(int(scale)),
        "extra": _to_json("extra", extra_full),
    }
    data = _safetensors_bytes(_cpu_tensors(state), metadata=metadata)
    try:
        return atomic_write_bytes(path, data)
    except OSError as exc:
        raise SrkitError(f"{path}: cannot write weights: {_one_line(exc)}") from exc


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _check_file(path: Path) -> None:
    if not path.exists():
        raise SrkitError(f"{path}: no such weights file")
    if path.is_dir():
        raise SrkitError(f"{path}: is a folder, not a weights file")


def _read_safetensors(
    path: Path, *, tensors: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, str] | None]:
    """The tensors (on the CPU; none when ``tensors`` is false) and header metadata of a safetensors
    file."""
    _check_file(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata()
            names = list(f.keys()) if tensors else []
            state = {key: f.get_tensor(key) for key in names}
    except OSError as exc:
        raise SrkitError(f"{path}: cannot read: {_one_line(exc)}") from None
    except Exception as exc:  # SafetensorError (a plain Exception subclass): not a safetensors file
        raise SrkitError(f"{path}: not a safetensors file ({_one_line(exc)})") from None
    return state, metadata


def _parse_meta(path: Path, metadata: Mapping[str, str] | None) -> WeightsMeta:
    if not metadata or "srkit_format" not in metadata:
        raise SrkitError(
            f"{path}: not an srkit weights file (safetensors without srkit metadata); "
            "convert third-party weights with 'srkit convert' (bare tensors: load_state_dict_any)"
        )
    version = metadata["srkit_format"]
    if version != FORMAT_VERSION:
        raise SrkitError(
            f"{path}: srkit weights format {version!r} is not supported by this srkit "
            f"(reads format {FORMAT_VERSION!r}); upgrade srkit"
        )
    missing = [k for k in _META_KEYS if k not in metadata]
    if missing:
        raise SrkitError(f"{path}: corrupt srkit metadata: missing {', '.join(missing)}")
    arch = metadata["arch"]
    try:
        hparams = json.loads(metadata["hparams"])
        extra = json.loads(metadata["extra"])
        scale = int(metadata["scale"])
    except ValueError as exc:
        raise SrkitError(f"{path}: corrupt srkit metadata: {_one_line(exc)}") from None
    if not isinstance(hparams, dict) or not isinstance(extra, dict):
        raise SrkitError(f"{path}: corrupt srkit metadata: hparams and extra must be JSON objects")
    if not arch or scale < 1:
        raise SrkitError(f"{path}: corrupt srkit metadata: arch={arch!r}, scale={scale}")
    return WeightsMeta(arch=arch, hparams=hparams, scale=scale, extra=extra)


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], WeightsMeta]:
    """Read an srkit weight file: ``(state_dict on the CPU, metadata)``.

    Raises:
        SrkitError: naming the file, when it is missing, not a safetensors file, a safetensors file
            without srkit metadata (use :func:`load_state_dict_any` for those), of an unsupported
            format version, or has corrupt metadata.
    """
    path = Path(path)
    tensors, metadata = _read_safetensors(path)
    return tensors, _parse_meta(path, metadata)


def read_weights_meta(path: str | Path) -> WeightsMeta:
    """Only the metadata of an srkit weight file (reads the header, not the tensors); raises like
    :func:`read_weights`."""
    path = Path(path)
    return _parse_meta(path, _read_safetensors(path, tensors=False)[1])


def _more(items: list[str]) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


def check_state_dict(path: str | Path, model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Raise a one-line :class:`SrkitError` naming ``path`` and the first missing key, unexpected key
    or shape mismatch between ``state`` and ``model.state_dict()``; return when they match."""
    expected = model.state_dict()
    what = getattr(model, "arch_name", type(model).__name__)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing key {missing[0]!r}{_more(missing)}")
    if unexpected:
        problems.append(f"unexpected key {unexpected[0]!r}{_more(unexpected)}")
    if problems:
        raise SrkitError(f"{path}: weights do not match {what}: {'; '.join(problems)}")
    for key, want in expected.items():
        got = state[key]
        if tuple(got.shape) != tuple(want.shape):
            raise SrkitError(
                f"{path}: weights do not match {what}: {key!r} has shape {tuple(got.shape)}, "
                f"the network expects {tuple(want.shape)}"
            )


def build_and_load(
    path: str | Path,
    spec: Mapping[str, Any],
    state: Mapping[str, torch.Tensor],
    *,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Build the network of ``spec`` (``{'arch': ..., 'hparams': ...}``) and load ``state`` into it
    strictly, in eval mode on ``device``; ``path`` names the source in errors.

    Raises:
        SrkitError: naming ``path``, when the spec does not build a network or the weights do not match
            it (first missing/unexpected key or shape).
    """
    from srkit.archs import build_from_spec

    try:
        model = build_from_spec(spec)
    except ConfigError as exc:
        raise SrkitError(f"{path}: cannot rebuild the network: {_one_line(exc)}") from None
    check_state_dict(path, model, state)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # anything check_state_dict does not foresee
        raise SrkitError(f"{path}: weights do not load: {_one_line(exc)}") from None
    return model.to(device).eval()


def load_model(path: str | Path, *, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the network of an srkit weight file and load its weights (strict), in eval mode on
    ``device``.

    Raises:
        SrkitError: naming the file, for every :func:`read_weights` failure, metadata that does not
            build a network, and weights that do not match it (first missing/unexpected key or shape).
    """
    path = Path(path)
    state, meta = read_weights(path)
    return build_and_load(path, meta.spec, state, device=device)


# --------------------------------------------------------------------------------------------------
# Third-party state dicts (implemented in srkit.io.safe_load)
# --------------------------------------------------------------------------------------------------


def load_state_dict_any(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint that is not (necessarily) an srkit file, on the CPU: any safetensors
    file, or a PyTorch file read with ``weights_only=True`` (pickled objects refused, never executed),
    unwrapped from training containers and wrapper prefixes. Delegates to
    :func:`srkit.io.safe_load.load_state_dict_any`; :mod:`srkit.io.thirdparty` converts the result to
    srkit networks.
    """
    from srkit.io.safe_load import load_state_dict_any as _load

    return _load(path)
