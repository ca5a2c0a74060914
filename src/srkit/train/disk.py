"""Writing the run folder: a write that fails (a full disk, a read-only or vanished folder) is one line
naming the file and the reason, never a traceback, and says when the disk may be full.

Two shapes of failure reach here: an :class:`OSError` (``ENOSPC`` from ``write``, ``flush`` or ``fsync``,
``EACCES``, ...), and the :class:`RuntimeError` of ``torch.save``'s zip writer when the disk fills in the
middle of a file (``[enforce fail at inline_container.cc:...] . unexpected pos 110528 vs 110428`` or
``PytorchStreamWriter failed writing file ...``), which carries no ``errno``.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

from srkit.errors import SrkitError, one_line

#: ``errno`` values that mean the file system has no room left (space, quota, file size).
DISK_FULL_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if code is not None
)
DISK_FULL_HINT = "the disk may be full"


def is_disk_full(err: BaseException | None) -> bool:
    """Whether ``err`` (or the error it was raised from) is an :class:`OSError` of a full disk."""
    while err is not None:
        if isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS:
            return True
        err = err.__cause__
    return False


def write_failure(path: str | Path, what: str, err: BaseException) -> SrkitError:
    """The one-line error for a failed write of ``what`` (e.g. ``"the training state"``) to ``path``."""
    if isinstance(err, OSError):
        reason = err.strerror or one_line(err)
        full = err.errno in DISK_FULL_ERRNOS
    else:  # torch.save's writer: a short write leaves its position behind what it expected
        reason = f"the write stopped short: {one_line(err, 120)}"
        full = True
    return SrkitError(f"{path}: cannot write {what} ({reason})" + (f"; {DISK_FULL_HINT}" if full else ""))


def with_disk_hint(err: SrkitError) -> SrkitError:
    """``err`` itself, or a copy saying the disk may be full when it was raised from a full disk."""
    text = str(err)
    if DISK_FULL_HINT in text or not is_disk_full(err.__cause__):
        return err
    return SrkitError(f"{text}; {DISK_FULL_HINT}")


@contextlib.contextmanager
def writing(path: str | Path, what: str) -> Iterator[None]:
    """Turn an :class:`OSError` inside the block into :func:`write_failure`'s one line."""
    try:
        yield
    except OSError as err:
        raise write_failure(path, what, err) from err
