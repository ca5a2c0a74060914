"""srkit.io.images: decoding every supported format and mode, faithful write-back (bit depth, alpha, ICC,
EXIF), the pixel limit, one-line errors and atomic writes."""

from __future__ import annotations

import io
import os
import struct
import time
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from PIL import ImageCms

from srkit.errors import ImageError
from srkit.io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    Image,
    ImageInfo,
    image_to_uint8,
    image_to_uint16,
    is_image_file,
    read_image,
    uint8_to_tensor,
    write_image,
)
from srkit.io.images import pixels as pixels_module
from srkit.io.images import png16 as png16_module

ADAM7 = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]
PNG_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- helpers


def _rand(shape: tuple[int, ...], dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(0, int(info.max) + 1, shape, dtype=dtype)


def _ints(image: Image) -> np.ndarray:
    """Colour plus alpha of ``image`` as integers ``(H, W, C)`` at the image's bit depth."""
    maximum = 65535 if image.info.bit_depth == 16 else 255
    planes = image.pixels if image.alpha is None else torch.cat([image.pixels, image.alpha])
    ints = np.round(planes.numpy().astype(np.float64) * maximum)
    return ints.astype(np.uint16 if maximum == 65535 else np.uint8).transpose(1, 2, 0)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png16(arr: np.ndarray, interlace: bool = False) -> bytes:
    """A reference 16-bit PNG encoder (filter type 0, optional Adam7), independent of srkit's encoder."""
    height, width, channels = arr.shape
    big = arr.astype(">u2")
    passes = [big[r::dr, c::dc] for r, c, dr, dc in ADAM7] if interlace else [big]
    raw = b"".join(b"\x00" + row.tobytes() for p in passes if p.size for row in p)
    header = struct.pack(">IIBBBBB", width, height, 16, PNG_COLOR_TYPES[channels], 0, 0, int(interlace))
    return PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


def _png_filter_types(data: bytes, row_bytes: int) -> set[int]:
    """The filter type byte of every row of a non-interlaced PNG."""
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return {raw[i] for i in range(0, len(raw), row_bytes + 1)}


def _smooth16(height: int, width: int, channels: int) -> np.ndarray:
    """Gradients plus noise: rows where different PNG filters win."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([(xx * 997 + yy * 31 * c) % 65536 for c in range(channels)], axis=-1)
    return (base + _rand((height, width, channels), np.uint16) % 97).astype(np.uint16)


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _quadrants(height: int, width: int) -> np.ndarray:
    """RGB image: red top-left, blue top-right, green bottom-left, white bottom-right."""
    img = np.zeros((height, width, 3), np.uint8)
    h, w = height // 2, width // 2
    img[:h, :w] = (255, 0, 0)
    img[:h, w:] = (0, 0, 255)
    img[h:, :w] = (0, 255, 0)
    img[h:, w:] = (255, 255, 255)
    return img


def _mean_rgb(pixels: torch.Tensor, rows: slice, cols: slice) -> np.ndarray:
    return pixels[:, rows, cols].mean(dim=(1, 2)).numpy()


# --- conversions


def test_suffixes_and_suffix_check() -> None:
    assert IMAGE_SUFFIXES == (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")
    assert is_image_file("a/B.JPG") and is_image_file("x.tiff") and is_image_file("anim.GIF")  # GIF: read
    assert not is_image_file("notes.txt")
    assert DEFAULT_MAX_PIXELS == 20000 * 20000  # the fallback when the available memory is unknown


def test_uint8_tensor_round_trip_is_exact_for_every_value() -> None:
    arr = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = np.stack([arr, arr[::-1], arr.T], axis=-1)
    t = uint8_to_tensor(rgb)
    assert t.dtype == torch.float32 and tuple(t.shape) == (3, 16, 16) and t.is_contiguous()
    assert t[0, 0, 5].item() == pytest.approx(5 / 255, abs=1e-7) and t[1, 15, 0].item() == 0.0
    assert np.array_equal(image_to_uint8(t), rgb)
    gray = uint8_to_tensor(arr)
    assert tuple(gray.shape) == (1, 16, 16)
    assert image_to_uint8(gray).shape == (16, 16)
    assert np.array_equal(image_to_uint8(gray), arr)


def test_image_to_uint8_rounds_half_up_clips_and_zeroes_nan() -> None:
    values = torch.tensor([-0.2, 0.0, 0.0019, 0.0021, 0.5, 1.0, 1.7, float("nan")]).view(1, 1, -1)
    assert image_to_uint8(values).tolist() == [[0, 0, 0, 1, 128, 255, 255, 0]]
    assert image_to_uint16(torch.tensor([0.5, 1.0, 1 / 65535]).view(1, 1, 3)).tolist() == [[32768, 65535, 1]]


def test_uint8_to_tensor_rejects_other_dtypes() -> None:
    with pytest.raises(ValueError, match="uint8"):
        uint8_to_tensor(np.zeros((2, 2), np.uint16))


def test_image_validates_shapes_and_exposes_size() -> None:
    img = Image.from_tensor(torch.zeros(1, 4, 6), torch.ones(1, 4, 6))
    assert (img.height, img.width, img.channels, img.is_gray) == (4, 6, 1, True)
    assert img.info.mode == "LA" and img.info.has_alpha
    with pytest.raises(ValueError, match="C = 1 or 3"):
        Image.from_tensor(torch.zeros(4, 4, 6))
    with pytest.raises(ValueError, match="alpha"):
        Image.from_tensor(torch.zeros(3, 4, 6), torch.ones(1, 4, 5))


# --- 8-bit round trips


@pytest.mark.parametrize(
    ("suffix", "channels"),
    [(".png", c) for c in (1, 2, 3, 4)]
    + [(".tif", c) for c in (1, 2, 3, 4)]
    + [(".bmp", 1), (".bmp", 3), (".webp", 3), (".webp", 4)],
)
def test_lossless_8bit_round_trip_is_exact(tmp_path: Path, suffix: str, channels: int) -> None:
    arr = _rand((9, 13, channels), seed=channels)
    data = arr[..., 0] if channels == 1 else arr
    path = write_image(tmp_path / f"img{suffix}", data, lossless=True)
    img = read_image(path)
    assert img.info.bit_depth == 8
    assert img.info.has_alpha == (channels in (2, 4)) == (img.alpha is not None)
    assert img.pixels.dtype == torch.float32 and img.pixels.shape[0] == (1 if channels <= 2 else 3)
    assert (img.height, img.width) == (9, 13)
    assert np.array_equal(_ints(img), arr)


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "1", "P", "I;16"])
def test_reads_png_modes_written_by_pillow(tmp_path: Path, mode: str) -> None:
    rgba = _rand((8, 10, 4), seed=3)
    if mode == "I;16":
        src = PILImage.fromarray(_rand((8, 10), np.uint16, seed=4))
    elif mode == "P":
        src = PILImage.fromarray(rgba[..., :3]).quantize(16)
    else:
        src = PILImage.fromarray(rgba).convert(mode)
    src.save(tmp_path / "src.png")
    img = read_image(tmp_path / "src.png")
    assert img.info.mode == src.mode and img.info.format == "PNG"
    if mode == "I;16":
        assert img.info.bit_depth == 16 and img.is_gray
        assert np.array_equal(_ints(img)[..., 0], np.asarray(src))
        return
    expected = {"1": "L", "P": "RGB"}.get(mode, mode)
    assert np.array_equal(
        _ints(img).squeeze(-1) if expected == "L" else _ints(img), np.asarray(src.convert(expected))
    )
    assert img.is_gray == (expected in ("L", "LA"))


def test_palette_with_transparency_reads_as_rgba(tmp_path: Path) -> None:
    indices = np.array([[0, 1, 2, 1]], np.uint8).repeat(3, axis=0)
    src = PILImage.fromarray(indices, "L").convert("P")
    src.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    src.save(tmp_path / "p.png", transparency=1)
    img = read_image(tmp_path / "p.png")
    assert img.info.mode == "P" and img.info.has_alpha
    assert img.alpha is not None and img.alpha[0, 0].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert img.pixels[:, 0, 0].tolist() == [1.0, 0.0, 0.0] and img.pixels[:, 0, 2].tolist() == [0.0, 0.0, 1.0]


def test_rgb_colour_key_becomes_alpha(tmp_path: Path) -> None:
    arr = np.zeros((2, 3, 3), np.uint8)
    arr[0, 1] = (10, 20, 30)
    PILImage.fromarray(arr).save(tmp_path / "k.png", transparency=(10, 20, 30))
    img = read_image(tmp_path / "k.png")
    assert img.alpha is not None
    assert img.alpha[0].tolist() == [[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]


# --- 16 bits


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("interlace", [False, True])
def test_reads_16bit_png_at_full_precision(tmp_path: Path, channels: int, interlace: bool) -> None:
    arr = _rand((13, 11, channels), np.uint16, seed=channels)
    (tmp_path / "x.png").write_bytes(_png16(arr, interlace))
    img = read_image(tmp_path / "x.png")
    assert img.info.bit_depth == 16 and img.info.has_alpha == (channels in (2, 4))
    assert img.info.mode == {1: "I;16", 2: "LA;16", 3: "RGB;16", 4: "RGBA;16"}[channels]
    assert img.pixels.shape[0] == (1 if channels <= 2 else 3)
    assert np.array_equal(_ints(img), arr)
    assert img.pixels[0, 0, 0].item() == pytest.approx(arr[0, 0, 0] / 65535, abs=1e-7)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_write_round_trip_is_exact(tmp_path: Path, channels: int, suffix: str) -> None:
    arr = _smooth16(21, 17, channels)
    path = write_image(tmp_path / f"x{suffix}", arr)
    img = read_image(path)
    assert img.info.bit_depth == 16
    # Pillow cannot read 16-bit gray+alpha TIFF, so that is written as 16-bit RGBA.
    expected = (
        np.concatenate([arr[..., :1]] * 3 + [arr[..., 1:]], -1) if (suffix, channels) == (".tif", 2) else arr
    )
    assert np.array_equal(_ints(img), expected)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16bit_tiff_cross_checks_with_tifffile(tmp_path: Path, channels: int) -> None:
    tifffile = pytest.importorskip("tifffile")
    arr = _rand((12, 10, channels), np.uint16, seed=7)
    ours = write_image(tmp_path / "ours.tif", arr, icc_profile=_srgb_icc() if channels > 1 else None)
    assert np.array_equal(tifffile.imread(ours).reshape(arr.shape), arr)
    theirs = tmp_path / "theirs.tif"
    for byteorder, compression in (("<", None), (">", "zlib")):
        tifffile.imwrite(
            theirs,
            arr.squeeze(-1) if channels == 1 else arr,
            byteorder=byteorder,
            compression=compression,
            photometric="minisblack" if channels == 1 else "rgb",
            extrasamples=[2] if channels == 4 else None,
        )
        img = read_image(theirs)
        assert img.info.bit_depth == 16 and np.array_equal(_ints(img), arr)


def test_planar_16bit_tiff_is_read_with_every_bit(tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    arr = _rand((3, 6, 5), np.uint16)
    tifffile.imwrite(tmp_path / "planar.tif", arr, photometric="rgb", planarconfig="separate")
    img = read_image(tmp_path / "planar.tif")  # more layouts: tests/test_hostile_images.py
    assert img.info.bit_depth == 16 and img.info.mode == "RGB;16"
    assert np.array_equal(_ints(img), arr.transpose(1, 2, 0))


@pytest.mark.parametrize("filter_type", [0, 1, 2, 3, 4])
def test_png16_encoder_each_filter_type_decodes_exactly(
    tmp_path: Path, monkeypatch, filter_type: int
) -> None:
    monkeypatch.setattr(png16_module, "_PNG_FILTERS", (filter_type,))
    for channels in (1, 3):
        arr = _smooth16(19, 23, channels)
        path = write_image(tmp_path / f"f{channels}.png", arr)
        assert _png_filter_types(path.read_bytes(), 23 * channels * 2) == {filter_type}
        assert np.array_equal(_ints(read_image(path)), arr)


def test_png16_encoder_adapts_filters_per_row(tmp_path: Path) -> None:
    arr = _smooth16(40, 50, 3)
    arr[20:] = _rand((20, 50, 3), np.uint16, seed=9)  # noise rows: filter 0 wins there
    path = write_image(tmp_path / "adaptive.png", arr)
    assert len(_png_filter_types(path.read_bytes(), 50 * 3 * 2)) >= 2
    assert np.array_equal(_ints(read_image(path)), arr)


def test_16bit_image_is_written_8bit_where_the_format_has_no_16bit(tmp_path: Path) -> None:
    arr = np.array([[[0, 257 * 100, 65535]]], np.uint16).repeat(8, 0).repeat(8, 1)
    for suffix in (".bmp", ".jpg", ".webp"):
        img = read_image(write_image(tmp_path / f"x{suffix}", arr, lossless=True, quality=100))
        assert img.info.bit_depth == 8
        assert np.allclose(_ints(img)[4, 4].astype(int), [0, 100, 255], atol=3), suffix
    img8 = read_image(write_image(tmp_path / "forced8.png", arr, bit_depth=8))
    assert img8.info.bit_depth == 8 and _ints(img8)[0, 0].tolist() == [0, 100, 255]


def test_16bit_image_object_keeps_depth_across_formats(tmp_path: Path) -> None:
    arr = _rand((6, 7, 4), np.uint16, seed=11)
    (tmp_path / "a.png").write_bytes(_png16(arr))
    img = read_image(tmp_path / "a.png")
    back = read_image(write_image(tmp_path / "b.tif", img))
    assert back.info.bit_depth == 16 and np.array_equal(_ints(back), arr)


# --- metadata


@pytest.mark.parametrize(
    ("suffix", "bit_depth"), [(".png", 8), (".png", 16), (".jpg", 8), (".tif", 8), (".tif", 16), (".webp", 8)]
)
def test_icc_profile_is_preserved(tmp_path: Path, suffix: str, bit_depth: int) -> None:
    icc = _srgb_icc()
    arr = _rand((8, 8, 3), np.uint16 if bit_depth == 16 else np.uint8)
    first = read_image(write_image(tmp_path / f"a{suffix}", arr, icc_profile=icc))
    assert first.info.icc_profile == icc and first.info.bit_depth == bit_depth
    second = read_image(write_image(tmp_path / f"b{suffix}", first))  # carried by the Image itself
    assert second.info.icc_profile == icc
    third = read_image(write_image(tmp_path / f"c{suffix}", first, icc_profile=b""))
    assert third.info.icc_profile is None


def test_rgb_icc_profile_is_left_off_a_gray_image(tmp_path: Path) -> None:
    img = read_image(write_image(tmp_path / "g.png", _rand((4, 4)), icc_profile=_srgb_icc()))
    assert img.is_gray and img.info.icc_profile is None


def test_exif_orientation_is_applied_and_dropped(tmp_path: Path) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif[0x0131] = "srkit-test"  # Software
    PILImage.fromarray(_quadrants(16, 32)).save(tmp_path / "o.jpg", exif=exif, quality=95)
    img = read_image(tmp_path / "o.jpg")
    assert (img.height, img.width) == (32, 16) and img.info.orientation == 6
    # Clockwise: bottom-left (green) moves to top-left, top-left (red) to top-right, etc.
    expected = {(0, 0): (0, 1, 0), (0, 1): (1, 0, 0), (1, 0): (1, 1, 1), (1, 1): (0, 0, 1)}
    for (qr, qc), colour in expected.items():
        rows, cols = slice(qr * 16 + 3, qr * 16 + 13), slice(qc * 8 + 2, qc * 8 + 6)
        assert np.allclose(_mean_rgb(img.pixels, rows, cols), colour, atol=0.05), (qr, qc)
    kept = PILImage.Exif()
    kept.load(img.info.exif)
    assert 0x0112 not in kept and kept[0x0131] == "srkit-test"
    again = read_image(write_image(tmp_path / "again.jpg", img))
    assert (again.height, again.width) == (32, 16) and again.info.orientation == 1
    assert (again.pixels - img.pixels).abs().mean().item() < 0.02  # re-encoded, not rotated again


def test_cmyk_jpeg_reads_as_rgb(tmp_path: Path) -> None:
    cmyk = np.zeros((16, 80, 4), np.uint8)
    inks = [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (0, 0, 0, 255), (0, 0, 0, 0)]
    for i, ink in enumerate(inks):
        cmyk[:, i * 16 : (i + 1) * 16] = ink
    PILImage.fromarray(cmyk, "CMYK").save(tmp_path / "cmyk.jpg", quality=95)  # Adobe, inverted CMYK
    img = read_image(tmp_path / "cmyk.jpg")
    assert img.info.mode == "CMYK" and img.info.format == "JPEG" and img.pixels.shape[0] == 3
    assert img.info.icc_profile is None
    expected = [(0, 1, 1), (1, 0, 1), (1, 1, 0), (0, 0, 0), (1, 1, 1)]
    for i, colour in enumerate(expected):
        assert np.allclose(
            _mean_rgb(img.pixels, slice(4, 12), slice(i * 16 + 4, i * 16 + 12)), colour, atol=0.06
        )


def test_dpi_round_trips(tmp_path: Path) -> None:
    for suffix in (".png", ".jpg", ".tif"):
        for depth in (8, 16):
            src = Image.from_tensor(torch.rand(3, 4, 4), bit_depth=depth)
            src.info.dpi = (300.0, 150.0)
            img = read_image(write_image(tmp_path / f"d{depth}{suffix}", src))
            assert img.info.dpi is not None and np.allclose(img.info.dpi, (300, 150), atol=0.1), (
                suffix,
                depth,
            )


def test_jpeg_drops_alpha_and_keeps_gray(tmp_path: Path) -> None:
    rgba = np.concatenate([np.full((8, 8, 3), 200, np.uint8), np.zeros((8, 8, 1), np.uint8)], -1)
    img = read_image(write_image(tmp_path / "a.jpg", rgba))
    assert img.alpha is None and not img.info.has_alpha and img.pixels.shape[0] == 3
    assert np.allclose(img.pixels.numpy(), 200 / 255, atol=2 / 255)
    gray = read_image(write_image(tmp_path / "g.jpeg", torch.full((2, 8, 8), 0.5)))
    assert gray.is_gray and gray.alpha is None and gray.info.mode == "L"


def test_writes_float_tensor_with_alpha_channel(tmp_path: Path) -> None:
    t = torch.rand(4, 5, 6)
    img = read_image(write_image(tmp_path / "t.png", t))
    assert img.alpha is not None and img.info.bit_depth == 8
    assert torch.allclose(torch.cat([img.pixels, img.alpha]), t, atol=0.5 / 255 + 1e-6)
    assert read_image(write_image(tmp_path / "g.webp", t[:1], lossless=True)).pixels.shape[0] == 3


# --- read errors


def _truncated(tmp_path: Path, suffix: str) -> Path:
    buf = io.BytesIO()
    PILImage.fromarray(_rand((64, 64, 3))).save(buf, format="PNG" if suffix == ".png" else "JPEG")
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def _i_mode_tiff(tmp_path: Path) -> Path:
    path = tmp_path / "int32.tif"
    PILImage.fromarray(np.zeros((4, 4), np.int32)).save(path)
    return path


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


ERROR_CASES = {
    "missing": (lambda d: d / "missing.png", "file not found"),
    "directory": (lambda d: _folder(d / "folder.png"), "is a directory"),
    "empty": (lambda d: _file(d / "empty.png", b""), "file is empty (0 bytes)"),
    "text": (lambda d: _file(d / "notes.png", b"hello\n"), "not a PNG, JPEG, WebP, TIFF, BMP or GIF image"),
    "bad_header": (lambda d: _file(d / "h.png", PNG_MAGIC + bytes(40)), "corrupt or truncated PNG header"),
    "truncated_png": (lambda d: _truncated(d, ".png"), "file truncated or corrupt"),
    "truncated_jpeg": (lambda d: _truncated(d, ".jpg"), "file truncated or corrupt"),
    "unsupported_mode": (_i_mode_tiff, "unsupported pixel mode 'I'"),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_read_errors_are_one_line_with_file_and_reason(tmp_path: Path, case: str) -> None:
    make, reason = ERROR_CASES[case]
    path = make(tmp_path)
    with pytest.raises(ImageError) as info:
        read_image(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and reason in message, message
    assert "\n" not in message and info.value.path == str(path)


def _bomb_png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(64))) + _chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_rejected_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png(100_000, 100_000))
    assert path.stat().st_size < 200
    start = time.perf_counter()
    with pytest.raises(ImageError, match=r"100000x100000 = 10000000000 pixels, more than the limit of \d+ "):
        read_image(path)
    assert time.perf_counter() - start < 1.0


def test_pixel_limit_from_argument_and_environment(tmp_path: Path, monkeypatch) -> None:
    path = write_image(tmp_path / "s.png", _rand((10, 11)))
    monkeypatch.setenv("SRKIT_MAX_PIXELS", "109")
    with pytest.raises(ImageError, match="110 pixels, more than the limit of 109"):
        read_image(path)
    assert read_image(path, max_pixels=110).width == 11
    monkeypatch.setenv("SRKIT_MAX_PIXELS", "110")
    assert read_image(path).height == 10
    monkeypatch.setenv("SRKIT_MAX_PIXELS", "lots")
    with pytest.raises(ImageError, match="SRKIT_MAX_PIXELS='lots' is not a positive integer"):
        read_image(path)
    with pytest.raises(ImageError, match="max_pixels must be a positive integer"):
        read_image(path, max_pixels=0)


def test_pil_bomb_check_neither_warns_nor_changes_globals(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)  # every 64x64 image is a "bomb" to PIL
    files = [
        write_image(tmp_path / "a.png", _rand((64, 64, 3))),
        write_image(tmp_path / "a.jpg", _rand((64, 64, 3))),
        write_image(tmp_path / "a.tif", _rand((64, 64, 3))),
        write_image(tmp_path / "b.tif", _rand((64, 64, 3), np.uint16)),
        write_image(tmp_path / "a.webp", _rand((64, 64, 3))),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for path in files:
            assert read_image(path).width == 64, path
    assert PILImage.MAX_IMAGE_PIXELS == 1000
    for path in files:  # still our limit that rules
        with pytest.raises(ImageError, match="limit of 2000"):
            read_image(path, max_pixels=2000)
    assert PILImage.MAX_IMAGE_PIXELS == 1000


# --- writing


def test_write_errors(tmp_path: Path) -> None:
    arr = _rand((4, 4, 3))
    cases = [
        (lambda: write_image(tmp_path / "x.ico", arr), "unknown image suffix '.ico'"),
        (lambda: write_image(tmp_path / "x.png", arr, bit_depth=12), "bit_depth must be 8 or 16"),
        (lambda: write_image(tmp_path / "x.jpg", arr, quality=0), "quality must be an integer from 1 to 100"),
        (lambda: write_image(tmp_path / "x.png", torch.rand(1, 3, 4, 4)), "expected float (C, H, W)"),
        (lambda: write_image(tmp_path / "x.png", arr.astype(np.float64)), "float64 array"),
        (lambda: write_image(tmp_path / "x.png", arr, format="ico"), "unsupported output format 'ico'"),
        (lambda: write_image(tmp_path / "x.jpg", arr, background=(0, 0, 256)), "background must be three"),
        (lambda: write_image(tmp_path, arr, format="png"), "is a directory"),
    ]
    for call, reason in cases:
        with pytest.raises(ImageError) as info:
            call()
        assert reason in str(info.value) and "\n" not in str(info.value)
    assert sorted(os.listdir(tmp_path)) == []


def test_write_uses_format_argument_and_creates_folders(tmp_path: Path) -> None:
    path = write_image(tmp_path / "deep" / "er" / "image.dat", _rand((4, 5, 3)), format="jpg")
    assert path == tmp_path / "deep" / "er" / "image.dat"
    assert path.read_bytes()[:3] == b"\xff\xd8\xff" and read_image(path).info.format == "JPEG"


def test_failed_write_leaves_existing_file_untouched(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"original")

    def broken_save(self, fp, *args, **kwargs):  # writes part of a file, then fails
        fp.write(b"\x89PNG partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(PILImage.Image, "save", broken_save)
    with pytest.raises(ImageError, match=r"cannot write PNG file \(No space left on device\)"):
        write_image(target, _rand((8, 8, 3)))
    assert target.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["out.png"]


def test_failed_rename_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "out.tif"
    target.write_bytes(b"original")

    def broken_replace(src, dst):
        raise PermissionError("read-only folder")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ImageError, match="read-only folder"):
        write_image(target, _rand((8, 8, 3), np.uint16))  # the 16-bit encoder path
    assert target.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["out.tif"]


def test_successful_write_replaces_file(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    arr = _rand((5, 5))
    write_image(target, arr)
    assert os.listdir(tmp_path) == ["out.png"]
    assert np.array_equal(_ints(read_image(target))[..., 0], arr)


def test_image_info_defaults() -> None:
    info = ImageInfo(path=None, format=None, mode="RGB", bit_depth=8, has_alpha=False)
    assert info.icc_profile is None and info.exif is None and info.dpi is None and info.orientation == 1


# --- integer arrays: written without a float copy


def _as_float(arr: np.ndarray) -> torch.Tensor:
    """An integer ``(H, W[, C])`` array as the float ``(C, H, W)`` tensor ``value / max`` (float32)."""
    chw = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(chw.astype(np.float32)) / float(np.iinfo(arr.dtype).max)


def _no_float_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every float conversion of the writer fail."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("integer pixels went through float")

    monkeypatch.setattr(pixels_module, "_quantize", refuse)
    monkeypatch.setattr(pixels_module, "hwc_to_tensor", refuse)


@pytest.mark.parametrize(
    ("suffix", "dtype", "shape"),
    [
        (".png", np.uint8, (11, 9)),
        (".png", np.uint8, (11, 9, 2)),
        (".png", np.uint8, (11, 9, 3)),
        (".png", np.uint8, (11, 9, 4)),
        (".png", np.uint16, (11, 9, 1)),
        (".png", np.uint16, (11, 9, 2)),
        (".png", np.uint16, (11, 9, 4)),
        (".tif", np.uint16, (11, 9, 2)),  # becomes 16-bit RGBA
        (".tif", np.uint8, (11, 9, 4)),
        (".jpg", np.uint8, (11, 9, 4)),  # alpha dropped
        (".bmp", np.uint8, (11, 9, 2)),
        (".webp", np.uint8, (11, 9, 2)),  # gray becomes RGB
    ],
)
def test_integer_array_writes_the_same_file_as_floats(
    tmp_path: Path, suffix: str, dtype: type, shape: tuple[int, ...]
) -> None:
    arr = _rand(shape, dtype, seed=len(shape) + shape[-1])
    depth = 16 if dtype == np.uint16 else 8
    floats = write_image(tmp_path / f"float{suffix}", _as_float(arr), bit_depth=depth, lossless=True)
    ints = write_image(tmp_path / f"int{suffix}", arr, lossless=True)
    assert ints.read_bytes() == floats.read_bytes()
    if suffix == ".png":
        img = read_image(ints)
        assert img.info.bit_depth == depth and img.info.has_alpha == (arr.ndim == 3 and shape[2] in (2, 4))
        assert np.array_equal(_ints(img), arr.reshape(*shape[:2], -1))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_integer_array_depth_conversion_rounds_as_floats_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    monkeypatch.setattr(pixels_module, "_CONVERT_BLOCK", 1000)  # several blocks and a partial last one
    every16 = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    down = write_image(tmp_path / f"down{suffix}", every16, bit_depth=8, quality=100)
    down_float = write_image(tmp_path / f"down_f{suffix}", _as_float(every16), bit_depth=8, quality=100)
    assert down.read_bytes() == down_float.read_bytes()
    if suffix == ".png":
        got = _ints(read_image(down))[..., 0].astype(np.int64)
        assert np.array_equal(got, np.floor(every16 / 257 + 0.5).astype(np.int64))
        every8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
        up = write_image(tmp_path / "up.png", every8, bit_depth=16)
        up_float = write_image(tmp_path / "up_f.png", _as_float(every8), bit_depth=16)
        assert up.read_bytes() == up_float.read_bytes()
        assert np.array_equal(_ints(read_image(up))[..., 0], every8.astype(np.uint16) * 257)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".bmp", ".webp", ".jpg"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("bit_depth", [None, 8, 16])
def test_integer_array_is_never_converted_to_float(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, dtype: type, bit_depth: int | None
) -> None:
    arr = _rand((10, 12, 4), dtype, seed=3)
    wanted = write_image(
        tmp_path / f"want{suffix}",
        _as_float(arr),
        bit_depth=bit_depth or (16 if dtype == np.uint16 else 8),
        lossless=True,
    )
    _no_float_conversion(monkeypatch)
    path = write_image(tmp_path / f"x{suffix}", arr, bit_depth=bit_depth, lossless=True)
    assert path.read_bytes() == wanted.read_bytes()
    with pytest.raises(AssertionError, match="went through float"):  # the float path is really refused
        write_image(tmp_path / f"f{suffix}", _as_float(arr))


def test_integer_array_write_holds_no_full_size_copy(tmp_path: Path) -> None:
    arr = _rand((1024, 1024, 3), seed=5)
    tracemalloc.start()
    try:
        write_image(tmp_path / "big.png", arr)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < arr.nbytes // 2  # the float path held a float32 copy: 4x arr.nbytes
    assert np.array_equal(_ints(read_image(tmp_path / "big.png")), arr)


@pytest.mark.parametrize(
    ("suffix", "dtype", "stores_exif", "stores_dpi"),
    [
        (".png", np.uint8, True, True),
        (".png", np.uint16, True, True),
        (".jpg", np.uint8, True, True),
        (".webp", np.uint8, True, False),
        (".tif", np.uint8, False, True),
        (".tif", np.uint16, False, True),
    ],
)
def test_metadata_arguments_are_written(
    tmp_path: Path, suffix: str, dtype: type, stores_exif: bool, stores_dpi: bool
) -> None:
    icc = _srgb_icc()
    exif = PILImage.Exif()
    exif[0x0131] = "srkit-test"  # Software
    arr = _rand((8, 9, 3), dtype)
    path = write_image(tmp_path / f"m{suffix}", arr, icc_profile=icc, exif=exif.tobytes(), dpi=(300, 150))
    img = read_image(path)
    assert img.info.icc_profile == icc and img.info.bit_depth == (16 if dtype == np.uint16 else 8)
    if stores_exif:
        kept = PILImage.Exif()
        kept.load(img.info.exif)
        assert kept[0x0131] == "srkit-test"
    else:
        assert img.info.exif is None
    if stores_dpi:
        assert img.info.dpi is not None and np.allclose(img.info.dpi, (300, 150), atol=0.1)
    else:
        assert img.info.dpi is None
    plain = read_image(write_image(tmp_path / f"plain{suffix}", arr))
    assert plain.info.icc_profile is None and plain.info.exif is None
    assert plain.info.dpi is None or not np.allclose(plain.info.dpi, (300, 150))  # TIFF readers say 1x1


def test_metadata_arguments_override_the_image(tmp_path: Path) -> None:
    exif = PILImage.Exif()
    exif[0x0131] = "srkit-test"
    src = Image.from_tensor(torch.rand(3, 6, 5))
    src.info.exif, src.info.dpi = exif.tobytes(), (72.0, 72.0)
    kept = read_image(write_image(tmp_path / "kept.png", src))
    assert kept.info.exif is not None and np.allclose(kept.info.dpi, (72, 72), atol=0.1)
    changed = read_image(write_image(tmp_path / "changed.png", src, exif=b"", dpi=(144, 288)))
    assert changed.info.exif is None and np.allclose(changed.info.dpi, (144, 288), atol=0.1)
    for bad in ((0, 72), (72,), "72", (72, float("nan")), (True, 72)):
        with pytest.raises(ImageError, match="dpi must be two positive numbers"):
            write_image(tmp_path / "bad.png", src, dpi=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "bad.png").exists()


def test_png_is_written_at_srkit_compression_level(tmp_path: Path) -> None:
    """8-bit PNG output uses ``PNG_COMPRESS_LEVEL`` (4: 2.5x faster than Pillow's 6, files 5% larger;
    docs/speed.md), and the pixels are unchanged (zlib is lossless at every level)."""
    from srkit.io.images.types import PNG_COMPRESS_LEVEL

    rng = np.random.default_rng(0)
    data = np.cumsum(rng.integers(0, 3, (64, 80, 3)), axis=1).astype(np.uint8)  # compressible ramps
    path = write_image(tmp_path / "a.png", data)
    for level in (PNG_COMPRESS_LEVEL, 6):
        PILImage.fromarray(data).save(tmp_path / f"l{level}.png", compress_level=level)
    assert PNG_COMPRESS_LEVEL == 4
    assert path.read_bytes() == (tmp_path / "l4.png").read_bytes() != (tmp_path / "l6.png").read_bytes()
    assert np.array_equal(np.asarray(PILImage.open(path)), data)


# --- GIF, compositing, frames (srkit.io.images.gif, pixels.composite_over, animation)


def test_gif_still_keeps_transparency_and_the_marker(tmp_path: Path) -> None:
    from srkit.io.images.encode import read_provenance
    from srkit.io.images.gif import TRANSPARENT_KEY

    rgba = _rand((12, 10, 4))
    rgba[..., 3] = np.where(_rand((12, 10), seed=1) > 100, 255, 0)
    rgba[0, 0] = (*TRANSPARENT_KEY, 255)  # an opaque pixel of the key colour stays opaque
    path = write_image(tmp_path / "a.gif", rgba, provenance={"source": "a.png"})
    img = read_image(path)
    assert img.info.format == "GIF" and img.alpha is not None
    assert np.array_equal(img.alpha[0].numpy() > 0.5, rgba[..., 3] > 127)
    assert read_provenance(path) == {"source": "a.png", "version": pytest.importorskip("srkit").__version__}
    gray = write_image(tmp_path / "g.gif", _rand((6, 5)))
    assert np.array_equal(_ints(read_image(gray))[..., 0], _rand((6, 5)))  # opaque gray: 256 exact levels
    few = np.kron(_rand((3, 3, 3)), np.ones((2, 2, 1), np.uint8))  # 9 colours: kept exactly
    assert np.array_equal(_ints(read_image(write_image(tmp_path / "f.gif", few))), few)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [2, 4])
def test_composite_over_matches_the_float_formula(dtype: type, channels: int) -> None:
    data = _rand((9, 11, channels), dtype, seed=channels)
    peak = float(np.iinfo(dtype).max)
    for background in ((255, 255, 255), (0, 0, 0), (10, 200, 30)):
        got = pixels_module.composite_over(data, background)
        alpha = data[..., -1:].astype(np.float64) / peak
        under = np.array(background, np.float64) * (257 if dtype == np.uint16 else 1)
        colour = data[..., :-1].astype(np.float64)
        want = np.floor(colour * alpha + under[: got.shape[2]] * (1 - alpha) + 0.5)
        assert got.dtype == dtype and got.shape[2] == (
            1 if channels == 2 and len(set(background)) == 1 else 3
        )
        assert np.abs(got.astype(np.float64) - np.broadcast_to(want, got.shape)).max() <= 1


def test_write_image_composites_over_a_background(tmp_path: Path) -> None:
    rgba = _rand((8, 8, 4))
    rgba[..., 3] = 0
    for suffix in (".jpg", ".bmp"):
        out = read_image(write_image(tmp_path / f"a{suffix}", rgba, background=(0, 0, 255)))
        assert out.alpha is None and np.abs(_ints(out).astype(int) - (0, 0, 255)).max() <= 8
    kept = read_image(write_image(tmp_path / "a.png", rgba, background=(0, 0, 255)))
    assert kept.alpha is not None  # PNG has alpha: nothing composited


def test_frames_round_trip_through_every_multi_frame_format(tmp_path: Path) -> None:
    from srkit.io.images.animation import open_frames, write_frames

    frames = [np.kron(_rand((4, 5, 4), seed=s), np.ones((3, 3, 1), np.uint8)) for s in range(3)]
    for f in frames:
        f[..., 3] = np.where(f[..., 3] > 60, 255, 0)
    for suffix in (".gif", ".png", ".webp", ".tif"):
        path = write_frames(tmp_path / f"a{suffix}", frames, durations=[30, 60, 90], loop=3, lossless=True)
        with open_frames(path) as reader:
            got = list(reader)
        assert reader.count == 3 and len(got) == 3
        if suffix != ".tif":
            assert reader.durations == (30, 60, 90) and reader.loop == 3 and reader.has_alpha
        for image, want in zip(got, frames, strict=True):
            assert image.alpha is not None
            opaque = want[..., 3] == 255
            assert np.array_equal(image.alpha[0].numpy() > 0.5, opaque)
            colour = np.moveaxis((image.pixels.numpy() * 255).round(), 0, -1)
            assert np.abs(colour - want[..., :3])[opaque].max() <= 2


def test_tiff_pages_keep_16_bits_and_their_sizes(tmp_path: Path) -> None:
    from srkit.io.images.animation import open_frames, write_frames

    pages = [
        _rand((6, 7, 3), np.uint16),
        _rand((4, 5), np.uint8, seed=1),
        _rand((5, 3, 2), np.uint16, seed=2),
    ]
    path = write_frames(tmp_path / "p.tif", pages, provenance={"source": "x"})
    with open_frames(path) as reader:
        got = list(reader)
    assert [g.info.bit_depth for g in got] == [16, 8, 16]
    assert np.array_equal(_ints(got[0]), pages[0]) and np.array_equal(_ints(got[1])[..., 0], pages[1])
    assert np.array_equal(_ints(got[2])[..., [0, 3]], pages[2])  # 16-bit gray + alpha stored as RGBA
    assert read_image(path).info.frames == 3


def test_write_frames_errors_leave_nothing(tmp_path: Path) -> None:
    from srkit.io.images.animation import write_frames

    def failing():
        yield _rand((4, 4, 3))
        raise RuntimeError("upscaler broke")

    for suffix in (".gif", ".png", ".webp", ".tif"):
        with pytest.raises(RuntimeError, match="upscaler broke"):
            write_frames(tmp_path / f"a{suffix}", failing())
    cases = [
        (lambda: write_frames(tmp_path / "a.jpg", [_rand((4, 4, 3))]), "JPEG holds one frame"),
        (lambda: write_frames(tmp_path / "a.gif", []), "no frames to write"),
        (lambda: write_frames(tmp_path / "a.tif", []), "no frames to write"),
        (lambda: write_frames(tmp_path / "a.png", [_rand((4, 4, 3)), _rand((5, 4, 3))]), "share one size"),
        (lambda: write_frames(tmp_path / "a.gif", [_rand((4, 4, 3)), _rand((5, 4, 3))]), "share one size"),
        (lambda: write_frames(tmp_path / "a.webp", [_rand((4, 4), np.int32)]), "int32 array"),
    ]
    for call, reason in cases:
        with pytest.raises(ImageError) as info:
            call()
        assert reason in str(info.value) and "\n" not in str(info.value)
    assert sorted(os.listdir(tmp_path)) == []


def test_open_frames_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from srkit.errors import PixelLimitError
    from srkit.io.images.animation import open_frames

    path = tmp_path / "a.gif"
    frames = [PILImage.fromarray(_rand((10, 10, 3), seed=s)) for s in range(5)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with open_frames(path, max_pixels=500) as reader:
        assert reader.count == 5 and not reader.has_alpha
    with pytest.raises(
        PixelLimitError, match="its 5 frames hold 500 pixels in all, more than the limit of 499"
    ):
        open_frames(path, max_pixels=499)
    with pytest.raises(PixelLimitError, match="file has 5 frames, more than the limit of 4"):
        open_frames(path, max_frames=4)
    monkeypatch.setenv("SRKIT_MAX_FRAMES", "many")
    with pytest.raises(ImageError, match="SRKIT_MAX_FRAMES='many' is not a positive integer"):
        open_frames(path)
