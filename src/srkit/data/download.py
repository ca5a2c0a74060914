"""Safe archive extraction, and (re-exported from :mod:`srkit.io.download`) verified downloads.

``download_file`` streams a URL into a temporary file beside the destination, checks its SHA-256 and only
then moves it into place (see :mod:`srkit.io.download`).

``extract_archive`` unpacks zip and tar (plain, gzip, bzip2, xz) archives. Every member name is checked
before anything is written; a member that would land outside the destination (absolute path, ``..``,
a drive letter, or a pre-existing symlink inside the destination) makes the whole extraction fail with
:class:`~srkit.errors.DatasetError`. Links, devices and other special members are skipped: only regular
files and folders are ever created.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO

from srkit.errors import DatasetError
from srkit.io.download import CHUNK_SIZE, download_file, sha256_file

__all__ = ["download_file", "extract_archive", "sha256_file"]

logger = logging.getLogger(__name__)


def _normalise(name: str) -> str:
    """A member name with ``\\`` as ``/`` and empty or ``.`` components dropped (``./a//b/`` -> ``a/b``)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts) + ("/" if name.endswith(("/", "\\")) and parts else "")


def _member_target(dest_resolved: Path, name: str, archive: Path) -> Path | None:
    """The resolved path a member called ``name`` would be written to, or None for an empty name.

    Raises DatasetError when the member would escape ``dest_resolved``.
    """
    clean = name.replace("\\", "/")
    parts = [p for p in PurePosixPath(clean).parts if p not in ("", ".")]
    escapes = (
        clean.startswith("/") or ".." in parts or (len(clean) > 1 and clean[1] == ":")  # C:/... on Windows
    )
    if not parts and not escapes:
        return None
    target = dest_resolved.joinpath(*[p for p in parts if p != "/"]).resolve()
    if escapes or not target.is_relative_to(dest_resolved):
        raise DatasetError(
            f"{archive}: member {name!r} would be written outside {dest_resolved}; refusing to extract"
        )
    return target


def _copy_member(source: IO[bytes], target: Path) -> None:
    """Write a member's byte stream to ``target`` (parent folders created)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, CHUNK_SIZE)


def extract_archive(archive: str | Path, dest: str | Path, *, members: str | None = None) -> Path:
    """Extract a zip or tar (optionally gzip/bzip2/xz compressed) archive into ``dest``.

    ``members``, when given, is a ``/``-separated name prefix: only members whose name starts with it are
    written (every member's path is still checked). Returns ``dest``.

    Raises:
        DatasetError: the file is missing or not a supported archive, it is corrupt, or a member would be
            written outside ``dest`` (checked for all members before anything is written).
    """
    archive = Path(archive)
    dest = Path(dest)
    if not archive.is_file():
        raise DatasetError(f"{archive}: no such archive")
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()

    prefix = _normalise(members) if members else ""

    def wanted(name: str) -> bool:
        return not prefix or _normalise(name).startswith(prefix)

    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, root, wanted)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, root, wanted)
        else:
            raise DatasetError(f"{archive}: not a zip or tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise DatasetError(f"{archive}: cannot extract: {type(err).__name__}: {err}") from err
    return dest


def _extract_zip(archive: Path, root: Path, wanted: Callable[[str], bool]) -> None:
    with zipfile.ZipFile(archive) as zf:
        plan = [(info, _member_target(root, info.filename, archive)) for info in zf.infolist()]
        for info, target in plan:
            if target is None or not wanted(info.filename):
                continue
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                with zf.open(info) as source:
                    _copy_member(source, target)


def _extract_tar(archive: Path, root: Path, wanted: Callable[[str], bool]) -> None:
    with tarfile.open(archive, "r:*") as tf:
        plan = [(m, _member_target(root, m.name, archive)) for m in tf.getmembers()]
        for member, target in plan:
            if target is None or not wanted(member.name):
                continue
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                source = tf.extractfile(member)
                if source is not None:
                    with source:
                        _copy_member(source, target)
            else:
                logger.info("%s: skipping special member %r", archive, member.name)
