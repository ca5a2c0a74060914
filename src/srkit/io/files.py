"""Reading checkpoint files: the helpers that :mod:`srkit.io.checkpoint` (srkit weight files) and
:mod:`srkit.io.safe_load` (any checkpoint) share. Every failure is a one-line
:class:`~srkit.errors.SrkitError` naming the file.

Only regular files are read (after following symlinks): a FIFO would block forever, a character device
such as ``/dev/zero`` or ``/dev/urandom`` never ends, so both are refused before anything opens them."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import torch
from safetensors import safe_open

from srkit.errors import SrkitError, one_line

__all__ = ["WEIGHTS_SUFFIX", "check_file", "read_safetensors"]

#: Suffix of safetensors files, the format of srkit weight files.
WEIGHTS_SUFFIX = ".safetensors"

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _reason(exc: OSError) -> str:
    """The OS's reason without the path it repeats (``[Errno 13] Permission denied: 'x'``)."""
    return exc.strerror.lower() if exc.strerror else one_line(exc)


def check_file(path: Path) -> None:
    """Raise unless ``path`` is a readable regular file (symlinks followed).

    Raises:
        SrkitError: one line naming ``path``: no such file, a folder, not a regular file (FIFO, device,
            socket: reading one would block or never end), a symlink loop, or permission denied.
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise SrkitError(f"{path}: no such weights file") from None
    except PermissionError:
        raise SrkitError(
            f"{path}: cannot read: permission denied (a folder on its path is not searchable)"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SrkitError(f"{path}: cannot read: symlink loop") from None
        raise SrkitError(f"{path}: cannot read: {_reason(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise SrkitError(f"{path}: is a folder, not a weights file")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "a special file")
        raise SrkitError(f"{path}: not a regular file: {kind}; give a weights file")
    if not os.access(path, os.R_OK):
        raise SrkitError(f"{path}: cannot read: permission denied")


def read_safetensors(
    path: Path, *, tensors: bool = True
) -> tuple[dict[str, torch.Tensor], dict[str, str] | None]:
    """The tensors (on the CPU; none when ``tensors`` is false) and header metadata of a safetensors
    file. The tensors take at most the file's size: safetensors checks that every tensor lies inside
    the file before any is read."""
    check_file(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata()
            names = list(f.keys()) if tensors else []
            state = {key: f.get_tensor(key) for key in names}
    except PermissionError:
        raise SrkitError(f"{path}: cannot read: permission denied") from None
    except OSError as exc:
        raise SrkitError(f"{path}: cannot read: {_reason(exc)}") from None
    except Exception as exc:  # SafetensorError (a plain Exception subclass): not a safetensors file
        raise SrkitError(f"{path}: not a safetensors file ({one_line(exc, 200)})") from None
    return state, metadata
