"""ESRGAN network interpolation (Wang et al. 2018, sec. 3.4): the arithmetic, the refusals, the command."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from srkit.archs import build_model, load_network, save_weights
from srkit.archs.interpolate import (
    alpha_output_path,
    check_same_architecture,
    interpolate_checkpoints,
    interpolate_state_dicts,
)
from srkit.cli import main
from srkit.errors import SrkitError
from srkit.io.checkpoint import read_weights, read_weights_meta


def _tiny_rrdb(seed: int, **hyper) -> torch.nn.Module:
    torch.manual_seed(seed)
    params = {"num_feat": 4, "num_block": 1, "num_grow_ch": 2, "scale": 4, **hyper}
    return build_model("rrdbnet", **params)


def _states() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    a = {"w": torch.randn(3, 2), "h": torch.randn(4, dtype=torch.float16), "n": torch.tensor(7)}
    b = {"w": torch.randn(3, 2), "h": torch.randn(4, dtype=torch.float16), "n": torch.tensor(7)}
    return a, b


def test_alpha_endpoints_are_exact_and_half_is_the_mean() -> None:
    torch.manual_seed(0)
    a, b = _states()
    at0 = interpolate_state_dicts(a, b, 0.0)
    at1 = interpolate_state_dicts(a, b, 1.0)
    for key in a:
        assert torch.equal(at0[key], a[key]) and at0[key].dtype == a[key].dtype
        assert torch.equal(at1[key], b[key]) and at1[key].dtype == b[key].dtype
    half = interpolate_state_dicts(a, b, 0.5)
    torch.testing.assert_close(half["w"], (a["w"] + b["w"]) / 2, rtol=0, atol=1e-7)
    torch.testing.assert_close(half["h"], ((a["h"].double() + b["h"].double()) / 2).half())
    assert torch.equal(half["n"], a["n"])  # integer buffers are copied
    quarter = interpolate_state_dicts(a, b, 0.25)
    torch.testing.assert_close(quarter["w"], 0.75 * a["w"] + 0.25 * b["w"])
    assert list(half) == list(a) and half["w"] is not a["w"]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda s: s.pop("w"), "'w' is only in psnr.pth"),
        (lambda s: s.update(extra=torch.zeros(1)), "'extra' is only in gan.pth"),
        (lambda s: s.update(w=torch.zeros(2, 3)), "'w' has shape (3, 2) vs (2, 3)"),
        (lambda s: s.update(n=torch.tensor(8)), "buffer 'n' differs"),
        (lambda s: s.update(n=torch.tensor(7.0)), "'n' has dtype torch.int64 vs torch.float32"),
    ],
)
def test_mismatched_state_dicts_are_refused(change, needle: str) -> None:
    a, b = _states()
    change(b)  # the GAN model's state dict differs from the PSNR model's
    with pytest.raises(SrkitError) as info:
        interpolate_state_dicts(a, b, 0.5, psnr_name="psnr.pth", gan_name="gan.pth")
    msg = str(info.value)
    assert needle in msg and "psnr.pth" in msg and "gan.pth" in msg and "\n" not in msg


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha_outside_unit_interval_is_refused(alpha: float) -> None:
    a, b = _states()
    with pytest.raises(SrkitError, match="--alpha"):
        interpolate_state_dicts(a, b, alpha)


def test_architectures_must_match() -> None:
    base = {"arch": "rrdbnet", "hparams": {"num_feat": 4, "scale": 4}, "scale": 4}
    check_same_architecture(base, dict(base))
    with pytest.raises(SrkitError, match=r"different architectures \('rrdbnet' vs 'edsr'\)"):
        check_same_architecture(base, {**base, "arch": "edsr"})
    with pytest.raises(SrkitError, match=r"hyper-parameter 'num_feat' differs \(4 vs 8\)"):
        check_same_architecture(base, {**base, "hparams": {"num_feat": 8, "scale": 4}})
    with pytest.raises(SrkitError, match=r"different scales \(x4 vs x2\)"):
        check_same_architecture(base, {**base, "scale": 2})


def test_checkpoints_srkit_and_third_party_inputs(tmp_path: Path) -> None:
    psnr, gan = _tiny_rrdb(0), _tiny_rrdb(1)
    psnr_file = save_weights(tmp_path / "psnr.safetensors", psnr)
    gan_file = tmp_path / "RRDB_gan_x4.pth"  # BasicSR layout, read through srkit's converters
    torch.save(gan.state_dict(), gan_file)
    (out,) = interpolate_checkpoints(psnr_file, gan_file, 0.8, tmp_path / "mix.safetensors")
    state, meta = read_weights(out)
    assert meta.arch == "rrdbnet" and meta.scale == 4 and meta.hparams == psnr.hparams
    assert meta.extra["interpolation"] == {
        "alpha": 0.8,
        "psnr_model": "psnr.safetensors",
        "gan_model": "RRDB_gan_x4.pth",
    }
    for key, value in psnr.state_dict().items():
        torch.testing.assert_close(state[key], 0.2 * value + 0.8 * gan.state_dict()[key])


def test_cli_writes_loadable_models_one_per_alpha(tmp_path: Path, capsys) -> None:
    psnr_file = save_weights(tmp_path / "psnr.safetensors", _tiny_rrdb(0))
    gan_file = save_weights(tmp_path / "gan.safetensors", _tiny_rrdb(1))
    out = tmp_path / "esrgan.safetensors"
    code = main(["interpolate", str(psnr_file), str(gan_file), "--alpha", "0.5", "-o", str(out)])
    assert code == 0 and f"wrote {out}" in capsys.readouterr().out
    model = load_network(out)
    a, b = _tiny_rrdb(0).state_dict(), _tiny_rrdb(1).state_dict()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, (a[key] + b[key]) / 2)

    code = main(["interpolate", str(psnr_file), str(gan_file), "--alpha", "0", "1", "-o", str(out)])
    assert code == 0
    at0, at1 = alpha_output_path(out, 0.0), alpha_output_path(out, 1.0)
    assert at0.name == "esrgan_alpha0.safetensors" and at1.name == "esrgan_alpha1.safetensors"
    for path, want in ((at0, a), (at1, b)):
        got = load_network(path).state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want)
        assert read_weights_meta(path).extra["interpolation"]["alpha"] in (0.0, 1.0)


def _one_line_error(capsys, argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("srkit: error: ")
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_cli_refuses_bad_input_in_one_line(tmp_path: Path, capsys) -> None:
    psnr_file = save_weights(tmp_path / "psnr.safetensors", _tiny_rrdb(0))
    wide_file = save_weights(tmp_path / "wide.safetensors", _tiny_rrdb(1, num_feat=8))
    torch.manual_seed(2)
    edsr_file = save_weights(
        tmp_path / "edsr.safetensors", build_model("edsr", num_feat=4, num_block=1, scale=4)
    )
    out = str(tmp_path / "o.safetensors")
    cmd = ["interpolate", str(psnr_file)]
    err = _one_line_error(capsys, [*cmd, str(edsr_file), "--alpha", "0.5", "-o", out])
    assert "psnr.safetensors" in err and "edsr.safetensors" in err and "different architectures" in err
    err = _one_line_error(capsys, [*cmd, str(wide_file), "--alpha", "0.5", "-o", out])
    assert "wide.safetensors" in err and "'num_feat' differs (4 vs 8)" in err
    err = _one_line_error(capsys, [*cmd, str(psnr_file), "--alpha", "1.5", "-o", out])
    assert "--alpha" in err
    err = _one_line_error(capsys, [*cmd, str(tmp_path / "nope.pth"), "--alpha", "0.5", "-o", out])
    assert "nope.pth" in err
    err = _one_line_error(capsys, [*cmd, str(psnr_file), "--alpha", "0.5", "-o", str(tmp_path / "o.pth")])
    assert ".safetensors" in err
    err = _one_line_error(capsys, [*cmd, str(wide_file), "--alpha", "0.5", "-o", str(psnr_file)])
    assert "refusing to overwrite" in err
    assert not (tmp_path / "o.safetensors").exists()


def test_named_models_are_accepted_like_upscale_and_eval(tmp_path: Path, capsys) -> None:
    """``srkit interpolate edsr-baseline-x2 edsr-baseline-x2-robust``: named models (srkit.models), read
    through ``load_network`` as ``srkit upscale`` and ``srkit eval`` read them; names mixed with files."""
    from srkit.models import find_model

    names = ["edsr-baseline-x2", "edsr-baseline-x2-robust"]
    cards = [find_model(name) for name in names]
    if not all(card is not None and card.available for card in cards):
        pytest.skip("the named EDSR-baseline x2 weights are not installed")
    out = tmp_path / "mix.safetensors"
    assert main(["interpolate", *names, "--alpha", "0.25", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    a, b = load_network(names[0]).state_dict(), load_network(names[1]).state_dict()
    state, meta = read_weights(out)
    assert meta.extra["interpolation"] == {"alpha": 0.25, "psnr_model": names[0], "gan_model": names[1]}
    for key, value in a.items():
        torch.testing.assert_close(state[key], 0.75 * value + 0.25 * b[key])
    # A name and a file; an upper-case name; a named model may not be the output.
    robust_file = save_weights(tmp_path / "robust.safetensors", load_network(names[1]))
    (mixed,) = interpolate_checkpoints("EDSR-Baseline-x2", robust_file, 1.0, tmp_path / "one.safetensors")
    assert all(torch.equal(read_weights(mixed)[0][k], b[k]) for k in b)
    card_path = str(cards[0].path)  # type: ignore[union-attr]
    err = _one_line_error(capsys, ["interpolate", names[0], names[1], "--alpha", "0.5", "-o", card_path])
    assert "refusing to overwrite an input" in err
    err = _one_line_error(
        capsys, ["interpolate", names[0], "no-such-model", "--alpha", "0.5", "-o", str(out)]
    )
    assert "no-such-model" in err
