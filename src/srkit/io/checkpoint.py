"""srkit weight files: safetensors with the metadata needed to rebuild the network (the file format;
building and loading networks is :mod:`srkit.archs.loading`).

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
    name, ...). :func:`write_weights` adds ``created`` (UTC, ISO 8601) and ``srkit_version`` unless the
    caller gives them.

:func:`write_weights` writes atomically (temporary file beside the target, then rename), so an existing
file is never left half-written. :func:`read_weights` raises :class:`~srkit.errors.SrkitError` with a
one-line message naming the file for every problem a user can act on. Other people's checkpoints are
read by :mod:`srkit.io.safe_load` and converted by :mod:`srkit.archs.loading`.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as _safetensors_bytes

from srkit.errors import ConfigError, SrkitError, one_line
from srkit.io.atomic import atomic_write_bytes
from srkit.io.files import read_safetensors
from srkit.version import __version__

FORMAT_VERSION = "1"
"""Version of the metadata layout written into ``srkit_format``."""

_META_KEYS = ("srkit_format", "arch", "hparams", "scale", "extra")

#: Bounds on what the metadata of a file may ask for, checked before it is parsed: the JSON text of
#: ``hparams`` and ``extra`` (srkit writes about 160 and 2,000 characters), how deeply it nests (a
#: recipe in ``extra`` nests 4-5 levels) and the length of the ``arch`` name.
MAX_META_CHARS = {"hparams": 64 * 1024, "extra": 1024 * 1024}
MAX_META_DEPTH = 32
MAX_ARCH_CHARS = 64


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


def _creation_time() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def write_weights(
    path: str | Path,
    state: Mapping[str, torch.Tensor],
    *,
    arch: str | None,
    hparams: Mapping[str, Any] | None,
    scale: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write an srkit weight file (safetensors + metadata) to ``path`` atomically; returns ``path``.

    ``arch`` and ``hparams`` must be given; ``scale`` defaults to ``hparams['scale']`` (networks are
    saved with :func:`srkit.archs.save_weights`, which reads all three off the network). Tensors are
    stored detached, contiguous and on the CPU in their own dtype; shared tensors are stored as separate
    copies. ``extra`` (JSON-serialisable; numpy/torch scalars and paths are converted) gets ``created``
    and ``srkit_version`` added unless present. The parent folder is created; an existing file is
    replaced only once the new one is complete.

    Raises:
        ConfigError: a missing or invalid ``arch``/``hparams``/``scale``, a non-tensor state value, or
            ``hparams``/``extra`` that cannot be stored as JSON.
        SrkitError: the file cannot be written (an existing file is then left as it was).
    """
    path = Path(path)
    if not isinstance(state, Mapping):
        raise ConfigError(f"{path}: weights must be a state dict, got {type(state).__name__}")
    if not isinstance(arch, str) or not arch:
        raise ConfigError(f"{path}: arch is required (an srkit architecture name) to save weights")
    if not isinstance(hparams, Mapping):
        raise ConfigError(f"{path}: hparams is required (a mapping of constructor arguments) to save weights")
    if scale is None:
        scale = hparams.get("scale")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"{path}: scale must be a positive integer, got {scale!r}")

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
        raise SrkitError(f"{path}: cannot write weights: {one_line(exc)}") from exc


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def _depth(value: Any) -> int:
    """How deeply JSON lists and objects nest in ``value`` (0 for a scalar), counted without recursion;
    stops counting past :data:`MAX_META_DEPTH`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack and deepest <= MAX_META_DEPTH:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _check_header(path: Path, metadata: Mapping[str, str] | None) -> Mapping[str, str]:
    """``metadata`` when it is srkit metadata of the supported version with every key present and
    within :data:`MAX_META_CHARS` / :data:`MAX_ARCH_CHARS`."""
    if not metadata or "srkit_format" not in metadata:
        raise SrkitError(
            f"{path}: not an srkit weights file (safetensors without srkit metadata); "
            "convert third-party weights with 'srkit convert' (bare tensors: load_state_dict_any)"
        )
    version = metadata["srkit_format"]
    if version != FORMAT_VERSION:
        raise SrkitError(
            f"{path}: srkit weights format {version[:20]!r} is not supported by this srkit "
            f"(reads format {FORMAT_VERSION!r}); upgrade srkit"
        )
    missing = [k for k in _META_KEYS if k not in metadata]
    if missing:
        raise SrkitError(f"{path}: corrupt srkit metadata: missing {', '.join(missing)}")
    if len(metadata["arch"]) > MAX_ARCH_CHARS:
        raise SrkitError(f"{path}: corrupt srkit metadata: arch name of {len(metadata['arch'])} characters")
    for key, limit in MAX_META_CHARS.items():
        if len(metadata[key]) > limit:
            raise SrkitError(
                f"{path}: corrupt srkit metadata: {key} is {len(metadata[key])} characters (at most {limit})"
            )
    return metadata


def _json_object(path: Path, key: str, text: str) -> dict[str, Any]:
    """The JSON object ``text`` of metadata ``key``, nesting at most :data:`MAX_META_DEPTH` levels."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise SrkitError(f"{path}: corrupt srkit metadata: {key} nests too deeply") from None
    except ValueError as exc:
        raise SrkitError(f"{path}: corrupt srkit metadata: {key}: {one_line(exc, 200)}") from None
    if not isinstance(value, dict):
        raise SrkitError(f"{path}: corrupt srkit metadata: hparams and extra must be JSON objects")
    if _depth(value) > MAX_META_DEPTH:
        raise SrkitError(
            f"{path}: corrupt srkit metadata: {key} nests more than {MAX_META_DEPTH} levels deep"
        )
    return value


def _parse_meta(path: Path, metadata: Mapping[str, str] | None) -> WeightsMeta:
    metadata = _check_header(path, metadata)
    arch = metadata["arch"]
    hparams = _json_object(path, "hparams", metadata["hparams"])
    extra = _json_object(path, "extra", metadata["extra"])
    try:
        scale = int(metadata["scale"])
    except ValueError as exc:
        raise SrkitError(f"{path}: corrupt srkit metadata: scale: {one_line(exc, 200)}") from None
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
    tensors, metadata = read_safetensors(path)
    return tensors, _parse_meta(path, metadata)


def read_weights_meta(path: str | Path) -> WeightsMeta:
    """Only the metadata of an srkit weight file (reads the header, not the tensors); raises like
    :func:`read_weights`."""
    path = Path(path)
    return _parse_meta(path, read_safetensors(path, tensors=False)[1])
