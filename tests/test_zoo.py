"""The model zoo: the catalogue of published weights (srkit.catalogue) and ``srkit models pull``
(srkit.infer.zoo), end to end without internet.

A local HTTP server on 127.0.0.1 serves ``$SRKIT_SHARED/weights`` (the authors' files, one per family);
``SRKIT_ZOO_URL`` points the catalogue at it, so each entry is fetched from ``<server>/<entry.path>``. The
server can flip bytes of chosen files (a corrupted download) and counts the requests it answers.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

import srkit.infer.zoo as zoo
from local_server import LocalServer
from srkit import catalogue, models
from srkit.archs import ARCH_ENTRIES, build_model, load_network
from srkit.archs.loading import read_any_checkpoint
from srkit.archs.registry import resolve
from srkit.catalogue import PUBLISHED, ZOO_URL_ENV, PublishedModel, find_published, source_url
from srkit.cli import main
from srkit.infer.cli import models_table
from srkit.io import write_image
from srkit.io.checkpoint import read_weights_meta
from srkit.io.download import sha256_file

# Set5 x4 Y-PSNR that PROVENANCE.md records for these shared files (the authors' own code, fp32 CPU).
PROVENANCE_SET5 = {"span-ch28-ntire24-x4": 31.74, "imdn-x4": 32.21}


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``SRKIT_CACHE``, no zoo URL override from the environment, instant retries."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SRKIT_CACHE", str(folder))
    monkeypatch.delenv(ZOO_URL_ENV, raising=False)
    monkeypatch.setattr(zoo, "_RETRY_DELAY", 0.0)
    return folder


@pytest.fixture
def server(shared_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """A local server of ``$SRKIT_SHARED/weights``, with the catalogue pointed at it."""
    srv = LocalServer(shared_weights)
    monkeypatch.setenv(ZOO_URL_ENV, srv.url)
    try:
        yield srv
    finally:
        srv.stop()


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line on stderr (it comes last; notes such as 'downloading URL' may precede it)."""
    lines = capsys.readouterr().err.splitlines()
    errors = [line for line in lines if line.startswith("srkit: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    return errors[0]


def _dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port just released)."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    port = srv.server_address[1]
    srv.server_close()
    return f"http://127.0.0.1:{port}"


def _set5_psnr(out_dir: Path) -> float:
    groups = json.loads((out_dir / "eval.json").read_text())["groups"]
    (group,) = [g for g in groups if g["dataset"] == "Set5"]
    return float(group["psnr"])


# --------------------------------------------------------------------------------------------------
# the catalogue
# --------------------------------------------------------------------------------------------------


def test_catalogue_entries_are_consistent() -> None:
    assert len(PUBLISHED) >= 40
    assert all(key == entry.name for key, entry in PUBLISHED.items())
    assert not set(PUBLISHED) & set(models.MODELS), "published names must differ from shipped ones"
    for entry in PUBLISHED.values():
        assert entry.check() == [], (entry.name, entry.check())
        assert entry.family in ARCH_ENTRIES, entry.name
        assert resolve(entry.build, **entry.hparams)[0] == entry.family, entry.name
        assert entry.hparams.get("scale") == entry.scale, entry.name
        assert entry.hash_source and entry.training_data and entry.licence and entry.published, entry.name
        if entry.sha256_prefix is not None:  # a torch-hub name: <stem>-<prefix>.<ext>
            assert f"-{entry.sha256_prefix}." in entry.file, entry.name
        if entry.manual:
            assert "drive.google.com" in entry.url, entry.name
    # the families of issue 14 at every scale they are published at, and the big names
    families = Counter(entry.family for entry in PUBLISHED.values())
    for family in ("srvgg_compact", "span", "pan", "carn_m", "lapsrn", "rlfn", "rfdn", "bsrn", "imdn"):
        assert families[family] >= 1, family
    for name in (
        "edsr-baseline-x2-official",
        "edsr-x4-official",
        "msrresnet-x4-basicsr",
        "rrdb-psnr-x4-basicsr",
        "esrgan-x4-basicsr",
        "realesrgan-x4plus",
        "realesrgan-x2plus",
        "realesrgan-x4plus-anime-6b",
        "realesr-general-x4v3",
        "swinir-s-x2",
        "swinir-s-x4",
        "swinir-m-x2",
        "swinir-m-x4",
        "hat-x4",
        "carn-m-x2",
        "carn-m-x3",
        "carn-m-x4",
        "pan-x2",
        "pan-x3",
        "imdn-x2",
        "imdn-x3",
        "bsrn-x2",
    ):
        assert name in PUBLISHED, name  # fmt: skip
    # entries that share a file agree on everything about it
    by_path: dict[str, PublishedModel] = {}
    for entry in PUBLISHED.values():
        first = by_path.setdefault(entry.path, entry)
        assert (first.url, first.sha256, first.size) == (entry.url, entry.sha256, entry.size), entry.name


def test_catalogue_parameter_counts_are_srkits_networks() -> None:
    for entry in PUBLISHED.values():
        with torch.device("meta"):  # shapes only: no memory for the 40M-parameter EDSRs
            net = build_model(entry.build, **entry.hparams)
        assert sum(p.numel() for p in net.parameters()) == entry.params, entry.name


def test_catalogue_matches_the_shared_files(shared_weights: Path) -> None:
    """Every entry whose file is in $SRKIT_SHARED/weights: the same sha256 as PROVENANCE.md records (or a
    recorded mismatch), and srkit's conversion gives the entry's family, scale and parameter count."""
    checked = 0
    for entry in PUBLISHED.values():
        shared = shared_weights / entry.path
        if not shared.is_file():
            continue
        provenance = (shared.parent / "PROVENANCE.md").read_text(encoding="utf-8")
        digest = sha256_file(shared)
        assert digest in provenance, entry.name
        if entry.sha256 is not None and digest != entry.sha256:
            assert "refused" in entry.note, (
                f"{entry.name}: the shared copy differs and the note does not say so"
            )
        else:
            assert entry.sha256 == digest and entry.size == shared.stat().st_size, entry.name
        conversion = read_any_checkpoint(shared, scale=entry.scale)
        net = conversion.build(shared)
        assert conversion.arch == entry.family and net.info.scale == entry.scale, entry.name
        assert sum(p.numel() for p in net.parameters()) == entry.params, entry.name
        checked += 1
    assert checked >= 9  # span, rlfn, imdn, rfdn, pan, carn-m x2/x3/x4, bsrn, realesr-animevideov3


def test_catalogue_imports_no_torch_and_the_listing_stays_light() -> None:
    code = (
        "import sys; from srkit.infer.cli import models_table; import srkit.catalogue; models_table(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_source_url_follows_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = PUBLISHED["span-ch28-ntire24-x4"]
    assert source_url(entry) == entry.url and entry.url.startswith("https://github.com/Amazingren/")
    monkeypatch.setenv(ZOO_URL_ENV, "http://mirror.example/zoo/")
    assert source_url(entry) == "http://mirror.example/zoo/span/ntire24_span_ch28_slim.pth"
    assert find_published("  SPAN-ch28-NTIRE24-x4 ") is entry and find_published("nope") is None


# --------------------------------------------------------------------------------------------------
# listing
# --------------------------------------------------------------------------------------------------


def test_srkit_models_lists_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out == models_table() + "\n"
    assert "Published weights" in out
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.split()[:1] and line.split()[0] in PUBLISHED
    }
    assert set(rows) == set(PUBLISHED)
    assert rows["rlfn-x4"][:4] == ["rlfn-x4", "rlfn", "x4", "0.54M"] and rows["rlfn-x4"][-1] == "no"
    assert "32.24" in rows["rlfn-x4"] and "28.62" in rows["rlfn-x4"] and "sha256" in rows["rlfn-x4"]
    assert "prefix" in rows["edsr-x2-official"] and "none" in rows["pan-x2"]
    assert "(?)" in rows["imdn-x4"]  # no licence stated
    # the shipped table is still first and unchanged in form
    assert out.splitlines()[0].split()[:3] == ["name", "scale", "params"]
    assert main(["models", "info", "carn-m-x3"]) == 0
    info = capsys.readouterr().out
    assert "d48a759a84509351facb6b7c6d5bd6edec98b98519b8c464ee4ab44d2ba964ff" in info and "carn_m.pth" in info


# --------------------------------------------------------------------------------------------------
# pull: download, verify, convert, evaluate, offline
# --------------------------------------------------------------------------------------------------


def test_pull_verifies_converts_and_evaluates_then_works_offline(
    server: LocalServer, cache: Path, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = list(PROVENANCE_SET5)
    assert main(["models", "pull", *names, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "imdn-x4: licence none stated" in out  # shown at pull time: no licence grants commercial use
    for name in names:
        entry = PUBLISHED[name]
        assert f"{name}: verified sha256" in out and entry.pulled
        assert server.counts[f"/{entry.path}"] == 1
        assert sha256_file(entry.download_path) == entry.sha256
        meta = read_weights_meta(entry.weights_path)
        assert meta.arch == entry.family and meta.scale == entry.scale
        assert meta.extra["sha256"] == entry.sha256 and meta.extra["url"] == f"{server.url}/{entry.path}"
    assert _files(cache) == sorted(
        ["zoo"]
        + [f"zoo/{n}" for n in names]
        + [f"zoo/{n}/{PUBLISHED[n].file}" for n in names]
        + [f"zoo/{n}/{n}.safetensors" for n in names]
    )
    # Offline from here on: the catalogue's URLs lead nowhere, yet every use by name works.
    server.stop()
    assert main(["models", "pull", *names]) == 0
    assert "already pulled" in capsys.readouterr().out
    out_dir = tmp_path / "eval"
    argv = [
        "eval",
        "--model",
        *names,
        "--dataset",
        str(shared_data / "Set5"),
        "--scale",
        "4",
        "--out",
        str(out_dir),
    ]
    assert main([*argv, "--no-download", "--no-progress"]) == 0
    for name, psnr in PROVENANCE_SET5.items():
        assert _set5_psnr(out_dir / name) == pytest.approx(psnr, abs=0.02), name
    # upscale by name, and the Python API, read the same converted file
    photo = tmp_path / "p.png"
    write_image(photo, np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8))
    assert (
        main(
            [
                "upscale",
                str(photo),
                "--model",
                names[0],
                "--device",
                "cpu",
                "--precision",
                "fp32",
                "--no-download",
            ]
        )
        == 0
    )
    assert (tmp_path / "p_x4.png").is_file()
    # a converted file that went missing is converted again from the published file, still offline
    PUBLISHED[names[1]].weights_path.unlink()
    assert main(["models", "pull", names[1]]) == 0
    assert PUBLISHED[names[1]].pulled


def test_carn_m_entries_share_one_file_and_convert_to_their_scale(server: LocalServer) -> None:
    weights = {s: zoo.pull(f"carn-m-x{s}", progress=False, log=lambda _: None) for s in (2, 4)}
    for s, path in weights.items():
        net = load_network(path)
        assert net.arch_name == "carn_m" and net.info.scale == s and net.hparams["multi_scale"] is True
    assert server.counts["/carn_m/carn_m.pth"] == 2  # one download per entry folder


# --------------------------------------------------------------------------------------------------
# refusals: corrupted, unverified, offline, --no-download, manual, licence
# --------------------------------------------------------------------------------------------------


def test_a_corrupted_download_is_refused_and_leaves_nothing(
    server: LocalServer, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = PUBLISHED["rlfn-x4"]
    server.corrupt.add(f"/{entry.path}")
    assert main(["models", "pull", entry.name, "--no-progress"]) == 2
    err = _one_line_error(capsys)
    assert (
        "is not the published file" in err and f"expected {entry.sha256}" in err and source_url(entry) in err
    )
    assert server.counts[f"/{entry.path}"] == 1
    assert _files(cache) == []  # no partial file, no temporary file, no folder
    # the same through --model on first use
    assert main(["eval", "--model", entry.name, "--dataset", "sample", "--scale", "4", "--no-progress"]) == 2
    assert "is not the published file" in _one_line_error(capsys)
    assert _files(cache) == []


def test_a_shared_copy_with_another_hash_is_refused(
    server: LocalServer, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """$SRKIT_SHARED's realesr-animevideov3.pth is a re-zipped copy, not the official release asset."""
    assert main(["models", "pull", "realesr-animevideov3"]) == 2
    assert "is not the published file (size 2334339 bytes, expected 2504012)" in _one_line_error(capsys)
    assert _files(cache) == []


def test_without_network_one_line_names_the_url_and_the_cache_path(
    cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ZOO_URL_ENV, _dead_url())
    entry = PUBLISHED["imdn-x4"]
    assert main(["models", "pull", entry.name]) == 2
    err = _one_line_error(capsys)
    assert f"cannot download {source_url(entry)}" in err and str(entry.download_path) in err
    assert _files(cache) == []


def test_no_download_names_the_url_and_the_cache_path(
    server: LocalServer, cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = PUBLISHED["span-ch28-ntire24-x4"]
    photo = tmp_path / "p.png"
    write_image(photo, np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8))
    for argv in (
        ["eval", "--model", entry.name, "--dataset", "sample", "--no-download"],
        ["upscale", str(photo), "--model", entry.name, "--no-download"],
        ["models", "pull", entry.name, "--no-download"],
    ):
        assert main(argv) == 2, argv
        err = _one_line_error(capsys)
        assert "--no-download" in err and source_url(entry) in err and str(entry.download_path) in err
    assert sum(server.counts.values()) == 0 and _files(cache) == []


def test_a_file_put_in_the_cache_by_hand_is_verified_and_converted(
    shared_weights: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = PUBLISHED["pan-x4"]
    entry.download_path.parent.mkdir(parents=True)
    shutil.copyfile(shared_weights / entry.path, entry.download_path)
    assert main(["models", "pull", entry.name, "--no-download"]) == 0
    assert entry.pulled and "verified sha256" in capsys.readouterr().out
    # a wrong file put there is refused (and left for the user to look at)
    other = PUBLISHED["bsrn-x4"]
    other.download_path.parent.mkdir(parents=True)
    shutil.copyfile(shared_weights / entry.path, other.download_path)
    assert main(["models", "pull", other.name]) == 2
    err = _one_line_error(capsys)
    assert f"{other.download_path} is not the published file" in err and "delete it" in err
    assert other.download_path.is_file() and not other.pulled


def test_entries_without_a_hash_need_an_explicit_opt_in(
    server: LocalServer, cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "pull", "pan-x2"]) == 2
    err = _one_line_error(capsys)
    assert "no trustworthy sha256" in err and "--allow-unverified" in err
    assert main(["eval", "--model", "pan-x2", "--dataset", "sample", "--no-progress"]) == 2
    assert "--allow-unverified" in _one_line_error(capsys)
    assert sum(server.counts.values()) == 0 and _files(cache) == []
    # an entry without a hash whose file the server has: taken with the flag, and said to be unverified
    unhashed = dataclasses.replace(
        PUBLISHED["rfdn-aim-x4"], sha256=None, size=None, hash_source="none (test)"
    )
    monkeypatch.setitem(PUBLISHED, unhashed.name, unhashed)
    assert main(["models", "pull", unhashed.name]) == 2
    capsys.readouterr()
    assert main(["models", "pull", unhashed.name, "--allow-unverified", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "UNVERIFIED" in out and unhashed.pulled
    # once converted, it is used by name like any other
    assert main(["models", "pull", unhashed.name]) == 0


def test_a_hash_prefix_is_checked(
    server: LocalServer, cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = PUBLISHED["bsrn-x4"]
    assert real.sha256 is not None
    good = dataclasses.replace(real, sha256=None, sha256_prefix=real.sha256[:8], size=None)
    monkeypatch.setitem(PUBLISHED, good.name, good)
    assert main(["models", "pull", good.name, "--no-progress"]) == 0
    assert "verified prefix" in capsys.readouterr().out
    wrong = dataclasses.replace(PUBLISHED["pan-x4"], sha256=None, sha256_prefix="00000000", size=None)
    monkeypatch.setitem(PUBLISHED, wrong.name, wrong)
    assert main(["models", "pull", wrong.name, "--no-progress"]) == 2
    assert "does not start with the published prefix 00000000" in _one_line_error(capsys)
    assert not wrong.folder.exists()


def test_manual_entries_say_where_to_put_the_file(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = PUBLISHED["hat-x4"]
    assert main(["models", "pull", entry.name, "--allow-unverified"]) == 2
    err = _one_line_error(capsys)
    assert entry.url in err and str(entry.download_path) in err and "by hand" in err
    assert _files(cache) == []


def test_a_licence_that_forbids_commercial_use_is_shown_at_pull_time(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nc = dataclasses.replace(PUBLISHED["rlfn-x4"], licence="CC-BY-NC-4.0", commercial_use=False)
    monkeypatch.setitem(PUBLISHED, nc.name, nc)
    assert main(["models", "pull", nc.name, "--no-progress"]) == 0
    assert "rlfn-x4: licence CC-BY-NC-4.0 forbids commercial use" in capsys.readouterr().out
    assert "CC-BY-NC-4.0 (NC)" in models_table()


def test_unknown_published_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "pull", "no-such-model"]) == 2
    err = _one_line_error(capsys)
    assert "no published model 'no-such-model'" in err and re.search(r"rlfn-x4", err)
    assert catalogue.find_published("edsr-baseline-x2") is None  # a shipped name is not a published one
