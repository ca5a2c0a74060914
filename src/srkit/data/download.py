"""Verified downloads and safe archive extraction.

``download_file`` streams a URL (``http``, ``https`` or ``file``) into a temporary file beside the
destination, checks its SHA-256 (and size, when known) and only then moves it into place with an atomic
``os.replace``: a destination path either does not exist or holds a complete, verified file.

``extract_archive`` unpacks zip and tar (plain, gzip, bzip2, xz) archives. Every member name is checked
before anything is written; a member that would land outside the destination (absolute path, ``..``,
a drive letter, or a pre-existing symlink inside the destination) makes the whole extraction fail with
:class:`~srkit.errors.DatasetError`. Links, devices and other special members are skipped: only regular
files and folders are ever created.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath

from srkit.errors import DatasetError

__all__ = ["download_file", "extract_archive", "sha256_file"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_USER_AGENT = "srkit/0.1 (+https://pypi.org/project/srkit/)"
# Seconds to wait before retry number n (n * _RETRY_DELAY); tests set it to 0.
_RETRY_DELAY = 1.0


def sha256_file(path: str | Path) -> str:
    """The hex SHA-256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_transient(err: BaseException) -> bool:
    """Whether a failed attempt is worth repeating (network hiccups and server errors, not 4xx)."""
    import http.client
    import urllib.error

    if isinstance(err, urllib.error.HTTPError):
        return err.code >= 500 or err.code in (408, 429)
    return isinstance(err, (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException))


def _describe(err: BaseException) -> str:
    """A short one-line description of a download failure."""
    import urllib.error

    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return f"{type(err).__name__}: {err}".strip().rstrip(":")


def _stream_once(url: str, tmp: Path, *, progress: bool, timeout: float, desc: str) -> tuple[int, str]:
    """Write ``url`` into ``tmp`` (truncating it); return (bytes written, sha256 hex)."""
    # network modules and tqdm are imported here to keep ``import srkit.data`` light
    import http.client
    import urllib.request

    from tqdm import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest = hashlib.sha256()
    written = 0
    with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=desc,
            disable=not progress,
            leave=False,
        ) as bar:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    if total is not None and written != total:
        raise http.client.IncompleteRead(b"", total - written)
    return written, digest.hexdigest()


def download_file(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None,
    progress: bool = True,
    timeout: float = 60,
    size: int | None = None,
    attempts: int = 3,
) -> Path:
    """Download ``url`` to ``dest`` atomically and verify it.

    The data are streamed into a temporary file in ``dest``'s folder (a tqdm bar on stderr unless
    ``progress`` is false), hashed on the way, checked against ``sha256`` (hex, case-insensitive) and
    ``size`` (bytes) when given, and then moved onto ``dest`` with :func:`os.replace`. With
    ``sha256=None`` the file is accepted unverified and a warning saying so is logged. Network errors and
    HTTP 5xx responses are retried up to ``attempts`` times in total; nothing is resumed.

    Raises:
        DatasetError: the download failed, or the digest or size did not match; the message names the
            file, the expected and the actual value. No partial or temporary file is left behind.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    expected = sha256.lower() if sha256 else None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        for attempt in range(1, max(1, attempts) + 1):
            try:
                written, actual = _stream_once(url, tmp, progress=progress, timeout=timeout, desc=dest.name)
                break
            except Exception as err:
                if attempt >= attempts or not _is_transient(err):
                    raise DatasetError(f"{dest.name}: download from {url} failed: {_describe(err)}") from err
                logger.warning("%s: attempt %d failed (%s); retrying", url, attempt, _describe(err))
                time.sleep(_RETRY_DELAY * attempt)
        if size is not None and written != size:
            raise DatasetError(
                f"{dest.name}: size mismatch for {url}: expected {size} bytes, got {written}; file discarded"
            )
        if expected is None:
            logger.warning(
                "%s: no published SHA-256 is known for %s; the file is UNVERIFIED (sha256 %s)",
                dest.name,
                url,
                actual,
            )
        elif actual != expected:
            raise DatasetError(
                f"{dest.name}: sha256 mismatch for {url}: expected {expected}, got {actual}; file discarded"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


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


def _copy_member(source, target: Path) -> None:
    """Write a member's byte stream to ``target`` (parent folders created)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)


def extract_archive(archive: str | Path, dest: str | Path, *, members: str | None = None) -> Path:
    """Extract a zip or tar (optionally gzip/bzip2/xz compressed) archive into ``dest``.

    ``members``, when given, is a ``/``-separated name prefix: only members whose name starts with it are
    written (every member's path is still checked). Returns ``dest``.

    Raises:
        DatasetError: the file is missing or not a supported archive, it is corrupt, or a member would be
            written outside ``dest`` (checked for all members before anything is written).
    """
    import tarfile
    import zipfile

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
        elif tarfile.is_tarfile(archive):
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
        else:
            raise DatasetError(f"{archive}: not a zip or tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
        raise DatasetError(f"{archive}: cannot extract: {type(err).__name__}: {err}") from err
    return dest
