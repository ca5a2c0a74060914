"""``srkit fetch-weights`` (srkit.io.weight_files) end to end without internet, and the loaders finding
what it fetched (and LPIPS finding the linear layers of an installed ``lpips`` package).

A local HTTP server on 127.0.0.1 serves a folder laid out as the cache, holding files generated here
(random-weight state dicts under the published names); ``SRKIT_WEIGHTS_URL`` points the catalogue at it,
and each catalogue entry's sha256 and size are replaced by those of the generated file. The server can
flip a byte of chosen files (a corrupted download) and counts the requests it answers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import sys
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import torch

import srkit.io.weight_files as wf
from local_server import LocalServer
from srkit.archs.vgg import default_weights_path, resolve_weights, weights_url
from srkit.cli import main
from srkit.errors import SrkitError
from srkit.metrics import inception, lpips
from srkit.metrics.lpips import LPIPS, AlexNetFeatures

# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``SRKIT_CACHE`` (not created), no URL override from the environment, instant retries."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SRKIT_CACHE", str(folder))
    monkeypatch.delenv(wf.WEIGHTS_URL_ENV, raising=False)
    monkeypatch.setattr(wf, "_RETRY_DELAY", 0.0)
    return folder


def _lin_state(net: str, seed: int) -> dict[str, torch.Tensor]:
    """Non-negative random linear layers in the published key layout."""
    gen = torch.Generator().manual_seed(seed)
    return {
        f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen)
        for i, c in enumerate(lpips.BACKBONES[net])
    }


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out as the cache with a generated file for vgg19, lpips-alex and inception-fid."""
    root = tmp_path_factory.mktemp("mirror")
    torch.manual_seed(0)
    files: dict[str, Any] = {
        "vgg19": {"features.0.weight": torch.randn(64, 3, 3, 3)},  # a small stand-in: fetched, not loaded
        "inception-fid": {"fc.bias": torch.randn(1008)},
        "lpips-alex-lin": _lin_state("alex", 1),
        "alexnet": AlexNetFeatures().state_dict(),
    }
    for key, state in files.items():
        path = root / wf.FILES[key].path
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
    return root


@pytest.fixture
def catalogue(mirror: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, wf.WeightFile]:
    """The catalogue with each served entry's sha256 and size replaced by the generated file's."""
    for key, entry in wf.FILES.items():
        served = mirror / entry.path
        if served.is_file():
            digest = hashlib.sha256(served.read_bytes()).hexdigest()
            patched = dataclasses.replace(entry, sha256=digest, size=served.stat().st_size)
            monkeypatch.setitem(wf.FILES, key, patched)
    return wf.FILES


@pytest.fixture
def server(
    mirror: Path, catalogue: dict[str, wf.WeightFile], monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalServer]:
    """The local server of :func:`mirror`, with the catalogue pointed at it."""
    srv = LocalServer(mirror)
    monkeypatch.setenv(wf.WEIGHTS_URL_ENV, srv.url)
    try:
        yield srv
    finally:
        srv.stop()


def _files(folder: Path) -> list[str]:
    return (
        sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        if folder.exists()
        else []
    )


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line on stderr (it comes last; notes such as 'downloading URL' may precede it)."""
    lines = capsys.readouterr().err.splitlines()
    errors = [line for line in lines if line.startswith("srkit: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    return errors[0]


# --------------------------------------------------------------------------------------------------
# the catalogue
# --------------------------------------------------------------------------------------------------


def test_catalogue_is_where_the_loaders_look_and_what_they_name() -> None:
    files = wf.FILES
    assert files["vgg19"].cache_path == default_weights_path("vgg19")
    assert (
        files["vgg16"].cache_path
        == default_weights_path("vgg16")
        == lpips.default_backbone_weights_path("vgg")
    )
    assert files["alexnet"].cache_path == lpips.default_backbone_weights_path("alex")
    assert files["lpips-alex-lin"].cache_path == lpips.default_lin_weights_path("alex")
    assert files["lpips-vgg-lin"].cache_path == lpips.default_lin_weights_path("vgg")
    assert files["inception-fid"].cache_path == inception.default_weights_path()
    assert (
        files["vgg19"].url == weights_url("vgg19") == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    )
    assert files["vgg16"].url == weights_url("vgg16")
    assert files["alexnet"].url == lpips.ALEXNET_URL
    assert files["lpips-alex-lin"].url == lpips.LIN_WEIGHTS_URL.format(net="alex")
    assert (
        "/082bb24f84c091ea94de2867d34c4544f68e0963/lpips/weights/v0.1/vgg.pth" in files["lpips-vgg-lin"].url
    )
    fid = files["inception-fid"]
    assert (fid.url, fid.sha256, fid.size) == (
        inception.FID_WEIGHTS_URL,
        inception.FID_WEIGHTS_SHA256,
        inception.FID_WEIGHTS_BYTES,
    )
    for key, entry in files.items():
        assert entry.key == key and entry.url.startswith("https://") and entry.hash_source and entry.licence
        assert entry.verification == "sha256" and len(entry.sha256 or "") == 64 and entry.size
        if entry.sha256_prefix is not None:  # a torch.hub name: <stem>-<prefix>.pth
            assert f"-{entry.sha256_prefix}." in entry.file and (entry.sha256 or "").startswith(
                entry.sha256_prefix
            )
    assert set(wf.BUNDLES) == {"vgg19", "vgg16", "lpips-alex", "lpips-vgg", "inception-fid"}
    assert all(key in files for keys in wf.BUNDLES.values() for key in keys)


def test_missing_files_name_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(SrkitError) as info:
        resolve_weights("vgg19", "default")
    assert "`srkit fetch-weights vgg19` downloads and verifies it into the cache" in str(info.value)
    with pytest.raises(SrkitError) as info:
        LPIPS("alex")
    message = str(info.value)
    assert "`srkit fetch-weights lpips-alex` downloads and verifies them into the cache" in message
    assert "srkit eval --lpips-weights FILE --lpips-backbone FILE" in message and "\n" not in message
    with pytest.raises(SrkitError, match="srkit fetch-weights inception-fid"):
        inception.resolve_weights_path()
    with pytest.raises(SrkitError) as info:  # another path than the cache's: no fetch hint
        inception.resolve_weights_path(tmp_path / "elsewhere.pth")
    assert "fetch-weights" not in str(info.value) and "--inception-weights FILE" in str(info.value)


# --------------------------------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------------------------------


def test_fetch_puts_verified_files_in_the_cache_and_the_loaders_find_them(
    server: LocalServer, mirror: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fetch-weights", "vgg19", "lpips-alex", "inception-fid"]) == 0
    out = capsys.readouterr().out.splitlines()
    keys = ("vgg19", "lpips-alex-lin", "alexnet", "inception-fid")
    assert out == [str(wf.FILES[key].cache_path) for key in keys]
    expected = sorted(wf.FILES[key].path for key in keys)
    assert _files(cache) == expected  # and no temporary file
    for key in keys:
        assert wf.FILES[key].cache_path.read_bytes() == (mirror / wf.FILES[key].path).read_bytes()
    assert sum(server.counts.values()) == 4
    # the loaders find them where they look by default
    metric = LPIPS("alex")
    x = torch.rand(1, 3, 40, 40)
    assert float(metric(x, x)[0]) == 0.0 and float(metric(x, torch.rand(1, 3, 40, 40))[0]) > 0
    assert resolve_weights("vgg19", "default") == wf.FILES["vgg19"].cache_path
    assert inception.resolve_weights_path() == wf.FILES["inception-fid"].cache_path


def test_a_second_fetch_makes_no_request(server: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch-weights", "lpips-alex"]) == 0
    requests = sum(server.counts.values())
    capsys.readouterr()
    server.stop()  # offline from here on
    assert main(["fetch-weights", "lpips-alex"]) == 0
    assert sum(server.counts.values()) == requests == 2
    err = capsys.readouterr().err
    assert "lpips-alex: " in err and "is already in the cache (sha256 verified)" in err


def test_corrupted_download_is_refused_and_leaves_nothing(
    server: LocalServer, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = wf.FILES["alexnet"]
    server.corrupt.add(f"/{entry.path}")
    assert main(["fetch-weights", "lpips-alex"]) == 2
    error = _error_line(capsys)
    assert error.startswith(
        f"srkit: error: fetch-weights lpips-alex: the download from {server.url}/{entry.path}"
    )
    assert f"is not the published {entry.file} (sha256 " in error and f"expected {entry.sha256}" in error
    assert "discarded and nothing was kept" in error
    # the linear layers came first and are kept (verified); nothing of the backbone, no temporary file
    assert _files(cache) == [wf.FILES["lpips-alex-lin"].path]
    assert not entry.cache_path.parent.exists()  # the folder it created is gone too


def test_a_wrong_file_in_the_cache_is_refused_naming_it(
    server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = wf.FILES["vgg19"].cache_path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not the published file")
    assert main(["fetch-weights", "vgg19"]) == 2
    error = _error_line(capsys)
    assert error.startswith(
        f"srkit: error: fetch-weights vgg19: {path} is not the published vgg19-dcbb9e9d.pth"
    )
    assert "delete it and fetch again" in error
    assert sum(server.counts.values()) == 0 and path.read_bytes() == b"not the published file"


def test_unknown_name_lists_the_known_ones_and_fetches_nothing(
    server: LocalServer, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fetch-weights", "vgg19", "lpips-squeeze"]) == 2
    assert _error_line(capsys) == (
        "srkit: error: fetch-weights: unknown name 'lpips-squeeze'; "
        "known names: vgg19, vgg16, lpips-alex, lpips-vgg, inception-fid"
    )
    assert sum(server.counts.values()) == 0 and not cache.exists()


def test_without_network_the_error_names_the_url_and_the_cache_path(
    catalogue: dict[str, wf.WeightFile],
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    dead = f"http://127.0.0.1:{srv.server_address[1]}"  # a port just released: nothing listens
    srv.server_close()
    monkeypatch.setenv(wf.WEIGHTS_URL_ENV, dead)
    assert main(["fetch-weights", "inception-fid"]) == 2
    entry = wf.FILES["inception-fid"]
    error = _error_line(capsys)
    assert error.startswith(
        f"srkit: error: fetch-weights inception-fid: cannot download {dead}/{entry.path} ("
    )
    assert error.endswith(f"); download it by hand to {entry.cache_path}")
    assert not cache.exists()


def test_unverified_entries_need_the_flag_and_prefix_entries_are_checked(
    server: LocalServer, mirror: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = wf.FILES["vgg19"]
    monkeypatch.setitem(
        wf.FILES, "vgg19", dataclasses.replace(entry, sha256=None, sha256_prefix=None, size=None)
    )
    assert main(["fetch-weights", "vgg19"]) == 2
    assert "refusing an unverified file: pass --allow-unverified" in _error_line(capsys)
    assert sum(server.counts.values()) == 0
    assert main(["fetch-weights", "vgg19", "--allow-unverified", "--no-progress"]) == 0
    assert "vgg19-dcbb9e9d.pth is UNVERIFIED (no published sha256); took sha256" in capsys.readouterr().err
    # a prefix-only entry: the prefix is checked
    entry.cache_path.unlink()
    digest = hashlib.sha256((mirror / entry.path).read_bytes()).hexdigest()
    bad = "0" * 8 if not digest.startswith("0" * 8) else "f" * 8
    monkeypatch.setitem(wf.FILES, "vgg19", dataclasses.replace(entry, sha256=None, sha256_prefix=bad))
    assert main(["fetch-weights", "vgg19"]) == 2
    assert f"does not start with the published prefix {bad}" in _error_line(capsys)
    monkeypatch.setitem(wf.FILES, "vgg19", dataclasses.replace(entry, sha256=None, sha256_prefix=digest[:8]))
    assert main(["fetch-weights", "vgg19"]) == 0
    assert "verified the prefix of vgg19-dcbb9e9d.pth" in capsys.readouterr().err


def test_without_names_the_names_are_listed(server: LocalServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch-weights", "vgg19"]) == 0
    capsys.readouterr()
    assert main(["fetch-weights"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(wf.BUNDLES)
    assert f"{wf.FILES['vgg19'].cache_path} (in the cache)" in lines[0]
    assert f"{wf.FILES['alexnet'].cache_path} (missing)" in lines[2]


# --------------------------------------------------------------------------------------------------
# LPIPS and an installed lpips package
# --------------------------------------------------------------------------------------------------


def test_lpips_finds_the_linear_layers_of_an_installed_lpips_without_importing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site-packages"
    package = site / "lpips"
    (package / "weights" / "v0.1").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('importing lpips imports torchvision')\n")
    state = _lin_state("alex", 7)
    torch.save(state, package / "weights" / "v0.1" / "alex.pth")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()

    assert lpips.installed_lin_weights_path("alex") == package / "weights" / "v0.1" / "alex.pth"
    assert lpips.installed_lin_weights_path("vgg") is None
    metric = LPIPS("alex", backbone_weights=None)
    for i, lin in enumerate(metric.lins):
        assert torch.equal(lin.conv.weight, state[f"lin{i}.model.1.weight"])
    assert "lpips" not in sys.modules
    # the cache comes first
    cached = lpips.default_lin_weights_path("alex")
    cached.parent.mkdir(parents=True)
    other = _lin_state("alex", 8)
    torch.save(other, cached)
    metric = LPIPS("alex", backbone_weights=None)
    assert torch.equal(metric.lins[0].conv.weight, other["lin0.model.1.weight"])


def test_no_installed_lpips_is_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert lpips.installed_lin_weights_path("alex") is None

    def broken(name: str) -> None:
        raise ValueError("lpips.__spec__ is None")

    monkeypatch.setattr(importlib.util, "find_spec", broken)
    assert lpips.installed_lin_weights_path("alex") is None
