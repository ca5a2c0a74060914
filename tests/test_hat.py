"""HAT: parameter counts, the attention blocks against the official explicit-softmax algorithm, the
official checkpoint layout (random weights, every variant's structure), layout detection against SwinIR's,
the runner contract and tiling.

The "official" pieces (OCAB unfold/rearrange, position indices, mask, key list) are written from the
official ``hat/archs/hat_arch.py`` algorithm, independently of srkit's implementation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from srkit.archs import build_model, make_runner
from srkit.archs.hat import PRESETS
from srkit.archs.hat.net import HAB, HAT, OCAB
from srkit.archs.loading import convert_state_dict, detect_format, load_any_model
from srkit.cli import main
from srkit.errors import ConfigError, SrkitError
from srkit.infer.tiling import upscale_tiled
from test_swinir import (
    _count,
    _image,
    _randomise,
    fast_init,
    official_mask,
    official_position_index,
    write_photo,
)

__all__ = ["fast_init"]  # the fixture, re-used from test_swinir

State = dict[str, torch.Tensor]

#: A HAT-like network small enough for a test: window 4, overlapping window 6, 2 groups of 2 blocks.
TINY = {
    "embed_dim": 12,
    "depths": [2, 2],
    "num_heads": [2, 3],
    "window_size": 4,
    "compress_ratio": 3,
    "squeeze_factor": 6,
    "mlp_ratio": 2.0,
}


def _net(seed: int = 0, **hparams: Any) -> HAT:
    torch.manual_seed(seed)
    net = build_model("hat", **hparams)
    assert isinstance(net, HAT)
    _randomise(net, seed)
    return net


# --------------------------------------------------------------------------------------------------
# Parameter counts
# --------------------------------------------------------------------------------------------------


def hat_params(
    dim: int, depths: int, groups: int, heads: int, window: int, cr: int, sq: int, scale: int, ch: int = 3
) -> int:
    """The official HAT's parameter count by hand (MLP ratio 2, overlap ratio 0.5, 1conv, pixelshuffle).

    Per HAB: norm1 (2 dim) + qkv (3 dim^2 + 3 dim) + bias table ((2w - 1)^2 heads) + proj (dim^2 + dim)
    + CAB (3x3 dim -> dim/cr, 3x3 back, 1x1 dim -> dim/sq, 1x1 back) + norm2 + MLP (dim -> 2 dim -> dim).
    Per OCAB (overlapping window ow = 1.5 w): the same without the CAB and with a ((w + ow - 1)^2, heads)
    table. Per group: the blocks, the OCAB and a 3x3 conv. Around: conv_first, patch norm, norm,
    conv_after_body, conv_before_upsample (to 64), the sub-pixel stages, conv_last. Buffers
    (``relative_position_index_SA/OCA``) are not parameters.
    """
    conv = lambda i, o, k=3: i * o * k * k + o  # noqa: E731
    ow = window + window // 2
    attn_mlp = 4 * dim + (3 * dim * dim + 3 * dim) + (dim * dim + dim) + (4 * dim * dim + 3 * dim)
    cab = conv(dim, dim // cr) + conv(dim // cr, dim) + conv(dim, dim // sq, 1) + conv(dim // sq, dim, 1)
    hab = attn_mlp + (2 * window - 1) ** 2 * heads + cab
    ocab = attn_mlp + (window + ow - 1) ** 2 * heads
    group = depths * hab + ocab + conv(dim, dim)
    stages = [3] if scale == 3 else [2] * (scale.bit_length() - 1)
    tail = conv(dim, 64) + sum(conv(64, f * f * 64) for f in stages) + conv(64, ch)
    return conv(ch, dim) + 2 * dim + groups * group + 2 * dim + conv(dim, dim) + tail


def test_parameter_counts_of_hat_s_hat_and_hat_l(fast_init: None) -> None:
    """HAT x4 20,772,507 (the paper's 20.8M), HAT-S x4 9,621,183 (9.6M), HAT-L x4 40,846,575 (40.8M),
    each equal to :func:`hat_params`. By hand for HAT x4: conv_first 5,040 + patch norm 360 +
    6 x (6 HABs x 463,932 + OCAB 270,306 + conv 291,780) + norm 360 + conv_after_body 291,780 +
    conv_before_upsample 103,744 + two x2 stages 295,424 + conv_last 1,731 = 20,772,507."""
    assert hat_params(180, 6, 6, 6, 16, 3, 30, 4) == 20_772_507
    assert _count(build_model("hat", scale=4)) == 20_772_507
    assert _count(build_model("hat-s", scale=4)) == hat_params(144, 6, 6, 6, 16, 24, 24, 4) == 9_621_183
    assert _count(build_model("hat-l", scale=4)) == hat_params(180, 6, 12, 6, 16, 3, 30, 4) == 40_846_575


@pytest.mark.parametrize("scale", [2, 3])
def test_parameter_counts_at_x2_x3(fast_init: None, scale: int) -> None:
    assert _count(build_model("hat-s", scale=scale)) == hat_params(144, 6, 6, 6, 16, 24, 24, scale)


def test_presets_are_the_official_settings() -> None:
    for name, dim, depth, cr, sq in (
        ("hat-s", 144, 6, 24, 24),
        ("hat", 180, 6, 3, 30),
        ("hat-l", 180, 12, 3, 30),
    ):
        p = PRESETS[name]
        assert (p["embed_dim"], p["depths"], p["num_heads"], p["compress_ratio"], p["squeeze_factor"]) == (
            dim,
            [6] * depth,
            [6] * depth,
            cr,
            sq,
        )
        assert (p["window_size"], p["conv_scale"], p["overlap_ratio"], p["mlp_ratio"]) == (16, 0.01, 0.5, 2.0)


# --------------------------------------------------------------------------------------------------
# The blocks against the official algorithm
# --------------------------------------------------------------------------------------------------


def official_rpi_oca(w: int, ow: int) -> torch.Tensor:
    """``calculate_rpi_oca`` brute force: query ``(ya, xa)`` of the w window, key ``(yb, xb)`` of the ow
    window -> ``(yb - ya + w - ow + 1)(w + ow - 1) + (xb - xa + w - ow + 1)`` (negative entries index the
    table from its end, as in the official code)."""
    q = [(y, x) for y in range(w) for x in range(w)]
    k = [(y, x) for y in range(ow) for x in range(ow)]
    off = w - ow + 1
    return torch.tensor([[(yb - ya + off) * (w + ow - 1) + xb - xa + off for yb, xb in k] for ya, xa in q])


def _partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    b, h, w, c = x.shape
    return x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)


def _reverse(win: torch.Tensor, ws: int, b: int, h: int, w: int) -> torch.Tensor:
    return win.view(b, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


def official_hab_forward(hab: HAB, x: torch.Tensor, rpi: torch.Tensor) -> torch.Tensor:
    """The official ``HAB.forward`` (explicit softmax, full ``calculate_mask``), on ``(B, H, W, C)``."""
    b, h, w, c = x.shape
    attn, s = hab.attn, hab.shift
    ws, heads = attn.window, attn.heads
    shortcut = x
    y = hab.norm1(x)
    conv_x = hab.conv_block(y.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    if s:
        y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
    win = _partition(y, ws)
    bn, n, _ = win.shape
    qkv = attn.qkv(win).reshape(bn, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    logits = (qkv[0] * (c // heads) ** -0.5) @ qkv[1].transpose(-2, -1)
    table = attn.relative_position_bias_table[official_position_index(ws).view(-1)]
    logits = logits + table.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
    if s:
        mask = official_mask(h, w, ws, s)
        logits = (logits.view(bn // mask.shape[0], mask.shape[0], heads, n, n) + mask[None, :, None]).view(
            -1, heads, n, n
        )
    out = (logits.softmax(-1) @ qkv[2]).transpose(1, 2).reshape(bn, n, c)
    out = _reverse(attn.proj(out), ws, b, h, w)
    if s:
        out = torch.roll(out, shifts=(s, s), dims=(1, 2))
    x = shortcut + out + conv_x * hab.conv_scale
    return x + hab.mlp(hab.norm2(x))


def official_ocab_forward(ocab: OCAB, x: torch.Tensor, rpi: torch.Tensor) -> torch.Tensor:
    """The official ``OCAB.forward``: ``nn.Unfold`` of k and v, einops' ``'b (nc ch owh oww) nw -> nc
    (b nw) (owh oww) ch'`` written out, explicit softmax; its own (negative-entry) position index."""
    b, h, w, c = x.shape
    ws, ow, heads = ocab.window, ocab.overlap_win_size, ocab.heads
    shortcut = x
    qkv = ocab.qkv(ocab.norm1(x)).reshape(b, h, w, 3, c).permute(3, 0, 4, 1, 2)
    q_win = _partition(qkv[0].permute(0, 2, 3, 1), ws)
    kv = nn.Unfold(kernel_size=(ow, ow), stride=ws, padding=(ow - ws) // 2)(
        torch.cat((qkv[1], qkv[2]), dim=1)
    )
    nw = kv.shape[-1]
    kv = kv.view(b, 2, c, ow, ow, nw).permute(1, 0, 5, 3, 4, 2).reshape(2, b * nw, ow * ow, c)
    bn, nq, d = q_win.shape[0], q_win.shape[1], c // heads
    q = q_win.reshape(bn, nq, heads, d).permute(0, 2, 1, 3) * d**-0.5
    k = kv[0].reshape(bn, ow * ow, heads, d).permute(0, 2, 1, 3)
    v = kv[1].reshape(bn, ow * ow, heads, d).permute(0, 2, 1, 3)
    table = ocab.relative_position_bias_table[official_rpi_oca(ws, ow).view(-1)]
    logits = q @ k.transpose(-2, -1) + table.view(ws * ws, ow * ow, -1).permute(2, 0, 1).unsqueeze(0)
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(bn, nq, c)
    x = ocab.proj(_reverse(out, ws, b, h, w)) + shortcut
    return x + ocab.mlp(ocab.norm2(x))


def test_position_indices_select_the_official_table_rows() -> None:
    net = build_model("hat", **TINY, scale=2)
    assert torch.equal(net.relative_position_index_SA, official_position_index(4))
    official = official_rpi_oca(4, 6)
    rows = (4 + 6 - 1) ** 2
    assert official.min() < 0  # the official index relies on negative indexing
    assert torch.equal(net.relative_position_index_OCA, official % rows)
    big = build_model("hat", **{**TINY, "window_size": 16}, scale=2)
    assert torch.equal(big.relative_position_index_OCA, official_rpi_oca(16, 24) % 39**2)
    assert not any("relative_position_index" in k for k in net.state_dict())


@pytest.mark.parametrize(("h", "w"), [(4, 4), (8, 12)])
def test_blocks_equal_explicit_softmax(h: int, w: int) -> None:
    """HAB (plain and shifted) and OCAB with scaled_dot_product_attention vs the official explicit softmax
    and full-size mask: max difference <= 1e-5 in fp32."""
    net = _net(**TINY, scale=2)
    x = torch.randn(2, h, w, 12)
    group = net.layers[1].residual_group
    with torch.no_grad():
        for hab in group.blocks:
            assert isinstance(hab, HAB)
            want = official_hab_forward(hab, x, net.relative_position_index_SA)
            assert (hab(x, net.relative_position_index_SA) - want).abs().max() <= 1e-5
        want = official_ocab_forward(group.overlap_attn, x, net.relative_position_index_OCA)
        assert (group.overlap_attn(x, net.relative_position_index_OCA) - want).abs().max() <= 1e-5
    assert [b.shift for b in group.blocks] == [0, 2]


def test_whole_network_equals_the_explicit_softmax_path(monkeypatch: pytest.MonkeyPatch) -> None:
    net = _net(**TINY, scale=3)
    x = _image(12, 8)
    with torch.no_grad():
        got = net(x)
        monkeypatch.setattr(HAB, "forward", official_hab_forward)
        monkeypatch.setattr(OCAB, "forward", official_ocab_forward)
        want = net(x)
    assert got.shape == (1, 3, 36, 24)
    assert (got - want).abs().max() <= 1e-5


# --------------------------------------------------------------------------------------------------
# The official checkpoint layout
# --------------------------------------------------------------------------------------------------


def official_keys(hp: dict[str, Any]) -> set[str]:
    """Every key of the official HAT's ``state_dict()`` (with its two position-index buffers)."""
    wb = ("weight", "bias")
    keys = {"relative_position_index_SA", "relative_position_index_OCA"}
    for m in ("conv_first", "patch_embed.norm", "norm", "conv_before_upsample.0", "conv_last"):
        keys |= {f"{m}.{p}" for p in wb}
    resi = hp["resi_connection"] == "1conv"
    block_mods = (
        "norm1",
        "attn.qkv",
        "attn.proj",
        "conv_block.cab.0",
        "conv_block.cab.2",
        "conv_block.cab.3.attention.1",
        "conv_block.cab.3.attention.3",
        "norm2",
        "mlp.fc1",
        "mlp.fc2",
    )
    for i, depth in enumerate(hp["depths"]):
        group = f"layers.{i}.residual_group"
        for j in range(depth):
            keys |= {f"{group}.blocks.{j}.{m}.{p}" for m in block_mods for p in wb}
            keys.add(f"{group}.blocks.{j}.attn.relative_position_bias_table")
        keys |= {
            f"{group}.overlap_attn.{m}.{p}"
            for m in ("norm1", "qkv", "proj", "norm2", "mlp.fc1", "mlp.fc2")
            for p in wb
        }
        keys.add(f"{group}.overlap_attn.relative_position_bias_table")
        if resi:
            keys |= {f"layers.{i}.conv.{p}" for p in wb}
    if resi:
        keys |= {f"conv_after_body.{p}" for p in wb}
    stages = 1 if hp["scale"] == 3 else hp["scale"].bit_length() - 1
    return keys | {f"upsample.{2 * k}.{p}" for k in range(stages) for p in wb}


def to_official(net: HAT) -> State:
    """The official state dict of ``net``: srkit's keys plus the two saved position-index buffers."""
    state = {k: v.clone() for k, v in net.state_dict().items()}
    ws = net.window
    ow = net.layers[0].residual_group.overlap_attn.overlap_win_size
    state["relative_position_index_SA"] = official_position_index(ws)
    state["relative_position_index_OCA"] = official_rpi_oca(ws, ow)
    return state


VARIANTS = {
    "hat-x2": {"scale": 2},
    "hat-x3": {"scale": 3},
    "hat-x4": {"scale": 4},
    "hat-s-like-x4": {"scale": 4, "compress_ratio": 4, "squeeze_factor": 4},
    "hat-l-like-x2": {"scale": 2, "depths": [2, 1, 2], "num_heads": [2, 2, 2]},
    "window-8": {"scale": 2, "window_size": 8, "img_size": 16},
    "identity-resi": {"scale": 2, "resi_connection": "identity"},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_official_layout_round_trip(variant: str) -> None:
    net = _net(**{**TINY, **VARIANTS[variant]})
    state = to_official(net)
    assert set(state) == official_keys(net.hparams)
    fmt = detect_format(state)
    assert fmt is not None and fmt.name == "hat-official"
    conv = convert_state_dict(state, source=f"{variant}.pth")
    assert conv.arch == "hat"
    ignored = ("img_size", "drop_path_rate")
    assert {k: v for k, v in conv.hparams.items() if k not in ignored} == {
        k: net.hparams[k] for k in conv.hparams if k not in ignored
    }
    rebuilt = conv.build(variant)
    x = _image(10, 7)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))


def test_official_file_with_params_ema_loads_and_is_not_taken_for_swinir(tmp_path: Path) -> None:
    net = _net(**TINY, scale=2)
    path = tmp_path / "Real_HAT_GAN_SRx2.pth"
    torch.save({"params_ema": to_official(net)}, path)
    model = load_any_model(path)
    assert model.arch_name == "hat"
    x = _image(8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), net(x))
    photo = write_photo(tmp_path / "photo.png", 29, 37)
    assert main(["upscale", str(photo), "--model", str(path), "--tile", "0", "-o", str(tmp_path / "up")]) == 0
    assert (tmp_path / "up" / "photo_x2.png").exists()
    swinir = build_model("swinir", embed_dim=12, depths=[2], num_heads=[2], window_size=4, scale=2)
    swinir_state = dict(swinir.state_dict())
    assert detect_format(swinir_state).name == "swinir-official"  # type: ignore[union-attr]


def test_a_saved_position_index_of_another_window_is_refused() -> None:
    state = to_official(_net(**TINY, scale=2))
    state["relative_position_index_SA"] = official_position_index(5)
    with pytest.raises(SrkitError, match="hat-official: relative_position_index_SA has shape"):
        convert_state_dict(state)


# --------------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------------


def test_net_info_precisions_and_config_errors() -> None:
    info = build_model("hat-s", scale=3, depths=[1], num_heads=[6]).info
    assert (info.scale, info.size_multiple, info.precisions, info.tiling) == (
        3,
        16,
        ("fp32", "bf16"),
        "seamless",
    )
    net = _net(**TINY, scale=2)
    with pytest.raises(ConfigError, match="does not run in fp16"):
        make_runner(net, device="cpu", precision="fp16")
    x = _image(9, 10)
    fp32 = make_runner(net, device="cpu", precision="fp32")(x, 2)
    bf16 = make_runner(net, device="cpu", precision="bf16")(x, 2)
    assert (bf16 - fp32).abs().mean() < 0.02
    with pytest.raises(ConfigError, match=r"overlap_ratio=0\.3 enlarges the window by 1 pixels"):
        build_model("hat", **TINY, overlap_ratio=0.3)
    with pytest.raises(ConfigError, match=r"img_size=8 is smaller than window_size=16"):
        build_model("hat", img_size=8)
    with pytest.raises(ConfigError, match="scale=1 is not supported"):
        build_model("hat", **TINY, scale=1)


def test_tiled_upscaling_equals_whole_image_and_the_global_pooling_adds_little() -> None:
    """``upscale_tiled`` with the runner, 96x96, tile 88, overlap 40 (aligned to the window 8: two 72-pixel
    tiles sharing 48): within 1/255 of the whole image (~0.06/255 here; 32 shared pixels give 2.2/255).
    Every CAB pools over the whole input, a global operation; switching the CAB branch off
    (``conv_scale`` 0) shows its share of the difference is < 0.05/255."""
    net = _net(**{**TINY, "window_size": 8, "depths": [2], "num_heads": [2]}, scale=2, img_size=16)
    runner = make_runner(net, device="cpu", precision="fp32")
    x = _image(96, 96, seed=3)

    def difference() -> float:
        whole = runner(x, 2)
        tiled = upscale_tiled(lambda t: runner(t, 2), x, 2, tile=88, overlap=40, align=runner.size_multiple)
        return float((tiled - whole).abs().max())

    with_cab = difference()
    assert with_cab <= 1 / 255
    for block in net.modules():
        if isinstance(block, HAB):
            block.conv_scale = 0.0
    assert abs(with_cab - difference()) < 0.05 / 255
