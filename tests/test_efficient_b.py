"""Efficient SR families, second batch: SRVGGNetCompact (Real-ESRGAN compact), SPAN, PAN, CARN-M and LapSRN.

Each family's original network is written here again, from its authors' code as published (module names
and layer order, not srkit's classes): a random-weight network in the original layout is converted by
srkit (hyper-parameters read off the shapes) and must compute exactly what the original computes. The
authors' real checkpoints (``$SRKIT_SHARED/weights``, skipped when absent) must then give the Set5 PSNR
their PROVENANCE.md reports through ``srkit eval``, and load in ``srkit upscale`` and ``srkit convert``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import srkit.archs as A
from srkit.archs.loading import convert_state_dict, detect_format
from srkit.cli import main
from srkit.colour import gray_to_y, y_to_gray
from srkit.errors import ConfigError, SrkitError
from srkit.io.checkpoint import read_weights

State = dict[str, torch.Tensor]
MEAN = (0.4488, 0.4371, 0.4040)


def _randomise(net: nn.Module, seed: int, std: float = 0.1) -> nn.Module:
    """Every parameter random (biases and PReLU slopes too), so no branch hides behind a zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return net.eval()


def _input(channels: int = 3, size: int = 9, seed: int = 1) -> torch.Tensor:
    return torch.rand(1, channels, size, size, generator=torch.Generator().manual_seed(seed))


def _convert(source: nn.Module) -> tuple[A.Conversion, nn.Module]:
    state = {k: v.clone() for k, v in source.state_dict().items()}
    conversion = convert_state_dict(state, source="original.pth")
    return conversion, conversion.build("original.pth")


def _same(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    assert torch.equal(a, b), (a - b).abs().max()


# --------------------------------------------------------------------------------------------------
# The original networks (their authors' module names and forward passes)
# --------------------------------------------------------------------------------------------------


class OrigSRVGG(nn.Module):
    """xinntao/Real-ESRGAN ``SRVGGNetCompact(3, 3, num_feat, num_conv, upscale, act_type='prelu')``."""

    def __init__(self, num_feat: int, num_conv: int, upscale: int, ch: int = 3) -> None:
        super().__init__()
        self.upscale = upscale
        self.body = nn.ModuleList([nn.Conv2d(ch, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)])
        for _ in range(num_conv):
            self.body.extend([nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_parameters=num_feat)])
        self.body.append(nn.Conv2d(num_feat, ch * upscale * upscale, 3, 1, 1))
        self.upsampler = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        out += F.interpolate(x, scale_factor=self.upscale, mode="nearest")
        return out


class OrigConv3XC(nn.Module):
    """SPAN's ``Conv3XC``: training branches plus ``eval_conv`` (only ``eval_conv`` when ``slim``, as in
    the challenge's ``SPAN30``). Evaluated through the branches (what the fused conv equals)."""

    def __init__(self, c_in: int, c_out: int, gain: int, slim: bool) -> None:
        super().__init__()
        self.slim = slim
        if not slim:
            self.sk = nn.Conv2d(c_in, c_out, 1)
            self.conv = nn.Sequential(
                nn.Conv2d(c_in, c_in * gain, 1),
                nn.Conv2d(c_in * gain, c_out * gain, 3),
                nn.Conv2d(c_out * gain, c_out, 1),
            )
        self.eval_conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.slim:
            return self.eval_conv(x)
        return self.conv(F.pad(x, (1, 1, 1, 1), "constant", 0)) + self.sk(x)


class OrigSPAB(nn.Module):
    def __init__(self, c: int, gain: int, slim: bool) -> None:
        super().__init__()
        self.c1_r = OrigConv3XC(c, c, gain, slim)
        self.c2_r = OrigConv3XC(c, c, gain, slim)
        self.c3_r = OrigConv3XC(c, c, gain, slim)
        self.act1 = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out1 = self.c1_r(x)
        out1_act = self.act1(out1)  # in place: out1 is now the activated tensor, as in SPAN
        out2 = self.c2_r(out1_act)
        out2_act = self.act1(out2)
        out3 = self.c3_r(out2_act)
        sim_att = torch.sigmoid(out3) - 0.5
        return (out3 + x) * sim_att, out1, sim_att


class OrigSPAN(nn.Module):
    """hongyuanyu/SPAN ``SPAN(3, 3, feature_channels, upscale)`` (six blocks)."""

    def __init__(self, feat: int, upscale: int, slim: bool, gain: int = 2) -> None:
        super().__init__()
        self.mean = torch.tensor(MEAN).view(1, 3, 1, 1)
        self.conv_1 = OrigConv3XC(3, feat, gain, slim)
        for i in range(1, 7):
            setattr(self, f"block_{i}", OrigSPAB(feat, gain, slim))
        self.conv_cat = nn.Conv2d(feat * 4, feat, 1)
        self.conv_2 = OrigConv3XC(feat, feat, gain, slim)
        self.upsampler = nn.Sequential(
            nn.Conv2d(feat, 3 * upscale**2, 3, padding=1), nn.PixelShuffle(upscale)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) * 255.0
        out_feature = self.conv_1(x)
        out_b1, _, _ = self.block_1(out_feature)
        out_b2, _, _ = self.block_2(out_b1)
        out_b3, _, _ = self.block_3(out_b2)
        out_b4, _, _ = self.block_4(out_b3)
        out_b5, _, _ = self.block_5(out_b4)
        out_b6, out_b5_2, _ = self.block_6(out_b5)
        out_b6 = self.conv_2(out_b6)
        out = self.conv_cat(torch.cat([out_feature, out_b6, out_b1, out_b5_2], 1))
        return self.upsampler(out)


class OrigPA(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(nf, nf, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.mul(x, torch.sigmoid(self.conv(x)))


class OrigPAConv(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        self.k2 = nn.Conv2d(nf, nf, 1)
        self.k3 = nn.Conv2d(nf, nf, 3, padding=1, bias=False)
        self.k4 = nn.Conv2d(nf, nf, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.k4(torch.mul(self.k3(x), torch.sigmoid(self.k2(x))))


class OrigSCPA(nn.Module):
    def __init__(self, nf: int) -> None:
        super().__init__()
        gw = nf // 2
        self.conv1_a = nn.Conv2d(nf, gw, 1, bias=False)
        self.conv1_b = nn.Conv2d(nf, gw, 1, bias=False)
        self.k1 = nn.Sequential(nn.Conv2d(gw, gw, 3, padding=1, bias=False))
        self.PAConv = OrigPAConv(gw)
        self.conv3 = nn.Conv2d(gw * 2, nf, 1, bias=False)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out_a = self.lrelu(self.conv1_a(x))
        out_b = self.lrelu(self.conv1_b(x))
        out_a = self.lrelu(self.k1(out_a))
        out_b = self.lrelu(self.PAConv(out_b))
        out = self.conv3(torch.cat([out_a, out_b], dim=1))
        out += x
        return out


class OrigPAN(nn.Module):
    """zhaohengyuan1/PAN ``PAN(in_nc, out_nc, nf, unf, nb, scale)``."""

    def __init__(self, nf: int, unf: int, nb: int, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.SCPA_trunk = nn.Sequential(*(OrigSCPA(nf) for _ in range(nb)))
        self.trunk_conv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.upconv1 = nn.Conv2d(nf, unf, 3, 1, 1)
        self.att1 = OrigPA(unf)
        self.HRconv1 = nn.Conv2d(unf, unf, 3, 1, 1)
        if scale == 4:
            self.upconv2 = nn.Conv2d(unf, unf, 3, 1, 1)
            self.att2 = OrigPA(unf)
            self.HRconv2 = nn.Conv2d(unf, unf, 3, 1, 1)
        self.conv_last = nn.Conv2d(unf, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.SCPA_trunk(fea))
        first = 2 if self.scale == 4 else self.scale
        fea = self.upconv1(F.interpolate(fea, scale_factor=first, mode="nearest"))
        fea = self.lrelu(self.HRconv1(self.lrelu(self.att1(fea))))
        if self.scale == 4:
            fea = self.upconv2(F.interpolate(fea, scale_factor=2, mode="nearest"))
            fea = self.lrelu(self.HRconv2(self.lrelu(self.att2(fea))))
        out = self.conv_last(fea)
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


class OrigMeanShift(nn.Module):
    def __init__(self, sign: float) -> None:
        super().__init__()
        self.shifter = nn.Conv2d(3, 3, 1, 1, 0)
        self.shifter.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.shifter.bias.data = torch.tensor(MEAN) * sign
        self.shifter.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifter(x)


def _basic(cin: int, cout: int) -> nn.Module:
    block = nn.Module()
    block.body = nn.Sequential(nn.Conv2d(cin, cout, 1, 1, 0), nn.ReLU(inplace=True))
    block.forward = block.body.forward  # type: ignore[method-assign]
    return block


class OrigEResidual(nn.Module):
    def __init__(self, nf: int, group: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(nf, nf, 3, 1, 1, groups=group),
            nn.ReLU(inplace=True),
            nn.Conv2d(nf, nf, 3, 1, 1, groups=group),
            nn.ReLU(inplace=True),
            nn.Conv2d(nf, nf, 1, 1, 0),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x)


class OrigCarnBlock(nn.Module):
    def __init__(self, nf: int, group: int) -> None:
        super().__init__()
        self.b1 = OrigEResidual(nf, group)
        self.c1, self.c2, self.c3 = _basic(nf * 2, nf), _basic(nf * 3, nf), _basic(nf * 4, nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c0 = o0 = x
        b1 = self.b1(o0)
        c1 = torch.cat([c0, b1], dim=1)
        o1 = self.c1(c1)
        b2 = self.b1(o1)
        c2 = torch.cat([c1, b2], dim=1)
        o2 = self.c2(c2)
        b3 = self.b1(o2)
        c3 = torch.cat([c2, b3], dim=1)
        return self.c3(c3)


def _orig_up(nf: int, scale: int, group: int) -> nn.Module:
    modules: list[nn.Module] = []
    if scale == 3:
        modules += [nn.Conv2d(nf, 9 * nf, 3, 1, 1, groups=group), nn.ReLU(inplace=True), nn.PixelShuffle(3)]
    else:
        for _ in range(int(math.log(scale, 2))):
            modules += [
                nn.Conv2d(nf, 4 * nf, 3, 1, 1, groups=group),
                nn.ReLU(inplace=True),
                nn.PixelShuffle(2),
            ]
    up = nn.Module()
    up.body = nn.Sequential(*modules)
    return up


class OrigCARNM(nn.Module):
    """nmhkahn/CARN-pytorch ``carn_m.Net(scale=..., multi_scale=..., group=...)``; ``forward(x, scale)``."""

    def __init__(self, nf: int, group: int, multi_scale: bool, scale: int = 4) -> None:
        super().__init__()
        self.multi_scale = multi_scale
        self.sub_mean, self.add_mean = OrigMeanShift(-1.0), OrigMeanShift(1.0)
        self.entry = nn.Conv2d(3, nf, 3, 1, 1)
        self.b1, self.b2, self.b3 = (OrigCarnBlock(nf, group) for _ in range(3))
        self.c1, self.c2, self.c3 = _basic(nf * 2, nf), _basic(nf * 3, nf), _basic(nf * 4, nf)
        self.upsample = nn.Module()
        if multi_scale:
            for s in (2, 3, 4):
                setattr(self.upsample, f"up{s}", _orig_up(nf, s, group))
        else:
            self.upsample.up = _orig_up(nf, scale, group)
        self.exit = nn.Conv2d(nf, 3, 3, 1, 1)

    def forward(self, x: torch.Tensor, scale: int) -> torch.Tensor:
        x = self.entry(self.sub_mean(x))
        c0 = o0 = x
        b1 = self.b1(o0)
        c1 = torch.cat([c0, b1], dim=1)
        o1 = self.c1(c1)
        b2 = self.b2(o1)
        c2 = torch.cat([c1, b2], dim=1)
        o2 = self.c2(c2)
        b3 = self.b3(o2)
        c3 = torch.cat([c2, b3], dim=1)
        o3 = self.c3(c3)
        up = getattr(self.upsample, f"up{scale}") if self.multi_scale else self.upsample.up
        return self.add_mean(self.exit(up.body(o3)))


class OrigLapSRN(nn.Module):
    """twtygqyy/pytorch-LapSRN ``Net`` generalised to ``levels`` and ``depth``; returns every level."""

    def __init__(self, nf: int, depth: int, levels: int) -> None:
        super().__init__()
        self.levels = levels
        self.conv_input = nn.Conv2d(1, nf, 3, 1, 1, bias=False)
        self.relu = nn.LeakyReLU(0.2, inplace=True)
        for k in range(1, levels + 1):
            layers: list[nn.Module] = []
            for _ in range(depth):
                layers += [nn.Conv2d(nf, nf, 3, 1, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
            layers += [nn.ConvTranspose2d(nf, nf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
            block = nn.Module()
            block.cov_block = nn.Sequential(*layers)
            setattr(self, f"convt_I{k}", nn.ConvTranspose2d(1, 1, 4, 2, 1, bias=False))
            setattr(self, f"convt_R{k}", nn.Conv2d(nf, 1, 3, 1, 1, bias=False))
            setattr(self, f"convt_F{k}", nn.Sequential(block))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self.relu(self.conv_input(x))
        image, outputs = x, []
        for k in range(1, self.levels + 1):
            out = getattr(self, f"convt_F{k}")[0].cov_block(out)
            image = getattr(self, f"convt_I{k}")(image) + getattr(self, f"convt_R{k}")(out)
            outputs.append(image)
        return outputs


# --------------------------------------------------------------------------------------------------
# Random-weight originals: layout detection, inferred hyper-parameters, exact outputs
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_feat", "num_conv", "scale"),
    [(16, 4, 4), (12, 7, 2), (8, 2, 3)],  # animevideov3-like x4, deeper x2, x3
)
def test_srvgg_compact_converts_exactly(num_feat: int, num_conv: int, scale: int) -> None:
    original = _randomise(OrigSRVGG(num_feat, num_conv, scale), seed=num_conv)
    conversion, net = _convert(original)
    assert conversion.source_format == "srvgg-compact" and conversion.arch == "srvgg_compact"
    assert conversion.hparams == {
        "channels": 3,
        "num_feat": num_feat,
        "num_conv": num_conv,
        "scale": scale,
        "act_type": "prelu",
    }
    x = _input()
    with torch.no_grad():
        _same(net(x), original(x))


def test_srvgg_compact_published_settings() -> None:
    """The two released settings by preset: realesr-animevideov3 (16 convs) and general-x4v3 (32)."""
    anime = A.build_model("realesr-animevideov3", scale=4)
    general = A.build_model("realesr-general-x4v3", scale=4)
    assert sum(p.numel() for p in anime.parameters()) == 621_424
    assert len(general.body) == 2 * 32 + 3 and general.info.scale == 4


@pytest.mark.parametrize(("feat", "scale"), [(8, 4), (12, 2), (6, 3)])
def test_span_reparameterised_layout_converts_exactly(feat: int, scale: int) -> None:
    original = _randomise(OrigSPAN(feat, scale, slim=True), seed=feat, std=0.05)
    conversion, net = _convert(original)
    assert conversion.source_format == "span"
    assert conversion.hparams == {
        "channels": 3,
        "feature_channels": feat,
        "num_block": 6,
        "scale": scale,
        "reparameterized": True,
    }
    assert set(net.state_dict()) == set(original.state_dict())
    x = _input()
    with torch.no_grad():
        _same(net(x), original(x))


@pytest.mark.parametrize(("feat", "gain"), [(8, 2), (6, 1)])
def test_span_training_layout_converts_exactly_and_fuses(feat: int, gain: int) -> None:
    """A training-time state (branches plus the derived ``eval_conv``): the branches convert exactly,
    ``eval_conv`` is dropped, and :meth:`SPAN.fused` gives the single-conv form of the same function."""
    original = _randomise(OrigSPAN(feat, 4, slim=False, gain=gain), seed=3, std=0.05)
    conversion, net = _convert(original)
    assert conversion.source_format == "span-train"
    assert conversion.hparams["gain"] == gain and conversion.hparams["reparameterized"] is False
    assert conversion.hparams["feature_channels"] == feat and conversion.hparams["scale"] == 4
    assert not any(".eval_conv." in k for k in net.state_dict())
    x = _input()
    with torch.no_grad():
        want = original(x)
        _same(net(x), want)
        fused = net.fused()
        assert fused.hparams["reparameterized"] is True and len(fused.state_dict()) == 44
        got = fused(x)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max())), (got - want).abs().max()
    # the fused form is the released layout: it converts back as it is
    again = convert_state_dict(fused.state_dict())
    assert again.source_format == "span" and again.hparams["feature_channels"] == feat


def test_convert_writes_the_fused_form_of_a_training_checkpoint(tmp_path: Path) -> None:
    """``srkit convert`` on a training-form SPAN writes the released single-conv form."""
    from srkit.cli.convert import convert_checkpoint

    original = _randomise(OrigSPAN(8, 4, slim=False, gain=2), seed=5, std=0.05)
    torch.save(original.state_dict(), tmp_path / "span_train.pth")
    info = convert_checkpoint(tmp_path / "span_train.pth", tmp_path / "span.safetensors")
    assert info["hparams"]["reparameterized"] is True
    loaded = A.load_network(tmp_path / "span.safetensors")
    assert not any(k.endswith(".sk.weight") for k in loaded.state_dict())
    x = _input()
    with torch.no_grad():
        want, got = original(x), loaded(x)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))


def test_span_trains_in_the_training_form() -> None:
    net = A.build_model("span", feature_channels=8, num_block=2, scale=2).train()
    loss = net(_input(size=6)).square().mean()
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    assert any(k.endswith("conv_1.sk.weight") for k in net.state_dict())


@pytest.mark.parametrize(("nf", "unf", "nb", "scale"), [(8, 6, 2, 4), (10, 4, 3, 2), (6, 6, 1, 3)])
def test_pan_converts_exactly(nf: int, unf: int, nb: int, scale: int) -> None:
    original = _randomise(OrigPAN(nf, unf, nb, scale), seed=nb)
    state = {k: v.clone() for k, v in original.state_dict().items()}
    hint = None if scale == 4 else scale  # one stage: x2 and x3 weights look alike
    conversion = convert_state_dict(state, scale=hint, source="pan.pth")
    assert conversion.source_format == "pan"
    assert conversion.hparams == {
        "in_channels": 3,
        "out_channels": 3,
        "num_feat": nf,
        "num_up_feat": unf,
        "num_block": nb,
        "scale": scale,
    }
    net = conversion.build()
    x = _input()
    with torch.no_grad():
        _same(net(x), original(x))


def test_pan_one_stage_scale_comes_from_the_user_or_the_name() -> None:
    state = _randomise(OrigPAN(8, 4, 1, 3), seed=0).state_dict()
    with pytest.raises(SrkitError, match="x2 or x3 and the weights do not say which") as err:
        convert_state_dict(state, source="pan.pth")
    assert "\n" not in str(err.value)
    assert convert_state_dict(state, name_scale=3).hparams["scale"] == 3
    x4 = _randomise(OrigPAN(8, 4, 1, 4), seed=0).state_dict()
    with pytest.raises(SrkitError, match="the weights are x4"):
        convert_state_dict(x4, scale=2)


@pytest.mark.parametrize(("nf", "group"), [(8, 2), (12, 4), (8, 1)])
def test_carn_m_multi_scale_converts_exactly_at_every_scale(nf: int, group: int) -> None:
    original = _randomise(OrigCARNM(nf, group, multi_scale=True), seed=group)
    conversion, net = _convert(original)
    assert conversion.source_format == "carn-m"
    assert conversion.hparams == {"scale": 4, "multi_scale": True, "num_feat": nf, "group": group}
    info = net.info
    assert info.scales == (2, 3, 4) and info.scale == 4 and info.supports_scale(3)
    runner = A.make_runner(net, device="cpu", precision="fp32")
    assert info.scale_arg and type(runner) is A.Runner  # the base runner passes the factor of each call
    x = _input()
    for s in (2, 3, 4):
        with torch.no_grad():
            want = original(x, s)
            _same(net(x, s), want)
        _same(runner(x, s), want.clamp(0, 1))
    with pytest.raises(SrkitError, match=r"upscales by x2/x3/x4 only, not x8"):
        runner(x, 8)


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_carn_m_single_scale_converts_exactly(scale: int) -> None:
    original = _randomise(OrigCARNM(8, 2, multi_scale=False, scale=scale), seed=scale)
    conversion, net = _convert(original)
    assert conversion.hparams == {"scale": scale, "multi_scale": False, "num_feat": 8, "group": 2}
    assert net.info.scales == (scale,)
    x = _input(size=5)
    with torch.no_grad():
        _same(net(x), original(x, scale))


def test_carn_m_scale_hints_and_refusals() -> None:
    state = _randomise(OrigCARNM(8, 2, multi_scale=True), seed=0).state_dict()
    assert convert_state_dict(state, scale=2).hparams["scale"] == 2  # the default branch; all three kept
    with pytest.raises(SrkitError, match="serves x2/x3/x4, not x8"):
        convert_state_dict(state, scale=8)
    full = {**state, "b1.b2.body.0.weight": torch.zeros(8, 8, 3, 3)}
    with pytest.raises(SrkitError, match="full CARN"):
        convert_state_dict(full)


@pytest.mark.parametrize(("nf", "depth", "levels"), [(8, 3, 2), (6, 1, 1), (4, 2, 3)])
def test_lapsrn_converts_exactly_at_every_level(nf: int, depth: int, levels: int) -> None:
    original = _randomise(OrigLapSRN(nf, depth, levels), seed=depth)
    conversion, net = _convert(original)
    assert conversion.source_format == "lapsrn"
    assert conversion.hparams == {"scale": 2**levels, "num_feat": nf, "depth": depth, "channels": 1}
    info = net.info
    assert info.color == "y" and info.in_channels == 1
    assert info.scales == tuple(2**k for k in range(1, levels + 1))
    x = _input(channels=1, size=6)
    with torch.no_grad():
        outputs = original(x)
        for k, want in enumerate(outputs, start=1):
            _same(net(x, 2**k), want)
        _same(net(x), outputs[-1])
    runner = A.make_runner(net, device="cpu", precision="fp32")
    with torch.no_grad():  # a gray image runs on its Y (16..235 scale) and comes back as gray
        want = y_to_gray(original(gray_to_y(x))[0]).clamp(0, 1)
    _same(runner(x, 2), want)


def test_lapsrn_refuses_a_scale_it_does_not_serve() -> None:
    state = _randomise(OrigLapSRN(4, 1, 2), seed=0).state_dict()
    assert convert_state_dict(state, scale=2).hparams["scale"] == 4
    with pytest.raises(SrkitError, match="serve x2/x4, not x3"):
        convert_state_dict(state, scale=3)
    with pytest.raises(ConfigError, match="power of two"):
        A.build_model("lapsrn", scale=6)


def test_every_new_layout_is_detected_as_itself() -> None:
    sources: dict[str, nn.Module] = {
        "srvgg-compact": OrigSRVGG(8, 2, 4),
        "span": OrigSPAN(6, 4, slim=True),
        "span-train": OrigSPAN(6, 4, slim=False),
        "pan": OrigPAN(8, 4, 1, 4),
        "carn-m": OrigCARNM(8, 2, multi_scale=True),
        "lapsrn": OrigLapSRN(4, 1, 2),
    }
    families = ("srvgg_compact", "span", "pan", "carn_m", "lapsrn")
    theirs = [layout.name for arch in families for layout in A.ARCH_ENTRIES[arch].layouts]
    assert sorted(theirs) == sorted(sources)
    for name, net in sources.items():
        found = detect_format(net.state_dict())
        assert found is not None and found.name == name


# --------------------------------------------------------------------------------------------------
# The authors' checkpoints: Set5 PSNR through srkit eval, srkit upscale, srkit convert
# --------------------------------------------------------------------------------------------------

#: (file under $SRKIT_SHARED/weights, scale, Set5 Y-PSNR, Y-SSIM, tolerance in dB) from each PROVENANCE.md.
PUBLISHED = [
    ("realesr-animevideov3/realesr-animevideov3.pth", 4, 28.23, 0.8268, 0.02),
    ("span/ntire24_span_ch28_slim.pth", 4, 31.74, 0.8897, 0.02),
    ("pan/PANx4_DF2K.pth", 4, 32.13, 0.8948, 0.02),
    ("carn_m/carn_m.pth", 2, 37.68, 0.9595, 0.02),
    ("carn_m/carn_m.pth", 3, 34.06, 0.9248, 0.02),
    ("carn_m/carn_m.pth", 4, 31.88, 0.8910, 0.02),
    # a luminance network: srkit eval scores its own 8-bit Y against the HR's 8-bit Y, as PROVENANCE does
    ("lapsrn/lapsrn_state_dict.pth", 4, 31.61, 0.8874, 0.005),
]

#: (file, arch, inferred hyper-parameters, parameter values held, scale written by convert).
CONVERTED = [
    (
        "realesr-animevideov3/realesr-animevideov3.pth",
        "srvgg_compact",
        {"channels": 3, "num_feat": 64, "num_conv": 16, "scale": 4, "act_type": "prelu"},
        621_424,
        4,
    ),
    (
        "span/ntire24_span_ch28_slim.pth",
        "span",
        {"channels": 3, "feature_channels": 28, "num_block": 6, "scale": 4, "reparameterized": True},
        150_688,
        4,
    ),
    (
        "pan/PANx4_DF2K.pth",
        "pan",
        {"in_channels": 3, "out_channels": 3, "num_feat": 40, "num_up_feat": 24, "num_block": 16, "scale": 4},
        272_419,
        4,
    ),
    (
        "carn_m/carn_m.pth",
        "carn_m",
        {"scale": 4, "multi_scale": True, "num_feat": 64, "group": 4},
        414_811,
        4,
    ),
    (
        "lapsrn/lapsrn_state_dict.pth",
        "lapsrn",
        {"scale": 4, "num_feat": 64, "depth": 10, "channels": 1},
        870_112,
        4,
    ),
]


def _eval(model: Path, dataset: Path, scale: int, out: Path) -> dict[str, Any]:
    code = main(["eval", "--model", str(model), "--dataset", str(dataset), "--scale", str(scale),
                 "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    groups = json.loads((out / "eval.json").read_text())["groups"]
    assert len(groups) == 1 and groups[0]["scale"] == scale
    return groups[0]


@pytest.mark.parametrize(("file", "scale", "want_psnr", "want_ssim", "tol"), PUBLISHED)
def test_authors_checkpoint_gives_the_provenance_psnr(
    shared_weights: Path,
    shared_data: Path,
    tmp_path: Path,
    file: str,
    scale: int,
    want_psnr: float,
    want_ssim: float,
    tol: float,
) -> None:
    got = _eval(shared_weights / file, shared_data / "Set5", scale, tmp_path / "eval")
    assert got["images"] == 5
    assert abs(got["psnr"] - want_psnr) <= tol, (file, scale, got["psnr"], want_psnr)
    assert abs(got["ssim"] - want_ssim) <= 0.0015, (file, scale, got["ssim"], want_ssim)


@pytest.mark.parametrize(("file", "arch", "hparams", "values", "scale"), CONVERTED)
def test_srkit_convert_takes_the_authors_checkpoint(
    shared_weights: Path, tmp_path: Path, file: str, arch: str, hparams: dict, values: int, scale: int
) -> None:
    src = shared_weights / file
    out = tmp_path / "converted.safetensors"
    assert main(["convert", str(src), str(out)]) == 0
    state, meta = read_weights(out)
    assert (meta.arch, meta.hparams, meta.scale) == (arch, A.build_model(arch, **hparams).hparams, scale)
    assert sum(v.numel() for v in state.values()) == values
    published = torch.load(src, map_location="cpu", weights_only=True)
    published = published.get("params", published)
    assert state.keys() == published.keys() and all(torch.equal(state[k], published[k]) for k in state)


def _photo(path: Path, size: tuple[int, int]) -> Path:
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (size[1] // 4 + 2, size[0] // 4 + 2, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize(size, Image.BICUBIC).save(path)
    return path


UPSCALED = [(file, scale) for file, _, _, _, scale in CONVERTED] + [("carn_m/carn_m.pth", 3)]


@pytest.mark.parametrize(("file", "scale"), UPSCALED)
def test_srkit_upscale_takes_the_authors_checkpoint(
    shared_weights: Path, tmp_path: Path, file: str, scale: int
) -> None:
    photo = _photo(tmp_path / "photo.png", (23, 17))
    model = str(shared_weights / file)
    code = main(["upscale", str(photo), "--model", model, "--scale", str(scale), "--precision", "fp32",
                 "--tile", "12", "--tile-overlap", "4", "-o", str(tmp_path / "up")])  # fmt: skip
    assert code == 0
    with Image.open(tmp_path / "up" / f"photo_x{scale}.png") as im:
        assert im.size == (23 * scale, 17 * scale) and im.mode == "RGB"


# --------------------------------------------------------------------------------------------------
# The SPAN training recipes
# --------------------------------------------------------------------------------------------------

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("recipe", ["span_x4.yaml", "tiny/span_x4.yaml"])
def test_span_recipes_load(recipe: str) -> None:
    from srkit.train.config import load_config

    config = load_config(CONFIGS / recipe, [])
    assert config.model.arch.startswith("span") and config.scale == 4


def test_tiny_span_recipe_trains(tmp_path: Path) -> None:
    from srkit.train.config import load_config
    from srkit.train.engine import train
    from test_train_support import tiny_data

    train_dir, val_dir = tiny_data(tmp_path)
    config = load_config(
        CONFIGS / "tiny" / "span_x4.yaml",
        [
            f"data.train.hr=[{train_dir}]",
            f"data.val.datasets=[{val_dir}]",
            "data.val.every=2",
            "data.train.patch_size=8",
            "data.train.batch_size=2",
            "train.steps=2",
            "train.threads=1",
            "train.precision=fp32",
            "logging.progress=false",
            "logging.tensorboard=false",
        ],
    )
    result = train(config, run_dir=tmp_path / "run")
    net = A.load_network(result.weights)
    assert net.arch_name == "span" and net.hparams["reparameterized"] is False
    assert np.isfinite(result.val["val"]["psnr"])
