"""Other projects' checkpoints -> srkit networks: format detection, key conversion, loading.

A third-party checkpoint is read safely (:mod:`srkit.io.safe_load`: safetensors, or ``torch.load`` with
``weights_only=True``; containers such as BasicSR's ``params_ema`` and wrapper prefixes such as
``module.`` removed), its layout is recognised from its keys (:data:`srkit.io.formats.FORMATS`), and
its keys are renamed to the matching srkit network's while the hyper-parameters are read off the tensor
shapes (never by matching tensors by position). The result, a :class:`Conversion`, builds an srkit
network that loads the converted state dict strictly.

Known layouts (``source_format`` names):

- RRDBNet/ESRGAN: ``rrdbnet-basicsr`` (BasicSR, Real-ESRGAN incl. its pixel-unshuffle x2/x1 models),
  ``rrdbnet-esrgan-new`` (ESRGAN "new arch"), ``rrdbnet-esrgan-old`` (original ESRGAN "old arch");
- EDSR: ``edsr-basicsr``, ``edsr-pytorch`` (the authors' EDSR-PyTorch, mean shift mapped to
  ``img_range``/``rgb_mean``);
- MSRResNet: ``msrresnet-basicsr``, ``msrresnet-mmsr``;
- ``fsrcnn`` (FSRCNN-pytorch; the scale comes from the user or the file name) and ``vdsr``
  (pytorch-vdsr).

Each module of :mod:`srkit.io.formats` documents its layouts and what it infers. srkit's own
``.safetensors`` files (``source_format`` ``srkit``) are read with their stored metadata; a safetensors
file without srkit metadata is detected like any other checkpoint.

Entry points: :func:`load_any_model` (what ``srkit eval --model x.pth`` uses), :func:`read_any_checkpoint`
and :func:`convert_state_dict`; ``srkit convert`` (:mod:`srkit.convert_cli`) writes the result as an
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

from srkit.errors import SrkitError
from srkit.io.checkpoint import build_and_load, read_weights_meta
from srkit.io.formats import FORMATS, CheckpointFormat, Hints
from srkit.io.safe_load import read_checkpoint

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
        arch: srkit constructor name (a key of :data:`srkit.archs.ARCHS`).
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

    def build(self, source: str | Path = "state dict", *, device: str | torch.device = "cpu") -> nn.Module:
        """The srkit network with these weights loaded strictly, in eval mode on ``device``.

        Raises:
            SrkitError: naming ``source`` and the layout, when the hyper-parameters do not build a
                network or the converted keys/shapes do not match it.
        """
        where = source if self.source_format == SRKIT_FORMAT else f"{source} ({self.source_format} layout)"
        return build_and_load(where, self.spec, self.state_dict, device=device)


def format_names() -> list[str]:
    """The ``source_format`` names of every third-party layout srkit reads, in detection order."""
    return [f.name for f in FORMATS]


def format_descriptions() -> dict[str, str]:
    """``{name: description}`` of every third-party layout srkit reads."""
    return {f.name: f.description for f in FORMATS}


def scale_from_name(name: str | Path) -> int | None:
    """The scale a file name announces (``fsrcnn_x3.pth`` -> 3, ``RealESRGAN_x4plus.pth`` -> 4,
    ``ESRGAN_SRx4_...`` -> 4, ``4x_foo.pth`` -> 4); ``None`` when it announces none or several."""
    found = {int(a or b) for a, b in _NAME_SCALE.findall(Path(name).name)}
    return found.pop() if len(found) == 1 else None


def detect_format(state: Mapping[str, torch.Tensor]) -> CheckpointFormat | None:
    """The first known layout whose signature keys are all in ``state``, or ``None``."""
    return next((f for f in FORMATS if f.matches(state)), None)


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
) -> nn.Module:
    """The srkit network of any checkpoint file (srkit ``.safetensors`` or a known third-party layout in
    ``.pth``/``.pt``/``.ckpt``/``.bin``/``.safetensors``), weights loaded strictly, in eval mode on
    ``device``; ``scale`` as in :func:`read_any_checkpoint`.

    Raises:
        SrkitError: one line naming the file: unreadable or unsafe files, unknown layouts, weights that
            do not match the network.
    """
    path = Path(path)
    return read_any_checkpoint(path, scale=scale).build(path, device=device)
