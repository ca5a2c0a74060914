"""Loading and saving networks: srkit weight files, other projects' checkpoints, named models.

The one way to get a network from a name or a file is :func:`load_network`; the one way to write one
is :func:`save_network`.

Other projects' checkpoints -> srkit networks: format detection, key conversion, loading.

A third-party checkpoint is read safely (:mod:`srkit.io.safe_load`: safetensors, or ``torch.load`` with
``weights_only=True``; containers such as BasicSR's ``params_ema`` and wrapper prefixes such as
``module.`` removed), its layout is recognised from its keys (the layouts registered with each family,
:func:`layouts`), and its keys are renamed to the matching srkit network's while the hyper-parameters
are read off the tensor shapes (never by matching tensors by position). The result, a
:class:`Conversion`, builds an srkit network that loads the converted state dict strictly.

Known layouts (``source_format`` names):

- RRDBNet/ESRGAN: ``rrdbnet-basicsr`` (BasicSR, Real-ESRGAN incl. its pixel-unshuffle x2/x1 models),
  ``rrdbnet-esrgan-new`` (ESRGAN "new arch"), ``rrdbnet-esrgan-old`` (original ESRGAN "old arch");
- EDSR: ``edsr-basicsr``, ``edsr-pytorch`` (the authors' EDSR-PyTorch, mean shift mapped to
  ``img_range``/``rgb_mean``);
- MSRResNet: ``msrresnet-basicsr``, ``msrresnet-mmsr``;
- ``fsrcnn`` (FSRCNN-pytorch; the scale comes from the user or the file name) and ``vdsr``
  (pytorch-vdsr).

Each family's ``layouts.py`` (``srkit/archs/<family>/``) documents its layouts and what it infers. srkit's own
``.safetensors`` files (``source_format`` ``srkit``) are read with their stored metadata; a safetensors
file without srkit metadata is detected like any other checkpoint.

Entry points: :func:`load_any_model` (what ``srkit eval --model x.pth`` uses), :func:`read_any_checkpoint`
and :func:`convert_state_dict`; ``srkit convert`` (:mod:`srkit.cli.convert`) writes the result as an
srkit weight file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from srkit.archs.contract import SRNet
from srkit.archs.layouts import CheckpointFormat, Hints
from srkit.archs.registry import ARCH_ENTRIES, build_from_spec, model_spec, net_info
from srkit.errors import ConfigError, SrkitError, one_line
from srkit.io.checkpoint import WeightsMeta, read_weights_meta, write_weights
from srkit.io.safe_load import CHECKPOINT_SUFFIXES, read_checkpoint
from srkit.models import find_model, model_weights

#: ``source_format`` of srkit's own weight files.
SRKIT_FORMAT = "srkit"

#: Scales a file name may announce (``_x3``, ``SRx4``, ``4x_``).
_NAME_SCALES = "12348"
_NAME_SCALE = re.compile(
    rf"(?<!\d)x([{_NAME_SCALES}])(?!\d)|(?<![a-z0-9])([{_NAME_SCALES}])x(?![a-z0-9])", re.IGNORECASE
)
_SHOWN_KEYS = 5


@dataclass(frozen=True)
class Conversion:
    """A checkpoint in srkit's terms.

    Attributes:
        arch: srkit architecture name (a key of :data:`srkit.archs.ARCHS`).
        hparams: its constructor arguments.
        state_dict: tensors under srkit's keys; loads strictly into ``build_model(arch, **hparams)``.
        source_format: the layout it came from (a name in :func:`format_names`, or ``'srkit'``).
    """

    arch: str
    hparams: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    source_format: str

    @property
    def spec(self) -> dict[str, Any]:
        """``{'arch': ..., 'hparams': ...}`` for :func:`srkit.archs.build_from_spec`."""
        return {"arch": self.arch, "hparams": dict(self.hparams)}

    def build(self, source: str | Path = "state dict", *, device: str | torch.device = "cpu") -> SRNet:
        """The srkit network with these weights loaded strictly, in eval mode on ``device``.

        Raises:
            SrkitError: naming ``source`` and the layout, when the hyper-parameters do not build a
                network or the converted keys/shapes do not match it.
        """
        where = source if self.source_format == SRKIT_FORMAT else f"{source} ({self.source_format} layout)"
        return build_and_load(where, self.spec, self.state_dict, device=device)


def layouts() -> list[CheckpointFormat]:
    """Every third-party layout of every registered family, in detection order (registration order)."""
    return [layout for entry in ARCH_ENTRIES.values() for layout in entry.layouts]


def format_names() -> list[str]:
    """The ``source_format`` names of every third-party layout srkit reads, in detection order."""
    return [f.name for f in layouts()]


def format_descriptions() -> dict[str, str]:
    """``{name: description}`` of every third-party layout srkit reads."""
    return {f.name: f.description for f in layouts()}


def scale_from_name(name: str | Path) -> int | None:
    """The scale a file name announces (``fsrcnn_x3.pth`` -> 3, ``RealESRGAN_x4plus.pth`` -> 4,
    ``ESRGAN_SRx4_...`` -> 4, ``4x_foo.pth`` -> 4); ``None`` when it announces none or several."""
    found = {int(a or b) for a, b in _NAME_SCALE.findall(Path(name).name)}
    return found.pop() if len(found) == 1 else None


def detect_format(state: Mapping[str, torch.Tensor]) -> CheckpointFormat | None:
    """The first known layout whose signature keys are all in ``state``, or ``None``."""
    return next((f for f in layouts() if f.matches(state)), None)


def _unknown(source: str, state: Mapping[str, torch.Tensor]) -> SrkitError:
    keys = list(state)
    shown = ", ".join(repr(k) for k in keys[:_SHOWN_KEYS])
    more = f" of {len(keys)}" if len(keys) > _SHOWN_KEYS else ""
    known = ", ".join(format_names())
    return SrkitError(
        f"{source}: unknown checkpoint layout (first keys: {shown}{more}); srkit reads {known} "
        "(see 'srkit convert --help')"
    )


def convert_state_dict(
    state: Mapping[str, torch.Tensor],
    *,
    scale: int | None = None,
    source: str | Path = "state dict",
    name_scale: int | None = None,
) -> Conversion:
    """Detect the layout of a third-party state dict and convert it to srkit's keys.

    Args:
        state: the tensors (already unwrapped, see :func:`srkit.io.safe_load.read_checkpoint`).
        scale: the upscaling factor, when the weights do not store it (FSRCNN) or to check the one they
            imply (a contradiction is an error).
        source: what errors call the state dict (the file).
        name_scale: the factor the file name announces (:func:`scale_from_name`); used only where the
            weights do not decide it.

    Raises:
        SrkitError: one line naming ``source``: an unknown layout (listing the known ones and the first
            keys), or a known layout that does not hold together (naming the problem).
    """
    source = str(source)
    fmt = detect_format(state)
    if fmt is None:
        raise _unknown(source, state)
    arch, hparams, converted = fmt.convert(state, Hints(source=source, scale=scale, name_scale=name_scale))
    return Conversion(arch=arch, hparams=hparams, state_dict=converted, source_format=fmt.name)


def read_any_checkpoint(path: str | Path, *, scale: int | None = None) -> Conversion:
    """Read any checkpoint file as a :class:`Conversion`, without building the network.

    srkit weight files (safetensors with srkit metadata) are taken as they are (``scale`` is not used);
    everything else (PyTorch files, safetensors without srkit metadata) goes through
    :func:`convert_state_dict` with ``scale`` and the scale the file name announces.

    Raises:
        SrkitError: one line naming the file (see :func:`srkit.io.safe_load.read_checkpoint` and
            :func:`convert_state_dict`).
    """
    path = Path(path)
    state, metadata = read_checkpoint(path)
    if metadata and "srkit_format" in metadata:
        meta = read_weights_meta(path)
        return Conversion(meta.arch, dict(meta.hparams), state, SRKIT_FORMAT)
    return convert_state_dict(state, scale=scale, source=path, name_scale=scale_from_name(path))


def load_any_model(
    path: str | Path, *, scale: int | None = None, device: str | torch.device = "cpu"
) -> SRNet:
    """The srkit network of any checkpoint file (srkit ``.safetensors`` or a known third-party layout in
    ``.pth``/``.pt``/``.ckpt``/``.bin``/``.safetensors``), weights loaded strictly, in eval mode on
    ``device``; ``scale`` as in :func:`read_any_checkpoint`.

    Raises:
        SrkitError: one line naming the file: unreadable or unsafe files, unknown layouts, weights that
            do not match the network.
    """
    path = Path(path)
    return read_any_checkpoint(path, scale=scale).build(path, device=device)


# --------------------------------------------------------------------------------------------------
# srkit weight files
# --------------------------------------------------------------------------------------------------


def check_state_dict(path: str | Path, model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Raise a one-line :class:`SrkitError` naming ``path`` and the first missing key, unexpected key
    or shape mismatch between ``state`` and ``model.state_dict()``; return when they match."""
    expected = model.state_dict()
    what = model.arch_name if isinstance(model, SRNet) else type(model).__name__
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


def _more(items: list[str]) -> str:
    return f" (and {len(items) - 1} more)" if len(items) > 1 else ""


def build_and_load(
    path: str | Path,
    spec: Mapping[str, Any],
    state: Mapping[str, torch.Tensor],
    *,
    device: str | torch.device = "cpu",
) -> SRNet:
    """Build the network of ``spec`` (``{'arch': ..., 'hparams': ...}``) and load ``state`` into it
    strictly, in eval mode on ``device``; ``path`` names the source in errors.

    Raises:
        SrkitError: naming ``path``, when the spec does not build a network or the weights do not match
            it (first missing/unexpected key or shape).
    """
    try:
        model = build_from_spec(spec)
    except ConfigError as exc:
        raise SrkitError(f"{path}: cannot rebuild the network: {one_line(exc)}") from None
    check_state_dict(path, model, state)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # anything check_state_dict does not foresee
        raise SrkitError(f"{path}: weights do not load: {one_line(exc)}") from None
    return model.to(device).eval()


def unwrap_model(model: nn.Module) -> nn.Module:
    """The network inside training wrappers: ``torch.compile``'s ``OptimizedModule`` (``_orig_mod``) and
    ``DataParallel``/``DistributedDataParallel`` (``module``), so saved keys carry no wrapper prefix."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(model._modules.get("_orig_mod"), nn.Module):
            model = model._modules["_orig_mod"]  # type: ignore[assignment]
        else:
            return model


def save_weights(
    path: str | Path,
    model_or_state: nn.Module | Mapping[str, torch.Tensor],
    *,
    arch: str | None = None,
    hparams: Mapping[str, Any] | None = None,
    scale: int | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write an srkit weight file atomically (:func:`srkit.io.checkpoint.write_weights`); returns ``path``.

    From a registered network (unwrapped from ``torch.compile``/``DataParallel``/DDP), ``arch``,
    ``hparams`` and ``scale`` default to its :func:`~srkit.archs.model_spec` and
    :class:`~srkit.archs.NetInfo` scale. From a bare state dict ``arch`` and ``hparams`` must be given,
    and ``scale`` defaults to ``hparams['scale']``.
    """
    if isinstance(model_or_state, nn.Module):
        net = unwrap_model(model_or_state)
        if isinstance(net, SRNet) and net.arch_name in ARCH_ENTRIES:
            spec = model_spec(net)
            arch = arch if arch is not None else spec["arch"]
            hparams = hparams if hparams is not None else spec["hparams"]
            scale = scale if scale is not None else net_info(net).scale
        return write_weights(path, net.state_dict(), arch=arch, hparams=hparams, scale=scale, extra=extra)
    return write_weights(path, model_or_state, arch=arch, hparams=hparams, scale=scale, extra=extra)


# --------------------------------------------------------------------------------------------------
# One way to get a network: by name or by file
# --------------------------------------------------------------------------------------------------


def load_network(
    name_or_path: str | Path, *, scale: int | None = None, device: str | torch.device = "cpu"
) -> SRNet:
    """The network a user means by ``--model``: a named model of :data:`srkit.models.MODELS` (its
    weights inside the package) or a checkpoint file (an srkit ``.safetensors`` file or a third-party
    checkpoint of a registered layout, see :func:`load_any_model`), in eval mode on ``device``.

    Raises:
        SrkitError: one line: a named model whose weights are not installed, a file that cannot be
            loaded (naming it and why), or a name that is neither.
    """
    text = str(name_or_path).strip()
    if find_model(text.lower()) is not None:
        return load_any_model(model_weights(text.lower()), device=device)
    path = Path(text).expanduser()
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return load_any_model(path, scale=scale, device=device)
    if path.is_file():
        raise ConfigError(
            f"{text}: unsupported model file type {path.suffix or '(none)'!r}; "
            f"accepted: {', '.join(CHECKPOINT_SUFFIXES)}"
        )
    raise ConfigError(f"model: unknown model {text!r}")


__all__ = [
    "SRKIT_FORMAT",
    "Conversion",
    "WeightsMeta",
    "build_and_load",
    "check_state_dict",
    "convert_state_dict",
    "detect_format",
    "format_descriptions",
    "format_names",
    "layouts",
    "load_any_model",
    "load_network",
    "read_any_checkpoint",
    "save_weights",
    "scale_from_name",
    "unwrap_model",
]
