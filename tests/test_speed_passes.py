"""The runner's inference rewrites (:mod:`srkit.archs.speed`) change nothing a user sees: every
registered architecture gives bit-identical output with and without them, in fp32 channels-last and in
bf16, and a runner that does not own its network (training validation) leaves it untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from srkit.archs import ARCH_ENTRIES, build_model, save_weights
from srkit.archs.registry import takes_scale
from srkit.archs.runner import make_runner
from srkit.archs.speed import (
    ChannelsLastPixelShuffle,
    cast_matmul_weights,
    prepare_for_inference,
    relu_out_of_place,
    reorder_pixel_shuffles,
    shuffle_permutation,
)
from srkit.infer.upscalers import load_upscaler
from test_model_seam import TINY


@pytest.mark.parametrize("factor", [2, 3, 4])
@pytest.mark.parametrize("channels_last", [False, True])
def test_reordered_shuffle_is_pixel_shuffle(factor: int, channels_last: bool) -> None:
    torch.manual_seed(factor)
    c = 5
    x = torch.randn(2, c * factor * factor, 7, 6)
    want = nn.PixelShuffle(factor)(x)
    perm = shuffle_permutation(c, factor)
    assert sorted(perm.tolist()) == list(range(c * factor * factor))
    # channel (i, j, c) of the reordered tensor is PyTorch's channel c r^2 + i r + j
    assert perm[(1 * factor + 0) * c + 3] == 3 * factor * factor + 1 * factor + 0
    moved = x[:, perm]
    if channels_last:
        moved = moved.contiguous(memory_format=torch.channels_last)
    got = ChannelsLastPixelShuffle(factor)(moved)
    assert torch.equal(got, want)
    assert got.is_contiguous(memory_format=torch.channels_last)


def test_conv_then_shuffle_pairs_are_rewritten_and_nothing_else() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 12, 3, padding=1)
    seq = nn.Sequential(conv, nn.PixelShuffle(2), nn.ReLU(inplace=True), nn.Conv2d(3, 3, 1))
    other = nn.PixelShuffle(2)  # not after a conv in a Sequential: left alone
    model = nn.ModuleDict({"seq": seq, "other": other})
    x = torch.randn(1, 4, 5, 5)
    want = seq(x)
    assert reorder_pixel_shuffles(model) == 1
    assert isinstance(seq[1], ChannelsLastPixelShuffle) and type(model["other"]) is nn.PixelShuffle
    # the same up to float summation order: the shuffle's output is channels-last, so the next conv runs
    # in that layout (the runner rewrites only networks that run channels-last anyway)
    assert torch.allclose(seq(x), want, atol=1e-6, rtol=0)
    assert relu_out_of_place(model) == 1 and not seq[2].inplace and relu_out_of_place(model) == 0
    assert cast_matmul_weights(model, torch.bfloat16) == 2
    assert seq[0].weight.dtype == torch.bfloat16 and seq[3].bias.dtype == torch.bfloat16
    assert prepare_for_inference(nn.Sequential(nn.ReLU()), autocast_dtype=None, channels_last=False) == {}


def _net(arch: str, scale: int) -> nn.Module:
    torch.manual_seed(0)
    hparams = dict(TINY[arch])
    if takes_scale(arch):
        hparams["scale"] = scale
    net = build_model(arch, **hparams)
    for p in net.parameters():  # non-trivial weights everywhere (zero-initialised layers included)
        nn.init.normal_(p, 0.0, 0.2)
    return net


@pytest.mark.parametrize("arch", sorted(TINY))
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_every_architecture_is_unchanged_bit_for_bit(arch: str, precision: str) -> None:
    built = ARCH_ENTRIES[arch].scales
    scale = 4 if built is None or 4 in built else built[-1]
    lr = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    plain = make_runner(_net(arch, scale), device="cpu", precision=precision, channels_last=True)
    fast = make_runner(
        _net(arch, scale), device="cpu", precision=precision, channels_last=True, optimize=True
    )
    assert plain.rewrites == {}
    assert torch.equal(plain(lr, scale), fast(lr, scale)), fast.rewrites
    if precision == "bf16":
        assert fast.rewrites["bf16_weights"] > 0
    if arch in ("edsr", "srresnet", "swinir"):  # conv + PixelShuffle in a Sequential
        assert fast.rewrites["pixel_shuffle_reorder"] >= 1


def test_a_runner_that_does_not_own_the_network_leaves_it_alone() -> None:
    net = _net("edsr", 2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    runner = make_runner(net, device="cpu", precision="bf16")
    runner(torch.rand(1, 3, 8, 8), 2)
    after = net.state_dict()
    assert all(after[k].dtype == torch.float32 and torch.equal(after[k], v) for k, v in before.items())
    assert type(net.upsample[1]) is nn.PixelShuffle


def test_loaded_models_get_the_rewrites(tmp_path: Path) -> None:
    path = save_weights(tmp_path / "w.safetensors", _net("edsr", 4))
    runner = load_upscaler(path, device="cpu", precision="bf16")
    assert runner.rewrites == {"pixel_shuffle_reorder": 2, "relu_out_of_place": 1, "bf16_weights": 7}
