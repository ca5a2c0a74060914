"""``Runner(compile=True)`` / ``--compile`` (:func:`srkit.archs.speed.compile_for_inference`): the compiled
network computes what the eager one does (fp32 to float tolerance, bf16 within bf16's rounding), keeps
the fp32 islands in float32, is recorded in eval.json's model record, and is refused where the runner
does not own the network. Speed is measured in ``benchmarks/compile_speed.py``, not here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from srkit.archs import build_model, save_weights
from srkit.archs.runner import Runner, make_runner
from srkit.errors import ConfigError
from srkit.infer.upscalers import describe_model, load_upscaler


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def _net(arch: str, **hp: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(arch, scale=2, **hp)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_compiled_edsr_equals_eager(precision: str) -> None:
    x = torch.rand(1, 3, 24, 20, generator=torch.Generator().manual_seed(1))
    eager = make_runner(
        _net("edsr", num_feat=8, num_block=1), precision=precision, device="cpu", optimize=True
    )
    compiled = make_runner(
        _net("edsr", num_feat=8, num_block=1), precision=precision, device="cpu", optimize=True, compile=True
    )
    assert compiled.compiled is not None and eager.compiled is None
    want = eager(x, 2)
    for _ in range(2):  # the second call reuses the compiled graph
        got = compiled(x, 2)
        assert got.shape == (1, 3, 48, 40) and got.dtype == torch.float32
        if precision == "fp32":
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
        else:  # inductor's bf16 kernels round differently from eager's, within bf16's precision
            assert _psnr(got, want) > 45.0
    assert not torch.equal(got, torch.zeros_like(got))


def test_compiled_network_keeps_its_fp32_islands() -> None:
    net = _net("srvgg_compact", num_feat=8, num_conv=1)
    runner = make_runner(net, precision="bf16", device="cpu", optimize=True, compile=True)
    islands = [dict(runner.model.named_modules())[name] for name in runner.fp32_modules]
    assert islands and all(getattr(m.__dict__.get("forward"), "_srkit_fp32_island", False) for m in islands)
    seen: list[torch.dtype] = []
    hook = islands[0].register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    eager = make_runner(
        _net("srvgg_compact", num_feat=8, num_conv=1), precision="bf16", device="cpu", optimize=True
    )
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    eager_out = eager(x, 2)
    hook.remove()
    got = runner(x, 2)
    assert _psnr(got, eager_out) > 45.0
    # the island's weights stayed float32 (cast_matmul_weights keeps them), the others are bf16
    assert all(p.dtype == torch.float32 for m in islands for p in m.parameters())
    assert any(p.dtype == torch.bfloat16 for p in runner.model.parameters())


def test_compile_needs_a_runner_that_owns_the_network() -> None:
    with pytest.raises(ConfigError, match="compiling needs a runner that owns the network"):
        Runner(_net("edsr", num_feat=8, num_block=1), device="cpu", precision="fp32", compile=True)


def test_load_upscaler_compile_is_recorded(tmp_path: Path) -> None:
    weights = tmp_path / "tiny.safetensors"
    save_weights(weights, _net("edsr", num_feat=8, num_block=1))
    runner = load_upscaler(weights, device="cpu", precision="fp32", compile=True)
    plain = load_upscaler(weights, device="cpu", precision="fp32")
    assert isinstance(runner, Runner) and isinstance(plain, Runner)
    assert describe_model(weights, runner)["compiled"] is True
    assert describe_model(weights, plain)["compiled"] is False


def test_compile_flag_reaches_the_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``srkit upscale --compile`` and ``srkit eval --compile`` ask the loader for a compiled runner."""
    import numpy as np
    from PIL import Image

    import srkit.infer.upscalers as upscalers
    from srkit.archs.runner import InterpolationUpscaler
    from srkit.cli import main

    asked: list[bool] = []

    def fake(name: str, **kwargs: object) -> InterpolationUpscaler:
        asked.append(bool(kwargs.get("compile")))
        return InterpolationUpscaler("bicubic")

    monkeypatch.setattr(upscalers, "load_upscaler", fake)
    photo = tmp_path / "a.png"
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(photo)
    assert main(["upscale", str(photo), "--model", "x", "--scale", "2", "-o", str(tmp_path / "b.png")]) == 0
    assert (
        main(
            [
                "upscale",
                str(photo),
                "--model",
                "x",
                "--scale",
                "2",
                "--compile",
                "-o",
                str(tmp_path / "c.png"),
            ]
        )
        == 0
    )
    data = tmp_path / "set"
    data.mkdir()
    Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(data / "i.png")
    out = tmp_path / "eval"
    assert (
        main(["eval", "--model", "x", "--dataset", str(data), "--scale", "2", "--compile", "--out", str(out)])
        == 0
    )
    assert asked == [False, True, True]
