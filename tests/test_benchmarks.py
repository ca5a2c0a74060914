"""Tests for srkit.data (benchmarks registry, resolve_dataset, download_file, extract_archive).

No real network: downloads go to an http.server started on 127.0.0.1 inside the test, or to file:// URLs.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import re
import tarfile
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import srkit.data.benchmarks as bm
import srkit.io.download as dl
from srkit.data import (
    BENCHMARKS,
    IMAGE_SUFFIXES,
    BenchmarkSpec,
    download_file,
    extract_archive,
    find_benchmark,
    list_images,
    resolve_dataset,
)
from srkit.errors import DatasetError, SrkitError
from srkit.settings import sample_image_path

# --------------------------------------------------------------------------------------------------
# helpers and fixtures
# --------------------------------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(SimpleHTTPRequestHandler):
    """Static files plus two failure modes: ``/flaky/<f>`` (503 on the first request) and ``/truncated``."""

    counts: Counter  # set per server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.counts[self.path] += 1
        if self.path.startswith("/flaky/"):
            if self.counts[self.path] == 1:
                self.send_error(503, "try again")
                return
            self.path = self.path[len("/flaky") :]
        if self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only ten b")
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, Counter]]:
    """(base URL, served folder, per-path request counter) of a local HTTP server."""
    root = tmp_path / "www"
    root.mkdir()
    handler = type("Handler", (_Handler,), {"counts": Counter()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root, handler.counts
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point SRKIT_CACHE at a fresh folder and make retries instant."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SRKIT_CACHE", str(cache))
    monkeypatch.setattr(dl, "_RETRY_DELAY", 0.0)
    return cache


def _make_tar_gz(path: Path, members: dict[str, bytes]) -> bytes:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path.read_bytes()


def _make_zip(path: Path, members: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path.read_bytes()


def _files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------------------
# list_images
# --------------------------------------------------------------------------------------------------


def test_list_images_filters_by_suffix_case_insensitively_and_sorts(tmp_path: Path) -> None:
    for name in ["b.PNG", "a.jpg", "d.JpEg", "c.txt", "notes.md", ".hidden.png", "e.tiff", "f.webp"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "g.bmp").write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()  # a folder with an image-like name is not an image

    flat = list_images(tmp_path)
    assert [p.name for p in flat] == ["a.jpg", "b.PNG", "d.JpEg", "e.tiff", "f.webp"]
    assert flat == sorted(flat)

    deep = list_images(str(tmp_path), recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in deep] == [
        "a.jpg",
        "b.PNG",
        "d.JpEg",
        "e.tiff",
        "f.webp",
        "sub/g.bmp",
    ]


def test_list_images_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder"):
        list_images(tmp_path / "missing")
    file = tmp_path / "a.png"
    file.write_bytes(b"x")
    with pytest.raises(DatasetError, match="not a folder"):
        list_images(file)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetError, match="no images") as info:
        list_images(empty)
    assert str(empty) in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, SrkitError)


def test_image_suffixes_constant() -> None:
    assert IMAGE_SUFFIXES == (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


# --------------------------------------------------------------------------------------------------
# resolve_dataset: paths, sample, names
# --------------------------------------------------------------------------------------------------


def test_resolve_folder(tmp_path: Path) -> None:
    folder = tmp_path / "MyImages"
    folder.mkdir()
    for name in ["z.png", "a.png", "skip.txt"]:
        (folder / name).write_bytes(b"x")
    ds = resolve_dataset(str(folder), download=False)
    assert ds.name == "MyImages"
    assert ds.root == folder.resolve()
    assert [p.name for p in ds.files] == ["a.png", "z.png"]
    assert all(p.is_absolute() for p in ds.files)
    assert len(ds) == 2


def test_resolve_single_image_file(tmp_path: Path) -> None:
    img = tmp_path / "photo.JPG"
    img.write_bytes(b"x")
    ds = resolve_dataset(str(img))
    assert ds.name == "photo"
    assert ds.files == (img.resolve(),)
    assert ds.root == tmp_path.resolve()

    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(DatasetError, match="not an image file"):
        resolve_dataset(str(text))


@pytest.mark.parametrize("name", ["sample", "SAMPLE", " Sample "])
def test_resolve_sample(name: str) -> None:
    ds = resolve_dataset(name, download=False)
    assert ds.name == "sample"
    assert ds.files == (sample_image_path().resolve(),)
    assert ds.files[0].name == "coffee.png"
    assert ds.files[0].is_file()


def test_resolve_unknown_name_lists_valid_names() -> None:
    with pytest.raises(DatasetError) as info:
        resolve_dataset("set6", download=False)
    message = str(info.value)
    assert message.startswith("set6:")
    for name in ["sample", *BENCHMARKS]:
        assert name in message
    assert "\n" not in message


def test_resolve_known_name_without_download_says_how(
    _isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not download")

    monkeypatch.setattr(bm, "download_file", no_network)
    with pytest.raises(DatasetError) as info:
        resolve_dataset("Set5", download=False)
    message = str(info.value)
    assert "set5" in message
    assert "download=True" in message
    assert BENCHMARKS["set5"].url in message
    assert str(_isolated_cache / "datasets" / "set5") in message
    assert not (_isolated_cache / "datasets").exists() or not any((_isolated_cache / "datasets").iterdir())


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("Set5", "set5"),
        ("SET14", "set14"),
        ("B100", "b100"),
        ("bsd100", "b100"),
        ("BSDS100", "b100"),
        ("Urban100", "urban100"),
        ("Manga109", "manga109"),
        ("div2k_val", "div2k-val"),
        ("DIV2K-valid", "div2k-val"),
        ("div2k val", "div2k-val"),
        ("BSDS500", "bsds500"),
        ("bsd500", "bsds500"),
    ],
)
def test_find_benchmark_aliases(alias: str, canonical: str) -> None:
    spec = find_benchmark(alias)
    assert spec is not None
    assert spec.name == canonical


def test_find_benchmark_unknown() -> None:
    assert find_benchmark("set6") is None
    assert find_benchmark("") is None


# --------------------------------------------------------------------------------------------------
# the registry itself
# --------------------------------------------------------------------------------------------------


def test_registry_contents() -> None:
    counts = {name: len(spec.files) for name, spec in BENCHMARKS.items()}
    assert counts == {
        "set5": 5,
        "set14": 14,
        "b100": 100,
        "urban100": 100,
        "manga109": 109,
        "div2k-val": 100,
        "bsds500": 400,
    }
    for name, spec in BENCHMARKS.items():
        assert spec.name == name
        assert list(spec.files) == sorted(set(spec.files)), name
        assert all(not f.startswith("/") and ".." not in f for f in spec.files), name
        assert spec.citation
        assert spec.url.startswith(("http://", "https://"))
        if spec.sha256 is None:
            assert spec.note, f"{name}: a missing checksum must be explained in note"
        else:
            assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256), name
    assert BENCHMARKS["set5"].files == ("baby.png", "bird.png", "butterfly.png", "head.png", "woman.png")
    assert [f[:-4] for f in BENCHMARKS["set14"].files] == [
        "baboon", "barbara", "bridge", "coastguard", "comic", "face", "flowers",
        "foreman", "lenna", "man", "monarch", "pepper", "ppt3", "zebra",
    ]  # fmt: skip
    assert BENCHMARKS["div2k-val"].files[0] == "0801.png"
    assert BENCHMARKS["div2k-val"].files[-1] == "0900.png"
    assert "academic" in BENCHMARKS["manga109"].note.lower()
    assert BENCHMARKS["manga109"].manual


def test_b100_is_disjoint_from_bsds500_training_images() -> None:
    b100 = {f[: -len(".png")] for f in BENCHMARKS["b100"].files}
    train = {f.split("/")[1][: -len(".jpg")] for f in BENCHMARKS["bsds500"].files}
    assert {"3096", "8023", "101085"} <= b100
    assert not b100 & train
    splits = Counter(f.split("/")[0] for f in BENCHMARKS["bsds500"].files)
    assert splits == {"train": 200, "test": 200}


def test_shared_archive_specs_agree() -> None:
    edsr = [BENCHMARKS[n] for n in ("set5", "set14", "b100", "urban100")]
    assert len({(s.url, s.sha256, s.size, s.archive_name) for s in edsr}) == 1
    assert edsr[0].archive_name == "benchmark.tar"


# --------------------------------------------------------------------------------------------------
# download_file
# --------------------------------------------------------------------------------------------------


def test_download_file_success(server: tuple[str, Path, Counter], tmp_path: Path) -> None:
    base, root, counts = server
    data = os.urandom(300_000)
    (root / "blob.bin").write_bytes(data)
    dest = tmp_path / "out" / "blob.bin"
    result = download_file(
        f"{base}/blob.bin", dest, sha256=_sha(data).upper(), progress=False, size=len(data)
    )
    assert result == dest
    assert dest.read_bytes() == data
    assert os.listdir(dest.parent) == ["blob.bin"]  # no temp file left behind
    assert counts["/blob.bin"] == 1


def test_download_file_checksum_mismatch(server: tuple[str, Path, Counter], tmp_path: Path) -> None:
    base, root, _ = server
    data = b"payload" * 1000
    (root / "blob.bin").write_bytes(data)
    dest = tmp_path / "out" / "blob.bin"
    wrong = "0" * 64
    with pytest.raises(DatasetError) as info:
        download_file(f"{base}/blob.bin", dest, sha256=wrong, progress=False)
    message = str(info.value)
    assert "blob.bin" in message
    assert wrong in message
    assert _sha(data) in message
    assert not dest.exists()
    assert os.listdir(dest.parent) == []


def test_download_file_is_atomic(server: tuple[str, Path, Counter], tmp_path: Path) -> None:
    base, root, counts = server
    dest = tmp_path / "blob.bin"
    dest.write_bytes(b"old complete file")
    new = b"new content" * 100
    (root / "blob.bin").write_bytes(new)

    # a failed verification leaves the previous file untouched
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        download_file(f"{base}/blob.bin", dest, sha256="f" * 64, progress=False)
    assert dest.read_bytes() == b"old complete file"

    # so does a connection that drops mid-transfer (retried, then given up)
    with pytest.raises(DatasetError, match=r"download from .* failed"):
        download_file(f"{base}/truncated", dest, sha256=None, progress=False, attempts=2)
    assert counts["/truncated"] == 2
    assert dest.read_bytes() == b"old complete file"
    assert sorted(os.listdir(tmp_path)) == ["blob.bin", "www"]

    # a verified download replaces it in one step
    download_file(f"{base}/blob.bin", dest, sha256=_sha(new), progress=False)
    assert dest.read_bytes() == new
    assert sorted(os.listdir(tmp_path)) == ["blob.bin", "www"]


def test_download_file_without_checksum_warns_unverified(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"abc")
    dest = tmp_path / "dst.bin"
    with caplog.at_level(logging.WARNING, logger="srkit.io.download"):
        download_file(source.as_uri(), dest, sha256=None, progress=False)
    assert dest.read_bytes() == b"abc"
    assert "UNVERIFIED" in caplog.text
    assert _sha(b"abc") in caplog.text


def test_download_file_size_mismatch(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"abcdef")
    dest = tmp_path / "dst.bin"
    with pytest.raises(DatasetError, match="expected 7 bytes, got 6"):
        download_file(source.as_uri(), dest, sha256=_sha(b"abcdef"), progress=False, size=7)
    assert not dest.exists()
    assert sorted(os.listdir(tmp_path)) == ["src.bin"]


def test_download_file_http_404_is_not_retried(server: tuple[str, Path, Counter], tmp_path: Path) -> None:
    base, _, counts = server
    with pytest.raises(DatasetError, match="HTTP 404") as info:
        download_file(f"{base}/nope.zip", tmp_path / "nope.zip", sha256=None, progress=False)
    assert "nope.zip" in str(info.value)
    assert counts["/nope.zip"] == 1
    assert os.listdir(tmp_path) == ["www"]


def test_download_file_retries_server_errors(server: tuple[str, Path, Counter], tmp_path: Path) -> None:
    base, root, counts = server
    (root / "blob.bin").write_bytes(b"eventually")
    dest = tmp_path / "blob.bin"
    download_file(f"{base}/flaky/blob.bin", dest, sha256=_sha(b"eventually"), progress=False)
    assert dest.read_bytes() == b"eventually"
    assert counts["/flaky/blob.bin"] == 2


# --------------------------------------------------------------------------------------------------
# extract_archive
# --------------------------------------------------------------------------------------------------

_MEMBERS = {"top/a.png": b"A", "top/sub/b.png": b"BB", "top/c.txt": b"CCC"}


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_extract_archive_roundtrip(kind: str, tmp_path: Path) -> None:
    archive = tmp_path / f"arch.{kind}"
    (_make_zip if kind == "zip" else _make_tar_gz)(archive, _MEMBERS)
    dest = tmp_path / "out"
    assert extract_archive(archive, dest) == dest
    assert _files_under(dest) == sorted(_MEMBERS)
    for name, data in _MEMBERS.items():
        assert (dest / name).read_bytes() == data


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_extract_archive_member_prefix(kind: str, tmp_path: Path) -> None:
    archive = tmp_path / f"arch.{kind}"
    members = {**_MEMBERS, "topsy/x.png": b"X", "other/y.png": b"Y"}
    (_make_zip if kind == "zip" else _make_tar_gz)(archive, members)
    dest = tmp_path / "out"
    extract_archive(archive, dest, members="top/sub/")
    assert _files_under(dest) == ["top/sub/b.png"]
    extract_archive(archive, tmp_path / "out2", members="./top")
    assert _files_under(tmp_path / "out2") == sorted(
        ["top/a.png", "top/sub/b.png", "top/c.txt", "topsy/x.png"]
    )


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
@pytest.mark.parametrize("evil", ["../evil.txt", "ok/../../evil.txt", "/abs/evil.txt"])
def test_extract_archive_refuses_path_traversal(kind: str, evil: str, tmp_path: Path) -> None:
    archive = tmp_path / f"arch.{kind}"
    (_make_zip if kind == "zip" else _make_tar_gz)(archive, {"fine.txt": b"ok", evil: b"pwned"})
    dest = tmp_path / "a" / "b" / "out"
    with pytest.raises(DatasetError, match="outside") as info:
        extract_archive(archive, dest)
    assert evil in str(info.value)
    assert list(dest.iterdir()) == []  # checked before anything was written
    assert not (tmp_path / "a" / "b" / "evil.txt").exists()
    assert not (tmp_path / "a" / "evil.txt").exists()


def test_extract_archive_refuses_escape_through_existing_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "link").symlink_to(outside, target_is_directory=True)
    archive = tmp_path / "arch.zip"
    _make_zip(archive, {"link/evil.txt": b"pwned"})
    with pytest.raises(DatasetError, match="outside"):
        extract_archive(archive, dest)
    assert list(outside.iterdir()) == []


def test_extract_archive_skips_tar_links(tmp_path: Path) -> None:
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tf:
        link = tarfile.TarInfo("data/etc")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc"
        tf.addfile(link)
        info = tarfile.TarInfo("data/real.png")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"png"))
    dest = tmp_path / "out"
    extract_archive(archive, dest)
    assert _files_under(dest) == ["data/real.png"]
    assert not (dest / "data" / "etc").is_symlink()


def test_extract_archive_rejects_non_archives(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"this is not an archive at all")
    with pytest.raises(DatasetError, match="not a zip or tar archive"):
        extract_archive(bogus, tmp_path / "out")
    with pytest.raises(DatasetError, match="no such archive"):
        extract_archive(tmp_path / "missing.tar", tmp_path / "out")


# --------------------------------------------------------------------------------------------------
# resolve_dataset end to end with a fake benchmark served locally
# --------------------------------------------------------------------------------------------------

_FAKE_MEMBERS = {
    "bench/Fake/HR/b.png": b"bbb",
    "bench/Fake/HR/a.png": b"aa",
    "bench/Fake/LR_bicubic/X2/ax2.png": b"a",
    "bench/Other/HR/z.png": b"zz",
}


@pytest.fixture
def fake_benchmarks(
    server: tuple[str, Path, Counter], monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[str, BenchmarkSpec], Counter]:
    base, root, counts = server
    data = _make_tar_gz(root / "fakebench.tgz", _FAKE_MEMBERS)
    common = {
        "url": f"{base}/fakebench.tgz",
        "sha256": _sha(data),
        "size": len(data),
        "citation": "Fake et al.",
    }
    specs = {
        "fake": BenchmarkSpec(
            name="fake",
            members="bench/Fake/",
            hr_subdir="bench/Fake/HR",
            files=("a.png", "b.png"),
            aliases=("fake-bench",),
            **common,
        ),
        "other": BenchmarkSpec(
            name="other", members="bench/Other/", hr_subdir="bench/Other/HR", files=("z.png",), **common
        ),
    }
    monkeypatch.setattr(bm, "BENCHMARKS", specs)
    return specs, counts


def test_resolve_downloads_extracts_verifies_and_reuses_cache(
    fake_benchmarks: tuple[dict[str, BenchmarkSpec], Counter], _isolated_cache: Path
) -> None:
    _, counts = fake_benchmarks
    datasets = _isolated_cache / "datasets"

    ds = resolve_dataset("Fake_Bench", progress=False)
    hr = datasets / "fake" / "bench" / "Fake" / "HR"
    assert ds.name == "fake"
    assert ds.root == hr
    assert ds.files == (hr / "a.png", hr / "b.png")
    assert (hr / "b.png").read_bytes() == b"bbb"
    assert (datasets / "fake" / ".complete").is_file()
    assert not (datasets / "fake" / "bench" / "Other").exists()  # only this benchmark's members
    assert (datasets / "fake" / "bench" / "Fake" / "LR_bicubic" / "X2" / "ax2.png").is_file()
    assert counts["/fakebench.tgz"] == 1

    # cached: no second download, also with download=False
    assert resolve_dataset("fake", progress=False) == ds
    assert resolve_dataset("fake", download=False) == ds
    assert counts["/fakebench.tgz"] == 1

    # a second benchmark from the same archive reuses the downloaded archive
    other = resolve_dataset("other", progress=False)
    assert [p.name for p in other.files] == ["z.png"]
    assert counts["/fakebench.tgz"] == 1
    assert _files_under(datasets / "_downloads") == ["fakebench.tgz"]


def test_resolve_redoes_interrupted_extraction_without_downloading_again(
    fake_benchmarks: tuple[dict[str, BenchmarkSpec], Counter], _isolated_cache: Path
) -> None:
    _, counts = fake_benchmarks
    ds_dir = _isolated_cache / "datasets" / "fake"
    resolve_dataset("fake", progress=False)
    # simulate an extraction that died half-way: no marker, a truncated file, some debris
    (ds_dir / ".complete").unlink()
    (ds_dir / "bench" / "Fake" / "HR" / "b.png").write_bytes(b"b")
    (ds_dir / "debris.tmp").write_bytes(b"?")

    with pytest.raises(DatasetError, match="not in the cache"):
        resolve_dataset("fake", download=False)

    ds = resolve_dataset("fake", progress=False)
    assert (ds.root / "b.png").read_bytes() == b"bbb"
    assert not (ds_dir / "debris.tmp").exists()
    assert (ds_dir / ".complete").is_file()
    assert counts["/fakebench.tgz"] == 1


def test_resolve_redownloads_a_corrupt_cached_archive(
    fake_benchmarks: tuple[dict[str, BenchmarkSpec], Counter], _isolated_cache: Path
) -> None:
    _, counts = fake_benchmarks
    downloads = _isolated_cache / "datasets" / "_downloads"
    downloads.mkdir(parents=True)
    (downloads / "fakebench.tgz").write_bytes(b"garbage from an older, broken run")
    ds = resolve_dataset("fake", progress=False)
    assert len(ds.files) == 2
    assert counts["/fakebench.tgz"] == 1


def test_resolve_checks_the_extracted_file_list(
    fake_benchmarks: tuple[dict[str, BenchmarkSpec], Counter],
    _isolated_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    specs, _ = fake_benchmarks
    broken = replace(specs["fake"], files=("a.png", "b.png", "c.png"))
    monkeypatch.setattr(bm, "BENCHMARKS", {"fake": broken})
    with pytest.raises(DatasetError, match=r"1 of 3 expected images missing \(c\.png\)"):
        resolve_dataset("fake", progress=False)
    assert not (_isolated_cache / "datasets" / "fake" / ".complete").exists()


def test_resolve_rejects_a_tampered_download(
    fake_benchmarks: tuple[dict[str, BenchmarkSpec], Counter],
    _isolated_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    specs, _ = fake_benchmarks
    tampered = replace(specs["fake"], sha256="1" * 64)
    monkeypatch.setattr(bm, "BENCHMARKS", {"fake": tampered})
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        resolve_dataset("fake", progress=False)
    datasets = _isolated_cache / "datasets"
    assert not (datasets / "fake").exists()
    assert _files_under(datasets) == []


def test_resolve_with_explicit_cache_argument(
    fake_benchmarks: tuple[dict[str, BenchmarkSpec], Counter], tmp_path: Path, _isolated_cache: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    ds = resolve_dataset("fake", cache=elsewhere, progress=False)
    assert ds.root == elsewhere / "datasets" / "fake" / "bench" / "Fake" / "HR"
    assert not (_isolated_cache / "datasets").exists()


# --------------------------------------------------------------------------------------------------
# manual benchmarks (Manga109)
# --------------------------------------------------------------------------------------------------


def test_manga109_needs_manual_placement(_isolated_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("must not download")

    monkeypatch.setattr(bm, "download_file", no_network)
    hr = _isolated_cache / "datasets" / "manga109" / "HR"
    with pytest.raises(DatasetError) as info:
        resolve_dataset("Manga109")  # download=True cannot help here
    message = str(info.value)
    assert "academic" in message.lower()
    assert BENCHMARKS["manga109"].url in message
    assert str(hr) in message

    # once the images are in place (any image suffix) they are used
    hr.mkdir(parents=True)
    titles = [f[: -len(".png")] for f in BENCHMARKS["manga109"].files]
    for title in titles[:-1]:
        (hr / f"{title}.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"1 of 109 expected images missing"):
        resolve_dataset("manga109")
    (hr / f"{titles[-1]}.png").write_bytes(b"x")
    ds = resolve_dataset("manga109", download=False)
    assert len(ds.files) == 109
    assert ds.root == hr
    assert list(ds.files) == sorted(ds.files)
