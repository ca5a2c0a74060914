"""fp32 islands (issue 14): the submodules a network lists in ``fp32_modules`` run in float32 when a
runner autocasts (:func:`srkit.archs.speed.fp32_islands`), change nothing in fp32, leave a network the
runner does not own as it was, and keep the efficient-SR families' default path within 0.01 dB of fp32
on Set5 x4."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from srkit.archs import ARCH_ENTRIES, build_model
from srkit.archs.registry import takes_scale
from srkit.archs.runner import make_runner
from srkit.archs.speed import fp32_island_modules, fp32_islands, run_in_fp32
from srkit.data import resolve_dataset
from srkit.degrade import get_group
from srkit.devices import cpu_has_fast_bf16
from srkit.errors import ConfigError
from srkit.evaluation import evaluate
from srkit.infer.upscalers import load_upscaler
from test_model_seam import TINY

#: The families that declare islands, and what they declare at their TINY hyper-parameters.
DECLARED = {
    "span": ("conv_1", "block_1", "upsampler"),  # num_block=1: the first block is the last
    "srvgg_compact": ("body.0", "body.4"),  # num_conv=1: body = conv, act, conv, act, conv
    "lapsrn": ("conv_input", "convt_I1", "convt_I2"),
    "bsrn": ("fea_conv.pw",),
}


def _tiny(arch: str) -> nn.Module:
    torch.manual_seed(0)
    hparams = dict(TINY[arch])
    built = ARCH_ENTRIES[arch].scales
    if takes_scale(arch):
        hparams["scale"] = 4 if built is None or 4 in built else built[-1]
    net = build_model(arch, **hparams)
    for p in net.parameters():  # non-trivial weights everywhere (zero-initialised layers included)
        nn.init.normal_(p, 0.0, 0.2)
    return net


def _scale(net: nn.Module) -> int:
    info = net.info  # type: ignore[attr-defined]
    return 4 if info.scales is None else info.scales[-1]


@pytest.mark.parametrize("arch", sorted(ARCH_ENTRIES))
def test_every_architectures_islands_name_submodules(arch: str) -> None:
    net = _tiny(arch)
    names = dict(net.named_modules())
    declared = tuple(net.fp32_modules)  # type: ignore[arg-type]
    assert declared == DECLARED.get(arch, ())
    assert all(name in names for name in declared)
    assert fp32_island_modules(net) == [names[name] for name in declared]


def test_a_name_that_is_no_submodule_is_refused() -> None:
    net = _tiny("span")
    net.fp32_modules = ("upsampler", "nope")
    with pytest.raises(ConfigError, match="'nope' name no submodule"):
        make_runner(net, device="cpu", precision="bf16")


def test_the_wrapper_changes_nothing_in_fp32() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    x = torch.rand(1, 3, 9, 7)
    want = conv(x)
    assert torch.equal(run_in_fp32(conv.forward, "cpu")(x), want)
    with fp32_islands([conv], "cpu"):
        assert torch.equal(conv(x), want)
    assert "forward" not in conv.__dict__  # gone again on exit


@pytest.mark.parametrize("arch", sorted(DECLARED))
def test_fp32_runs_are_bit_identical_with_and_without_islands(arch: str) -> None:
    lr = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    with_islands, without = _tiny(arch), _tiny(arch)
    without.fp32_modules = ()
    for channels_last in (False, True):
        a = make_runner(
            with_islands, device="cpu", precision="fp32", channels_last=channels_last, optimize=True
        )
        b = make_runner(without, device="cpu", precision="fp32", channels_last=channels_last, optimize=True)
        assert a.fp32_modules == () and torch.equal(a(lr, _scale(with_islands)), b(lr, _scale(without)))


def test_an_island_under_bf16_autocast_is_the_module_in_fp32() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    x = torch.rand(1, 3, 10, 10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        hidden = net[1](net[0](x))  # bf16, as autocast leaves it
        plain = net[2](hidden)
        with fp32_islands([net[2]], "cpu"):
            island = net[2](hidden)
            nested = fp32_islands([net[2]], "cpu")
            with nested:  # a nested entry wraps once and leaves the outer wrapper in place
                assert net[2](hidden).dtype == torch.float32
            assert "forward" in net[2].__dict__
    assert hidden.dtype == torch.bfloat16 and plain.dtype == torch.bfloat16
    assert island.dtype == torch.float32
    assert "forward" not in net[2].__dict__
    # the module in fp32 on the (bf16-rounded) input it was given, cast up
    assert torch.equal(island, net[2](hidden.float()))
    assert (island - plain.float()).abs().max() > 0  # bf16 output rounding is gone


def test_runners_apply_the_islands_and_keep_their_weights_in_fp32() -> None:
    net = _tiny("span")
    lr = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(2))
    plain = make_runner(_tiny("span"), device="cpu", precision="bf16")  # does not own its network
    fast = make_runner(net, device="cpu", precision="bf16", optimize=True)
    assert fast.fp32_modules == plain.fp32_modules == DECLARED["span"]
    seen: dict[str, set[torch.dtype]] = {}

    def record(name: str, out: torch.Tensor | tuple[torch.Tensor, ...]) -> None:
        seen[name] = {t.dtype for t in (out if isinstance(out, tuple) else (out,))}

    hooks = [
        fast.model.get_submodule(name).register_forward_hook(lambda m, a, out, name=name: record(name, out))
        for name in ("upsampler", "block_1", "conv_cat")
    ]
    out = fast(lr, 4)
    for hook in hooks:
        hook.remove()
    assert seen == {"block_1": {torch.float32}, "conv_cat": {torch.bfloat16}, "upsampler": {torch.float32}}
    assert fast.model.upsampler[0].weight.dtype == torch.float32
    assert fast.model.conv_1.conv[0].weight.dtype == torch.float32
    assert fast.model.conv_cat.weight.dtype == torch.bfloat16
    # the islands are part of bf16, not an optimisation: the runner that does not own the network
    # gives the same output bit for bit, and leaves the network as it was
    assert torch.equal(plain(lr, 4), out)
    assert not any("forward" in m.__dict__ for m in plain.model.modules())
    assert all(p.dtype == torch.float32 for p in plain.model.parameters())


def test_training_autocast_does_not_use_the_islands() -> None:
    """Training autocasts the network itself (:meth:`srkit.train.engine.Engine.autocast`), not through
    a runner: the islands are an inference (and validation) matter only."""
    net = _tiny("span").train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(torch.rand(2, 3, 8, 8))
    assert out.dtype == torch.bfloat16
    out.float().mean().backward()
    assert all(p.grad is not None for p in net.upsampler.parameters())


#: family -> the authors' file under ``$SRKIT_SHARED/weights``
FILES = {
    "span": "span/ntire24_span_ch28_slim.pth",
    "srvgg_compact": "realesr-animevideov3/realesr-animevideov3.pth",
    "lapsrn": "lapsrn/lapsrn_state_dict.pth",
    "bsrn": "bsrn/net_g_BSRN_x4.pth",
}


@pytest.mark.parametrize("family", sorted(FILES))
def test_default_path_is_within_a_hundredth_of_a_db_on_set5(
    family: str, shared_weights: Path, shared_data: Path
) -> None:
    if not cpu_has_fast_bf16():
        pytest.skip("this CPU has no native bf16: the default path is fp32")
    path = shared_weights / FILES[family]
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    torch.set_num_threads(1)
    set5 = resolve_dataset(shared_data / "Set5", download=False)
    psnr = {}
    for precision in ("fp32", "auto"):
        runner = load_upscaler(path, device="cpu", precision=precision)
        report = evaluate(runner, [set5], [4], [get_group("bicubic")], progress=False)
        psnr[precision] = report.groups()[0].psnr
        if precision == "auto":
            assert runner.precision == "bf16" and runner.fp32_modules
    assert abs(psnr["auto"] - psnr["fp32"]) <= 0.01, psnr
