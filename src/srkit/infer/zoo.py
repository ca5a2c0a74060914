"""Pulling published weights (:mod:`srkit.catalogue`): download, verify, convert once, then offline.

:func:`pull` is what ``srkit models pull NAME`` runs, and what ``--model NAME`` runs the first time a
catalogue name is used (``srkit upscale``, ``srkit eval``, :func:`srkit.load_model`):

1. the converted file ``<cache>/zoo/NAME/NAME.safetensors`` exists: return it (no network at all);
2. the published file ``<cache>/zoo/NAME/<file>`` exists (pulled before, or put there by hand): check
   it against the catalogue's sha256 (or hash prefix) and size;
3. else download it from :func:`srkit.catalogue.source_url` (``$SRKIT_ZOO_URL`` overrides the host)
   into a temporary file in ``<cache>/zoo`` with a progress bar, hashing on the way, and give it its
   final name (an atomic rename) only once its size and hash match. A failed or refused download leaves
   nothing behind: no partial file, no temporary file, no folder it created;
4. convert it with srkit's checkpoint conversion (:func:`srkit.archs.loading.read_any_checkpoint`, the
   same as ``srkit convert``), asking for the entry's scale, and write the srkit weight file atomically
   (:func:`srkit.archs.save_weights`) with the provenance (URL, sha256, layout) in its metadata.

Entries without a trustworthy hash are refused unless ``allow_unverified``; entries whose licence does
not grant commercial use get a one-line notice. Every failure is one line (:class:`SrkitError`) naming
what to do: the URL and the cache path where the file may be put by hand.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from srkit.catalogue import PUBLISHED, PublishedModel, find_published, source_url, zoo_dir
from srkit.errors import ConfigError, SrkitError
from srkit.io.download import download_verified, hash_problem, sha256_file

__all__ = ["pull", "resolve_published"]

#: Download attempts for network errors and HTTP 5xx (nothing is resumed).
_ATTEMPTS = 2
#: Seconds before retry number n (n * _RETRY_DELAY); tests set it to 0.
_RETRY_DELAY = 1.0
_TIMEOUT = 60.0

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def resolve_published(name: str) -> PublishedModel:
    """The catalogue entry ``name``; a one-line ConfigError listing the catalogue when there is none."""
    entry = find_published(name)
    if entry is None:
        raise ConfigError(
            f"model: no published model {name!r} (`srkit models` lists them: {', '.join(PUBLISHED)})"
        )
    return entry


def _by_hand(entry: PublishedModel, url: str) -> str:
    return f"download {url} by hand and put it at {entry.download_path}"


def _unverified_refusal(entry: PublishedModel) -> SrkitError:
    return SrkitError(
        f"model {entry.name}: no trustworthy sha256 is known for {entry.url} ({entry.hash_source}); "
        f"refusing an unverified file: pass --allow-unverified (`srkit models pull {entry.name} "
        "--allow-unverified`) to take it anyway"
    )


def _download(entry: PublishedModel, url: str, *, progress: bool, log: Log) -> str:
    """Download ``entry`` to its :attr:`~PublishedModel.download_path` (verified first); its sha256."""
    log(f"{entry.name}: downloading {url}")
    return download_verified(
        url,
        entry.download_path,
        entry,
        label=f"model {entry.name}",
        what="file",
        by_hand=_by_hand(entry, url),
        progress=progress,
        tmp_dir=zoo_dir(),
        attempts=_ATTEMPTS,
        retry_delay=_RETRY_DELAY,
        timeout=_TIMEOUT,
    )


def _check_placed(entry: PublishedModel) -> str:
    """The sha256 of the file already at ``entry.download_path``, checked against the catalogue."""
    path = entry.download_path
    digest = sha256_file(path)
    problem = hash_problem(entry, digest, path.stat().st_size)
    if problem is not None:
        raise SrkitError(
            f"model {entry.name}: {path} is not the published file ({problem}); delete it and pull again, "
            f"or {_by_hand(entry, entry.url)}"
        )
    return digest


def _convert(entry: PublishedModel, digest: str, url: str) -> Path:
    """Convert the published file to ``entry.weights_path`` (written atomically)."""
    # torch and the converters: only when a model is converted
    from srkit.archs import net_info, save_weights
    from srkit.archs.loading import read_any_checkpoint

    raw = entry.download_path
    conversion = read_any_checkpoint(raw, scale=entry.scale)
    if conversion.arch != entry.family:
        raise SrkitError(
            f"model {entry.name}: {raw} converts to {conversion.arch}, but the catalogue says {entry.family}"
        )
    model = conversion.build(raw)
    scale = net_info(model).scale
    if scale != entry.scale:
        raise SrkitError(
            f"model {entry.name}: {raw} upscales by x{scale}, but the catalogue says x{entry.scale}"
        )
    extra = {
        "source": raw.name,
        "source_format": conversion.source_format,
        "zoo_name": entry.name,
        "url": url,
        "sha256": digest,
        "verification": entry.verification,
        "licence": entry.licence,
    }
    return save_weights(entry.weights_path, model, extra=extra)


def pull(
    name: str,
    *,
    download: bool = True,
    allow_unverified: bool = False,
    progress: bool | None = None,
    log: Log = _stderr,
) -> Path:
    """The srkit weight file of the catalogue model ``name``, downloaded, verified and converted once.

    Args:
        name: a key of :data:`srkit.catalogue.PUBLISHED`.
        download: fetch the file when it is not in the cache (``--no-download``: False).
        allow_unverified: accept a file for which the catalogue knows no trustworthy hash.
        progress: show a download progress bar (default: when stderr is a terminal).
        log: where the one-line notes go (licence, what is downloaded and converted).

    Raises:
        SrkitError: one line: an unknown name, a refused unverified entry, ``download`` false or a
            manual entry with nothing in the cache, a network failure, a file that is not the published
            one (naming both hashes), or a file srkit cannot convert.
    """
    entry = resolve_published(name)
    if entry.weights_path.is_file():
        return entry.weights_path
    url = source_url(entry)
    if entry.verification == "none" and not allow_unverified:
        raise _unverified_refusal(entry)
    notice = entry.licence_notice
    if notice is not None:
        log(notice)
    if entry.download_path.is_file():
        digest = _check_placed(entry)
    elif not download:
        raise SrkitError(
            f"model {entry.name}: not in the cache and downloading is off (--no-download); "
            f"{_by_hand(entry, url)}"
        )
    elif entry.manual and url == entry.url:
        raise SrkitError(
            f"model {entry.name}: {url} is a page srkit cannot download from (Google Drive); "
            f"download {entry.file} there by hand and put it at {entry.download_path}"
        )
    else:
        digest = _download(
            entry, url, progress=sys.stderr.isatty() if progress is None else progress, log=log
        )
    if entry.verification == "none":
        log(f"{entry.name}: UNVERIFIED (no published sha256); took sha256 {digest}")
    else:
        log(f"{entry.name}: verified {entry.verification} of {entry.download_path.name}")
    weights = _convert(entry, digest, url)
    log(f"{entry.name}: converted to {weights}")
    return weights
