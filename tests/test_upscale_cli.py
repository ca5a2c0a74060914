"""``srkit upscale`` over files, folders and globs, and ``srkit models``."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from PIL import ImageCms

from srkit import models
from srkit.archs import Runner, build_model, load_network, save_weights
from srkit.cli import main
from srkit.degrade import resize
from srkit.infer.cli import models_table
from srkit.infer.upscale import TileSize, upscale_file
from srkit.io import image_to_uint8, image_to_uint16, read_image, write_image
from srkit.io.images import pixels as image_pixels

FP32 = ["--device", "cpu", "--precision", "fp32"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight EDSR x2 as an srkit weights file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    save_weights(path, build_model("edsr-baseline", scale=2, num_feat=8, num_block=1))
    return path


@pytest.fixture(scope="module")
def net(weights: Path) -> Runner:
    return Runner(load_network(weights), name="tiny", device="cpu", precision="fp32")


def _rgb(shape: tuple[int, ...], seed: int = 0, dtype: type = np.uint8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def _upscale(args: list[str], weights: Path) -> int:
    return main(["upscale", *args, "--model", str(weights), *FP32])


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------------------------------
# Files, naming, values
# --------------------------------------------------------------------------------------------------


def test_files_are_upscaled_beside_their_inputs(
    tmp_path: Path, weights: Path, net: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.png", tmp_path / "photo.bmp"
    write_image(a, _rgb((20, 30, 3)))
    write_image(b, _rgb((16, 12, 3), seed=1))
    assert _upscale([str(a), str(b)], weights) == 0
    out_a, out_b = tmp_path / "a_x2.png", tmp_path / "photo_x2.bmp"
    assert out_a.is_file() and out_b.is_file()
    got = read_image(out_a)
    assert (got.width, got.height) == (60, 40) and got.info.format == "PNG"
    want = image_to_uint8(net(read_image(a).pixels[None], 2)[0])
    np.testing.assert_array_equal(image_to_uint8(got.pixels), want)
    assert read_image(out_b).info.format == "BMP"
    out = capsys.readouterr().out
    assert "upscaled 2, skipped 0, failed 0 (model tiny, x2)" in out and "30x20 -> 60x40" in out


def test_output_folder_and_formats(tmp_path: Path, weights: Path) -> None:
    src = tmp_path / "in"
    write_image(src / "a.png", _rgb((10, 12, 3)))
    (src / "noext").write_bytes((src / "a.png").read_bytes())  # a PNG without an image suffix
    out = tmp_path / "out"
    assert _upscale([str(src / "a.png"), str(src / "noext"), "-o", str(out), "--format", "jpg"], weights) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a_x2.jpg", "noext_x2.jpg"]
    assert read_image(out / "a_x2.jpg").info.format == "JPEG"
    assert _upscale([str(src / "noext"), "-o", str(out)], weights) == 0
    assert read_image(out / "noext_x2.png").info.format == "PNG"  # default: png when no image suffix
    assert sorted(p.name for p in src.iterdir()) == ["a.png", "noext"]  # nothing written beside inputs


def test_skip_existing_unless_overwrite(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = tmp_path / "a.png"
    write_image(a, _rgb((10, 10, 3)))
    target = tmp_path / "a_x2.png"
    target.write_bytes(b"old")
    assert _upscale([str(a)], weights) == 0
    assert target.read_bytes() == b"old"
    assert "exists and was not written by srkit (kept)" in capsys.readouterr().out
    # --overwrite replaces only what srkit wrote (test_upscale_safety.py has the details).
    assert _upscale([str(a), "--overwrite"], weights) == 1
    assert target.read_bytes() == b"old"
    assert "exists and was not written by srkit; not replaced" in capsys.readouterr().err
    target.unlink()
    assert _upscale([str(a)], weights) == 0
    first = target.read_bytes()
    write_image(a, _rgb((10, 10, 3), seed=1))
    assert _upscale([str(a)], weights) == 0
    assert target.read_bytes() == first and "(--overwrite replaces it)" in capsys.readouterr().out
    assert _upscale([str(a), "--overwrite"], weights) == 0
    assert target.read_bytes() != first and read_image(target).width == 20


def test_never_overwrites_an_input(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, a2 = tmp_path / "a.png", tmp_path / "a_x2.png"
    write_image(a, _rgb((10, 10, 3)))
    write_image(a2, _rgb((10, 10, 3), seed=1))
    before = a2.read_bytes()
    assert _upscale([str(a), str(a2), "--overwrite"], weights) == 1
    assert a2.read_bytes() == before  # a's output would have been a_x2.png, which is an input
    assert (tmp_path / "a_x2_x2.png").is_file()  # the other input was processed
    err = capsys.readouterr().err
    assert f"{a}: refusing to overwrite the input {a2}" in err


def test_two_inputs_with_one_output_name(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_image(tmp_path / "a.png", _rgb((8, 8, 3)))
    write_image(tmp_path / "a.bmp", _rgb((8, 8, 3), seed=1))
    assert _upscale([str(tmp_path / "a.bmp"), str(tmp_path / "a.png"), "--format", "png"], weights) == 1
    assert "is also the output of" in capsys.readouterr().err
    assert (tmp_path / "a_x2.png").is_file()


# --------------------------------------------------------------------------------------------------
# Folders, bad files, globs, recursion
# --------------------------------------------------------------------------------------------------


def test_folder_with_bad_files(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "pics"
    write_image(folder / "good1.png", _rgb((12, 10, 3)))
    write_image(folder / "good2.jpg", _rgb((12, 10, 3), seed=1))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.png").write_bytes((folder / "good1.png").read_bytes()[:60])
    (folder / "notes.txt").write_text("not an image")
    assert _upscale([str(folder)], weights) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("  ")]
    assert captured.err.splitlines()[0] == "srkit: 3 input(s) failed:"
    assert sorted(line.split(":")[0].strip() for line in lines) == sorted(
        str(folder / n) for n in ("broken.png", "empty.jpg", "truncated.png")
    )
    assert any("file is empty" in line for line in lines)
    assert "upscaled 2, skipped 0, failed 3" in captured.out
    inputs = ["good1.png", "good2.jpg", "broken.png", "empty.jpg", "truncated.png", "notes.txt"]
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([*inputs, "good1_x2.png", "good2_x2.jpg"])
    assert _no_temp_files(folder)  # no partial outputs
    # A second run skips the outputs and does not take them for inputs.
    assert _upscale([str(folder)], weights) == 1
    out = capsys.readouterr().out
    assert "upscaled 0, skipped 2, failed 3" in out and "good1_x2_x2" not in out


def test_glob_and_recursive(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    write_image(root / "top.png", _rgb((8, 8, 3)))
    write_image(root / "other.jpg", _rgb((8, 8, 3)))
    write_image(root / "sub" / "deep.png", _rgb((8, 8, 3)))
    write_image(root / ".hidden" / "skip.png", _rgb((8, 8, 3)))
    # A quoted glob (the shell did not expand it).
    assert _upscale([str(root / "*.png"), "-o", str(tmp_path / "g")], weights) == 0
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["top_x2.png"]
    # A folder: top level only, then everything below it (sub-folders kept under -o; hidden skipped).
    assert _upscale([str(root), "-o", str(tmp_path / "flat")], weights) == 0
    assert sorted(p.name for p in (tmp_path / "flat").rglob("*.*")) == ["other_x2.jpg", "top_x2.png"]
    assert _upscale([str(root), "-o", str(tmp_path / "rec"), "--recursive"], weights) == 0
    found = sorted(str(p.relative_to(tmp_path / "rec")) for p in (tmp_path / "rec").rglob("*.*"))
    assert found == ["other_x2.jpg", os.path.join("sub", "deep_x2.png"), "top_x2.png"]
    assert _upscale([str(root / "**" / "*.png"), "-o", str(tmp_path / "gr"), "--recursive"], weights) == 0
    assert sorted(p.name for p in (tmp_path / "gr").iterdir()) == ["deep_x2.png", "top_x2.png"]
    # An output folder inside the scanned folder is not scanned on the next run.
    assert _upscale([str(root), "-o", str(root / "up"), "--recursive"], weights) == 0
    assert _upscale([str(root), "-o", str(root / "up"), "--recursive"], weights) == 0
    assert sorted(p.name for p in (root / "up").rglob("*.*")) == ["deep_x2.png", "other_x2.jpg", "top_x2.png"]
    capsys.readouterr()
    assert _upscale([str(root / "*.tif"), str(tmp_path / "missing.png")], weights) == 1
    err = capsys.readouterr().err
    assert "no image files match this pattern" in err and "missing.png: no such file or folder" in err


# --------------------------------------------------------------------------------------------------
# Real images: gray, alpha, 16-bit, ICC, EXIF orientation, CMYK
# --------------------------------------------------------------------------------------------------


def test_gray_stays_gray_and_alpha_is_kept(tmp_path: Path, weights: Path, net: Runner) -> None:
    gray, rgba = tmp_path / "g.png", tmp_path / "t.png"
    write_image(gray, _rgb((14, 11)))
    write_image(rgba, _rgb((14, 11, 4), seed=2))
    assert _upscale([str(gray), str(rgba)], weights) == 0
    with PILImage.open(tmp_path / "g_x2.png") as im:
        assert im.mode == "L" and im.size == (22, 28)
    with PILImage.open(tmp_path / "t_x2.png") as im:
        assert im.mode == "RGBA"
        out = np.asarray(im)
    src = read_image(rgba)
    assert src.alpha is not None
    np.testing.assert_array_equal(out[..., :3], image_to_uint8(net(src.pixels[None], 2)[0]))
    np.testing.assert_array_equal(out[..., 3], image_to_uint8(resize(src.alpha, 2.0).clamp(0, 1)))


def test_palette_becomes_rgba_and_gray_alpha_stays_la(tmp_path: Path, weights: Path) -> None:
    palette = PILImage.fromarray(_rgb((10, 12, 3), seed=6)).quantize(8)
    palette.save(tmp_path / "p.png", transparency=0)
    write_image(tmp_path / "la.png", _rgb((10, 12, 2), seed=7))
    assert _upscale([str(tmp_path / "p.png"), str(tmp_path / "la.png")], weights) == 0
    with PILImage.open(tmp_path / "p_x2.png") as im:
        assert im.mode == "RGBA" and im.size == (24, 20)
        assert np.asarray(im)[..., 3].min() < 128  # the transparent palette entry stays transparent
    with PILImage.open(tmp_path / "la_x2.png") as im:
        assert im.mode == "LA" and im.size == (24, 20)


def test_sixteen_bit_png_stays_sixteen_bit(tmp_path: Path, weights: Path, net: Runner) -> None:
    src = tmp_path / "deep.png"
    write_image(src, _rgb((10, 13, 3), seed=3, dtype=np.uint16))
    assert _upscale([str(src)], weights) == 0
    out = read_image(tmp_path / "deep_x2.png")
    assert out.info.bit_depth == 16 and out.info.mode.startswith("RGB")
    want = image_to_uint16(net(read_image(src).pixels[None], 2)[0])
    np.testing.assert_array_equal(image_to_uint16(out.pixels), want)
    assert np.any(want % 257 != 0)  # genuinely 16-bit values


def test_icc_profile_exif_orientation_cmyk_and_dpi(tmp_path: Path, weights: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tagged = tmp_path / "icc.png"
    write_image(tagged, _rgb((9, 9, 3)), icc_profile=icc)
    im = PILImage.fromarray(_rgb((10, 16, 3), seed=4))  # 16 wide, 10 high, stored sideways
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "rotated.jpg", exif=exif, quality=95, dpi=(72, 72))
    PILImage.fromarray(_rgb((8, 6, 3), seed=5)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    args = [str(tmp_path / n) for n in ("icc.png", "rotated.jpg", "cmyk.jpg")]
    assert _upscale(args, weights) == 0
    assert read_image(tmp_path / "icc_x2.png").info.icc_profile == icc
    rotated = read_image(tmp_path / "rotated_x2.jpg")
    assert (rotated.width, rotated.height) == (20, 32) and rotated.info.orientation == 1
    assert rotated.info.dpi == pytest.approx((144, 144))  # same print size
    with PILImage.open(tmp_path / "cmyk_x2.jpg") as cmyk:
        assert cmyk.mode == "RGB" and cmyk.size == (12, 16)


def test_results_are_written_from_integers_with_the_input_metadata(
    tmp_path: Path, net: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The uint8/uint16 result goes to the file without a float round trip, in the files the float path
    writes (16 bits kept where the format stores them, 8 elsewhere, alpha dropped by JPEG and BMP),
    with the input's ICC profile and EXIF and its dpi times the scale."""
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = PILImage.Exif()
    exif[0x0131] = "srkit-test"  # Software
    src = tmp_path / "deep.png"
    write_image(
        src, _rgb((6, 7, 4), seed=8, dtype=np.uint16), icc_profile=icc, exif=exif.tobytes(), dpi=(100, 50)
    )
    image = read_image(src)
    assert image.alpha is not None and image.info.dpi is not None
    alpha = resize(image.alpha, 2.0).clamp(0, 1)
    result = torch.cat([net(image.pixels[None], 2)[0], alpha])
    dpi = (2 * image.info.dpi[0], 2 * image.info.dpi[1])  # same print size
    suffixes = (".png", ".tif", ".jpg", ".webp", ".bmp")
    marker = {"source": "deep.png", "model": "tiny", "scale": "2"}
    wanted = {
        s: write_image(
            tmp_path / f"want{s}",
            result,
            bit_depth=16,
            icc_profile=icc,
            exif=exif.tobytes(),
            dpi=dpi,
            provenance=marker,
        ).read_bytes()
        for s in suffixes
    }

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the result went through float")

    monkeypatch.setattr(image_pixels, "_quantize", refuse)
    for suffix in suffixes:
        target = tmp_path / f"out{suffix}"
        assert upscale_file(net, src, target, 2, tiles=TileSize(0)) == ((7, 6), (14, 12))
        assert target.read_bytes() == wanted[suffix], suffix
    monkeypatch.undo()
    out = read_image(tmp_path / "out.png")
    assert out.info.bit_depth == 16 and out.info.icc_profile == icc and out.alpha is not None
    assert out.info.dpi == pytest.approx((200, 100), abs=0.1)
    kept = PILImage.Exif()
    kept.load(out.info.exif)
    assert kept[0x0131] == "srkit-test"
    np.testing.assert_array_equal(image_to_uint16(out.alpha), image_to_uint16(alpha))
    assert read_image(tmp_path / "out.jpg").alpha is None


# --------------------------------------------------------------------------------------------------
# Models: the table, defaults, errors
# --------------------------------------------------------------------------------------------------


def test_model_cards_match_their_architectures() -> None:
    for card in models.MODELS.values():
        net = build_model(card.arch, scale=card.scale)
        assert sum(p.numel() for p in net.parameters()) == card.params, card.name
        assert card.file == f"{card.name}.safetensors" and card.path.parent == models.WEIGHTS_DIR
        assert (Path(__file__).resolve().parents[1] / card.recipe).is_file(), card.recipe
    assert all(models.MODELS[name].scale == s for s, name in models.DEFAULT_MODELS.items())
    assert models.default_model(4) == "edsr-baseline-x4"


def test_srkit_models_lists_the_table(
    tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(models, "WEIGHTS_DIR", tmp_path)
    (tmp_path / "edsr-baseline-x3.safetensors").write_bytes(b"")
    card = dataclasses.replace(models.MODELS["edsr-baseline-x3"], set5_psnr=30.123, set14_psnr=27.5)
    monkeypatch.setitem(models.MODELS, "edsr-baseline-x3", card)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out == models_table() + "\n"
    lines = out.splitlines()
    assert lines[0].split() == [
        "name",
        "scale",
        "params",
        "training",
        "data",
        "Set5",
        "PSNR",
        "Set14",
        "PSNR",
        "available",
    ]
    rows = {line.split()[0]: line for line in lines[2:] if line.strip() and line.split()[0] in models.MODELS}
    assert set(rows) == set(models.MODELS)
    assert rows["edsr-baseline-x4"].split()[1:4] == ["*", "x4", "1.52M"]
    assert rows["edsr-baseline-x4"].endswith(" no") and rows["edsr-baseline-x3"].endswith(" yes")
    assert "30.12" in rows["edsr-baseline-x3"] and "27.50" in rows["edsr-baseline-x3"]
    assert "BSDS500" in rows["rrdb-psnr-x4"] and "16.70M" in rows["rrdb-psnr-x4"]


def test_missing_named_weights_and_the_default_model(
    tmp_path: Path, weights: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(models, "WEIGHTS_DIR", tmp_path / "weights")
    photo = tmp_path / "photo.png"
    write_image(photo, _rgb((8, 8, 3)))
    assert main(["upscale", str(photo)]) == 2  # no --model: the x4 default, not installed
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "edsr-baseline-x4: weights are not installed" in err
    assert str(tmp_path / "weights" / "edsr-baseline-x4.safetensors") in err
    # Once the weights exist, --scale picks the default for that scale.
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "edsr-baseline-x2.safetensors").write_bytes(weights.read_bytes())
    assert main(["upscale", str(photo), "--scale", "2", *FP32]) == 0
    assert read_image(tmp_path / "photo_x2.png").width == 16
    assert "(model edsr-baseline-x2, x2)" in capsys.readouterr().out


def test_usage_errors_exit_2(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "p.png"
    write_image(photo, _rgb((8, 8, 3)))
    assert _upscale([str(photo), "--scale", "3"], weights) == 2
    assert "upscales by x2, not x3" in capsys.readouterr().err
    assert _upscale([str(photo), "--tile", "32", "--tile-overlap", "16"], weights) == 2
    assert "less than half" in capsys.readouterr().err
    assert main(["upscale", str(photo), "--model", "bicubic", "--scale", "3"]) == 0
    assert read_image(tmp_path / "p_x3.png").width == 24


def test_animated_gif_stays_animated_and_a_still_gif_becomes_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [PILImage.new("RGB", (8, 6), (40 * i, 100, 200)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(tmp_path / "still.gif")
    assert main(["upscale", str(tmp_path / "anim.gif"), str(tmp_path / "still.gif"), "--model", "bicubic",
                 "--scale", "2", "-o", str(tmp_path / "out")]) == 0  # fmt: skip
    with PILImage.open(tmp_path / "out" / "anim_x2.gif") as im:
        assert im.size == (16, 12) and im.n_frames == 3
    with PILImage.open(tmp_path / "out" / "still_x2.png") as im:
        assert im.size == (16, 12) and im.format == "PNG"
    # a format that holds one frame says which frame it got
    assert main(["upscale", str(tmp_path / "anim.gif"), "--model", "bicubic", "--scale", "2", "-o",
                 str(tmp_path / "jpg"), "--format", "jpg"]) == 0  # fmt: skip
    assert "JPEG holds one frame: frame 1 of 3 is upscaled" in capsys.readouterr().err
