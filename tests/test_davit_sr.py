"""The window/channel-attention SR transformer (``davit_sr``, the seed's ``transformerSR``): the parameter
count of the seed setting, the forward pass against an explicit computation written from the seed's
description, the two published key layouts, the options, the runner's precisions, tiling and the input-
size dependence of the two attention scalings.

``python tests/test_davit_sr.py`` prints the measurements of ``docs/transformers.md`` (tiled vs whole image
on the sample photo, and what each scaling does to inputs of other sizes).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from srkit.archs import build_model, make_runner, net_info
from srkit.archs.davit_sr import DaViTSR
from srkit.archs.davit_sr.layouts import NEW, OLD, DavitHints, convert_davit, name_hints
from srkit.archs.loading import convert_state_dict, load_any_model
from srkit.errors import ConfigError, SrkitError

State = dict[str, torch.Tensor]
TINY = {"dim": 16, "num_pairs": 2, "num_heads": 2, "window_size": 4, "scale": 2}
SEED_PARAMETERS = 12_753_968


def _net(seed: int = 0, **hparams: object) -> DaViTSR:
    torch.manual_seed(seed)
    net = build_model("davit_sr", **{**TINY, **hparams})
    assert isinstance(net, DaViTSR)
    return net.eval()


def _input(h: int = 12, w: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# --------------------------------------------------------------------------------------------------
# The seed's layouts, written from their description (independently of the converters)
# --------------------------------------------------------------------------------------------------


def old_layout(net: DaViTSR) -> State:
    """``in_conv``, ``blocks.{i}.{0,1}.window_attention.qkv/out``, ``.mlp.0/2``, ``.norm1/2``,
    ``out_conv.0``."""
    out: State = {}
    for key, value in net.state_dict().items():
        parts = key.split(".")
        if parts[0] == "in_conv":
            out[key] = value.clone()
        elif parts[0] == "out_conv":
            out[f"out_conv.0.{parts[1]}"] = value.clone()
        else:  # pairs.i.{spatial,channel}.rest
            i, kind, rest = parts[1], parts[2], ".".join(parts[3:])
            j = "0" if kind == "spatial" else "1"
            rest = rest.replace("attn.qkv", "window_attention.qkv").replace(
                "attn.proj", "window_attention.out"
            )
            out[f"blocks.{i}.{j}.{rest}"] = value.clone()
    return out


def new_layout(net: DaViTSR) -> State:
    """``layers.0``, ``layers.{i}.{0,1}.window_attention.project_{q,k,v,out}`` (``i`` from 1),
    ``layers.{N+1}``."""
    pairs = len(net.pairs)
    out: State = {}
    for key, value in old_layout(net).items():
        parts = key.split(".")
        if parts[0] == "in_conv":
            out[f"layers.0.{parts[1]}"] = value
        elif parts[0] == "out_conv":
            out[f"layers.{pairs + 1}.{parts[2]}"] = value
        elif parts[3:5] == ["window_attention", "qkv"]:
            for name, chunk in zip("qkv", value.chunk(3, dim=0), strict=True):
                out[f"layers.{int(parts[1]) + 1}.{parts[2]}.window_attention.project_{name}.{parts[5]}"] = (
                    chunk
                )
        else:
            rest = ".".join(parts[2:]).replace("window_attention.out", "window_attention.project_out")
            out[f"layers.{int(parts[1]) + 1}.{rest}"] = value
    return out


def reference_forward(
    state: State, x: torch.Tensor, heads: int, window: int, scaling: str = "seed"
) -> torch.Tensor:
    """The seed's forward pass from an old-layout state dict, computed explicitly: window attention
    window by window (windows cut short at the bottom and right edges), ``softmax((q/d) (k/d)^T) v``;
    channel attention ``softmax((q^T/L) (k/L)) v^T`` per head; ``'standard'`` scales by ``1/sqrt(d)``."""
    f = F.conv2d(x - 0.5, state["in_conv.weight"], state["in_conv.bias"], padding=1)
    pairs = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    b, c, h, w = f.shape
    d = c // heads

    def lin(t: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(t, state[f"{name}.weight"], state[f"{name}.bias"])

    def attend(tokens: torch.Tensor, p: str, channel: bool) -> torch.Tensor:  # (b, T, c)
        q, k, v = lin(tokens, f"{p}.window_attention.qkv").view(b, -1, 3, heads, d).permute(2, 0, 3, 1, 4)
        n = tokens.shape[1]
        if channel:
            s = 1 / n if scaling == "seed" else d**-0.25
            attn = torch.softmax((q.transpose(-2, -1) * s) @ (k * s), dim=-1)  # (b, heads, d, d)
            out = (attn @ v.transpose(-2, -1)).permute(0, 3, 1, 2)  # (b, T, heads, d)
        else:
            s = 1 / d if scaling == "seed" else d**-0.25
            attn = torch.softmax((q * s) @ (k * s).transpose(-2, -1), dim=-1)
            out = (attn @ v).permute(0, 2, 1, 3)
        return lin(out.reshape(b, n, c), f"{p}.window_attention.out")

    for i in range(pairs):
        for j in (0, 1):
            p = f"blocks.{i}.{j}"
            t = f.permute(0, 2, 3, 1)  # (b, h, w, c)
            y = F.layer_norm(t, (c,), state[f"{p}.norm1.weight"], state[f"{p}.norm1.bias"])
            if j == 1:
                a = attend(y.reshape(b, h * w, c), p, True).view(b, h, w, c)
            else:
                a = torch.zeros_like(y)
                for r in range(0, h, window):
                    for q0 in range(0, w, window):
                        win = y[:, r : r + window, q0 : q0 + window]
                        wh, ww = win.shape[1:3]
                        a[:, r : r + wh, q0 : q0 + ww] = attend(win.reshape(b, -1, c), p, False).view(
                            b, wh, ww, c
                        )
            t = t + a
            z = F.layer_norm(t, (c,), state[f"{p}.norm2.weight"], state[f"{p}.norm2.bias"])
            t = t + lin(F.gelu(lin(z, f"{p}.mlp.0")), f"{p}.mlp.2")
            f = t.permute(0, 3, 1, 2)
    out = F.conv2d(f, state["out_conv.0.weight"], state["out_conv.0.bias"], padding=1)
    return F.pixel_shuffle(out, round((out.shape[1] // x.shape[1]) ** 0.5)) + 0.5


# --------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------


def test_seed_setting_has_the_published_parameter_count() -> None:
    """dim 256, 8 pairs (16 blocks), 16 heads, window 4, x4: every linear, conv and norm with a bias."""
    net = build_model("davit-sr-seed")
    assert net.hparams["dim"] == 256 and net.hparams["num_pairs"] == 8 and net.hparams["num_heads"] == 16
    dim, blocks, scale = 256, 16, 4
    per_block = 12 * dim * dim + 13 * dim
    assert _params(net) == blocks * per_block + 28 * dim + (9 * dim + 1) * 3 * scale**2 == SEED_PARAMETERS


def test_options_add_what_they_say() -> None:
    base = _params(_net())
    assert _params(_net(conv_pos_enc=True)) == base + 4 * 10 * 16  # a depthwise 3x3 + bias per block
    assert _params(_net(long_residual=True)) == _params(_net(image_skip=True)) == base
    assert "pairs.0.channel.cpe.weight" in _net(conv_pos_enc=True).state_dict()


def test_net_info() -> None:
    info = net_info(_net(window_size=8, scale=3))
    assert (info.arch, info.scale, info.size_multiple, info.tiling) == ("davit_sr", 3, 8, "approximate")
    assert info.precisions == ("fp32", "bf16")


@pytest.mark.parametrize("scaling", ["seed", "standard"])
@pytest.mark.parametrize("size", [(12, 16), (10, 7)])
def test_forward_equals_the_explicit_computation(scaling: str, size: tuple[int, int]) -> None:
    """SDPA with ``scale=`` computes the seed's explicit attention (and, on sides that are not multiples
    of the window, windows cut short at the edges)."""
    net = _net(attn_scaling=scaling).double()
    x = _input(*size).double()
    with torch.no_grad():
        got = net(x)
        want = reference_forward(old_layout(net), x, heads=2, window=4, scaling=scaling)
    assert got.shape == (1, 3, 2 * size[0], 2 * size[1])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_options_change_the_forward_pass_as_documented() -> None:
    x = _input()
    for flag in ("image_skip", "long_residual"):
        net = _net(**{flag: True})
        torch.nn.init.zeros_(net.out_conv.weight)
        torch.nn.init.zeros_(net.out_conv.bias)
        with torch.no_grad():
            out = net(x)
        if flag == "image_skip":
            torch.testing.assert_close(
                out, F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
            )
        else:
            assert torch.equal(out, torch.full_like(out, 0.5))
    plain, residual = _net(num_pairs=0), _net(num_pairs=0, long_residual=True)
    feat = plain.in_conv(x - 0.5)
    assert torch.equal(residual.body(feat), 2 * feat) and torch.equal(plain.body(feat), feat)
    cpe = _net(conv_pos_enc=True)
    with torch.no_grad():
        for block in (cpe.pairs[0].spatial, cpe.pairs[0].channel, cpe.pairs[1].spatial, cpe.pairs[1].channel):
            assert block.cpe is not None
            block.cpe.weight.zero_()
            block.cpe.bias.zero_()
        zeroed = cpe(x)
    state = {k: v for k, v in cpe.state_dict().items() if ".cpe." not in k}
    plain = _net()
    plain.load_state_dict(state)
    assert torch.equal(zeroed, plain(x).detach())


def test_bad_hyper_parameters_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="dim=20 is not a multiple of num_heads=16"):
        build_model("davit_sr", dim=20)
    with pytest.raises(ConfigError, match="attn_scaling='sqrt' is not supported; valid: seed, standard"):
        build_model("davit_sr", attn_scaling="sqrt")
    with pytest.raises(ConfigError, match="scale=5 is not supported"):
        build_model("davit_sr", scale=5)


def test_runner_pads_runs_bf16_and_refuses_fp16() -> None:
    net = _net()
    x = _input(9, 13)
    out = make_runner(net, device="cpu", precision="fp32")(x, 2)
    assert out.shape == (1, 3, 18, 26)
    bf16 = make_runner(net, device="cpu", precision="bf16")(x, 2)
    assert (bf16 - out).abs().max() < 0.05
    with pytest.raises(ConfigError, match="does not run in fp16; use --precision fp32 or bf16"):
        make_runner(net, device="cpu", precision="fp16")


def test_exports_to_onnx_with_the_scale_following_the_input_size(tmp_path: Path) -> None:
    """The seed's ``1/L**2`` must not be fixed to the traced size (dynamic height and width)."""
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    from srkit.infer.export import export_onnx

    net = _net(num_pairs=1)
    path = export_onnx(net, tmp_path / "davit.onnx", check=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(2, 3, 8, 24), (1, 3, 20, 12)]:
        x = torch.rand(shape, generator=torch.Generator().manual_seed(shape[2]))
        with torch.no_grad():
            want = net(x).numpy()
        assert abs(session.run(None, {"input": x.numpy()})[0] - want).max() < 1e-5


def test_trains_one_step() -> None:
    net = _net(conv_pos_enc=True, long_residual=True, image_skip=True).train()
    out = net(_input(8, 8))
    out.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


# --------------------------------------------------------------------------------------------------
# The published weights' layouts
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("layout", "make"), [(OLD, old_layout), (NEW, new_layout)])
def test_layouts_convert_to_the_same_network(layout: str, make) -> None:
    net = _net(scale=4)
    x = _input()
    conversion = convert_state_dict(make(net), source="transformerSR_b2_d16_w4_h2.pt")
    assert conversion.source_format == layout
    rebuilt = conversion.build()
    assert rebuilt.hparams == net.hparams
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))


def test_layout_file_loads_with_heads_and_window_from_its_name(tmp_path: Path) -> None:
    net = _net(window_size=2, num_heads=4, dim=16)
    path = tmp_path / "transformerSR_b2_d16_w2_h4.pt"
    torch.save(new_layout(net), path)
    loaded = load_any_model(path)
    x = _input()
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    assert name_hints("transformerSR_b8_d256_w4_h16.pt") == {"w": 4, "h": 16}
    assert name_hints("weights.pt") == {}


def test_heads_and_window_default_to_the_published_model_and_can_be_given() -> None:
    net = _net(num_heads=4, window_size=8, dim=32)
    state = old_layout(net)
    _, hparams, _ = convert_davit(state, source="weights.pt")
    assert (hparams["num_heads"], hparams["window_size"]) == (16, 4)  # the defaults
    _, hparams, converted = convert_davit(state, source="weights.pt", num_heads=4, window_size=8)
    assert (hparams["num_heads"], hparams["window_size"]) == (4, 8)
    rebuilt = build_model("davit_sr", **hparams).eval()
    rebuilt.load_state_dict(converted)
    x = _input(16, 16)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))
    odd = old_layout(_net(dim=24, num_heads=4))
    with pytest.raises(SrkitError, match="24 channels do not split into 16 heads; give the head count"):
        convert_state_dict(odd, source="w.pt")
    fmt_hints = DavitHints(source="w.pt", num_heads=4)
    assert convert_davit(odd, source=fmt_hints.source, num_heads=4)[1]["num_heads"] == 4


def test_layout_errors_name_the_problem() -> None:
    state = old_layout(_net())
    with pytest.raises(SrkitError, match="the weights are x2"):
        convert_state_dict(state, source="w.pt", scale=4)
    extra = {**state, "blocks.0.0.extra.weight": torch.zeros(1)}
    with pytest.raises(SrkitError, match=r"unexpected key 'blocks\.0\.0\.extra\.weight'"):
        convert_state_dict(extra, source="w.pt")
    missing = {k: v for k, v in state.items() if k != "blocks.1.1.window_attention.out.bias"}
    with pytest.raises(SrkitError, match=r"missing key 'blocks\.1\.1\.window_attention\.out\.bias'"):
        convert_state_dict(missing, source="w.pt")


# --------------------------------------------------------------------------------------------------
# Input size and tiling
# --------------------------------------------------------------------------------------------------


def channel_entropy(net: DaViTSR, x: torch.Tensor) -> float:
    """Mean entropy (nats) of the first channel-attention block's attention rows on ``x``."""
    block = net.pairs[0].channel
    with torch.no_grad():
        t = net.pairs[0].spatial(net.in_conv(x - 0.5).permute(0, 2, 3, 1))
        b, h, w, c = t.shape
        q, k, _ = block.attn.heads(block.norm1(t).reshape(b, h * w, c)).transpose(-2, -1)
        d = c // block.attn.num_heads
        scale = 1 / (h * w) ** 2 if block.scaling == "seed" else d**-0.5
        p = torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1)
    return float(-(p * p.clamp_min(1e-30).log()).sum(-1).mean())


def test_the_two_scalings_depend_on_the_input_size_as_documented() -> None:
    """Seed: channel logits ~ 1/L, attention flat (entropy ~ log d) at every size. Standard: logits grow
    with L, attention sharpens on larger inputs."""
    small, large = _input(16, 16), F.interpolate(_input(16, 16), scale_factor=4, mode="bilinear")
    seed, standard = _net(), _net(attn_scaling="standard")
    d = 8
    assert abs(channel_entropy(seed, small) - math.log(d)) < 1e-3
    assert abs(channel_entropy(seed, large) - math.log(d)) < 1e-4
    assert channel_entropy(standard, large) < channel_entropy(standard, small) < math.log(d) - 0.01


def coffee(crop: int) -> torch.Tensor:
    """A ``crop`` x ``crop`` crop of the sample photo's centre, ``(1, 3, crop, crop)`` in [0, 1]."""
    from srkit.io import read_image

    path = Path(__file__).resolve().parents[1] / "src" / "srkit" / "assets" / "coffee.png"
    planes = read_image(path).pixels
    _, h, w = planes.shape
    y, x = (h - crop) // 2, (w - crop) // 2
    return planes[None, :, y : y + crop, x : x + crop].contiguous()


def tiled_difference(net: DaViTSR, x: torch.Tensor, tile: int, overlap: int) -> tuple[float, float]:
    """Max and mean ``|tiled - whole|`` in 8-bit levels (``srkit.infer.tiling.upscale_tiled``)."""
    from srkit.infer.tiling import upscale_tiled

    runner = make_runner(net, device="cpu", precision="fp32")
    scale = net_info(net).scale
    whole = runner(x, scale)
    tiled = upscale_tiled(
        lambda t: runner(t, scale), x, scale, tile=tile, overlap=overlap, align=runner.size_multiple
    )
    diff = (tiled - whole).abs() * 255
    return float(diff.max()), float(diff.mean())


def test_tiles_differ_from_the_whole_image_only_a_little() -> None:
    """``tiling='approximate'``: a random-weight tiny network on a 64x64 crop of the sample photo."""
    net = _net(scale=2)
    x = coffee(64)
    worst, mean = tiled_difference(net, x, 32, 8)
    assert 0 < worst < 64 and mean < 4


def embedding_change(net: DaViTSR, side: int, content: int = 32, margin: int = 8) -> tuple[float, float]:
    """Max and mean change (8-bit levels, unclamped) of the network's output on the central
    ``content - 2 margin`` LR pixels of the photo's central ``content`` x ``content`` crop when the crop is
    embedded in the photo's central ``side`` x ``side`` crop instead of run alone (``margin`` keeps the
    convs' image-border effects out; the offsets are multiples of the window, so windows coincide)."""
    s = net_info(net).scale
    with torch.no_grad():
        alone = net(coffee(content))
        embedded = net(coffee(side))
    a, b = s * margin, s * (content - margin)
    m = s * (side - content) // 2
    diff = (embedded[..., m + a : m + b, m + a : m + b] - alone[..., a:b, a:b]).abs() * 255
    return float(diff.max()), float(diff.mean())


def measure(weights: str | None = None) -> None:  # pragma: no cover - the tables of docs/transformers.md
    """Tiled vs whole and the input-size dependence, for a random-weight small network of each scaling
    (or for the network in ``weights``)."""
    from srkit.archs import load_network

    hp = {"dim": 32, "num_pairs": 2, "num_heads": 2, "window_size": 4, "scale": 4}
    if weights:
        loaded = load_network(weights)
        assert isinstance(loaded, DaViTSR)
        nets = {loaded.hparams["attn_scaling"]: loaded.eval()}
    else:
        nets = {scaling: _net(**{**hp, "attn_scaling": scaling}) for scaling in ("seed", "standard")}
    x = coffee(256)
    print("| scaling | tile / overlap (LR px) | max abs diff (levels) | mean abs diff (levels) |")
    print("|---|---|---|---|")
    for scaling, net in nets.items():
        for tile, overlap in ((64, 8), (64, 16), (128, 16), (128, 32)):
            worst, mean = tiled_difference(net, x, tile, overlap)
            print(f"| {scaling} | {tile} / {overlap} | {worst:.2f} | {mean:.3f} |")
    print(
        "\n| scaling | input side | channel-attention entropy (nats) | centre change (levels, max / mean) |"
    )
    print("|---|---|---|---|")
    for scaling, net in nets.items():
        for side in (32, 64, 128, 256):
            worst, mean = embedding_change(net, side)
            entropy = channel_entropy(net, coffee(side))
            print(f"| {scaling} | {side} | {entropy:.4f} | {worst:.2f} / {mean:.3f} |")


if __name__ == "__main__":
    import sys

    measure(sys.argv[1] if len(sys.argv) > 1 else None)
