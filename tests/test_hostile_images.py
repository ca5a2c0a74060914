"""Hostile and unusual image files (issue 11, items 1 and 16): forged headers and decompression bombs are
refused from the header within a memory cap; the pixel limit follows the available memory; float, planar
16-bit, 2-sample and premultiplied TIFFs are read exactly; TIFFs with extra samples are refused; GIF and
animated PNG/WebP give frame 1 and say how many frames the file has."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from srkit.errors import ImageError, PixelLimitError
from srkit.io import read_header, read_image
from srkit.io.images import limits
from srkit.io.images.types import (
    BYTES_PER_INPUT_PIXEL,
    DEFAULT_MAX_PIXELS,
    JPEG_MAX_RATIO_PER_COMPONENT,
    MAX_RATIO,
    MIN_DEFAULT_MAX_PIXELS,
)

ASSETS = Path(__file__).resolve().parents[1] / "src" / "srkit" / "assets"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
GIB = 1 << 30


def _rand(shape: tuple[int, ...], dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(0, int(info.max) + 1, shape, dtype=dtype)


def _planes(img) -> np.ndarray:
    """Colour plus alpha of a read image as float32 ``(H, W, C)``."""
    planes = img.pixels if img.alpha is None else torch.cat([img.pixels, img.alpha])
    return planes.numpy().transpose(1, 2, 0)


def _ints(img) -> np.ndarray:
    maximum = 65535 if img.info.bit_depth == 16 else 255
    ints = np.round(_planes(img).astype(np.float64) * maximum)
    return ints.astype(np.uint16 if maximum == 65535 else np.uint8)


# --------------------------------------------------------------------------------------------------
# Hostile files, built small and fast
# --------------------------------------------------------------------------------------------------


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _zlib_bomb_png(path: Path, width: int, height: int) -> Path:
    """A real, complete all-zero 8-bit gray PNG, deflated at level 9 a block of rows at a time (the
    file is ~1/1030 of its pixels; the test never holds the raw image)."""
    stream = zlib.compressobj(9)
    rows_per_block = max(1, (1 << 22) // (width + 1))
    parts = []
    for start in range(0, height, rows_per_block):
        parts.append(stream.compress(bytes((width + 1) * min(rows_per_block, height - start))))
    parts.append(stream.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")
    )
    return path


def _patched_ihdr(data: bytes, width: int, height: int) -> bytes:
    """A PNG with its IHDR size replaced (and the CRC fixed)."""
    ihdr = data[16:29]
    patched = struct.pack(">II", width, height) + ihdr[8:]
    return data[:8] + _chunk(b"IHDR", patched) + data[33:]


def _forged_jpeg(width: int, height: int) -> bytes:
    """A small valid JPEG whose SOF says ``width`` x ``height`` (libjpeg would fill in the rest)."""
    buf = io.BytesIO()
    PILImage.fromarray(_rand((16, 16, 3))).save(buf, "JPEG", quality=50)
    data = bytearray(buf.getvalue())
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    data[pos + 5 : pos + 9] = struct.pack(">HH", height, width)
    return bytes(data)


# The read runs in a child whose address space is capped at what it uses after importing srkit plus
# 1 GiB: a regression that decodes the forged pixels fails (MemoryError, or an accepted image) instead
# of swapping. One child reads every file, printing one line per file.
_CAPPED_READ = r"""
import resource, sys, time
from srkit.errors import ImageError
from srkit.io import read_header, read_image
status = open("/proc/self/status").read()
vm = int(status.split("VmSize:")[1].split()[0]) * 1024
cap = vm + int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
for path in sys.argv[2:]:
    for read in (read_header, read_image):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        try:
            read(path)
            result = "ACCEPTED"
        except ImageError as exc:
            result = "REFUSED " + str(exc)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
        print(f"{time.perf_counter() - start:.3f} {grown} {result}", flush=True)
"""


def _capped_reads(paths: list[Path], env: dict[str, str]) -> list[tuple[float, int, str]]:
    """``(seconds, peak RSS growth in KiB, result)`` of read_header then read_image of each path."""
    run = subprocess.run(
        [sys.executable, "-c", _CAPPED_READ, str(GIB), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert len(lines) == 2 * len(paths), run.stdout + run.stderr[-2000:]
    out = []
    for line in lines:
        seconds, grown, result = line.split(" ", 2)
        out.append((float(seconds), int(grown), result))
    return out


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc and RLIMIT_AS")
def test_forged_jpeg_and_zlib_bombs_are_refused_from_the_header_under_a_memory_cap(tmp_path: Path) -> None:
    forged = tmp_path / "forged.jpg"
    forged.write_bytes(_forged_jpeg(20000, 19999))
    bomb = _zlib_bomb_png(tmp_path / "bomb.png", 6000, 6000)  # real deflate, complete and valid
    huge = tmp_path / "huge.png"
    huge.write_bytes(_patched_ihdr(bomb.read_bytes(), 19000, 19000))  # the 19000x19000 gray
    assert forged.stat().st_size < 2000 and bomb.stat().st_size < 40_000
    # A limit far above these images: the refusal must come from the ratio, not the pixel limit.
    results = _capped_reads([forged, bomb, huge], {"SRKIT_MAX_PIXELS": str(10**10)})
    expected = [
        (forged, "20000x19999", "less than one bit per 8x8 block"),
        (bomb, "6000x6000", "a decompression bomb or a forged header"),
        (huge, "19000x19000", "a decompression bomb or a forged header"),
    ]
    for index, (path, size, why) in enumerate(expected):
        for seconds, grown_kib, result in results[2 * index : 2 * index + 2]:
            assert result.startswith(f"REFUSED {path}: "), result
            assert f"header declares {size} pixels" in result and why in result, result
            assert "declared bytes per file byte" in result and "set SRKIT_MAX_RATIO above" in result
            assert seconds < 2.0 and grown_kib < 64 * 1024, (result, seconds, grown_kib)


def test_the_bomb_png_is_a_real_image_readable_with_the_ratio_raised(tmp_path: Path, monkeypatch) -> None:
    bomb = _zlib_bomb_png(tmp_path / "bomb.png", 4200, 4100)
    with pytest.raises(PixelLimitError, match=r"ratio|declared bytes per file byte") as info:
        read_image(bomb)
    ratio = int(str(info.value).split("above ")[-1].split()[0])
    assert 1000 < ratio <= 1033  # deflate's ceiling: this is the most a PNG can be compressed
    monkeypatch.setenv("SRKIT_MAX_RATIO", str(ratio))
    img = read_image(bomb)
    assert img.width == 4200 and img.height == 4100 and float(img.pixels.max()) == 0.0
    monkeypatch.setenv("SRKIT_MAX_RATIO", "lots")
    with pytest.raises(ImageError, match="SRKIT_MAX_RATIO='lots' is not a positive number"):
        read_image(bomb)


def test_small_images_are_never_ratio_checked(tmp_path: Path) -> None:
    blank = _zlib_bomb_png(tmp_path / "blank.png", 4096, 4096)  # exactly BOMB_MIN_PIXELS: not checked
    assert read_header(blank).width == 4096
    tiny = tmp_path / "tiny.jpg"
    tiny.write_bytes(_forged_jpeg(4000, 4000))  # forged, but 16 Mpx: left to the decoder (fills gray)
    assert read_header(tiny).height == 4000


def _real_images(shared: Path | None) -> list[Path]:
    files = [ASSETS / "coffee.png"]
    if shared is not None:
        files += sorted(p for p in shared.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    return files


def test_real_images_pass_the_ratio_check_with_a_wide_margin(monkeypatch) -> None:
    shared = Path(os.environ.get("SRKIT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
    files = _real_images(shared if shared.is_dir() else None)
    monkeypatch.setattr(limits, "BOMB_MIN_PIXELS", 0)  # check every image, however small
    worst: dict[str, float] = {}
    for path in files:
        header = read_header(path)  # would raise PixelLimitError above the limit
        with PILImage.open(path) as im:
            declared = im.width * im.height * len(im.getbands())
        ratio = declared / path.stat().st_size
        worst[header.format] = max(worst.get(header.format, 0.0), ratio)
    assert worst["PNG"] * 100 < MAX_RATIO  # measured: 3.9 (Set14 ppt3.png)
    if shared.is_dir():
        assert len(files) > 400
        assert worst["JPEG"] * 50 < JPEG_MAX_RATIO_PER_COMPONENT * 3  # measured: 19.6 (BSDS500 135069)


def test_blank_jpeg_passes_the_jpeg_bound(tmp_path: Path) -> None:
    """A constant-colour JPEG is the smallest a real encoder makes (2-3 bits per 8x8 block optimised,
    6-8 with the standard tables); the bound is one bit per block."""
    path = tmp_path / "blank.jpg"
    PILImage.new("RGB", (4200, 4100), (90, 120, 200)).save(path, "JPEG", optimize=True, progressive=True)
    header = read_header(path)
    assert (header.width, header.height) == (4200, 4100)


# --------------------------------------------------------------------------------------------------
# The pixel limit follows the available memory
# --------------------------------------------------------------------------------------------------


def _fake_memory(monkeypatch, tmp_path: Path, meminfo: str | None, cgroup: tuple[str, str] | None = None):
    path = tmp_path / "meminfo"
    path.unlink(missing_ok=True)
    if meminfo is not None:
        path.write_text(meminfo)
    monkeypatch.setattr(limits, "_MEMINFO", path)
    files = []
    if cgroup is not None:
        (tmp_path / "memory.max").write_text(cgroup[0])
        (tmp_path / "memory.current").write_text(cgroup[1])
        files = [(tmp_path / "memory.max", tmp_path / "memory.current")]
    monkeypatch.setattr(limits, "_CGROUP_FILES", tuple(files))
    monkeypatch.delenv("SRKIT_MAX_PIXELS", raising=False)


def test_default_pixel_limit_is_available_memory_over_bytes_per_pixel(tmp_path: Path, monkeypatch) -> None:
    _fake_memory(monkeypatch, tmp_path, "MemTotal: 16000000 kB\nMemAvailable:    8000000 kB\n")
    assert limits.available_memory() == 8_000_000 * 1024
    assert limits.default_max_pixels() == 8_000_000 * 1024 // BYTES_PER_INPUT_PIXEL == 157_538_461
    assert limits.resolve_max_pixels(None) == 157_538_461
    # a cgroup limit lowers it to the cgroup's headroom
    _fake_memory(monkeypatch, tmp_path, "MemAvailable: 8000000 kB\n", ("4000000000\n", "1000000000\n"))
    assert limits.default_max_pixels() == 3_000_000_000 // BYTES_PER_INPUT_PIXEL
    _fake_memory(monkeypatch, tmp_path, "MemAvailable: 8000000 kB\n", ("max\n", "1000000000\n"))
    assert limits.default_max_pixels() == 157_538_461
    # never below the floor; the fallback when nothing is known
    _fake_memory(monkeypatch, tmp_path, "MemAvailable: 1000 kB\n")
    assert limits.default_max_pixels() == MIN_DEFAULT_MAX_PIXELS
    _fake_memory(monkeypatch, tmp_path, None)
    monkeypatch.setattr(limits, "_sysconf_available", lambda: None)
    assert limits.available_memory() is None and limits.default_max_pixels() == DEFAULT_MAX_PIXELS


def test_memory_limit_refuses_from_the_header_and_overrides_still_rule(tmp_path: Path, monkeypatch) -> None:
    _fake_memory(monkeypatch, tmp_path, "MemAvailable: 1000000 kB\n")  # ~1 GB: 19.7 Mpx at 52 B/px
    big = tmp_path / "big.png"
    big.write_bytes(_patched_ihdr(_zlib_bomb_png(tmp_path / "small.png", 64, 64).read_bytes(), 6000, 5000))
    with pytest.raises(PixelLimitError) as info:
        read_header(big)
    message = str(info.value)
    assert message == (
        f"{big}: image is 6000x5000 = 30000000 pixels, more than the limit of 19692307 "
        f"(raise it with --max-pixels, max_pixels= or SRKIT_MAX_PIXELS)"
    )
    # raised limit: the header is accepted, and the ratio check then refuses the patched file
    with pytest.raises(PixelLimitError, match="declared bytes per file byte"):
        read_header(big, max_pixels=30_000_000)
    monkeypatch.setenv("SRKIT_MAX_PIXELS", "30000000")
    with pytest.raises(PixelLimitError, match="declared bytes per file byte"):
        read_image(big)


def test_real_default_limit_matches_this_machine() -> None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        pytest.skip("no /proc/meminfo")
    line = next(x for x in meminfo.read_text().splitlines() if x.startswith("MemAvailable:"))
    expected = int(line.split()[1]) * 1024 // BYTES_PER_INPUT_PIXEL
    got = limits.default_max_pixels()  # a cgroup limit may lower it; free memory moves a little
    assert MIN_DEFAULT_MAX_PIXELS <= got <= max(MIN_DEFAULT_MAX_PIXELS, 1.25 * expected)


# --------------------------------------------------------------------------------------------------
# TIFF layouts: a small TIFF writer with Pillow's codecs, independent of srkit's reader
# --------------------------------------------------------------------------------------------------

_SHORT, _LONG, _RATIONAL, _UNDEFINED = 3, 4, 5, 7


def _ifd(entries: list[tuple[int, int, list]], offset: int, order: str) -> bytes:
    size = {_SHORT: 2, _LONG: 4, _RATIONAL: 8, _UNDEFINED: 1}
    entries = sorted(entries, key=lambda e: e[0])
    data_at = offset + 2 + 12 * len(entries) + 4
    head, tail = [struct.pack(order + "H", len(entries))], []
    for tag, kind, values in entries:
        if kind == _UNDEFINED:
            payload = bytes(values)
        elif kind == _RATIONAL:
            payload = struct.pack(order + "I" * (2 * len(values)), *[v for pair in values for v in pair])
        else:
            payload = struct.pack(order + ("H" if kind == _SHORT else "I") * len(values), *values)
        count = len(payload) // size[kind]
        if len(payload) <= 4:
            head.append(struct.pack(order + "HHI", tag, kind, count) + payload.ljust(4, b"\0"))
        else:
            head.append(struct.pack(order + "HHII", tag, kind, count, data_at))
            tail.append(payload + b"\0" * (len(payload) % 2))
            data_at += len(payload) + len(payload) % 2
    return b"".join(head) + struct.pack(order + "I", 0) + b"".join(tail)


def _compress(rows: np.ndarray, compression: str) -> tuple[list[bytes], int]:
    """Strips of ``rows`` (uint8 ``(H, N)``) compressed by Pillow/libtiff with its TIFF codec
    (``raw``, ``tiff_lzw``, ``tiff_adobe_deflate``, ``packbits``); returns ``(strips, rows per strip)``."""
    buf = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(rows)).save(buf, "TIFF", compression=compression)
    with PILImage.open(buf) as im:
        tags = im.tag_v2
        offsets, counts = tags[273], tags[279]
        rows_per_strip = int(tags.get(278, rows.shape[0]))
    data = buf.getvalue()
    return [data[o : o + c] for o, c in zip(offsets, counts, strict=True)], rows_per_strip


_CODES = {"raw": 1, "tiff_lzw": 5, "tiff_adobe_deflate": 8, "packbits": 32773}


def _predict(samples: np.ndarray, predictor: int) -> np.ndarray:
    """Rows of samples ``(H, W, S)`` -> bytes ``(H, W * S * B)`` as the TIFF predictor stores them."""
    height, _, spp = samples.shape
    if predictor == 3:  # byte planes, most significant first, then byte differences with stride S
        size = samples.dtype.itemsize
        bytes_be = samples.astype(samples.dtype.newbyteorder(">")).view(np.uint8).reshape(height, -1, size)
        shuffled = bytes_be.transpose(0, 2, 1).reshape(height, -1, spp)
        diff = shuffled.copy()
        diff[:, 1:] -= shuffled[:, :-1]
        return diff.reshape(height, -1)
    data = samples.copy()
    if predictor == 2:
        data[:, 1:] -= samples[:, :-1]
    return data.view(np.uint8).reshape(height, -1)


def _tiff(
    path: Path,
    samples: np.ndarray,
    *,
    photometric: int,
    planar: bool = False,
    compression: str = "raw",
    predictor: int = 1,
    extra: list[int] | None = None,
    big_endian: bool = False,
    more_tags: list[tuple[int, int, list]] | None = None,
) -> Path:
    """Write ``samples`` ``(H, W, S)`` (uint8/uint16/float) as a TIFF, strips compressed by Pillow."""
    order = ">" if big_endian else "<"
    samples = samples.astype(samples.dtype.newbyteorder(order))
    height, width, spp = samples.shape
    planes = [samples[..., i : i + 1] for i in range(spp)] if planar else [samples]
    strips, counts_rows = [], height
    for plane in planes:
        if predictor == 3:
            rows = _predict(plane.astype(plane.dtype.newbyteorder("=")), 3)
        else:
            rows = _predict(plane, predictor)
        chunk_list, counts_rows = _compress(rows, compression)
        strips += chunk_list
    offsets, position = [], 8
    for strip in strips:
        offsets.append(position)
        position += len(strip)
    ifd_at = position + position % 2
    kind = samples.dtype.kind
    entries: list[tuple[int, int, list]] = [
        (256, _LONG, [width]),
        (257, _LONG, [height]),
        (258, _SHORT, [samples.dtype.itemsize * 8] * spp),
        (259, _SHORT, [_CODES[compression]]),
        (262, _SHORT, [photometric]),
        (273, _LONG, offsets),
        (277, _SHORT, [spp]),
        (278, _LONG, [counts_rows]),
        (279, _LONG, [len(s) for s in strips]),
        (284, _SHORT, [2 if planar else 1]),
        (339, _SHORT, [3 if kind == "f" else 1] * spp),
    ]
    if predictor != 1:
        entries.append((317, _SHORT, [predictor]))
    if extra:
        entries.append((338, _SHORT, extra))
    entries += more_tags or []
    header = (b"MM\0*" if big_endian else b"II*\0") + struct.pack(order + "I", ifd_at)
    body = b"".join(strips) + b"\0" * (ifd_at - position)
    path.write_bytes(header + body + _ifd(entries, ifd_at, order))
    return path


def _floats(shape: tuple[int, ...], dtype: type = np.float32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(dtype)


TIFF_CASES = {
    # name: (samples, photometric, planar, compression, predictor, big-endian)
    "f32_rgb_raw": (_floats((13, 17, 3)), 2, False, "raw", 1, False),
    "f32_rgb_lzw_fp_predictor": (_floats((13, 17, 3)), 2, False, "tiff_lzw", 3, False),
    "f32_rgb_planar_deflate_be": (_floats((13, 17, 3)), 2, True, "tiff_adobe_deflate", 1, True),
    "f32_gray_deflate_fp_predictor": (_floats((21, 19, 1)), 1, False, "tiff_adobe_deflate", 3, False),
    "f16_rgb_packbits": (_floats((13, 17, 3), np.float16), 2, False, "packbits", 1, False),
    "f64_gray_planar_lzw_fp_predictor": (_floats((9, 11, 2), np.float64), 1, True, "tiff_lzw", 3, True),
    "u16_rgb_planar_raw": (_rand((13, 17, 3), np.uint16), 2, True, "raw", 1, False),
    "u16_rgb_planar_lzw_predictor": (_rand((13, 17, 3), np.uint16), 2, True, "tiff_lzw", 2, False),
    "u16_rgba_planar_deflate_be": (_rand((13, 17, 4), np.uint16), 2, True, "tiff_adobe_deflate", 2, True),
    "u16_gray_alpha_packbits": (_rand((13, 17, 2), np.uint16), 1, False, "packbits", 1, False),
    "u16_gray_alpha_planar_lzw": (_rand((13, 17, 2), np.uint16), 1, True, "tiff_lzw", 2, True),
    "u8_gray_alpha_no_extra_tag": (_rand((13, 17, 2)), 1, False, "raw", 1, False),
}


@pytest.mark.parametrize("case", sorted(TIFF_CASES))
def test_tiff_layouts_pillow_cannot_decode_are_read_exactly(tmp_path: Path, case: str) -> None:
    samples, photometric, planar, compression, predictor, big_endian = TIFF_CASES[case]
    extra = [2] if samples.shape[2] in (2, 4) and case != "u8_gray_alpha_no_extra_tag" else None
    path = _tiff(
        tmp_path / f"{case}.tif",
        samples,
        photometric=photometric,
        planar=planar,
        compression=compression,
        predictor=predictor,
        extra=extra,
        big_endian=big_endian,
    )
    img = read_image(path)
    assert img.info.format == "TIFF" and img.info.has_alpha == (samples.shape[2] in (2, 4))
    assert img.info.frames == 1 and img.info.bit_depth == (8 if samples.dtype == np.uint8 else 16)
    if samples.dtype.kind == "f":
        assert img.info.mode.endswith(f";F{samples.dtype.itemsize * 8}")
        assert np.array_equal(_planes(img), samples.astype(np.float32))
    else:
        assert np.array_equal(_ints(img), samples)
    header = read_header(path)
    assert (header.width, header.height, header.mode) == (samples.shape[1], samples.shape[0], img.info.mode)


def test_the_test_writer_agrees_with_libtiff_on_the_float_predictor(tmp_path: Path) -> None:
    """Pillow decodes gray float32 itself (libtiff undoes predictor 3): the writer above is right."""
    samples = _floats((21, 19, 1))
    path = _tiff(tmp_path / "f.tif", samples, photometric=1, compression="tiff_adobe_deflate", predictor=3)
    with PILImage.open(path) as im:
        assert im.mode == "F" and np.array_equal(np.asarray(im), samples[..., 0])
    assert np.array_equal(_planes(read_image(path)), samples)


def test_tiff_layouts_cross_check_with_tifffile(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    rgb16 = _rand((3, 20, 30), np.uint16, seed=4)
    f32 = _floats((20, 30, 3), seed=5)
    cases = {
        "planar16.tif": (
            dict(data=rgb16, planarconfig="separate", photometric="rgb"),
            rgb16.transpose(1, 2, 0),
        ),
        "planar16_zlib_tiled.tif": (
            dict(data=rgb16, planarconfig="separate", photometric="rgb", compression="zlib", tile=(16, 16)),
            rgb16.transpose(1, 2, 0),
        ),
        "float_rgb_be.tif": (dict(data=f32, photometric="rgb", byteorder=">"), f32),
        "float_rgb_planar_tiled.tif": (
            dict(data=np.moveaxis(f32, -1, 0), photometric="rgb", planarconfig="separate", tile=(16, 32)),
            f32,
        ),
        "gray16_alpha.tif": (
            dict(data=rgb16[:2].transpose(1, 2, 0), photometric="minisblack", extrasamples=[2]),
            rgb16[:2].transpose(1, 2, 0),
        ),
    }
    for name, (kwargs, want) in cases.items():
        tifffile.imwrite(tmp_path / name, **kwargs)
        img = read_image(tmp_path / name)
        got = _planes(img) if want.dtype.kind == "f" else _ints(img)
        assert np.array_equal(got, want.astype(np.float32) if want.dtype.kind == "f" else want), name


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_with_more_samples_than_rgba_is_refused_not_cut(tmp_path: Path, dtype: type) -> None:
    path = _tiff(tmp_path / "five.tif", _rand((6, 7, 5), dtype), photometric=2, extra=[2, 0])
    for read in (read_image, read_header):
        with pytest.raises(ImageError) as info:
            read(path)
        message = str(info.value)
        assert message.startswith(f"{path}: unsupported TIFF layout: 5 samples per pixel for RGB")
        assert "would lose the other channels" in message and "\n" not in message
    gray3 = _tiff(tmp_path / "gray3.tif", _rand((6, 7, 3), dtype), photometric=1, extra=[2, 0])
    with pytest.raises(ImageError, match="3 samples per pixel for gray"):
        read_image(gray3)


def test_pillow_read_two_sample_tiffs_keep_their_alpha(tmp_path: Path) -> None:
    arr = _rand((6, 7, 2))
    for extra in ([2], [1], None):  # unassociated, premultiplied (Pillow's 'La'), no tag ('LX')
        path = _tiff(tmp_path / f"la{extra}.tif", arr, photometric=1, extra=extra)
        img = read_image(path)
        assert img.info.has_alpha and img.alpha is not None, extra
        if extra != [1]:
            assert np.array_equal(_ints(img), arr), extra


def test_premultiplied_16bit_alpha_is_unpremultiplied(tmp_path: Path) -> None:
    straight = _rand((8, 9, 4), np.uint16, seed=7)
    straight[..., 3] = np.maximum(straight[..., 3], 1000)
    alpha = straight[..., 3:].astype(np.float64) / 65535
    premultiplied = straight.copy()
    premultiplied[..., :3] = np.floor(straight[..., :3] * alpha + 0.5).astype(np.uint16)
    path = _tiff(tmp_path / "pre.tif", premultiplied, photometric=2, extra=[1], planar=True)
    got = _ints(read_image(path)).astype(np.int64)
    assert np.array_equal(got[..., 3], straight[..., 3])
    assert np.abs(got[..., :3] - straight[..., :3]).max() <= 66  # one premultiplied step / alpha


def test_float_tiff_outside_unit_range_or_with_nan_is_refused(tmp_path: Path) -> None:
    hdr = _floats((5, 6, 3)) * 4
    with pytest.raises(ImageError, match=r"float TIFF samples range from .* to .*; srkit reads float"):
        read_image(_tiff(tmp_path / "hdr.tif", hdr, photometric=2))
    nan = _floats((5, 6, 1))
    nan[2, 3] = np.nan
    with pytest.raises(ImageError, match="float TIFF has 1 NaN or infinite samples"):
        read_image(_tiff(tmp_path / "nan.tif", nan, photometric=1))
    slight = np.clip(_floats((5, 6, 1)), 0, 1)
    slight[0, 0], slight[0, 1] = -1e-4, 1 + 1e-4  # rounding of the writing program: clipped
    img = read_image(_tiff(tmp_path / "slight.tif", slight, photometric=1))
    assert float(img.pixels.min()) == 0.0 and float(img.pixels.max()) == 1.0


def test_numpy_tiff_metadata_orientation_white_is_zero_and_pages(tmp_path: Path) -> None:
    samples = _rand((6, 8, 2), np.uint16, seed=3)
    icc = b"fake icc profile bytes"
    more = [
        (274, _SHORT, [6]),  # orientation: rotate 90 degrees clockwise
        (282, _RATIONAL, [(300, 1)]),
        (283, _RATIONAL, [(150, 1)]),
        (296, _SHORT, [2]),
        (34675, _UNDEFINED, list(icc)),
    ]
    path = _tiff(tmp_path / "meta.tif", samples, photometric=0, extra=[2], more_tags=more)
    img = read_image(path)
    want = samples.copy()
    want[..., 0] = 65535 - want[..., 0]  # WhiteIsZero
    assert np.array_equal(_ints(img), np.rot90(want, -1))
    assert img.info.orientation == 6 and img.info.icc_profile == icc and img.info.dpi == (300.0, 150.0)
    pages = tmp_path / "pages.tif"
    frames = [PILImage.fromarray(_rand((5, 6, 3), seed=s)) for s in range(3)]
    frames[0].save(pages, save_all=True, append_images=frames[1:])
    assert read_image(pages).info.frames == 3


# --------------------------------------------------------------------------------------------------
# GIF and animations: frame 1, with the frame count recorded
# --------------------------------------------------------------------------------------------------


def test_animated_gif_is_read_as_its_first_frame(tmp_path: Path) -> None:
    frames = [PILImage.fromarray(_rand((20, 30, 3), seed=s)).convert("P") for s in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    img = read_image(path)
    assert img.info.format == "GIF" and img.info.frames == 3 and img.alpha is None
    with PILImage.open(path) as im:
        want = np.asarray(im.convert("RGB"))
    assert np.array_equal(_ints(img), want)
    header = read_header(path)
    assert (header.format, header.width, header.height) == ("GIF", 30, 20)


def test_gif_transparency_becomes_alpha(tmp_path: Path) -> None:
    index = _rand((10, 12)) % 4
    im = PILImage.fromarray(index, "P")
    im.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    path = tmp_path / "t.gif"
    im.save(path, transparency=1)
    img = read_image(path)
    assert img.info.frames == 1 and img.alpha is not None
    assert np.array_equal(img.alpha[0].numpy() == 0, index == 1)


def test_a_folder_run_finds_gifs_and_writes_png(tmp_path: Path) -> None:
    from srkit.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    PILImage.fromarray(_rand((10, 12, 3))).convert("P").save(folder / "a.gif")
    PILImage.fromarray(_rand((10, 12, 3), seed=1)).save(folder / "b.png")
    out = tmp_path / "out"
    assert main(["upscale", str(folder), "--model", "bicubic", "--scale", "2", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.png", "b_x2.png"]
    with PILImage.open(out / "a_x2.png") as im:
        assert (im.format, im.size, im.mode) == ("PNG", (24, 20), "RGB")


@pytest.mark.parametrize(("suffix", "options"), [(".png", {}), (".webp", {"lossless": True})])
def test_animated_png_and_webp_say_how_many_frames(tmp_path: Path, suffix: str, options: dict) -> None:
    frames = [PILImage.fromarray(_rand((12, 10, 3), seed=s)) for s in range(4)]
    path = tmp_path / f"anim{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:], **options)
    img = read_image(path)
    assert img.info.frames == 4 and np.array_equal(_ints(img), np.asarray(frames[0]))
    still = tmp_path / f"still{suffix}"
    frames[0].save(still, **options)
    assert read_image(still).info.frames == 1
