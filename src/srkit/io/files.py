"""Reading checkpoint files: the helpers that :mod:`srkit.io.checkpoint` (srkit weight files) and
:mod:`srkit.io.safe_load` (any checkpoint) share. Every failure is a one-line
:class:`~srkit.errors.SrkitError` naming the file."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open

from srkit.errors import SrkitError, one_line

__all__ = ["WEIGHTS_SUFFIX", "check_file", "read_safetensors"]

#: Suffix of safetensors files, the format of srkit weight files.
WEIGHTS_SUFFIX = ".safetensors"


def check_file(path: Path) -> None:
    """Raise when ``path`` does not exist or is a folder."""
    if not path.exists():
        raise SrkitError(f"{path}: no such weights file")
    if path.is_dir():
        raise SrkitError(f"{path}: is a folder, not a weights file")


def read_safetensors(
    path: Path, *, tensors: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, str] | None]:
    """The tensors (on the CPU; none when ``tensors`` is false) and header metadata of a safetensors
    file."""
    check_file(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata()
            names = list(f.keys()) if tensors else []
            state = {key: f.get_tensor(key) for key in names}
    except OSError as exc:
        raise SrkitError(f"{path}: cannot read: {one_line(exc)}") from None
    except Exception as exc:  # SafetensorError (a plain Exception subclass): not a safetensors file
        raise SrkitError(f"{path}: not a safetensors file ({one_line(exc)})") from None
    return state, metadata
