"""Verified downloads: ``download_file`` streams a URL (``http``, ``https`` or ``file``) into a temporary
file beside the destination, checks its SHA-256 (and size, when known) and only then moves it into place
with an atomic ``os.replace``: a destination path either does not exist or holds a complete, verified
file. Used for benchmark archives (:mod:`srkit.data.download`) and pretrained weights
(:mod:`srkit.archs.vgg`).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from srkit.errors import DatasetError, SrkitError, one_line

__all__ = [
    "CHUNK_SIZE",
    "PublishedHash",
    "describe_error",
    "download_file",
    "download_verified",
    "hash_problem",
    "is_transient",
    "missing_dirs",
    "sha256_file",
    "stream_to",
]

logger = logging.getLogger(__name__)

#: Bytes read or written at a time.
CHUNK_SIZE = 1 << 20
_USER_AGENT = "srkit/0.1 (+https://pypi.org/project/srkit/)"
# Seconds to wait before retry number n (n * _RETRY_DELAY); tests set it to 0.
_RETRY_DELAY = 1.0


class PublishedHash(Protocol):
    """What a catalogue entry publishes about its file: its size and full SHA-256, or only the 8 hex
    digits of a torch.hub file name (any of them may be unknown)."""

    @property
    def size(self) -> int | None: ...

    @property
    def sha256(self) -> str | None: ...

    @property
    def sha256_prefix(self) -> str | None: ...


def hash_problem(entry: PublishedHash, digest: str, size: int) -> str | None:
    """Why a file with this sha256 ``digest`` and ``size`` is not ``entry``'s published file, or None."""
    if entry.size is not None and size != entry.size:
        return f"size {size} bytes, expected {entry.size}"
    if entry.sha256 is not None and digest != entry.sha256:
        return f"sha256 {digest}, expected {entry.sha256}"
    if (
        entry.sha256 is None
        and entry.sha256_prefix is not None
        and not digest.startswith(entry.sha256_prefix)
    ):
        return f"sha256 {digest} does not start with the published prefix {entry.sha256_prefix}"
    return None


def missing_dirs(path: Path) -> list[Path]:
    """The folders of ``path`` (itself included) that do not exist yet, innermost first: what a failed
    download removes again so that it leaves nothing behind."""
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    return missing


def sha256_file(path: str | Path) -> str:
    """The hex SHA-256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_transient(err: BaseException) -> bool:
    """Whether a failed attempt is worth repeating (network hiccups and server errors, not 4xx)."""
    if isinstance(err, urllib.error.HTTPError):
        return err.code >= 500 or err.code in (408, 429)
    return isinstance(err, (urllib.error.URLError, ConnectionError, TimeoutError, http.client.HTTPException))


def describe_error(err: BaseException) -> str:
    """A short one-line description of a download failure."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return one_line(err.reason) if isinstance(err.reason, BaseException) else str(err.reason)
    return f"{type(err).__name__}: {err}".strip().rstrip(":")


def stream_to(url: str, tmp: Path, *, progress: bool, timeout: float, desc: str) -> tuple[int, str]:
    """Write ``url`` into ``tmp`` (truncating it); return (bytes written, sha256 hex)."""
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
                chunk = response.read(CHUNK_SIZE)
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
                written, actual = stream_to(url, tmp, progress=progress, timeout=timeout, desc=dest.name)
                break
            except Exception as err:
                if attempt >= attempts or not is_transient(err):
                    raise DatasetError(
                        f"{dest.name}: download from {url} failed: {describe_error(err)}"
                    ) from err
                logger.warning("%s: attempt %d failed (%s); retrying", url, attempt, describe_error(err))
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


def download_verified(
    url: str,
    final: Path,
    expected: PublishedHash,
    *,
    label: str,
    what: str,
    by_hand: str,
    progress: bool,
    tmp_dir: Path | None = None,
    attempts: int = 2,
    retry_delay: float = 1.0,
    timeout: float = 60.0,
) -> str:
    """Download ``url`` to ``final`` (the model zoo's and ``srkit fetch-weights``' one way): into a
    temporary file in ``tmp_dir`` (default ``final``'s folder), hashing on the way, retrying transient
    network errors (``attempts``, ``retry_delay * n`` seconds before retry ``n``), and renamed to ``final``
    only once its size and SHA-256 match ``expected``; a failure leaves nothing behind (no partial or
    temporary file, no folder it created). Returns the SHA-256.

    Raises:
        SrkitError: one line starting with ``label``: the network failure (then ``by_hand``), a file
            that is not the published ``what``, or a file that cannot be written.
    """
    created = missing_dirs(final.parent)
    ok = False
    tmp: Path | None = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=tmp_dir or final.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        for attempt in range(1, attempts + 1):
            try:
                size, digest = stream_to(url, tmp, progress=progress, timeout=timeout, desc=final.name)
                break
            except Exception as err:
                if attempt >= attempts or not is_transient(err):
                    raise SrkitError(
                        f"{label}: cannot download {url} ({describe_error(err)}); {by_hand}"
                    ) from err
                time.sleep(retry_delay * attempt)
        problem = hash_problem(expected, digest, size)
        if problem is not None:
            raise SrkitError(
                f"{label}: the download from {url} is not the published {what} ({problem}); it was discarded "
                "and nothing was kept"
            )
        os.replace(tmp, final)
        ok = True
        return digest
    except OSError as err:
        raise SrkitError(f"{label}: cannot write {final} ({describe_error(err)})") from err
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if not ok:
            for folder in created:  # innermost first: only the folders this download made
                with contextlib.suppress(OSError):
                    folder.rmdir()
