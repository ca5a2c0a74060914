"""Tests for srkit.archs: shapes, exact parameter counts, state-dict layouts, third-party weights,
SRResNet ablation switches, the registry and checkpoint round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srkit.archs import (
    ARCHS,
    EDSR,
    FSRCNN,
    PRESETS,
    VDSR,
    MSRResNet,
    RRDBNet,
    SRResNet,
    build_from_spec,
    build_model,
    model_hparams,
    model_spec,
    valid_hparams,
)
from srkit.archs.common import Interpolate
from srkit.errors import ConfigError


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_params(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


X = torch.rand(1, 3, 12, 12)

# --------------------------------------------------------------------------------------------------
# Shapes and common attributes
# --------------------------------------------------------------------------------------------------

SMALL = {
    "srresnet": {"num_blocks": 2, "num_feat": 16},
    "msrresnet": {"num_block": 2, "num_feat": 16},
    "edsr": {"num_block": 2, "num_feat": 16},
    "rrdbnet": {"num_block": 1, "num_feat": 16, "num_grow_ch": 8},
}


@pytest.mark.parametrize("arch", sorted(SMALL))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_rgb_nets_output_shape(arch: str, scale: int) -> None:
    model = build_model(arch, scale=scale, **SMALL[arch]).eval()
    with torch.no_grad():
        y = model(X)
    assert y.shape == (1, 3, 12 * scale, 12 * scale)
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    assert (model.info.scale, model.info.in_channels, model.info.out_channels) == (scale, 3, 3)
    assert model.info.size_multiple == (2 if (arch, scale) == ("rrdbnet", 2) else 1)  # Real-ESRGAN x2
    assert model.info.input == "lr" and model.info.color == "rgb"


@pytest.mark.parametrize("arch", ["srresnet", "edsr", "rrdbnet"])
def test_x8(arch: str) -> None:
    model = build_model(arch, scale=8, **SMALL[arch]).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 5, 6)).shape == (1, 3, 40, 48)


@pytest.mark.parametrize(("scale", "factor", "in_ch"), [(1, 4, 48), (2, 2, 12)])
def test_rrdbnet_pixel_unshuffle_scales(scale: int, factor: int, in_ch: int) -> None:
    model = RRDBNet(scale=scale, num_block=1, num_feat=16, num_grow_ch=8).eval()
    assert model.conv_first.in_channels == in_ch
    assert model.info.size_multiple == factor
    # Real-ESRGAN trunk: always two x2 stages after the unshuffle.
    assert hasattr(model, "conv_up1") and hasattr(model, "conv_up2") and not hasattr(model, "conv_up3")
    with torch.no_grad():
        assert model(X).shape == (1, 3, 12 * scale, 12 * scale)
    with pytest.raises(ValueError, match="multiple of"):
        model(torch.rand(1, 3, 13, 12))
    assert RRDBNet(scale=scale).conv_first.weight.shape == (64, in_ch, 3, 3)


def test_rrdbnet_x2_without_unshuffle_uses_one_stage() -> None:
    model = RRDBNet(scale=2, num_block=1, num_feat=16, num_grow_ch=8, pixel_unshuffle=False).eval()
    assert model.conv_first.in_channels == 3 and model.info.size_multiple == 1
    assert hasattr(model, "conv_up1") and not hasattr(model, "conv_up2")
    with torch.no_grad():
        assert model(torch.rand(1, 3, 7, 5)).shape == (1, 3, 14, 10)
    with pytest.raises(ConfigError, match="pixel_unshuffle"):
        RRDBNet(scale=1, pixel_unshuffle=False)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_fsrcnn_shape(scale: int) -> None:
    model = FSRCNN(scale=scale).eval()
    with torch.no_grad():
        y = model(torch.rand(2, 1, 12, 11))
    assert y.shape == (2, 1, 12 * scale, 11 * scale)
    assert (model.info.scale, model.info.in_channels, model.info.out_channels, model.info.color) == (
        scale,
        1,
        1,
        "y",
    )


def test_vdsr_shape_scale_and_global_residual() -> None:
    model = VDSR(num_layers=5, num_feat=8).eval()
    assert model.info.scale == 1 and model.info.input == "upsampled"
    assert (model.info.in_channels, model.info.out_channels, model.info.color) == (1, 1, "y")
    x = torch.rand(1, 1, 12, 12)
    with torch.no_grad():
        assert model(x).shape == x.shape
        nn.init.zeros_(model.output.weight)
        assert torch.equal(model(x), x)  # y = x + residual


# --------------------------------------------------------------------------------------------------
# Exact parameter counts
# --------------------------------------------------------------------------------------------------


def edsr_count(nf: int, nb: int, scale: int) -> int:
    ups = {2: [2], 3: [3], 4: [2, 2]}[scale]
    return (
        conv_params(3, nf, 3)
        + nb * 2 * conv_params(nf, nf, 3)
        + conv_params(nf, nf, 3)
        + sum(conv_params(nf, nf * f * f, 3) for f in ups)
        + conv_params(nf, 3, 3)
    )


@pytest.mark.parametrize(("scale", "published"), [(2, 1_369_859), (3, 1_554_499), (4, 1_517_571)])
def test_edsr_baseline_param_counts(scale: int, published: int) -> None:
    model = build_model("edsr-baseline", scale=scale)
    assert n_params(model) == published == edsr_count(64, 16, scale)
    assert EDSR(scale=scale).hparams == model.hparams  # constructor defaults are the baseline


def test_edsr_full_param_count() -> None:
    model = build_model("edsr", scale=4)
    assert (model.hparams["num_feat"], model.hparams["num_block"], model.hparams["res_scale"]) == (
        256,
        32,
        0.1,
    )
    assert n_params(model) == edsr_count(256, 32, 4) == 43_089_923


def test_msrresnet_param_counts() -> None:
    assert n_params(MSRResNet(scale=4)) == 1_517_571
    assert n_params(MSRResNet(scale=2)) == 1_369_859
    assert n_params(MSRResNet(scale=3)) == 1_554_499


def test_rrdbnet_param_count() -> None:
    model = build_model("esrgan")
    assert model.hparams["num_block"] == 23 and model.info.scale == 4
    assert n_params(model) == 16_697_987
    # Real-ESRGAN x2: only conv_first grows (12 input channels instead of 3).
    assert n_params(RRDBNet(scale=2)) == 16_697_987 + 64 * 9 * 9


def test_fsrcnn_and_vdsr_param_counts_by_hand() -> None:
    d, s, m = 56, 12, 4
    fsrcnn = (
        conv_params(1, d, 5) + d  # feature extraction + PReLU(d)
        + conv_params(d, s, 1) + s  # shrinking
        + m * (conv_params(s, s, 3) + s)  # mapping
        + conv_params(s, d, 1) + d  # expanding
        + d * 1 * 9 * 9 + 1  # deconvolution
    )  # fmt: skip
    assert fsrcnn == 12_809
    assert n_params(FSRCNN(scale=3)) == fsrcnn
    vdsr = conv_params(1, 64, 3, False) + 18 * conv_params(64, 64, 3, False) + conv_params(64, 1, 3, False)
    assert vdsr == 664_704
    assert n_params(VDSR()) == vdsr


def test_srresnet_param_count_by_hand() -> None:
    nf = 64
    block = 2 * conv_params(nf, nf, 3) + 2 * 2 * nf + 1  # two convs, two BNs, one PReLU
    expected = (
        conv_params(3, nf, 9) + 1
        + 16 * block
        + conv_params(nf, nf, 3) + 2 * nf
        + 2 * (conv_params(nf, 4 * nf, 3) + 1)
        + conv_params(nf, 3, 9)
    )  # fmt: skip
    assert n_params(SRResNet()) == expected == 1_549_462


# --------------------------------------------------------------------------------------------------
# BasicSR state-dict layouts
# --------------------------------------------------------------------------------------------------


def wb(*names: str) -> set[str]:
    return {f"{n}.{p}" for n in names for p in ("weight", "bias")}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_msrresnet_keys(scale: int) -> None:
    sd = MSRResNet(scale=scale).state_dict()
    body = [f"body.{i}.conv{j}" for i in range(16) for j in (1, 2)]
    ups = ["upconv1", "upconv2"] if scale == 4 else ["upconv1"]
    assert set(sd) == wb("conv_first", *body, *ups, "conv_hr", "conv_last")
    assert sd["upconv1.weight"].shape == (64 * (4 if scale == 4 else scale**2), 64, 3, 3)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_edsr_keys_and_mean_buffer(scale: int) -> None:
    model = EDSR(scale=scale)
    sd = model.state_dict()
    body = [f"body.{i}.conv{j}" for i in range(16) for j in (1, 2)]
    ups = ["upsample.0", "upsample.2"] if scale == 4 else ["upsample.0"]
    assert set(sd) == wb("conv_first", *body, "conv_after_body", *ups, "conv_last")
    assert "mean" not in sd
    assert dict(model.named_buffers())["mean"].flatten().tolist() == pytest.approx([0.4488, 0.4371, 0.4040])
    assert sd["upsample.0.weight"].shape == (64 * (4 if scale == 4 else scale**2), 64, 3, 3)
    # A state dict without the mean loads strictly; the buffer follows .to().
    EDSR(scale=scale).load_state_dict(sd, strict=True)
    assert model.to(torch.float64).mean.dtype == torch.float64


def test_edsr_mean_shift_and_range() -> None:
    model = EDSR(scale=2, num_block=1, num_feat=8).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        # All-zero convs: the network's output is 0 in the shifted 0..255 space, i.e. the mean.
        y = model(X)
    assert torch.allclose(y, model.mean.expand_as(y))
    with torch.no_grad():
        model.conv_last.bias.fill_(255.0)  # +255 in network space == +1 in image space
        assert torch.allclose(model(X), model.mean.expand_as(y) + 1.0)


def test_rrdbnet_keys() -> None:
    sd = RRDBNet().state_dict()
    body = [f"body.{i}.rdb{j}.conv{k}" for i in range(23) for j in (1, 2, 3) for k in range(1, 6)]
    assert set(sd) == wb("conv_first", *body, "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last")
    assert sd["body.0.rdb1.conv5.weight"].shape == (64, 64 + 4 * 32, 3, 3)


def test_rrdbnet_subpixel_conv() -> None:
    model = RRDBNet(num_block=1, num_feat=16, num_grow_ch=8, use_subpixel_conv=True).eval()
    assert count(model, nn.PixelShuffle) == 2 and count(model, Interpolate) == 0
    assert model.conv_up1.out_channels == model.conv_up2.out_channels == 64
    with torch.no_grad():
        assert model(X).shape == (1, 3, 48, 48)
    x3 = RRDBNet(scale=3, num_block=1, num_feat=16, num_grow_ch=8, use_subpixel_conv=True).eval()
    assert x3.conv_up1.out_channels == 16 * 9 and not hasattr(x3, "conv_up2")
    with torch.no_grad():
        assert x3(X).shape == (1, 3, 36, 36)
    nearest = RRDBNet(num_block=1, num_feat=16, num_grow_ch=8)
    assert count(nearest, nn.PixelShuffle) == 0 and count(nearest, Interpolate) == 2
    assert n_params(model) - n_params(nearest) == 2 * conv_params(16, 48, 3)


def test_basicsr_style_init() -> None:
    model = RRDBNet(num_block=1)
    fan_in = 64 * 9
    std = model.body[0].rdb1.conv1.weight.std().item()
    assert std == pytest.approx(0.1 * (2 / fan_in) ** 0.5, rel=0.1)  # Kaiming x 0.1
    assert model.body[0].rdb1.conv1.bias.abs().max().item() == 0.0
    msr = MSRResNet(num_block=1)
    assert msr.body[0].conv1.weight.std().item() == pytest.approx(0.1 * (2 / fan_in) ** 0.5, rel=0.1)
    edsr = EDSR(num_block=1)  # PyTorch default: uniform(+-1/sqrt(fan_in)), std 1/sqrt(3 fan_in)
    assert edsr.body[0].conv1.weight.std().item() == pytest.approx((1 / (3 * fan_in)) ** 0.5, rel=0.1)


# --------------------------------------------------------------------------------------------------
# Image skips / residuals
# --------------------------------------------------------------------------------------------------


def test_msrresnet_bilinear_image_skip() -> None:
    model = MSRResNet(scale=3, num_block=1, num_feat=8).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        y = model(X)
    assert torch.allclose(y, F.interpolate(X, scale_factor=3, mode="bilinear", align_corners=False))


def test_rrdbnet_has_no_image_skip() -> None:
    model = RRDBNet(num_block=1, num_feat=8, num_grow_ch=4).eval()
    with torch.no_grad():
        model.conv_last.weight.zero_()
        model.conv_last.bias.fill_(0.25)
        assert torch.equal(model(X), torch.full((1, 3, 48, 48), 0.25))


# --------------------------------------------------------------------------------------------------
# SRResNet ablation switches
# --------------------------------------------------------------------------------------------------


def test_srresnet_paper_layout() -> None:
    model = SRResNet()
    assert model.conv_first.kernel_size == (9, 9) and model.conv_last.kernel_size == (9, 9)
    assert len(model.body) == 16 and model.conv_first.out_channels == 64
    assert count(model, nn.BatchNorm2d) == 2 * 16 + 1
    assert count(model, nn.PReLU) == 1 + 16 + 2 and count(model, nn.LeakyReLU) == 0
    assert count(model, nn.PixelShuffle) == 2


@pytest.mark.parametrize("num_blocks", [8, 12, 16, 24])
def test_srresnet_num_blocks(num_blocks: int) -> None:
    model = SRResNet(num_blocks=num_blocks)
    block = 2 * conv_params(64, 64, 3) + 4 * 64 + 1
    assert len(model.body) == num_blocks
    assert n_params(model) - n_params(SRResNet(num_blocks=0)) == num_blocks * block


def test_srresnet_batch_norm_switch() -> None:
    with_bn, no_bn = SRResNet(num_blocks=3), SRResNet(num_blocks=3, batch_norm=False)
    assert count(with_bn, nn.BatchNorm2d) == 7 and count(no_bn, nn.BatchNorm2d) == 0
    assert n_params(with_bn) - n_params(no_bn) == 7 * 2 * 64
    assert not any("running_mean" in k for k in no_bn.state_dict())


def test_srresnet_act_switch() -> None:
    model = SRResNet(num_blocks=3, act="leakyrelu")
    assert count(model, nn.PReLU) == 0
    lrelus = [m for m in model.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(lrelus) == 1 + 3 + 2 and all(m.negative_slope == 0.2 for m in lrelus)
    assert n_params(SRResNet(num_blocks=3)) - n_params(model) == 1 + 3 + 2  # one slope per PReLU


@pytest.mark.parametrize(("scale", "stages"), [(2, 1), (3, 1), (4, 2), (8, 3)])
def test_srresnet_upsampler_switch(scale: int, stages: int) -> None:
    ps = SRResNet(num_blocks=1, num_feat=16, scale=scale).eval()
    bic = SRResNet(num_blocks=1, num_feat=16, scale=scale, upsampler="bicubic").eval()
    assert count(ps, nn.PixelShuffle) == stages and count(ps, Interpolate) == 0
    assert count(bic, nn.PixelShuffle) == 0 and count(bic, Interpolate) == stages
    assert all(m.mode == "bicubic" for m in bic.modules() if isinstance(m, Interpolate))
    ps_convs = [m for m in ps.upsample if isinstance(m, nn.Conv2d)]
    bic_convs = [m for m in bic.upsample if isinstance(m, nn.Conv2d)]
    f = 3 if scale == 3 else 2
    assert [c.out_channels for c in ps_convs] == [16 * f * f] * stages
    assert [c.out_channels for c in bic_convs] == [16] * stages
    with torch.no_grad():
        assert ps(X).shape == bic(X).shape == (1, 3, 12 * scale, 12 * scale)


def test_srresnet_global_skip_switch() -> None:
    on = SRResNet(num_blocks=2, num_feat=16, scale=2).eval()
    off = SRResNet(num_blocks=2, num_feat=16, scale=2, global_skip=False).eval()
    off.load_state_dict(on.state_dict(), strict=True)  # same parameters, different wiring
    with torch.no_grad():
        assert not torch.allclose(on(X), off(X))
        # Silencing the body path: with the skip the first conv's features still reach the output.
        for m in (on, off):
            m.conv_after_body.weight.zero_()
            m.conv_after_body.bias.zero_()
        base = off(X)  # upsample(conv_after_body(...) == 0)
        assert torch.allclose(base, off.conv_last(off.upsample(torch.zeros(1, 16, 12, 12))))
        assert not torch.allclose(on(X), base)


def test_srresnet_num_feat() -> None:
    model = SRResNet(num_feat=32, num_blocks=1)
    assert model.conv_first.out_channels == 32 and model.conv_last.in_channels == 32


# --------------------------------------------------------------------------------------------------
# Third-party weights
# --------------------------------------------------------------------------------------------------


def read_keys(path: Path, section: str) -> dict[str, list[int]]:
    """Keys and shapes of one ``## <file>`` section of a shared ``keys.txt``."""
    keys: dict[str, list[int]] = {}
    current = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            current = line.split()[1]
        elif current == section and "\t" in line:
            name, shape = line.split("\t")
            keys[name] = json.loads(shape)
    assert keys, f"no keys for {section} in {path}"
    return keys


def shapes(model: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_fsrcnn_keys_match_shared_list(shared_weights: Path, scale: int) -> None:
    expected = read_keys(shared_weights / "fsrcnn" / "keys.txt", f"fsrcnn_x{scale}.pth")
    model = FSRCNN(scale=scale)
    assert shapes(model) == expected
    assert list(model.state_dict()) == list(expected)  # same order too
    sd = torch.load(shared_weights / "fsrcnn" / f"fsrcnn_x{scale}.pth", weights_only=True, map_location="cpu")
    model.load_state_dict(sd, strict=True)


def test_vdsr_keys_match_shared_list(shared_weights: Path) -> None:
    expected = read_keys(shared_weights / "vdsr" / "keys.txt", "vdsr_state_dict.pth")
    model = VDSR()
    assert shapes(model) == expected
    sd = torch.load(shared_weights / "vdsr" / "vdsr_state_dict.pth", weights_only=True, map_location="cpu")
    model.load_state_dict(sd, strict=True)


def _y(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64)
    return 16.0 + (64.738 * rgb[..., 0] + 129.057 * rgb[..., 1] + 25.064 * rgb[..., 2]) / 256.0


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a - b) ** 2)))


def _bicubic_pair(path: Path, scale: int, crop: int | None = None):
    from PIL import Image

    img = Image.open(path).convert("RGB")
    if crop:
        img = img.crop((60, 60, 60 + crop, 60 + crop))
    hr = img.resize((img.width // scale * scale, img.height // scale * scale), Image.BICUBIC)
    lr = hr.resize((hr.width // scale, hr.height // scale), Image.BICUBIC)
    return hr, lr


def _cbcr(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    cb = 128.0 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256.0
    cr = 128.0 + (112.439 * r - 94.154 * g - 18.285 * b) / 256.0
    return cb, cr


def _ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    r = 298.082 * y / 256.0 + 408.583 * cr / 256.0 - 222.921
    g = 298.082 * y / 256.0 - 100.291 * cb / 256.0 - 208.120 * cr / 256.0 + 135.576
    b = 298.082 * y / 256.0 + 516.412 * cb / 256.0 - 276.836
    return np.stack([r, g, b], axis=-1)


def test_fsrcnn_reproduces_published_output(shared_weights: Path, shared_data: Path) -> None:
    """The authors' pipeline (PIL bicubic, BT.601 YCbCr) with their x3 weights gives their
    published butterfly PSNR (28.55 dB) and their output image to within 1 grey level."""
    from PIL import Image

    hr, lr = _bicubic_pair(shared_data / "Set5" / "butterfly.png", 3)
    model = FSRCNN(scale=3).eval()
    sd = torch.load(shared_weights / "fsrcnn" / "fsrcnn_x3.pth", weights_only=True, map_location="cpu")
    model.load_state_dict(sd, strict=True)
    x = torch.from_numpy(_y(np.asarray(lr)) / 255.0).float()[None, None]
    with torch.no_grad():
        pred = model(x).clamp(0, 1)[0, 0].double().numpy() * 255.0
    assert pred.shape == (255, 255)
    assert _psnr(pred, _y(np.asarray(hr))) == pytest.approx(28.55, abs=0.01)
    # Their output image: our Y with the bicubic image's chroma, back to RGB, truncated to uint8.
    cb, cr = _cbcr(np.asarray(lr.resize(hr.size, Image.BICUBIC)))
    ours = np.clip(_ycbcr_to_rgb(pred, cb, cr), 0, 255).astype(np.uint8).astype(int)
    refs = shared_weights / "fsrcnn" / "reference_outputs"
    ref = np.asarray(Image.open(refs / "butterfly_GT_fsrcnn_x3.bmp").convert("RGB")).astype(int)
    assert np.abs(ours - ref).max() <= 1
    assert np.mean(ours != ref) < 0.001


def test_vdsr_weights_beat_bicubic(shared_weights: Path, shared_data: Path) -> None:
    from PIL import Image

    hr, lr = _bicubic_pair(shared_data / "Set5" / "butterfly.png", 3, crop=72)
    up = lr.resize(hr.size, Image.BICUBIC)
    model = VDSR().eval()
    sd = torch.load(shared_weights / "vdsr" / "vdsr_state_dict.pth", weights_only=True, map_location="cpu")
    model.load_state_dict(sd, strict=True)
    x = torch.from_numpy(_y(np.asarray(up)) / 255.0).float()[None, None]
    with torch.no_grad():
        pred = model(x).clamp(0, 1)[0, 0].double().numpy() * 255.0
    hy, b = _y(np.asarray(hr)), 3
    gain = _psnr(pred[b:-b, b:-b], hy[b:-b, b:-b]) - _psnr(
        x[0, 0].double().numpy()[b:-b, b:-b] * 255, hy[b:-b, b:-b]
    )
    assert gain > 4.0  # about +6 dB on this crop


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------


def test_registry_contents() -> None:
    assert set(ARCHS) >= {
        "srresnet",
        "msrresnet",
        "edsr",
        "rrdbnet",
        "fsrcnn",
        "vdsr",
        "davit_sr",
        "swinir",
        "hat",
    }
    assert PRESETS["edsr-baseline"] == ("edsr", {"num_feat": 64, "num_block": 16, "res_scale": 1.0})
    assert (
        PRESETS["edsr"]
        == PRESETS["edsr-full"]
        == ("edsr", {"num_feat": 256, "num_block": 32, "res_scale": 0.1})
    )
    assert PRESETS["esrgan"][1]["num_block"] == PRESETS["rrdbnet"][1]["num_block"] == 23
    for arch, _ in PRESETS.values():
        assert arch in ARCHS
    assert valid_hparams("edsr")[:3] == ["in_channels", "out_channels", "num_feat"]


def test_preset_values_are_overridden_by_hyper() -> None:
    model = build_model("edsr", scale=2, num_block=1)
    assert model.hparams["num_block"] == 1 and model.hparams["num_feat"] == 256
    assert model.hparams["res_scale"] == 0.1 and len(model.body) == 1
    assert build_model("EDSR-Baseline", scale=3).info.scale == 3  # names are case-insensitive


def test_unknown_name_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        build_model("edsrr")
    msg = str(err.value)
    assert "'edsrr'" in msg and "edsr-baseline" in msg and "rrdbnet" in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("name", "hyper", "key"),
    [
        ("edsr", {"num_blocks": 4}, "'num_blocks'"),  # unknown: SRResNet's spelling
        ("srresnet", {"num_block": 4}, "'num_block'"),
        ("vdsr", {"scale": 2}, "'scale'"),
        ("edsr-baseline", {"scale": 5}, "scale=5"),
        ("msrresnet", {"scale": 8}, "scale=8"),
        ("srresnet", {"upsampler": "nearest"}, "upsampler='nearest'"),
        ("srresnet", {"act": "relu"}, "act='relu'"),
        ("srresnet", {"batch_norm": "yes"}, "batch_norm='yes'"),
        ("rrdbnet", {"num_block": 2.5}, "num_block=2.5"),
        ("rrdbnet", {"use_subpixel_conv": 1}, "use_subpixel_conv=1"),
        ("fsrcnn", {"scale": 0}, "scale=0"),
        ("edsr", {"res_scale": -1}, "res_scale=-1"),
        ("edsr", {"rgb_mean": [0.5]}, "rgb_mean"),
        ("msrresnet", {"out_channels": 1}, "out_channels=1"),
    ],
)
def test_bad_hyper_parameters_are_named(name: str, hyper: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_model(name, **hyper)
    msg = str(err.value)
    assert key in msg and "\n" not in msg


def test_unknown_hyper_lists_valid_ones() -> None:
    with pytest.raises(ConfigError) as err:
        build_model("edsr", num_blocks=4)
    assert "valid: in_channels, out_channels, num_feat, num_block, scale, res_scale" in str(err.value)


ROUND_TRIP = [
    ("srresnet", {"num_blocks": 2, "num_feat": 8, "scale": 3, "batch_norm": False, "act": "leakyrelu"}),
    ("srresnet", {"num_blocks": 1, "num_feat": 8, "upsampler": "bicubic", "global_skip": False}),
    ("msrresnet", {"num_block": 2, "num_feat": 8, "scale": 2}),
    ("edsr-full", {"num_block": 1, "num_feat": 8, "scale": 3}),
    ("rrdbnet", {"num_block": 1, "num_feat": 8, "num_grow_ch": 4, "scale": 2, "use_subpixel_conv": True}),
    ("fsrcnn", {"scale": 4, "d": 8, "s": 4, "m": 1}),
    ("vdsr", {"num_layers": 4, "num_feat": 8}),
]


@pytest.mark.parametrize(("name", "hyper"), ROUND_TRIP)
def test_round_trip_from_stored_hparams(name: str, hyper: dict) -> None:
    model = build_model(name, **hyper).eval()
    spec = json.loads(json.dumps(model_spec(model)))  # what a checkpoint would hold
    assert spec["arch"] == model.arch_name in ARCHS
    assert spec["hparams"] == model_hparams(model) and set(spec["hparams"]) == set(
        valid_hparams(spec["arch"])
    )
    for rebuilt in (build_from_spec(spec), build_model(spec["arch"], **spec["hparams"])):
        rebuilt.eval()
        assert type(rebuilt) is type(model) and rebuilt.hparams == model.hparams
        rebuilt.load_state_dict(model.state_dict(), strict=True)
        x = torch.rand(1, model.info.in_channels, 8, 8)
        with torch.no_grad():
            assert torch.equal(rebuilt(x), model(x))


def test_spec_errors() -> None:
    with pytest.raises(ConfigError, match="'arch'"):
        build_from_spec({"hparams": {}})
    with pytest.raises(ConfigError, match="'edsr-baseline'"):
        build_from_spec({"arch": "edsr-baseline", "hparams": {}})  # presets are not archs
    with pytest.raises(ConfigError, match="'bogus'"):
        build_from_spec({"arch": "vdsr", "hparams": {"bogus": 1}})
    with pytest.raises(TypeError):
        model_spec(nn.Conv2d(1, 1, 1))


# --------------------------------------------------------------------------------------------------
# Mixed precision / memory format
# --------------------------------------------------------------------------------------------------


def test_edsr_channels_last_bf16_autocast_cpu() -> None:
    model = EDSR(scale=2, num_block=2, num_feat=16).eval()
    x = torch.rand(2, 3, 12, 12)
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        xcl = x.to(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = model(xcl)
    assert y.shape == (2, 3, 24, 24) and torch.isfinite(y).all()
    assert y.dtype in (torch.float32, torch.bfloat16)
    assert (y.float() - ref).abs().max().item() < 0.05  # bf16 keeps ~3 significant digits
    assert (y.float() - ref).abs().max().item() > 0  # autocast did run in reduced precision
