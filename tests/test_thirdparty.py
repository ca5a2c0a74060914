"""Third-party checkpoints: layout detection, key conversion, hyper-parameter inference, loading through
``load_any_model``/``load_upscaler``, and ``srkit convert``.

Every source layout is made by renaming the keys of a small randomly initialised srkit network (the
renaming here is written from the layouts' descriptions, independently of the converters); the converted
network must then compute exactly what the original computes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from srkit.archs import ARCH_ENTRIES, build_model, save_weights
from srkit.archs.edsr import DIV2K_RGB_MEAN
from srkit.archs.loading import (
    convert_state_dict,
    detect_format,
    format_names,
    load_any_model,
    read_any_checkpoint,
    scale_from_name,
)
from srkit.cli import main
from srkit.cli.convert import convert_checkpoint, layouts_epilog
from srkit.errors import SrkitError
from srkit.io import write_image
from srkit.io.checkpoint import read_weights, read_weights_meta

State = dict[str, torch.Tensor]
TINY_RRDB = {"num_feat": 8, "num_block": 2, "num_grow_ch": 4}


def _net(arch: str, seed: int = 0, **hparams) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(arch, **hparams).eval()


def _input(channels: int = 3, size: int = 8, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, channels, size, size, generator=g)


def _assert_same_output(original: nn.Module, converted: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        want, got = original(x), converted(x)
    assert got.shape == want.shape
    assert torch.equal(got, want), (got - want).abs().max()


def _renamed(state: State, rules: list[tuple[str, str]], extra: State | None = None) -> State:
    out = {}
    for key, value in state.items():
        for pattern, repl in rules:
            new, n = re.subn(rf"^{pattern}$", repl, key)
            if n:
                key = new
                break
        out[key] = value.clone()
    return {**out, **(extra or {})}


def _one_line(err: pytest.ExceptionInfo, *needles: str) -> str:
    msg = str(err.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, (needle, msg)
    return msg


# --------------------------------------------------------------------------------------------------
# Source layouts, from srkit's (BasicSR) keys
# --------------------------------------------------------------------------------------------------


def to_esrgan_new(state: State) -> State:
    return _renamed(
        state,
        [
            (r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(\w+)", r"RRDB_trunk.\1.RDB\2.conv\3.\4"),
            (r"conv_body\.(\w+)", r"trunk_conv.\1"),
            (r"conv_up(\d)\.(\w+)", r"upconv\1.\2"),
            (r"conv_hr\.(\w+)", r"HRconv.\1"),
        ],
    )


def to_esrgan_old(state: State) -> State:
    """The old arch's ``model`` sequential: per nearest x2 stage Upsample, conv, LeakyReLU."""
    num_block = len({k.split(".")[1] for k in state if k.startswith("body.")})
    n_up = len({k for k in state if k.startswith("conv_up") and k.endswith(".weight")})
    rules = [
        (r"conv_first\.(\w+)", r"model.0.\1"),
        (r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(\w+)", r"model.1.sub.\1.RDB\2.conv\3.0.\4"),
        (r"conv_body\.(\w+)", rf"model.1.sub.{num_block}.\1"),
        *((rf"conv_up{i}\.(\w+)", rf"model.{3 * i}.\1") for i in range(1, n_up + 1)),
        (r"conv_hr\.(\w+)", rf"model.{3 * n_up + 2}.\1"),
        (r"conv_last\.(\w+)", rf"model.{3 * n_up + 4}.\1"),
    ]
    return _renamed(state, rules)


def to_edsr_pytorch(state: State, rgb_range: float = 255.0, mean=DIV2K_RGB_MEAN) -> State:
    num_block = len({k.split(".")[1] for k in state if k.startswith("body.")})
    eye = torch.eye(3).view(3, 3, 1, 1)
    shift = rgb_range * torch.tensor(mean)
    extra = {
        "sub_mean.weight": eye.clone(),
        "sub_mean.bias": -shift,
        "add_mean.weight": eye.clone(),
        "add_mean.bias": shift.clone(),
    }
    rules = [
        (r"conv_first\.(\w+)", r"head.0.\1"),
        (r"body\.(\d+)\.conv1\.(\w+)", r"body.\1.body.0.\2"),
        (r"body\.(\d+)\.conv2\.(\w+)", r"body.\1.body.2.\2"),
        (r"conv_after_body\.(\w+)", rf"body.{num_block}.\1"),
        (r"upsample\.(\d+)\.(\w+)", r"tail.0.\1.\2"),
        (r"conv_last\.(\w+)", r"tail.1.\1"),
    ]
    return _renamed(state, rules, extra)


def to_mmsr(state: State) -> State:
    return _renamed(
        state, [(r"body\.(\d+)\.(\w+)\.(\w+)", r"recon_trunk.\1.\2.\3"), (r"conv_hr\.(\w+)", r"HRconv.\1")]
    )


# --------------------------------------------------------------------------------------------------
# RRDBNet
# --------------------------------------------------------------------------------------------------


OLD_X4_KEYS = [
    "model.1.sub.1.RDB3.conv5.0.bias",
    "model.1.sub.2.weight",
    "model.3.weight",
    "model.6.weight",
    "model.8.weight",
    "model.10.weight",
]


@pytest.mark.parametrize(
    ("scale", "layout", "to_layout", "marker_keys"),
    [
        (4, "rrdbnet-basicsr", dict, ["conv_up2.weight", "body.1.rdb3.conv5.bias"]),
        (
            4,
            "rrdbnet-esrgan-new",
            to_esrgan_new,
            ["RRDB_trunk.1.RDB3.conv5.bias", "upconv2.weight", "HRconv.bias"],
        ),
        (4, "rrdbnet-esrgan-old", to_esrgan_old, OLD_X4_KEYS),
        (2, "rrdbnet-esrgan-old", to_esrgan_old, ["model.3.weight", "model.5.weight", "model.7.weight"]),
        (8, "rrdbnet-esrgan-old", to_esrgan_old, ["model.9.weight", "model.11.weight", "model.13.weight"]),
    ],
)
def test_rrdbnet_layouts_convert_exactly(
    tmp_path: Path, scale: int, layout: str, to_layout: Callable[[State], State], marker_keys: list[str]
) -> None:
    original = _net("rrdbnet", scale=scale, pixel_unshuffle=scale != 2, **TINY_RRDB)
    source = to_layout(original.state_dict())
    assert all(k in source for k in marker_keys)
    path = tmp_path / "weights.pth"
    torch.save(source, path)
    conversion = read_any_checkpoint(path)
    assert conversion.source_format == layout
    assert conversion.arch == "rrdbnet"
    assert conversion.hparams == original.hparams
    converted = build_model(conversion.arch, **conversion.hparams)
    converted.load_state_dict(conversion.state_dict, strict=True)
    _assert_same_output(original, converted.eval(), _input())


@pytest.mark.parametrize(("scale", "in_first"), [(2, 12), (1, 48)])
def test_real_esrgan_pixel_unshuffle_models(tmp_path: Path, scale: int, in_first: int) -> None:
    """Real-ESRGAN x2/x1: the first conv takes the pixel-unshuffled image (12 or 48 channels)."""
    original = _net("rrdbnet", scale=scale, **TINY_RRDB)
    state = original.state_dict()
    assert state["conv_first.weight"].shape[1] == in_first
    path = tmp_path / f"RealESRGAN_x{scale}plus.pth"
    torch.save({"params_ema": state}, path)
    model = load_any_model(path)
    assert model.hparams == {**original.hparams, "in_channels": 3, "scale": scale, "pixel_unshuffle": True}
    assert model.info.scale == scale and model.info.size_multiple == {2: 2, 1: 4}[scale]
    _assert_same_output(original, model, _input())


def test_rrdbnet_subpixel_variant_and_scale_hints(tmp_path: Path) -> None:
    # Sub-pixel stages: 9x num_feat output channels mean one x3 stage.
    original = _net("rrdbnet", scale=3, use_subpixel_conv=True, **TINY_RRDB)
    conversion = convert_state_dict(original.state_dict())
    assert conversion.hparams == original.hparams
    # One nearest-neighbour stage: x2 unless the user or the file name says x3 (the weights cannot).
    x3 = _net("rrdbnet", scale=3, **TINY_RRDB)
    old = to_esrgan_old(x3.state_dict())
    for name, scale, want in [("esrgan.pth", None, 2), ("esrgan_x3.pth", None, 3), ("esrgan.pth", 3, 3)]:
        torch.save(old, tmp_path / name)
        model = load_any_model(tmp_path / name, scale=scale)
        assert model.info.scale == want
        assert model.hparams["pixel_unshuffle"] is (want != 2)
    _assert_same_output(x3, load_any_model(tmp_path / "esrgan_x3.pth"), _input())
    # A scale that contradicts the weights is refused.
    with pytest.raises(SrkitError) as err:
        load_any_model(tmp_path / "esrgan.pth", scale=4)
    _one_line(err, "esrgan.pth", "rrdbnet-esrgan-old", "the weights are x2", "not x4")


def test_rrdbnet_inconsistent_weights_are_one_line_errors(tmp_path: Path) -> None:
    state = dict(_net("rrdbnet", scale=4, **TINY_RRDB).state_dict())
    path = tmp_path / "broken.pth"
    torch.save({k: v for k, v in state.items() if k != "body.1.rdb2.conv3.bias"}, path)
    with pytest.raises(SrkitError) as err:
        load_any_model(path)
    _one_line(err, str(path), "rrdbnet-basicsr layout", "missing key 'body.1.rdb2.conv3.bias'")

    torch.save({**state, "conv_extra.weight": torch.zeros(1)}, path)
    with pytest.raises(SrkitError) as err:
        load_any_model(path)
    _one_line(err, str(path), "unexpected key 'conv_extra.weight'")

    gap = {k.replace("body.1.", "body.2."): v for k, v in state.items()}
    with pytest.raises(SrkitError) as err:
        convert_state_dict(gap, source="gap.pth")
    _one_line(err, "gap.pth", "RRDB blocks are numbered [0, 2]")

    bad_shape = {
        **state,
        "conv_first.weight": torch.zeros(8, 3, 3, 3),
        "conv_up1.weight": torch.zeros(5, 8, 3, 3),
    }
    with pytest.raises(SrkitError) as err:
        convert_state_dict(bad_shape, source="shape.pth")
    _one_line(err, "shape.pth", "5 output channels for 8 features")


# --------------------------------------------------------------------------------------------------
# Containers and prefixes
# --------------------------------------------------------------------------------------------------


def _prefixed(state: State, prefix: str) -> State:
    return {prefix + k: v for k, v in state.items()}


def _decoy(state: State) -> State:
    return {k: torch.zeros_like(v) for k, v in state.items()}


WRAPPERS: dict[str, Callable[[State], object]] = {
    "plain": lambda sd: sd,
    "params_ema over params": lambda sd: {"params": _decoy(sd), "params_ema": sd, "iter": 100},
    "params": lambda sd: {"params": sd},
    "state_dict + module.": lambda sd: {"state_dict": _prefixed(sd, "module."), "epoch": 3},
    "model_state_dict": lambda sd: {"model_state_dict": sd, "optimizer_state_dict": {"state": {}}},
    "model": lambda sd: {"model": sd, "epoch": 1},
    "net": lambda sd: {"net": sd},
    "generator": lambda sd: {"generator": sd, "discriminator": {"conv.weight": torch.zeros(1)}},
    "netG nested + _orig_mod.": lambda sd: {"state_dict": {"netG": _prefixed(sd, "_orig_mod.")}},
    "netG. prefix": lambda sd: _prefixed(sd, "netG."),
    "module._orig_mod. prefix": lambda sd: _prefixed(sd, "module._orig_mod."),
    "flattened GAN": lambda sd: {
        "state_dict": {**_prefixed(sd, "generator."), "discriminator.conv.weight": torch.zeros(1)}
    },
}


@pytest.mark.parametrize("wrapper", list(WRAPPERS))
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_containers_and_prefixes_are_unwrapped(tmp_path: Path, wrapper: str, legacy: bool) -> None:
    original = _net("rrdbnet", scale=4, num_feat=8, num_block=1, num_grow_ch=4)
    source = to_esrgan_new(original.state_dict())
    path = tmp_path / "ckpt.pth"
    torch.save(WRAPPERS[wrapper](source), path, _use_new_zipfile_serialization=not legacy)
    model = load_any_model(path)
    assert model.hparams == original.hparams
    _assert_same_output(original, model, _input())


def test_safetensors_without_srkit_metadata_is_detected(tmp_path: Path) -> None:
    original = _net("rrdbnet", scale=2, **TINY_RRDB)
    path = tmp_path / "RealESRGAN_x2plus.safetensors"
    save_file(original.state_dict(), str(path))
    conversion = read_any_checkpoint(path)
    assert conversion.source_format == "rrdbnet-basicsr" and conversion.hparams == original.hparams
    _assert_same_output(original, conversion.build(path), _input())
    # srkit's own files keep their metadata.
    native = save_weights(tmp_path / "native.safetensors", original)
    assert read_any_checkpoint(native).source_format == "srkit"
    _assert_same_output(original, load_any_model(native), _input())


# --------------------------------------------------------------------------------------------------
# EDSR, MSRResNet
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("layout", ["edsr-basicsr", "edsr-pytorch"])
def test_edsr_layouts_convert_exactly(tmp_path: Path, scale: int, layout: str) -> None:
    original = _net("edsr-baseline", scale=scale, num_feat=8, num_block=2)
    state = original.state_dict()
    source = to_edsr_pytorch(state) if layout == "edsr-pytorch" else dict(state)
    path = tmp_path / f"edsr_x{scale}.pt"
    torch.save(source, path)
    conversion = read_any_checkpoint(path)
    assert conversion.source_format == layout
    assert conversion.hparams == original.hparams
    assert conversion.hparams["res_scale"] == 1.0 and conversion.hparams["img_range"] == 255.0
    assert conversion.hparams["rgb_mean"] == list(DIV2K_RGB_MEAN)
    _assert_same_output(original, conversion.build(path), _input())


def test_edsr_pytorch_mean_shift_and_res_scale(tmp_path: Path) -> None:
    # rgb_range 1 (bias = -mean): srkit works in [0, 1] with the same mean.
    original = _net("edsr-baseline", scale=2, num_feat=8, num_block=1, img_range=1.0)
    conversion = convert_state_dict(to_edsr_pytorch(original.state_dict(), rgb_range=1.0))
    assert conversion.hparams["img_range"] == 1.0 and conversion.hparams["rgb_mean"] == list(DIV2K_RGB_MEAN)
    _assert_same_output(original, conversion.build(), _input())
    # Another mean: rgb_range 255 is assumed and the mean read off the bias.
    original = _net("edsr-baseline", scale=2, num_feat=8, num_block=1, rgb_mean=[0.5, 0.25, 0.75])
    conversion = convert_state_dict(to_edsr_pytorch(original.state_dict(), mean=(0.5, 0.25, 0.75)))
    assert conversion.hparams["img_range"] == 255.0 and conversion.hparams["rgb_mean"] == [0.5, 0.25, 0.75]
    _assert_same_output(original, conversion.build(), _input())
    # The full EDSR (256 features) was trained with residual scaling 0.1, which is assumed.
    full = _net("edsr-baseline", scale=2, num_feat=256, num_block=1, res_scale=0.1)
    conversion = convert_state_dict(to_edsr_pytorch(full.state_dict()))
    assert conversion.hparams["res_scale"] == 0.1 and conversion.hparams["num_feat"] == 256
    _assert_same_output(full, conversion.build(), _input(size=4))
    # A non-identity mean-shift conv (rgb_std != 1) has no srkit equivalent.
    state = to_edsr_pytorch(original.state_dict())
    state["sub_mean.weight"] = state["sub_mean.weight"] / 0.5
    with pytest.raises(SrkitError) as err:
        convert_state_dict(state, source="std.pt")
    _one_line(err, "std.pt", "edsr-pytorch", "rgb_std != 1")


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("layout", ["msrresnet-basicsr", "msrresnet-mmsr"])
def test_msrresnet_layouts_convert_exactly(scale: int, layout: str) -> None:
    original = _net("msrresnet", scale=scale, num_feat=8, num_block=2)
    state = original.state_dict()
    source = to_mmsr(state) if layout == "msrresnet-mmsr" else dict(state)
    conversion = convert_state_dict(source)
    assert conversion.source_format == layout and conversion.hparams == original.hparams
    _assert_same_output(original, conversion.build(), _input())


# --------------------------------------------------------------------------------------------------
# FSRCNN, VDSR
# --------------------------------------------------------------------------------------------------


def test_fsrcnn_scale_comes_from_the_name_or_the_user(tmp_path: Path) -> None:
    original = _net("fsrcnn", scale=3, d=8, s=4, m=2)
    named = tmp_path / "fsrcnn_x3.pth"
    torch.save(original.state_dict(), named)
    model = load_any_model(named)
    assert model.hparams == {"scale": 3, "channels": 1, "d": 8, "s": 4, "m": 2}
    _assert_same_output(original, model, _input(channels=1))

    unnamed = tmp_path / "fsrcnn.pth"
    torch.save(original.state_dict(), unnamed)
    with pytest.raises(SrkitError) as err:
        load_any_model(unnamed)
    _one_line(err, str(unnamed), "fsrcnn", "scale is not stored", "--scale")
    assert load_any_model(unnamed, scale=3).info.scale == 3
    assert load_any_model(named, scale=2).info.scale == 2  # the user's scale wins over the name


def test_vdsr_layers_and_features_from_shapes(tmp_path: Path) -> None:
    original = _net("vdsr", num_feat=8, num_layers=5)
    path = tmp_path / "vdsr.pth"
    torch.save({"model": original.state_dict(), "epoch": 50}, path)
    model = load_any_model(path, scale=4)  # one model for every scale: a scale is not a contradiction
    assert model.hparams == {"channels": 1, "num_feat": 8, "num_layers": 5} and model.info.scale == 1
    _assert_same_output(original, model, _input(channels=1))


# --------------------------------------------------------------------------------------------------
# Detection, names, unknown layouts
# --------------------------------------------------------------------------------------------------


def test_each_layout_is_detected_as_itself() -> None:
    rrdb = _net("rrdbnet", scale=4, **TINY_RRDB).state_dict()
    edsr = _net("edsr-baseline", scale=2, num_feat=8, num_block=1).state_dict()
    msr = _net("msrresnet", scale=4, num_feat=8, num_block=1).state_dict()
    sources = {
        "rrdbnet-basicsr": rrdb,
        "rrdbnet-esrgan-new": to_esrgan_new(rrdb),
        "rrdbnet-esrgan-old": to_esrgan_old(rrdb),
        "edsr-basicsr": edsr,
        "edsr-pytorch": to_edsr_pytorch(edsr),
        "msrresnet-basicsr": msr,
        "msrresnet-mmsr": to_mmsr(msr),
        "fsrcnn": _net("fsrcnn", d=8, s=4, m=1).state_dict(),
        "vdsr": _net("vdsr", num_feat=8, num_layers=3).state_dict(),
    }
    # Every layout of these families is here (families added later test their own layouts' detection).
    families = ("edsr", "fsrcnn", "rrdbnet", "srresnet", "msrresnet", "vdsr")
    theirs = [layout.name for arch in families for layout in ARCH_ENTRIES[arch].layouts]
    assert sorted(sources) == sorted(theirs) and set(theirs) <= set(format_names())
    for name, state in sources.items():
        assert detect_format(state).name == name
    # The CLI's help lists exactly these layouts.
    listed = re.findall(r"^  (\S+)\s", layouts_epilog(), flags=re.MULTILINE)
    assert listed == format_names()


@pytest.mark.parametrize(
    ("name", "scale"),
    [
        ("fsrcnn_x3.pth", 3),
        ("RealESRGAN_x4plus.pth", 4),
        ("RealESRGAN_x2plus.pth", 2),
        ("ESRGAN_SRx4_DF2KOST_official-ff704c30.pth", 4),
        ("edsr_baseline_x2-1bc95232.pt", 2),
        ("4x_foo.pth", 4),
        ("model_epoch_50.pth", None),
        ("vdsr_state_dict.pth", None),
        ("x2_to_x4.pth", None),
        ("net_x16.pth", None),
    ],
)
def test_scale_from_name(name: str, scale: int | None) -> None:
    assert scale_from_name(name) == scale


def test_unknown_layout_lists_known_formats_and_first_keys(tmp_path: Path) -> None:
    path = tmp_path / "mystery.pth"
    torch.save({f"encoder.layer{i}.weight": torch.zeros(2) for i in range(8)}, path)
    with pytest.raises(SrkitError) as err:
        load_any_model(path)
    msg = _one_line(err, str(path), "unknown checkpoint layout", "'encoder.layer0.weight'", "of 8")
    assert all(name in msg for name in format_names())
    assert "encoder.layer7" not in msg


# --------------------------------------------------------------------------------------------------
# load_upscaler, srkit convert, srkit eval
# --------------------------------------------------------------------------------------------------


def test_load_upscaler_reads_third_party_files(tmp_path: Path) -> None:
    from srkit.archs import Runner
    from srkit.infer.upscalers import load_upscaler

    original = _net("edsr-baseline", scale=2, num_feat=8, num_block=1)
    for suffix in (".pth", ".pt", ".ckpt", ".bin"):
        path = tmp_path / f"edsr_x2{suffix}"
        torch.save({"state_dict": to_edsr_pytorch(original.state_dict())}, path)
        upscaler = load_upscaler(str(path), device="cpu", precision="fp32")
        assert isinstance(upscaler, Runner) and upscaler.name == "edsr_x2" and upscaler.scale == 2
        lr = _input()
        with torch.no_grad():
            assert torch.equal(upscaler(lr, 2), original(lr).clamp(0, 1))


@pytest.fixture()
def tiny_dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    g = torch.Generator().manual_seed(5)
    for i, (h, w) in enumerate([(24, 20), (16, 28)]):
        base = torch.rand(3, h // 4, w // 4, generator=g)[None]
        img = torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)[0]
        write_image(folder / f"img{i}.png", (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    return folder


def test_srkit_convert_end_to_end(tmp_path: Path, tiny_dataset: Path, capsys) -> None:
    original = _net("edsr-baseline", scale=2, num_feat=8, num_block=2)
    src = tmp_path / "edsr_x2.pt"
    torch.save(to_edsr_pytorch(original.state_dict()), src)
    out = tmp_path / "converted" / "edsr_x2.safetensors"
    assert main(["convert", str(src), str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: edsr x2" in printed and "edsr-pytorch layout" in printed

    state, meta = read_weights(out)
    assert (meta.arch, meta.scale, meta.hparams) == ("edsr", 2, original.hparams)
    assert meta.extra["source"] == "edsr_x2.pt" and meta.extra["source_format"] == "edsr-pytorch"
    assert all(torch.equal(state[k], v) for k, v in original.state_dict().items())
    assert sorted(p.name for p in out.parent.iterdir()) == ["edsr_x2.safetensors"]  # no temporary files

    # srkit eval reads the converted file and measures what the same network saved natively measures.
    native = save_weights(tmp_path / "native" / "edsr_x2.safetensors", original)
    results = {}
    for name, weights in [("converted", out), ("native", native)]:
        args = ["eval", "--model", str(weights), "--dataset", str(tiny_dataset), "--scale", "2"]
        assert main([*args, "--out", str(tmp_path / name), "--no-progress"]) == 0
        results[name] = json.loads((tmp_path / name / "eval.json").read_text())
    psnrs = {name: [img["psnr"] for img in data["images"]] for name, data in results.items()}
    assert psnrs["converted"] == psnrs["native"] and len(psnrs["native"]) == 2
    assert all(10 < p < 80 for p in psnrs["native"])

    # Converting an srkit file keeps its provenance and records the new source.
    again = tmp_path / "again.safetensors"
    convert_checkpoint(out, again)
    extra = read_weights_meta(again).extra
    assert extra["source"] == "edsr_x2.safetensors" and extra["source_format"] == "srkit"


def test_srkit_convert_refuses_bad_outputs_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "vdsr.safetensors"
    save_file(_net("vdsr", num_feat=8, num_layers=3).state_dict(), str(src))
    before = src.read_bytes()
    for out, needle in [
        (src, "refusing to overwrite the input"),
        (Path("vdsr.safetensors"), "refusing to overwrite the input"),
        (tmp_path / "out.pth", "must be an srkit .safetensors file"),
    ]:
        assert main(["convert", str(src), str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, err
    assert src.read_bytes() == before

    missing = tmp_path / "missing.pth"
    assert main(["convert", str(missing), str(tmp_path / "o.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{missing}: no such weights file" in err
    assert not (tmp_path / "o.safetensors").exists()

    fsrcnn = tmp_path / "fsrcnn.pth"
    torch.save(_net("fsrcnn", d=8, s=4, m=1).state_dict(), fsrcnn)
    assert main(["convert", str(fsrcnn), str(tmp_path / "f.safetensors")]) == 2
    assert "--scale" in capsys.readouterr().err
    assert main(["convert", str(fsrcnn), str(tmp_path / "f.safetensors"), "--scale", "2"]) == 0
    assert read_weights_meta(tmp_path / "f.safetensors").scale == 2


# --------------------------------------------------------------------------------------------------
# The published FSRCNN and VDSR files
# --------------------------------------------------------------------------------------------------


def test_convert_published_fsrcnn_and_vdsr(shared_weights: Path, tmp_path: Path) -> None:
    fsrcnn_src = shared_weights / "fsrcnn" / "fsrcnn_x3.pth"
    out = tmp_path / "fsrcnn_x3.safetensors"
    info = convert_checkpoint(fsrcnn_src, out)
    assert info == {
        "arch": "fsrcnn",
        "hparams": {"scale": 3, "channels": 1, "d": 56, "s": 12, "m": 4},
        "scale": 3,
        "source_format": "fsrcnn",
    }
    state, meta = read_weights(out)
    published = torch.load(fsrcnn_src, map_location="cpu", weights_only=True)
    assert state.keys() == published.keys() and all(torch.equal(state[k], published[k]) for k in state)
    assert sum(v.numel() for v in state.values()) == 12809
    assert meta.extra["source"] == "fsrcnn_x3.pth"

    vdsr_src = shared_weights / "vdsr" / "vdsr_state_dict.pth"
    out = tmp_path / "vdsr.safetensors"
    info = convert_checkpoint(vdsr_src, out)
    assert info["hparams"] == {"channels": 1, "num_feat": 64, "num_layers": 20} and info["scale"] == 1
    state, meta = read_weights(out)
    published = torch.load(vdsr_src, map_location="cpu", weights_only=True)
    assert all(torch.equal(state[k], published[k]) for k in published)
    assert sum(v.numel() for v in state.values()) == 664704 and meta.extra["source_format"] == "vdsr"
