"""Runner: colour-space handling, padding, precision, Y-channel networks, load_upscaler, and
`srkit eval --model <weights.safetensors>` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srkit import devices as up
from srkit.archs import FSRCNN, InterpolationUpscaler, Runner, build_model, save_weights
from srkit.cli import main
from srkit.colour import rgb_to_ycbcr, ycbcr_to_rgb
from srkit.data import resolve_dataset
from srkit.degrade import get_group, mod_crop, parse_groups, resize
from srkit.errors import ConfigError, SrkitError
from srkit.evaluation import evaluate
from srkit.infer import load_upscaler
from srkit.io import read_image, write_image
from srkit.io.safe_load import load_state_dict_any
from srkit.metrics import psnr, rgb_to_y


def _smooth(b: int, c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth random image in [0.1, 0.9] (bilinear upsampling of coarse noise)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(b, c, h // 4 + 2, w // 4 + 2, generator=g)
    return 0.1 + 0.8 * F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def _net(name: str, **hyper) -> torch.nn.Module:
    """A tiny network whose random-weight output stays inside (0, 1), so clamping hides nothing."""
    torch.manual_seed(0)
    model = build_model(name, **hyper)
    with torch.no_grad():
        if name == "rrdbnet":
            model.conv_last.bias.fill_(0.5)
        elif name == "fsrcnn":
            model.last_part.bias.fill_(0.5)
        elif name == "vdsr":
            model.output.weight.mul_(0.01)
    return model.eval()


TINY = {
    "edsr": {"scale": 2, "num_feat": 8, "num_block": 1},
    "msrresnet": {"scale": 4, "num_feat": 8, "num_block": 1},
    "rrdbnet": {"scale": 2, "num_feat": 8, "num_block": 0, "num_grow_ch": 4},
    "fsrcnn": {"scale": 3, "d": 8, "s": 4, "m": 1},
    "vdsr": {"num_feat": 8, "num_layers": 3},
}


def _y_formula(rgb: torch.Tensor) -> torch.Tensor:
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return (16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255


# --------------------------------------------------------------------------------------------------
# Colour conversion
# --------------------------------------------------------------------------------------------------


def test_ycbcr_matches_bt601_and_the_metrics_luma() -> None:
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.2, 0.5, 0.7]]).T
    ycc = rgb_to_ycbcr(rgb.reshape(1, 3, 4, 1)).reshape(3, 4) * 255
    assert torch.allclose(ycc[:, 0], torch.tensor([235.0, 128.0, 128.0]), atol=1e-4)  # white
    assert torch.allclose(ycc[:, 1], torch.tensor([16.0, 128.0, 128.0]), atol=1e-4)  # black
    assert torch.allclose(ycc[:, 2], torch.tensor([81.481, 90.203, 240.0]), atol=1e-4)  # red
    x = _smooth(2, 3, 8, 8)
    assert torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-6)
    y_metrics = rgb_to_y(x[0].permute(1, 2, 0).double().numpy() * 255) / 255
    assert np.allclose(rgb_to_ycbcr(x)[0, 0].double().numpy(), y_metrics, atol=1e-6)


# --------------------------------------------------------------------------------------------------
# Shapes, gray input, scales
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(TINY))
@pytest.mark.parametrize("channels", [1, 3])
def test_output_shape_dtype_and_range(arch: str, channels: int) -> None:
    model = _net(arch, **TINY[arch])
    scale = 3 if arch == "vdsr" else model.info.scale
    upscaler = Runner(model, name=arch, device="cpu", precision="fp32")
    lr = _smooth(2, channels, 9, 7).double()  # odd size, float64 input
    sr = upscaler(lr, scale)
    assert sr.shape == (2, channels, 9 * scale, 7 * scale)
    assert sr.dtype == torch.float32 and sr.device == lr.device
    assert sr.min() >= 0.0 and sr.max() <= 1.0
    # The batch is processed image by image equivalently.
    assert torch.allclose(upscaler(lr[1:], scale), sr[1:], atol=1e-5)


def test_gray_input_to_rgb_model_is_mean_of_replicated_run() -> None:
    upscaler = Runner(_net("edsr", **TINY["edsr"]), name="e", device="cpu", precision="fp32")
    gray = _smooth(1, 1, 10, 12)
    out = upscaler(gray, 2)
    rgb_out = upscaler(gray.expand(-1, 3, -1, -1).contiguous(), 2)
    assert out.shape == (1, 1, 20, 24)
    assert torch.allclose(out, rgb_out.mean(dim=1, keepdim=True), atol=1e-6)
    assert (rgb_out.amax(1) - rgb_out.amin(1)).max() > 1e-3  # the network does colour, the mean matters


def test_gray_input_to_y_model_matches_neutral_rgb() -> None:
    upscaler = Runner(_net("fsrcnn", **TINY["fsrcnn"]), name="f", device="cpu", precision="fp32")
    gray = _smooth(1, 1, 8, 8)
    out = upscaler(gray, 3)
    rgb_out = upscaler(gray.expand(-1, 3, -1, -1).contiguous(), 3)
    for c in range(3):
        assert torch.allclose(out[:, 0], rgb_out[:, c], atol=1e-5)


def test_supported_scales_and_errors() -> None:
    edsr = Runner(_net("edsr", **TINY["edsr"]), name="tiny-edsr", device="cpu", precision="fp32")
    assert edsr.supports_scale(2) and not edsr.supports_scale(3) and not edsr.supports_scale(True)
    with pytest.raises(SrkitError, match=r"model tiny-edsr: upscales by x2 only, not x4$"):
        edsr(_smooth(1, 3, 4, 4), 4)
    with pytest.raises(SrkitError, match="expected a \\(B, 1 or 3, H, W\\)"):
        edsr(torch.rand(1, 4, 4, 4), 2)
    vdsr = Runner(_net("vdsr", **TINY["vdsr"]), name="v", device="cpu", precision="fp32")
    assert all(vdsr.supports_scale(s) for s in (1, 2, 3, 4)) and not vdsr.supports_scale(0)
    assert vdsr(_smooth(1, 3, 5, 5), 1).shape == (1, 3, 5, 5)


def test_bad_device_and_precision() -> None:
    model = _net("edsr", **TINY["edsr"])
    with pytest.raises(ConfigError, match="precision: 'fp8' is not supported"):
        Runner(model, name="e", device="cpu", precision="fp8")
    with pytest.raises(ConfigError, match="is not a device"):
        Runner(model, name="e", device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            Runner(model, name="e", device="cuda")
        assert Runner(model, name="e").device == torch.device("cpu")  # auto
    with pytest.raises(ConfigError, match="input and 1 output channels"):
        Runner(build_model("rrdbnet", in_channels=3, out_channels=1, num_block=0), name="r")


# --------------------------------------------------------------------------------------------------
# Padding to window_multiple
# --------------------------------------------------------------------------------------------------


def test_padding_to_window_multiple_for_pixel_unshuffle() -> None:
    model = _net("rrdbnet", **TINY["rrdbnet"])
    assert model.info.size_multiple == 2
    upscaler = Runner(model, name="r", device="cpu", precision="fp32")
    big = _smooth(1, 3, 40, 36, seed=3)
    odd = big[..., :39, :35]
    with pytest.raises(ValueError, match="multiple of 2"):
        model(odd)
    sr = upscaler(odd, 2)
    assert sr.shape == (1, 3, 78, 70)

    # Exactly: reflect-pad bottom/right by one pixel, run, crop.
    with torch.no_grad():
        want = model(F.pad(odd, (0, 1, 0, 1), mode="reflect"))[..., :78, :70].clamp(0, 1)
    assert torch.equal(sr, want)

    # Away from the padded border (more than the receptive field, 8 LR pixels here) the result is the
    # network's output on the unpadded image.
    ref = upscaler(big, 2)
    margin = 12
    interior = (slice(None), slice(None), slice(0, 2 * (39 - margin)), slice(0, 2 * (35 - margin)))
    assert torch.allclose(sr[interior], ref[interior], atol=1e-6)
    assert (sr - ref[..., :78, :70]).abs().max() > 1e-4  # ...while the border does see the padding


def test_images_smaller_than_the_pad_are_replicated() -> None:
    torch.manual_seed(0)
    model = _net("rrdbnet", scale=1, num_feat=8, num_block=0, num_grow_ch=4)  # x1: multiple of 4
    assert model.info.size_multiple == 4
    upscaler = Runner(model, name="r1", device="cpu", precision="fp32")
    tiny = _smooth(1, 3, 2, 3)
    out = upscaler(tiny, 1)
    assert out.shape == (1, 3, 2, 3)
    with torch.no_grad():
        want = model(F.pad(tiny, (0, 1, 0, 2), mode="replicate"))[..., :2, :3].clamp(0, 1)
    assert torch.equal(out, want)


# --------------------------------------------------------------------------------------------------
# Precision
# --------------------------------------------------------------------------------------------------


def test_auto_precision_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert up.resolve_precision("auto", cuda) == "fp16"
    assert up.resolve_precision("BF16", cuda) == "bf16"
    monkeypatch.setattr(up, "cpu_has_fast_bf16", lambda: True)
    assert up.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(up, "cpu_has_fast_bf16", lambda: False)
    assert up.resolve_precision("auto", cpu) == "fp32"
    assert up.resolve_precision("fp16", cpu) == "fp16"
    # training: the same on the CPU; on a GPU bf16 where it has it (no loss scaling), else fp16
    assert up.resolve_precision("auto", cpu, training=True) == "fp32"
    monkeypatch.setattr(up, "cpu_has_fast_bf16", lambda: True)
    assert up.resolve_precision("auto", cpu, training=True) == "bf16"
    for has_bf16, want in ((True, "bf16"), (False, "fp16")):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda has=has_bf16: has)
        assert up.resolve_precision("auto", cuda, training=True) == want


@pytest.mark.parametrize("arch", ["msrresnet", "fsrcnn"])
def test_bf16_close_to_fp32(arch: str) -> None:
    hyper = {**TINY[arch], "scale": 2}
    fp32 = Runner(_net(arch, **hyper), name="a", device="cpu", precision="fp32")
    bf16 = Runner(_net(arch, **hyper), name="b", device="cpu", precision="bf16")
    assert bf16.channels_last and next(bf16.model.parameters()).dtype == torch.float32
    lr = _smooth(1, 3, 24, 24, seed=5)
    a, b = fp32(lr, 2), bf16(lr, 2)
    assert b.dtype == torch.float32
    diff = (a - b).abs()
    assert 0 < diff.max() < 0.02  # bf16 did run, and stays within ~5/255 everywhere
    assert diff.mean() < 0.003
    assert 10 * torch.log10(1 / diff.square().mean()) > 45  # dB between the two


# --------------------------------------------------------------------------------------------------
# Y-channel networks
# --------------------------------------------------------------------------------------------------


def _capture_input(model: torch.nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    return seen


def test_y_model_runs_on_luma_and_upscales_chroma_bicubic() -> None:
    model = _net("fsrcnn", scale=2, d=8, s=4, m=1)
    seen = _capture_input(model)
    upscaler = Runner(model, name="fsrcnn", device="cpu", precision="fp32")
    lr = 0.35 + 0.3 * _smooth(1, 3, 10, 14, seed=7)  # moderate colours: no clamping below
    sr = upscaler(lr, 2)
    assert sr.shape == (1, 3, 20, 28)
    assert sr.min() > 0 and sr.max() < 1

    # The network saw Y/255 of the LR image, as FSRCNN's authors feed it.
    assert len(seen) == 1 and seen[0].shape == (1, 1, 10, 14)
    assert torch.allclose(seen[0], _y_formula(lr), atol=1e-6)
    ycc = rgb_to_ycbcr(sr)
    with torch.no_grad():
        assert torch.allclose(ycc[:, :1], model(_y_formula(lr)), atol=1e-5)
    # Chroma is the bicubic (MATLAB-style, float) upscale of the LR chroma.
    chroma = resize(rgb_to_ycbcr(lr)[:, 1:], 2.0, kernel="bicubic")
    assert torch.allclose(ycc[:, 1:], chroma, atol=1e-5)
    assert chroma.std() > 0.01


def test_upsampled_input_model_gets_bicubic_luma() -> None:
    model = _net("vdsr", **TINY["vdsr"])
    seen = _capture_input(model)
    upscaler = Runner(model, name="vdsr", device="cpu", precision="fp32")
    lr = 0.35 + 0.3 * _smooth(1, 3, 8, 6, seed=2)
    sr = upscaler(lr, 3)
    assert sr.shape == (1, 3, 24, 18)
    assert seen[0].shape == (1, 1, 24, 18)
    assert torch.allclose(seen[0], resize(_y_formula(lr), 3.0, kernel="bicubic"), atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(rgb_to_ycbcr(sr)[:, :1], model(seen[0]), atol=1e-5)


# --------------------------------------------------------------------------------------------------
# load_upscaler and srkit eval
# --------------------------------------------------------------------------------------------------


def test_load_upscaler_resolves_kernels_and_weight_files(tmp_path: Path) -> None:
    assert load_upscaler(" Bicubic ") == InterpolationUpscaler("bicubic")
    path = save_weights(tmp_path / "tiny-edsr_x2.safetensors", _net("edsr", **TINY["edsr"]))
    upscaler = load_upscaler(str(path), device="cpu", precision="fp32")
    assert isinstance(upscaler, Runner)
    assert upscaler.name == "tiny-edsr_x2" and upscaler.scale == 2 and upscaler.precision == "fp32"
    lr = _smooth(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(upscaler(lr, 2), _net("edsr", **TINY["edsr"])(lr).clamp(0, 1))


@pytest.mark.parametrize(
    ("name", "needles"),
    [
        ("resnet50", ["unknown model 'resnet50'", "bicubic", "lanczos3", ".safetensors"]),
        ("missing.safetensors", ["missing.safetensors: no such weights file"]),
        ("weights.pth", ["weights.pth: unknown checkpoint layout", "first keys: 'w'"]),
        ("weights.xyz", ["weights.xyz: unsupported model file type '.xyz'", ".safetensors"]),
    ],
)
def test_load_upscaler_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, needles: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    torch.save({"w": torch.zeros(1)}, tmp_path / "weights.pth")
    (tmp_path / "weights.xyz").write_bytes(b"not a model")
    with pytest.raises(SrkitError) as err:
        load_upscaler(name)
    msg = str(err.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


@pytest.fixture()
def tiny_dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    for i, (h, w) in enumerate([(24, 20), (18, 26)]):
        pixels = (_smooth(1, 3, h, w, seed=10 + i)[0].permute(1, 2, 0).numpy() * 255).round()
        write_image(folder / f"img{i}.png", pixels.astype(np.uint8))
    return folder


def test_cli_eval_with_saved_weights(tmp_path: Path, tiny_dataset: Path, capsys) -> None:
    weights = save_weights(tmp_path / "tiny_edsr_x2.safetensors", _net("edsr", **TINY["edsr"]))
    out = tmp_path / "eval"
    argv = ["eval", "--model", str(weights), "--dataset", str(tiny_dataset), "--scale", "2"]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0
    data = json.loads((out / "eval.json").read_text())
    assert data["model"] == "tiny_edsr_x2"
    (group,) = data["groups"]
    assert group["scale"] == 2 and group["images"] == 2 and group["degradation"] == "bicubic"
    # The CLI's numbers are those of the same upscaler evaluated directly.
    direct = evaluate(
        load_upscaler(str(weights), precision="fp32"),  # srkit eval's default precision
        [resolve_dataset(tiny_dataset)],
        [2],
        parse_groups("bicubic"),
        progress=False,
    )
    assert [s["psnr"] for s in data["images"]] == pytest.approx([s.psnr for s in direct.images], abs=1e-9)
    assert 5 < group["psnr"] < 60
    assert "tiny_edsr_x2" in capsys.readouterr().out

    assert main([*argv[:-1], "3", "--out", str(tmp_path / "bad"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "tiny_edsr_x2" in err and "scale 3" in err, err
    assert not (tmp_path / "bad" / "eval.json").exists()


def test_cli_eval_rejects_a_broken_weights_file(tmp_path: Path, tiny_dataset: Path, capsys) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 64)
    code = main(["eval", "--model", str(broken), "--dataset", str(tiny_dataset), "--scale", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert f"{broken}: not a safetensors file" in err


# --------------------------------------------------------------------------------------------------
# Published FSRCNN weights on Set5
# --------------------------------------------------------------------------------------------------


def test_published_fsrcnn_x3_beats_bicubic_on_butterfly(
    shared_weights: Path, shared_data: Path, tmp_path: Path
) -> None:
    state = torch.load(shared_weights / "fsrcnn" / "fsrcnn_x3.pth", weights_only=True, map_location="cpu")
    model = FSRCNN(scale=3)
    model.load_state_dict(state, strict=True)
    assert load_state_dict_any(shared_weights / "fsrcnn" / "fsrcnn_x3.pth").keys() == state.keys()
    weights = save_weights(tmp_path / "fsrcnn_x3.safetensors", model, extra={"source": "yjn870"})

    hr = mod_crop((read_image(shared_data / "Set5" / "butterfly.png").pixels * 255).round().byte()[None], 3)
    lr = get_group("bicubic").degrade(hr, 3)  # MATLAB imresize on uint8, as the published tables

    def y_psnr(upscaler) -> float:
        sr = (upscaler(lr.float() / 255, 3).clamp(0, 1) * 255 + 0.5).floor().byte()
        return psnr(
            sr[0].permute(1, 2, 0).numpy(), hr[0].permute(1, 2, 0).numpy(), crop_border=3, y_channel=True
        )

    bicubic = y_psnr(InterpolationUpscaler("bicubic"))
    fp32 = y_psnr(load_upscaler(str(weights), device="cpu", precision="fp32"))
    bf16 = y_psnr(load_upscaler(str(weights), device="cpu", precision="bf16"))
    assert bicubic == pytest.approx(24.04, abs=0.02)
    # 27.90 dB with MATLAB-bicubic LR and BT.601 Y; the authors report 28.55 with PIL-bicubic LR, no border
    # crop and no uint8 rounding.
    assert fp32 == pytest.approx(27.90, abs=0.03)
    assert fp32 > bicubic + 3.5
    assert abs(bf16 - fp32) < 0.1
