"""``srkit upscale`` (issue 15): output names (``-o FILE``, ``--name``, ``--suffix``, another model's
output), scales beyond the model's (chains of models, ``--outscale``, ``--width``/``--height``), the
runtime flags ``--threads``/``--max-pixels`` and the Python API on a path."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import srkit
from srkit.archs import InterpolationUpscaler, Runner, build_model, load_network, save_weights
from srkit.cli import main
from srkit.degrade import resize
from srkit.errors import ConfigError
from srkit.infer.sizing import OutputSize, resize_result
from srkit.infer.upscale import Naming, plan_jobs
from srkit.infer.upscalers import ChainedUpscaler, chain_factors, chain_for_scale
from srkit.io import read_image, write_image
from srkit.io.images.encode import read_provenance

FP32 = ["--device", "cpu", "--precision", "fp32"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight EDSR x2 as an srkit weights file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    save_weights(path, build_model("edsr-baseline", scale=2, num_feat=8, num_block=1))
    return path


def _photo(path: Path, size: tuple[int, int] = (30, 20), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    write_image(path, rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    return path


def _size(path: Path) -> tuple[int, int]:
    image = read_image(path)
    return image.width, image.height


# --------------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------------


def test_o_with_one_input_writes_that_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = _photo(tmp_path / "a.png")
    out = tmp_path / "result.png"
    assert main(["upscale", str(photo), "--model", "bicubic", "--scale", "2", "-o", str(out)]) == 0
    assert out.is_file() and not out.is_dir() and _size(out) == (60, 40)
    assert read_provenance(out)["model"] == "bicubic"
    # an existing folder with an image-like name stays a folder
    folder = tmp_path / "outs.png"
    folder.mkdir()
    assert main(["upscale", str(photo), "--model", "bicubic", "--scale", "2", "-o", str(folder)]) == 0
    assert (folder / "a_x2.png").is_file()


def test_o_file_with_several_inputs_or_another_format_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _photo(tmp_path / "a.png"), _photo(tmp_path / "b.png", seed=1)
    out = tmp_path / "result.png"
    assert main(["upscale", str(a), str(b), "--model", "bicubic", "--scale", "2", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "result.png names one output file, but 2 input images" in err and len(err.splitlines()) == 1
    assert not out.exists()
    code = main(["upscale", str(a), "--model", "bicubic", "--scale", "2", "-o", str(out), "--format", "jpg"])
    assert code == 2 and "is not a jpg file name" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "name"),
    [
        (["--name", "{stem}-{model}-{scale}"], "a-bicubic-2.png"),
        (["--name", "{model}_{stem}_{tag}"], "bicubic_a_x2.png"),
        (["--suffix", "_big"], "a_big.png"),
        (["--suffix", "_{odd}"], "a_{odd}.png"),  # a suffix is literal text
        ([], "a_x2.png"),
    ],
)
def test_name_templates(tmp_path: Path, flags: list[str], name: str) -> None:
    photo = _photo(tmp_path / "a.png")
    assert main(["upscale", str(photo), "--model", "bicubic", "--scale", "2", *flags]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.png", name])


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{stem}{bad}", "unknown field {bad}"),
        ("out", "must contain {stem}"),
        ("{stem}/x", "must be a file name"),
        ("{stem", "not a valid template"),
    ],
)
def test_bad_name_template_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], template: str, message: str
) -> None:
    photo = _photo(tmp_path / "a.png")
    assert main(["upscale", str(photo), "--model", "bicubic", "--scale", "2", "--name", template]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("srkit: error: --name:") and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_scale_field_has_no_value_with_a_width(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match=r"use \{tag\}"):
        Naming("w64", None, "m", "{stem}_{scale}")
    assert Naming("w64", None, "m").stem(Path("a.png")) == "a_w64"
    assert Naming.for_scale(3.5, model="m", template="{stem}@{scale}").stem(Path("x.jpg")) == "x@3.5"


def test_existing_output_of_another_model_says_which(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = _photo(tmp_path / "a.png")
    assert main(["upscale", str(photo), "--model", "bicubic", "--scale", "2"]) == 0
    capsys.readouterr()
    assert main(["upscale", str(photo), "--model", str(weights), *FP32]) == 0
    out = capsys.readouterr().out
    assert "a_x2.png exists, made by model bicubic (this run: tiny); --overwrite replaces it" in out
    assert "--name '{stem}_{model}_{tag}' keeps both" in out
    assert read_provenance(tmp_path / "a_x2.png")["model"] == "bicubic"
    # the same model again: the plain message
    assert main(["upscale", str(photo), "--model", "bicubic", "--scale", "2"]) == 0
    out = capsys.readouterr().out
    assert "a_x2.png exists (--overwrite replaces it)" in out and "made by" not in out
    # the suggested template keeps both
    assert (
        main(["upscale", str(photo), "--model", str(weights), *FP32, "--name", "{stem}_{model}_{tag}"]) == 0
    )
    assert (tmp_path / "a_tiny_x2.png").is_file()


def test_plan_jobs_keeps_the_old_default_name(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "a.png")
    (job,) = plan_jobs([str(photo)], scale=3)
    assert job.target == tmp_path / "a_x3.png"


# --------------------------------------------------------------------------------------------------
# Scales beyond the model's: chains
# --------------------------------------------------------------------------------------------------


def test_chain_factors() -> None:
    assert chain_factors(8, 4, {2, 3, 4}) == [4, 2]
    assert chain_factors(8, 2, {2, 3, 4}) == [2, 4]
    assert chain_factors(16, 4, {4}) == [4, 4]
    assert chain_factors(6, 3, {2, 3, 4}) == [3, 2]
    assert chain_factors(6, 4, {2, 3, 4}) is None  # 4 does not divide 6
    assert chain_factors(10, 2, {2, 3, 4}) is None  # 5 is no factor
    assert chain_factors(4, 4, {4}) == [4]


def test_chained_upscaler_runs_its_stages_in_order() -> None:
    torch.manual_seed(1)
    x2 = Runner(
        build_model("edsr-baseline", scale=2, num_feat=8, num_block=1), device="cpu", precision="fp32"
    )
    x3 = Runner(
        build_model("edsr-baseline", scale=3, num_feat=8, num_block=1), device="cpu", precision="fp32"
    )
    chain = ChainedUpscaler([(x3, 3), (x2, 2)])
    lr = torch.rand(1, 3, 7, 9)
    assert chain.scale == 6 and chain.supports_scale(6) and not chain.supports_scale(3)
    assert torch.equal(chain(lr, 6), x2(x3(lr, 3), 2))
    assert chain.describe().startswith("x6 = ")
    with pytest.raises(ConfigError, match="x6 only"):
        chain(lr, 3)


def test_a_file_model_runs_twice_for_its_square(weights: Path) -> None:
    runner = Runner(load_network(weights), name="tiny", device="cpu", precision="fp32")
    chain = chain_for_scale(runner, 4, model="")
    assert isinstance(chain, ChainedUpscaler) and [f for _, f in chain.stages] == [2, 2]
    assert chain_for_scale(runner, 2, model="") is runner
    with pytest.raises(ConfigError, match="upscales by x2, not x3"):
        chain_for_scale(runner, 3, model="")
    bicubic = InterpolationUpscaler("bicubic")
    assert chain_for_scale(bicubic, 7, model=None) is bicubic


def test_scale_8_chains_the_default_models(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = _photo(tmp_path / "a.png", (10, 8))
    assert main(["upscale", str(photo), "--scale", "8", *FP32, "--tile", "0"]) == 0
    err = capsys.readouterr().err
    assert "x8 = edsr-baseline-x4 (x4), then edsr-baseline-x2 (x2)" in err
    out = tmp_path / "a_x8.png"
    assert _size(out) == (80, 64)
    x4 = srkit.load_model("edsr-baseline-x4", device="cpu", precision="fp32", tile=0)
    x2 = srkit.load_model("edsr-baseline-x2", device="cpu", precision="fp32", tile=0)
    lr = read_image(photo).pixels[None]
    want = (x2.upscale(x4.upscale(lr)).clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0)
    got = torch.from_numpy(np.asarray(read_image(out).pixels.permute(1, 2, 0) * 255).round()).to(torch.uint8)
    assert torch.equal(got, want)
    assert read_provenance(out)["model"] == "edsr-baseline-x4+edsr-baseline-x2"


def test_unreachable_scale_names_what_chains_reach(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = _photo(tmp_path / "a.png")
    assert main(["upscale", str(photo), "--model", str(weights), *FP32, "--scale", "6"]) == 2
    err = capsys.readouterr().err
    assert "upscales by x2, not x6" in err and "x4, x8" in err and "--outscale 6" in err


# --------------------------------------------------------------------------------------------------
# Any output size
# --------------------------------------------------------------------------------------------------


def test_output_size_rules() -> None:
    assert OutputSize(outscale=3.5).size(101, 50) == (354, 175)  # ceil, as MATLAB imresize
    assert OutputSize(outscale=0.5).size(3, 3) == (2, 2)
    assert OutputSize(width=1000).size(400, 300) == (1000, 750)
    assert OutputSize(height=100).size(400, 300) == (133, 100)
    assert OutputSize(width=1000, height=500).size(400, 300) == (667, 500)  # inside the box
    assert OutputSize().size(400, 300) is None
    assert [OutputSize(outscale=3.5).tag(2), OutputSize(width=9).tag(2), OutputSize().tag(4)] == [
        "x3.5",
        "w9",
        "x4",
    ]
    assert OutputSize(width=8, height=6).tag(2) == "8x6" and OutputSize(height=6).tag(2) == "h6"
    for bad in ({"outscale": 0.0}, {"outscale": math.inf}, {"width": 0}, {"outscale": 2.0, "width": 5}):
        with pytest.raises(ConfigError):
            OutputSize(**bad)  # type: ignore[arg-type]


def test_resize_result_is_matlab_bicubic_on_the_integer_pixels() -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    got = resize_result(data, (45, 30))
    want = resize(torch.from_numpy(data).permute(2, 0, 1), size=(30, 45), kernel="bicubic")
    assert got.shape == (30, 45, 4) and np.array_equal(got, want.permute(1, 2, 0).numpy())
    deep = rng.integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    out16 = resize_result(deep, (6, 5))
    assert out16.dtype == np.uint16 and out16.shape == (5, 6, 3)
    ref = resize(torch.from_numpy(deep.astype(np.float32) / 65535).permute(2, 0, 1), size=(5, 6))
    assert np.abs(out16.astype(float) - ref.clamp(0, 1).permute(1, 2, 0).numpy() * 65535).max() <= 0.5 + 1e-3
    assert resize_result(data, (30, 20)) is data


# --------------------------------------------------------------------------------------------------
# Runtime flags and the API
# --------------------------------------------------------------------------------------------------


def test_threads_flag_sets_torch_threads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = _photo(tmp_path / "a.png")
    before = torch.get_num_threads()
    try:
        assert main(["upscale", str(photo), "--model", "bicubic", "--scale", "2", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert main(["upscale", str(photo), "--model", "bicubic", "--threads", "0"]) == 2
    assert "--threads: must be a positive integer" in capsys.readouterr().err


def test_max_pixels_flag_is_the_pixel_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SRKIT_MAX_PIXELS", "100000")  # restored after the test, whatever --max-pixels sets
    photo = _photo(tmp_path / "a.png")  # 600 pixels
    code = main(["upscale", str(photo), "--model", "bicubic", "--scale", "2", "--max-pixels", "500"])
    captured = capsys.readouterr()
    assert code == 1 and "more than the limit of 500" in captured.out + captured.err
    assert "--max-pixels" in captured.out + captured.err
    assert main(["upscale", str(photo), "--model", "bicubic", "--scale", "2", "--max-pixels", "600"]) == 0
    assert main(["upscale", str(photo), "--model", "bicubic", "--max-pixels", "-3"]) == 2


def test_api_takes_a_path(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "a.png")
    model = srkit.load_model("bicubic", scale=2)
    got = model.upscale(str(photo))
    assert isinstance(got, np.ndarray) and got.dtype == np.uint8 and got.shape == (40, 60, 3)
    assert np.array_equal(
        got,
        model.upscale(np.asarray(read_image(photo).pixels.permute(1, 2, 0) * 255).round().astype(np.uint8)),
    )
    assert np.array_equal(model.upscale(photo), got)
    out = model.upscale_file(photo, tmp_path / "big.png")
    assert _size(out) == (60, 40) and read_provenance(out)["model"] == "bicubic"
    with pytest.raises(srkit.SrkitError, match="exists; kept"):
        model.upscale_file(photo, out)
    model.upscale_file(photo, out, overwrite=True)
    with pytest.raises(srkit.SrkitError, match=r"missing\.png"):
        model.upscale(tmp_path / "missing.png")


@pytest.mark.parametrize(
    ("flags", "size", "name"),
    [
        (["--outscale", "3.5"], (105, 70), "a_x3.5.png"),
        (["--outscale", "1.5"], (45, 30), "a_x1.5.png"),
        (["--width", "50"], (50, 33), "a_w50.png"),
        (["--height", "50"], (75, 50), "a_h50.png"),
        (["--width", "90", "--height", "40"], (60, 40), "a_90x40.png"),
    ],
)
def test_any_output_size_is_the_model_output_resized(
    tmp_path: Path, weights: Path, flags: list[str], size: tuple[int, int], name: str
) -> None:
    photo = _photo(tmp_path / "a.png")  # 30x20
    assert main(["upscale", str(photo), "--model", str(weights), *FP32, *flags]) == 0
    out = tmp_path / name
    assert _size(out) == size
    runner = Runner(load_network(weights), name="tiny", device="cpu", precision="fp32")
    model = (runner(read_image(photo).pixels[None], 2)[0].clamp(0, 1) * 255).round().to(torch.uint8)
    want = resize_result(model.permute(1, 2, 0).numpy(), size)
    got = (read_image(out).pixels * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(got, want)
    marker = read_provenance(out)
    assert marker["model"] == "tiny" and marker["scale"] == name[2:-4].removeprefix("x")


def test_outscale_above_the_model_says_the_rest_is_bicubic(
    tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = _photo(tmp_path / "a.png")
    assert main(["upscale", str(photo), "--model", str(weights), *FP32, "--outscale", "3"]) == 0
    captured = capsys.readouterr()
    assert "--outscale 3 is above the model's x2" in captured.err
    assert "then resized to x3" in captured.out and _size(tmp_path / "a_x3.png") == (90, 60)


def test_size_flags_are_checked_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = _photo(tmp_path / "a.png")
    for flags, message in [
        (["--outscale", "0"], "--outscale: must be a positive number"),
        (["--outscale", "2", "--width", "9"], "either --outscale or --width/--height"),
        (["--width", "0"], "--width: must be a positive number of pixels"),
        (["--width", "40", "--name", "{stem}_{scale}"], "{scale} has no value with --width/--height"),
    ]:
        assert main(["upscale", str(photo), "--model", "bicubic", *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_outscale_resizes_every_frame_of_an_animation(tmp_path: Path) -> None:
    from PIL import Image as PILImage

    frames = [PILImage.new("RGB", (20, 10), colour) for colour in ((200, 0, 0), (0, 200, 0), (0, 0, 200))]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=[40, 80, 120], loop=0)
    assert main(["upscale", str(gif), "--model", "bicubic", "--scale", "2", "--outscale", "1.5"]) == 0
    with PILImage.open(tmp_path / "anim_x1.5.gif") as out:
        assert out.n_frames == 3 and out.size == (30, 15)
