"""``srkit upscale`` across formats: animated GIF/APNG/WebP and multi-page TIFF upscaled frame by frame
(timing, loop count and transparency kept), ``--first-frame``, alpha and 16 bits into formats without
them (``--background``, one note), ``--format tiff/bmp/gif``, ``--quality``, and one-line errors for bad
options, truncated animations and frame-count bombs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from PIL import ImageSequence

from srkit.cli import main
from srkit.degrade import resize
from srkit.infer.upscale import is_srkit_output
from srkit.infer.upscalers import load_upscaler
from srkit.io import read_image, write_image
from srkit.io.images.animation import open_frames

DURATIONS = [40, 80, 120]


def _upscale(*args: str) -> int:
    return main(["upscale", *args, "--model", "bicubic", "--scale", "2"])


def _blocks(shape: tuple[int, int], seed: int, levels: int = 4) -> np.ndarray:
    """An RGB picture of 4x4 blocks of a few colours (GIF-friendly, and smooth enough to compare)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, levels, (shape[0] // 4, shape[1] // 4, 3)) * (255 // (levels - 1))
    return np.kron(small, np.ones((4, 4, 1))).astype(np.uint8)


def _rgba_frames(count: int = 3, shape: tuple[int, int] = (24, 32)) -> list[np.ndarray]:
    """RGBA frames, each with a transparent rectangle in another place."""
    frames = []
    for i in range(count):
        rgba = np.dstack([_blocks(shape, seed=i), np.full(shape, 255, np.uint8)])
        rgba[4 + 4 * i : 12 + 4 * i, 8:20, 3] = 0
        frames.append(rgba)
    return frames


def _save_animation(path: Path, frames: list[np.ndarray], **options: object) -> None:
    images = [PILImage.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], **options)


def _read_frames(path: Path) -> tuple[list[np.ndarray], list[float], object]:
    """Every frame of ``path`` as Pillow composites it (RGBA), the durations and the loop count."""
    with PILImage.open(path) as im:
        frames, durations = [], []
        for frame in ImageSequence.Iterator(im):
            frames.append(np.asarray(frame.convert("RGBA")).copy())
            durations.append(frame.info.get("duration"))
        return frames, durations, im.info.get("loop")


def _bicubic(rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What ``--model bicubic --scale 2`` makes of an RGBA frame: RGB (uint8) and alpha (float)."""
    planes = torch.from_numpy(rgba.astype(np.float32) / 255).permute(2, 0, 1)
    rgb = load_upscaler("bicubic", device="cpu")(planes[None, :3], 2)[0]
    alpha = resize(planes[3:], 2.0, kernel="bicubic").clamp(0, 1)[0]
    return (rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy(), alpha.numpy()


def _check_frames(got: list[np.ndarray], sources: list[np.ndarray], bound: float) -> None:
    """Each output frame is the bicubic x2 of its source: colour within ``bound`` (mean absolute error)
    where it is opaque, and transparent where the upscaled alpha is (all but a few edge pixels)."""
    assert len(got) == len(sources)
    for out, src in zip(got, sources, strict=True):
        rgb, alpha = _bicubic(src)
        assert out.shape[:2] == (2 * src.shape[0], 2 * src.shape[1])
        opaque = (alpha > 0.99) & (out[..., 3] == 255)
        error = np.abs(out[..., :3].astype(int) - rgb.astype(int))[opaque].mean()
        assert error < bound, error
        mismatch = ((out[..., 3] > 127) != (alpha >= 0.5)).mean()
        assert mismatch < 0.02, mismatch
        assert (out[..., 3] == 0).any()  # the hole is still transparent


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------------------------------
# Animations and pages
# --------------------------------------------------------------------------------------------------


def test_gif_is_upscaled_frame_by_frame_with_timing_loop_and_transparency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "anim.gif"
    _save_animation(src, _rgba_frames(), duration=DURATIONS, loop=2, disposal=2)
    sources, _, _ = _read_frames(src)
    assert _upscale(str(src)) == 0
    out = tmp_path / "anim_x2.gif"
    frames, durations, loop = _read_frames(out)
    assert durations == DURATIONS and loop == 2
    _check_frames(frames, sources, bound=4.0)
    captured = capsys.readouterr()
    assert "anim.gif -> " in captured.out and "(32x24 -> 64x48" in captured.out
    assert "note" not in captured.err  # GIF to GIF loses nothing worth a note
    assert is_srkit_output(out)
    # the marker makes it srkit's: skipped on the next run, replaced with --overwrite
    assert _upscale(str(src)) == 0 and "(--overwrite replaces it)" in capsys.readouterr().out
    assert _upscale(str(src), "--overwrite") == 0 and "anim.gif -> " in capsys.readouterr().out


def test_partial_gif_frames_are_composited_before_upscaling(tmp_path: Path) -> None:
    """Pillow writes the later frames as the changed rectangle only; the output has full frames."""
    base = _blocks((24, 32), seed=5)
    frames = [base.copy() for _ in range(3)]
    frames[1][4:8, 4:8] = (255, 0, 0)
    frames[2][12:16, 20:28] = (0, 0, 255)
    src = tmp_path / "delta.gif"
    _save_animation(src, frames, duration=50, loop=0)
    with PILImage.open(src) as im:
        im.seek(1)
        assert im.tile[0][1] != (0, 0, 32, 24)  # really a partial frame
    assert _upscale(str(src)) == 0
    got, _, loop = _read_frames(tmp_path / "delta_x2.gif")
    assert loop == 0 and len(got) == 3
    for out, want in zip(got, frames, strict=True):
        rgb, _ = _bicubic(np.dstack([want, np.full(want.shape[:2], 255, np.uint8)]))
        assert np.abs(out[..., :3].astype(int) - rgb.astype(int)).mean() < 4.0
        assert (out[..., 3] == 255).all()


def test_apng_is_upscaled_frame_by_frame(tmp_path: Path) -> None:
    src = tmp_path / "anim.png"
    _save_animation(src, _rgba_frames(), duration=DURATIONS, loop=2)
    sources, _, _ = _read_frames(src)
    assert _upscale(str(src)) == 0
    out = tmp_path / "anim_x2.png"
    frames, durations, loop = _read_frames(out)
    assert durations == DURATIONS and loop == 2
    _check_frames(frames, sources, bound=0.5)  # PNG: exactly the bicubic result
    assert is_srkit_output(out)


def test_animated_webp_is_upscaled_frame_by_frame(tmp_path: Path) -> None:
    src = tmp_path / "anim.webp"
    _save_animation(src, _rgba_frames(), duration=DURATIONS, loop=2, lossless=True)
    sources, _, _ = _read_frames(src)
    assert _upscale(str(src)) == 0
    out = tmp_path / "anim_x2.webp"
    frames, durations, loop = _read_frames(out)
    assert durations == DURATIONS and loop == 2
    _check_frames(frames, sources, bound=12.0)  # lossy WebP at quality 95
    assert is_srkit_output(out)


def test_multi_page_tiff_keeps_every_page(tmp_path: Path) -> None:
    src = tmp_path / "pages.tif"
    rgb, gray = _blocks((16, 20), seed=1), _blocks((12, 8), seed=2)[..., 0]
    deep = (np.arange(10 * 14, dtype=np.uint16).reshape(10, 14) * 401).astype(np.uint16)
    pages = [PILImage.fromarray(rgb), PILImage.fromarray(gray), PILImage.fromarray(deep)]
    pages[0].save(src, save_all=True, append_images=pages[1:])
    assert _upscale(str(src)) == 0
    out = tmp_path / "pages_x2.tif"
    assert is_srkit_output(out)
    with open_frames(out) as reader:
        got = list(reader)
    assert reader.count == 3 and reader.durations is None
    assert [(g.width, g.height, g.channels, g.info.bit_depth) for g in got] == [
        (40, 32, 3, 8),
        (16, 24, 1, 8),
        (28, 20, 1, 16),
    ]
    upscaler = load_upscaler("bicubic", device="cpu")
    for page, want in zip(got, [rgb, gray, deep], strict=True):
        peak = 65535.0 if want.dtype == np.uint16 else 255.0
        planes = torch.from_numpy(np.atleast_3d(want).astype(np.float32) / peak).permute(2, 0, 1)
        expected = upscaler(planes[None], 2)[0].clamp(0, 1)
        assert (page.pixels - expected).abs().max() <= 0.5 / peak + 1e-6


def test_first_frame_gives_a_still(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "anim.gif"
    _save_animation(src, _rgba_frames(), duration=DURATIONS, loop=2, disposal=2)
    sources, _, _ = _read_frames(src)
    assert _upscale(str(src), "--first-frame", "--format", "png") == 0
    out = read_image(tmp_path / "anim_x2.png")
    assert out.info.frames == 1 and (out.width, out.height) == (64, 48) and out.alpha is not None
    assert "note" not in capsys.readouterr().err
    assert _upscale(str(src), "--first-frame") == 0
    frames, _, _ = _read_frames(tmp_path / "anim_x2.gif")
    _check_frames(frames, sources[:1], bound=4.0)
    assert is_srkit_output(tmp_path / "anim_x2.gif")


def test_an_animation_into_jpeg_keeps_frame_one_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "anim.gif"
    _save_animation(src, _rgba_frames(), duration=DURATIONS, loop=2, disposal=2)
    assert _upscale(str(src), "--format", "jpg") == 0
    err = capsys.readouterr().err
    assert f"srkit: note: {src}: JPEG holds one frame: frame 1 of 3 is upscaled; " in err
    assert "JPEG has no alpha: composited over white" in err and err.count("\n") == 1
    assert read_image(tmp_path / "anim_x2.jpg").width == 64


# --------------------------------------------------------------------------------------------------
# Alpha and bit depth into formats without them
# --------------------------------------------------------------------------------------------------


def _rgba_photo(path: Path) -> None:
    rgba = np.dstack([_blocks((24, 32), seed=3), np.full((24, 32), 255, np.uint8)])
    rgba[:, :12, 3] = 0  # left part transparent
    rgba[:, :12, :3] = (20, 200, 40)  # with a hidden colour that must not show
    write_image(path, rgba)


def test_jpeg_from_rgba_is_composited_over_white_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "photo.png"
    _rgba_photo(src)
    assert _upscale(str(src), "--format", "jpg") == 0
    err = capsys.readouterr().err
    assert err == f"srkit: note: {src}: JPEG has no alpha: composited over white\n"
    out = read_image(tmp_path / "photo_x2.jpg")
    assert out.alpha is None
    clear = (out.pixels[:, :, :16] * 255).round()  # well inside the transparent part
    assert clear.min() >= 250


@pytest.mark.parametrize("colour", ["#000000", "0,0,0", "black", "BLACK", "000000"])
def test_background_colour(tmp_path: Path, colour: str, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "photo.png"
    _rgba_photo(src)
    assert _upscale(str(src), "--format", "bmp", "--background", colour) == 0
    assert f"BMP has no alpha: composited over {colour}" in capsys.readouterr().err
    out = read_image(tmp_path / "photo_x2.bmp")
    assert out.info.format == "BMP" and (out.pixels[:, :, :16] * 255).round().max() <= 5


def test_opaque_alpha_is_dropped_without_a_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "opaque.png"
    write_image(src, np.dstack([_blocks((8, 8), seed=4), np.full((8, 8), 255, np.uint8)]))
    assert _upscale(str(src), "--format", "jpg") == 0
    assert "note" not in capsys.readouterr().err


def test_sixteen_bit_into_jpeg_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "deep.png"
    rng = np.random.default_rng(0)
    deep = rng.integers(0, 65535, (8, 8, 4), dtype=np.uint16, endpoint=True)
    deep[..., 3] = 65535
    deep[:4, :4, 3] = 0
    write_image(src, deep)
    assert _upscale(str(src), "--format", "jpg") == 0
    err = capsys.readouterr().err
    assert err == f"srkit: note: {src}: JPEG has no alpha: composited over white; 16-bit reduced to 8-bit\n"
    assert _upscale(str(src), "--format", "tiff") == 0  # TIFF keeps 16 bits and alpha: no note
    assert "note" not in capsys.readouterr().err
    out = read_image(tmp_path / "deep_x2.tiff")
    assert out.info.format == "TIFF" and out.info.bit_depth == 16 and out.alpha is not None


def test_bmp_tiff_and_gif_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "a.png"
    write_image(src, _blocks((12, 16), seed=6))
    assert _upscale(str(src), "--format", "bmp") == 0
    assert _upscale(str(src), "--format", "tiff") == 0
    assert _upscale(str(src), "--format", "gif") == 0
    formats = {p.name: read_image(p).info.format for p in tmp_path.glob("a_x2.*")}
    assert formats == {"a_x2.bmp": "BMP", "a_x2.tiff": "TIFF", "a_x2.gif": "GIF"}
    assert is_srkit_output(tmp_path / "a_x2.tiff") and is_srkit_output(tmp_path / "a_x2.gif")
    assert "GIF holds 256 colours: colours quantised" in capsys.readouterr().err


def test_quality_sets_jpeg_size(tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    rng = np.random.default_rng(1)
    write_image(src, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    sizes = {}
    for quality in ("20", "95"):
        out = tmp_path / quality
        assert _upscale(str(src), "--format", "jpg", "--quality", quality, "-o", str(out)) == 0
        sizes[quality] = (out / "a_x2.jpg").stat().st_size
    assert sizes["20"] < sizes["95"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--background", "nope"], "--background"),
        (["--background", "1,2"], "--background"),
        (["--background", "#12345g"], "--background"),
        (["--quality", "0"], "--quality"),
        (["--quality", "101"], "--quality"),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    tmp_path: Path, args: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "a.png"
    write_image(src, _blocks((8, 8), seed=0))
    assert _upscale(str(src), *args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"srkit: error: {option}: ") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


# --------------------------------------------------------------------------------------------------
# Bad and hostile animations
# --------------------------------------------------------------------------------------------------


def test_truncated_gif_is_a_one_line_failure_leaving_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = tmp_path / "whole.gif"
    frames = [_blocks((32, 32), seed=s) for s in range(3)]
    _save_animation(whole, frames, duration=50)
    src = tmp_path / "cut.gif"
    data = whole.read_bytes()
    src.write_bytes(data[: len(data) - 200])
    out = tmp_path / "out"
    assert _upscale(str(src), "-o", str(out)) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "cut.gif" in line]
    assert lines and all("Traceback" not in line for line in err.splitlines())
    assert f"  {src}: " in err and "truncated" in err
    assert not out.exists() or (not list(out.iterdir()) and _no_temp_files(out))


def test_frame_count_bombs_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "many.gif"
    frames = [np.full((40, 40, 3), (i * 5) % 256, np.uint8) for i in range(50)]
    _save_animation(src, frames, duration=10)
    out = tmp_path / "out"
    monkeypatch.setenv("SRKIT_MAX_PIXELS", str(40 * 40 * 10))  # one frame fits, fifty do not
    assert _upscale(str(src), "-o", str(out)) == 1
    err = capsys.readouterr().err
    assert "its 50 frames hold 80000 pixels in all, more than the limit of 16000" in err
    assert str(src) in err and err.count("Traceback") == 0
    monkeypatch.delenv("SRKIT_MAX_PIXELS")
    monkeypatch.setenv("SRKIT_MAX_FRAMES", "20")
    assert _upscale(str(src), "-o", str(out)) == 1
    assert "file has 50 frames, more than the limit of 20 (raise it with" in capsys.readouterr().err
    assert _upscale(str(src), "-o", str(out), "--first-frame") == 0  # one frame is fine
    assert sorted(p.name for p in out.iterdir()) == ["many_x2.gif"]


def test_a_folder_with_animations_is_its_own_output_folder(tmp_path: Path) -> None:
    _save_animation(tmp_path / "a.gif", _rgba_frames(), duration=DURATIONS, disposal=2)
    _save_animation(tmp_path / "b.png", _rgba_frames(), duration=DURATIONS)
    assert _upscale(str(tmp_path)) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["a.gif", "a_x2.gif", "b.png", "b_x2.png"]
    assert _upscale(str(tmp_path), "--overwrite") == 0  # the outputs are recognised, not upscaled again
    assert sorted(p.name for p in tmp_path.iterdir()) == names
