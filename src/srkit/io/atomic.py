"""Atomic file writes: write to a temporary file in the destination folder, then rename it into place.

A crash or error mid-write never leaves a half-written file at the destination, and an existing file
there stays intact until the new one is complete.

- **Replacing or not.** ``overwrite=True`` replaces whatever is at the destination (``os.replace``);
  ``overwrite=False`` never does: the finished file is hard-linked to the destination, which fails
  atomically when something is there (two processes racing for one name: exactly one wins), falling
  back to an exclusive ``O_CREAT | O_EXCL`` reservation on file systems without hard links; a callable
  ``overwrite(path)`` is asked, at the moment of the rename, whether the file found there may be
  replaced. A destination that is kept raises :class:`NotReplacedError`.
- **Symlinks and modes.** A destination that is a symlink is replaced by the new file: the link itself,
  never the file it points to. The new file gets the mode of the regular file it replaces, else the
  mode a plain ``open()`` would give (0o666 minus the umask); setuid, setgid and sticky bits are never
  carried over.
- **Temporary files** are named ``.<name>.srkit.<pid>.<random>.tmp``. The ones a process has open are
  removed when it ends by SIGTERM or SIGHUP (:func:`install_signal_cleanup`); the ones a killed process
  left behind (SIGKILL, power loss) are removed by :func:`remove_stale_temporaries` at the next start:
  ``srkit upscale`` calls it for its output folders.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any, TypeAlias

__all__ = [
    "NotReplacedError",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "install_signal_cleanup",
    "remove_own_temporaries",
    "remove_stale_temporaries",
    "temporary_name_pattern",
]

#: ``overwrite`` of :func:`atomic_open`: replace anything, never replace, or ask per existing file.
Overwrite: TypeAlias = bool | Callable[[Path], bool]

_TAG = "srkit"
# Longest target name (in bytes) kept whole inside a temporary name: the name limit of common file
# systems is 255 bytes and ".", ".srkit.<pid>.<8 random>.tmp" take up to 32 more.
_NAME_BYTES = 200
_TEMP = re.compile(r"^\..*\.srkit\.(?P<pid>[0-9]{1,10})\.[a-z0-9_]{8}\.tmp$", re.DOTALL)
# errno values of a hard link the file system does not support.
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS, errno.EXDEV}

# Temporary files (and reservations) this process has open: path -> pid that created it (a forked child
# inherits the set but must not remove its parent's files).
_LIVE: dict[str, int] = {}


class NotReplacedError(FileExistsError):
    """The destination existed at the moment of the rename and was kept (``overwrite`` False or
    refused); the new content is discarded."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(errno.EEXIST, "exists; not replaced", str(path))


def temporary_name_pattern() -> re.Pattern[str]:
    """The regular expression of the temporary file names :func:`atomic_open` creates (group ``pid``)."""
    return _TEMP


def _temp_prefix(name: str) -> str:
    while len(os.fsencode(name)) > _NAME_BYTES:
        name = name[: len(name) - max(1, (len(os.fsencode(name)) - _NAME_BYTES) // 4)]
    return f".{name}.{_TAG}.{os.getpid()}."


@contextlib.contextmanager
def atomic_open(
    path: str | Path, mode: str = "w", *, overwrite: Overwrite = True, **kwargs: Any
) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on clean exit it is renamed to ``path`` (see the module
    docstring for ``overwrite``), on error it is removed.

    Raises:
        NotReplacedError: ``path`` existed at the rename and ``overwrite`` kept it.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open supports modes 'w' and 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    _LIVE[tmp] = os.getpid()
    try:
        os.chmod(tmp, _target_mode(path))
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _commit(tmp, path, overwrite)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        _LIVE.pop(tmp, None)


def _commit(tmp: str, path: Path, overwrite: Overwrite) -> None:
    """Rename the finished ``tmp`` to ``path`` as ``overwrite`` says."""
    if overwrite is True:
        os.replace(tmp, path)
        return
    try:
        _rename_no_replace(tmp, path)
    except FileExistsError:
        if overwrite is False or not overwrite(path):
            raise NotReplacedError(path) from None
        os.replace(tmp, path)


def _rename_no_replace(tmp: str, path: Path) -> None:
    """Move ``tmp`` to ``path`` unless something (a file, a folder, a dangling symlink) is there:
    ``FileExistsError`` then, atomically."""
    try:
        os.link(tmp, path)
    except OSError as exc:
        if isinstance(exc, FileExistsError) or exc.errno not in _NO_LINKS:
            raise
    else:
        os.unlink(tmp)
        return
    # No hard links here: reserve the name exclusively, then replace the (empty) reservation.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    _LIVE[str(path)] = os.getpid()
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise
    finally:
        _LIVE.pop(str(path), None)


def _target_mode(path: Path) -> int:
    """The permission bits of the regular file at ``path`` (not of a symlink's target), else those a
    plain ``open()`` would give (0o666 minus the umask); never setuid, setgid or sticky."""
    with contextlib.suppress(OSError):
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            return st.st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: str | Path, text: str, *, overwrite: Overwrite = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_open(path, "w", overwrite=overwrite, encoding="utf-8", newline="") as handle:
        handle.write(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes, *, overwrite: Overwrite = True) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb", overwrite=overwrite) as handle:
        handle.write(data)
    return Path(path)


# --------------------------------------------------------------------------------------------------
# Cleaning up: on signals, and what killed processes left behind
# --------------------------------------------------------------------------------------------------


def remove_own_temporaries() -> int:
    """Remove the temporary files this process has open (as a signal handler does); returns how many."""
    pid = os.getpid()
    removed = 0
    for tmp, owner in tuple(_LIVE.items()):  # tuple(): a snapshot, safe against other threads
        if owner == pid:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
                removed += 1
    return removed


def _on_signal(signum: int, frame: FrameType | None) -> None:
    remove_own_temporaries()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # end as the signal would have: exit status 128 + signum


def install_signal_cleanup() -> None:
    """On SIGTERM and SIGHUP, remove this process's temporary files, then end by the signal (exit
    status 128 + its number). Signals whose handler is not the default (ignored under ``nohup``, or set
    by the program) are left alone; SIGINT needs nothing (KeyboardInterrupt unwinds through
    :func:`atomic_open`, which removes its file). Does nothing outside the main thread."""
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        with contextlib.suppress(ValueError, OSError):  # ValueError: not the main thread
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, _on_signal)


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), from ``/proc``; ``None`` when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


_STARTED = _process_start(os.getpid()) or time.time()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary files of :func:`atomic_open` in ``folder`` (not below it) that a process
    which is gone left behind: named by srkit's pattern, regular files of this user, last modified
    before this process started, and whose pid is not running (or now belongs to a process that started
    after the file was written). Returns the removed paths; an unreadable folder removes nothing.

    The check is by pid, so do not share one output folder between machines that run srkit at once.
    """
    removed: list[Path] = []
    own = os.getpid()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match is None or int(match["pid"]) == own:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mtime >= _STARTED:
            continue
        pid = int(match["pid"])
        if _alive(pid):
            started = _process_start(pid)
            if started is None or started <= st.st_mtime + 1.0:  # 1 s: the start time's rounding
                continue  # the writer may still be at work
        with contextlib.suppress(OSError):
            os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed
