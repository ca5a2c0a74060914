"""The optional third-party weight files some recipes and metrics need, and ``srkit fetch-weights``.

:data:`FILES` lists each file as its authors publish it (URL, SHA-256, size, licence) with its place in
the srkit cache (:func:`srkit.settings.cache_dir`), which is where the loaders look by default:

- ``weights/vgg19-dcbb9e9d.pth``: torchvision's VGG19 (the perceptual loss of ESRGAN-style recipes,
  :mod:`srkit.archs.vgg`);
- ``weights/vgg16-397923af.pth`` and ``weights/alexnet-owt-7be5be79.pth``: torchvision's VGG16 and
  AlexNet, the LPIPS backbones (:mod:`srkit.metrics.lpips`);
- ``lpips/v0.1/vgg.pth`` and ``lpips/v0.1/alex.pth``: the LPIPS v0.1 linear layers of the authors'
  repository (richzhang/PerceptualSimilarity, pinned to a commit);
- ``weights/pt_inception-2015-12-05-6726825d.pth``: pytorch-fid's port of the FID Inception-v3
  (:mod:`srkit.metrics.inception`).

:data:`BUNDLES` names what one command fetches (``srkit fetch-weights vgg19 lpips-alex inception-fid``):
``lpips-alex`` is the linear layers and their backbone. :func:`fetch` downloads each missing file into a
temporary file beside its place in the cache, hashing on the way, and gives it its final name (an atomic
rename) only once its size and SHA-256 match; a failed or refused download leaves nothing behind (no
partial file, no temporary file, no folder it created). A file already in the cache is checked against
the catalogue and kept: a second fetch makes no request. ``$SRKIT_WEIGHTS_URL`` replaces every URL by
``$SRKIT_WEIGHTS_URL/<path in the cache>`` (a mirror laid out as the cache is, or a local test server).

Hashes. Neither torchvision nor the LPIPS and pytorch-fid authors publish full SHA-256 digests: the 8 hex
digits in a torchvision (torch.hub) file name are the start of the file's SHA-256, which torch.hub
checks. The full digests and sizes here are those several independent public projects record for files
downloaded from exactly these URLs (each :attr:`WeightFile.hash_source` says so); for the torchvision and
pytorch-fid files their first 8 digits match the file name. An entry without any hash would be refused
unless ``allow_unverified`` (``--allow-unverified``); none is, today.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from srkit.errors import ConfigError, SrkitError
from srkit.io.download import download_verified, hash_problem, sha256_file
from srkit.settings import cache_dir

__all__ = [
    "BUNDLES",
    "FILES",
    "LPIPS_LIN_URL",
    "WEIGHTS_URL_ENV",
    "WeightFile",
    "bundle_files",
    "bundle_of",
    "fetch",
    "fetch_hint",
    "source_url",
]

#: Environment variable whose value replaces the catalogue's URLs: ``<value>/<entry.path>``.
WEIGHTS_URL_ENV = "SRKIT_WEIGHTS_URL"
#: Download attempts for network errors and HTTP 5xx (nothing is resumed).
_ATTEMPTS = 2
#: Seconds before retry number n (n * _RETRY_DELAY); tests set it to 0.
_RETRY_DELAY = 1.0
_TIMEOUT = 60.0

Log = Callable[[str], None]


@dataclass(frozen=True)
class WeightFile:
    """One published weight file.

    Attributes:
        key: the catalogue key (:data:`FILES`).
        path: where it lives in the cache, relative to :func:`~srkit.settings.cache_dir` (``/``-separated;
            the last part is the file name).
        url: the authors' download URL.
        what: what it is, for messages.
        sha256: full SHA-256 of the published file, or ``None`` when no source records one.
        sha256_prefix: the 8 hex digits a torch.hub file name carries, or ``None``.
        size: size in bytes, where known (checked).
        hash_source: where the hash and size come from.
        licence: the licence of the weights.
    """

    key: str
    path: str
    url: str
    what: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    size: int | None = None
    hash_source: str = ""
    licence: str = ""

    @property
    def file(self) -> str:
        """The file's name."""
        return PurePosixPath(self.path).name

    @property
    def cache_path(self) -> Path:
        """Where it is in the cache (and where a user may put it by hand)."""
        return cache_dir().joinpath(*PurePosixPath(self.path).parts)

    @property
    def verification(self) -> str:
        """``'sha256'`` (full hash), ``'prefix'`` (8-digit hash prefix) or ``'none'``."""
        if self.sha256:
            return "sha256"
        return "prefix" if self.sha256_prefix else "none"


_TORCHVISION = "https://download.pytorch.org/models/"
_LPIPS_COMMIT = "082bb24f84c091ea94de2867d34c4544f68e0963"
#: The LPIPS v0.1 linear layers of ``net`` (``alex``, ``vgg``, ``squeeze``) in the authors' repository at a
#: pinned commit (the one several projects pin for the files of the lpips 0.1.4 package), not ``master``.
LPIPS_LIN_URL = (
    f"https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/{_LPIPS_COMMIT}/lpips/weights/v0.1/"
    "{net}.pth"
)
_RECORDED = (
    "sha256 and size as several independent public projects record them for this URL (torchvision "
    "publishes only the 8-digit prefix in the file name, which they match)"
)
_LPIPS_RECORDED = (
    f"sha256 and size as several independent public projects record them for this file at commit "
    f"{_LPIPS_COMMIT[:12]} (also shipped in the lpips package 0.1.4); the authors publish no hash"
)


def _torchvision(key: str, file: str, what: str, sha256: str, size: int) -> WeightFile:
    return WeightFile(
        key=key,
        path=f"weights/{file}",
        url=_TORCHVISION + file,
        what=what,
        sha256=sha256,
        sha256_prefix=file.rsplit("-", 1)[1].split(".")[0],
        size=size,
        hash_source=_RECORDED,
        licence="BSD-3-Clause (torchvision)",
    )


def _lpips(net: str, sha256: str, size: int) -> WeightFile:
    return WeightFile(
        key=f"lpips-{net}-lin",
        path=f"lpips/v0.1/{net}.pth",
        url=LPIPS_LIN_URL.format(net=net),
        what=f"LPIPS v0.1 {net} linear layers",
        sha256=sha256,
        size=size,
        hash_source=_LPIPS_RECORDED,
        licence="BSD-2-Clause (PerceptualSimilarity)",
    )


#: Catalogue key -> file.
FILES: dict[str, WeightFile] = {
    entry.key: entry
    for entry in (
        _torchvision(
            "vgg19",
            "vgg19-dcbb9e9d.pth",
            "VGG19 ImageNet weights",
            "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
            574_673_361,
        ),
        _torchvision(
            "vgg16",
            "vgg16-397923af.pth",
            "VGG16 ImageNet weights",
            "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
            553_433_881,
        ),
        _torchvision(
            "alexnet",
            "alexnet-owt-7be5be79.pth",
            "AlexNet ImageNet weights",
            "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
            244_408_911,
        ),
        _lpips("alex", "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", 6_009),
        _lpips("vgg", "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", 7_289),
        WeightFile(
            key="inception-fid",
            path="weights/pt_inception-2015-12-05-6726825d.pth",
            url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            "pt_inception-2015-12-05-6726825d.pth",
            what="FID Inception-v3 weights (pytorch-fid)",
            sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
            sha256_prefix="6726825d",
            size=95_628_359,
            hash_source=_RECORDED.replace("torchvision", "pytorch-fid"),
            licence="Apache-2.0 (pytorch-fid)",
        ),
    )
}

#: ``srkit fetch-weights NAME`` -> the catalogue keys it fetches.
BUNDLES: dict[str, tuple[str, ...]] = {
    "vgg19": ("vgg19",),
    "vgg16": ("vgg16",),
    "lpips-alex": ("lpips-alex-lin", "alexnet"),
    "lpips-vgg": ("lpips-vgg-lin", "vgg16"),
    "inception-fid": ("inception-fid",),
}


def bundle_files(name: str) -> list[WeightFile]:
    """The files of the bundle ``name``; a one-line ConfigError listing the known names when unknown."""
    keys = BUNDLES.get(str(name).strip().lower())
    if keys is None:
        raise ConfigError(f"fetch-weights: unknown name {name!r}; known names: {', '.join(BUNDLES)}")
    return [FILES[key] for key in keys]


def bundle_of(file: str) -> str | None:
    """The first bundle that fetches the file named ``file`` (e.g. ``'vgg19-dcbb9e9d.pth'``), or ``None``."""
    for name, keys in BUNDLES.items():
        if any(FILES[key].file == file for key in keys):
            return name
    return None


def fetch_hint(file: str) -> str:
    """``"`srkit fetch-weights NAME` downloads and verifies it into the cache"`` for a file of a bundle
    (the part of a loader's "not found" message that says how to get it), else ``""``."""
    name = bundle_of(file)
    return f"`srkit fetch-weights {name}` downloads and verifies it into the cache" if name else ""


def source_url(entry: WeightFile) -> str:
    """Where ``entry`` is downloaded from: ``$SRKIT_WEIGHTS_URL/<entry.path>`` when set, else its URL."""
    base = os.environ.get(WEIGHTS_URL_ENV, "").strip()
    return f"{base.rstrip('/')}/{entry.path}" if base else entry.url


# --------------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------------


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _check_cached(entry: WeightFile, name: str) -> str:
    """The sha256 of the file already at ``entry.cache_path``, checked against the catalogue."""
    path = entry.cache_path
    digest = sha256_file(path)
    problem = hash_problem(entry, digest, path.stat().st_size)
    if problem is not None:
        raise SrkitError(
            f"fetch-weights {name}: {path} is not the published {entry.file} ({problem}); delete it and "
            f"fetch again, or download {entry.url} by hand to that path"
        )
    return digest


def _download(entry: WeightFile, name: str, *, progress: bool, log: Log) -> str:
    """Download ``entry`` to its :attr:`~WeightFile.cache_path`, verified first; its sha256."""
    url = source_url(entry)
    log(f"{name}: downloading {url}")
    return download_verified(
        url,
        entry.cache_path,
        entry,
        label=f"fetch-weights {name}",
        what=entry.file,
        by_hand=f"download it by hand to {entry.cache_path}",
        progress=progress,
        attempts=_ATTEMPTS,
        retry_delay=_RETRY_DELAY,
        timeout=_TIMEOUT,
    )


def _fetch_file(entry: WeightFile, name: str, *, allow_unverified: bool, progress: bool, log: Log) -> Path:
    """``entry`` in the cache: checked when it is there, else downloaded and verified."""
    path = entry.cache_path
    if entry.verification == "none" and not allow_unverified:
        raise SrkitError(
            f"fetch-weights {name}: no trustworthy sha256 is known for {entry.url} ({entry.hash_source}); "
            "refusing an unverified file: pass --allow-unverified to take it anyway"
        )
    if path.is_file():
        _check_cached(entry, name)
        log(f"{name}: {path} is already in the cache ({entry.verification} verified)")
        return path
    digest = _download(entry, name, progress=progress, log=log)
    if entry.verification == "none":
        log(f"{name}: {entry.file} is UNVERIFIED (no published sha256); took sha256 {digest}")
    else:
        log(f"{name}: verified the {entry.verification} of {entry.file}; wrote {path}")
    return path


def fetch(
    names: list[str] | tuple[str, ...],
    *,
    allow_unverified: bool = False,
    progress: bool | None = None,
    log: Log = _stderr,
) -> list[Path]:
    """The cache paths of every file of the bundles ``names``, downloaded and verified when missing.

    Args:
        names: keys of :data:`BUNDLES` (all are checked before anything is downloaded).
        allow_unverified: accept a file for which the catalogue knows no hash.
        progress: show a download progress bar (default: when stderr is a terminal).
        log: where the one-line notes go (what is downloaded, what was already there).

    Raises:
        ConfigError: an unknown name (the message lists the known ones).
        SrkitError: one line: a network failure (naming the URL and the cache path to put the file at by
            hand), a download or a cached file that is not the published one (naming both hashes), a
            refused unverified entry, or a cache folder that cannot be written.
    """
    bundles = [(name, bundle_files(name)) for name in names]
    show = sys.stderr.isatty() if progress is None else progress
    paths: list[Path] = []
    for name, entries in bundles:
        for entry in entries:
            path = _fetch_file(entry, name, allow_unverified=allow_unverified, progress=show, log=log)
            if path not in paths:
                paths.append(path)
    return paths
