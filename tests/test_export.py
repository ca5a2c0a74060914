"""ONNX export (srkit.infer.export, ``srkit export``): every architecture through onnxruntime, dynamic
sizes, metadata, float16, the CLI from a saved weight file, and one-line errors.

Networks are tiny (a few channels, one block) with random weights; each export is checked against
PyTorch float32 on inputs of other sizes than the one traced.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

import srkit.infer.export as export_mod
from srkit.archs import (
    NetInfo,
    Runner,
    SRNet,
    build_model,
    load_network,
    register_arch,
    save_weights,
    unregister_arch,
)
from srkit.cli import main
from srkit.errors import SrkitError
from srkit.infer.export import (
    CHECK_TOLERANCE,
    check_shape,
    export_onnx,
    export_onnx_report,
    export_shape,
    read_onnx_metadata,
)

pytest.importorskip("onnx", reason="the ONNX packages are an optional extra: pip install 'srkit[onnx]'")
pytest.importorskip("onnxscript", reason="the ONNX packages are an optional extra: pip install 'srkit[onnx]'")
ort = pytest.importorskip(
    "onnxruntime", reason="the ONNX packages are an optional extra: pip install 'srkit[onnx]'"
)

#: Tiny versions of every architecture, covering the ops that matter for export: EDSR's mean shift and
#: two pixel-shuffle stages, RRDBNet's pixel-unshuffle and nearest interpolation, MSRResNet's x3
#: pixel-shuffle and bilinear image skip, SRResNet's batch norm, PReLU and bicubic feature upsampling,
#: FSRCNN's transposed convolution (Y input), VDSR's global residual (Y input, scale 1).
TINY: dict[str, tuple[str, dict]] = {
    "edsr-x4": ("edsr", {"num_feat": 8, "num_block": 1, "scale": 4}),
    "rrdbnet-x2-unshuffle": ("rrdbnet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2}),
    "msrresnet-x3": ("msrresnet", {"num_feat": 8, "num_block": 1, "scale": 3}),
    "srresnet-x2-bicubic": (
        "srresnet",
        {"num_feat": 8, "num_blocks": 1, "scale": 2, "upsampler": "bicubic"},
    ),
    "fsrcnn-x3": ("fsrcnn", {"d": 8, "s": 4, "m": 1, "scale": 3}),
    "vdsr": ("vdsr", {"num_feat": 8, "num_layers": 3}),
    "davit-sr-x2": ("davit_sr", {"dim": 8, "num_pairs": 1, "num_heads": 2, "window_size": 2, "scale": 2}),
}


def _tiny(key: str) -> nn.Module:
    arch, hparams = TINY[key]
    torch.manual_seed(0)
    net = build_model(arch, **hparams).eval()
    # Non-trivial batch-norm statistics, so a wrongly exported BN (training mode) would show.
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return net


def _run_onnx(path: Path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    return session.run(None, {"input": x.numpy()})[0]


def _torch(net: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return net(x).numpy()


# --------------------------------------------------------------------------------------------------
# Every architecture, dynamic sizes, metadata
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", list(TINY))
def test_export_matches_pytorch_at_other_sizes(key: str, tmp_path: Path) -> None:
    net = _tiny(key)
    report = export_onnx_report(net, tmp_path / f"{key}.onnx")
    assert report.path.is_file() and report.path.stat().st_size == report.nbytes
    assert report.exporter == "dynamo" and report.opset >= 18 and not report.fp16
    # The built-in check ran on another batch and size than the traced example and passed.
    assert report.check_shape == check_shape(net) and report.check_shape != export_shape(net)
    assert report.max_abs_diff is not None and 0.0 <= report.max_abs_diff < CHECK_TOLERANCE

    # Dynamic batch, height and width: two more sizes, neither square nor the traced one.
    c, s, m = net.info.in_channels, net.info.scale, net.info.size_multiple
    for shape in [(3, c, 6 * m, 10 * m), (1, c, 17 * m, 5 * m)]:
        x = torch.rand(shape, generator=torch.Generator().manual_seed(shape[2]))
        got, want = _run_onnx(report.path, x), _torch(net, x)
        assert got.dtype == np.float32
        assert got.shape == (shape[0], c, s * shape[2], s * shape[3]) == want.shape
        assert float(np.abs(got - want).max()) < 1e-4

    # srkit's metadata: enough to rebuild the network and to feed it.
    meta = read_onnx_metadata(report.path)
    assert meta["srkit_format"] == "1"
    assert meta["arch"] == net.arch_name
    assert json.loads(meta["hparams"]) == net.hparams
    assert int(meta["scale"]) == net.info.scale
    assert int(meta["in_channels"]) == c and meta["input_space"] == net.info.color
    assert int(meta["window_multiple"]) == m
    assert json.loads(meta["expects_upsampled_input"]) is (net.info.input == "upsampled")
    assert meta["precision"] == "float32" and meta["exporter"] == "dynamo"
    assert meta == report.metadata


def test_dynamic_axes_are_named_and_io_is_float32(tmp_path: Path) -> None:
    import onnx

    path = export_onnx(_tiny("fsrcnn-x3"), tmp_path / "f.onnx", check=False)
    model = onnx.load(str(path))
    (inp,) = model.graph.input
    (out,) = model.graph.output
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == ["batch", 1, "height", "width"]
    assert inp.type.tensor_type.elem_type == out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert out.type.tensor_type.shape.dim[0].dim_param == "batch"


def test_caller_model_is_left_as_it_was(tmp_path: Path) -> None:
    """Exporting the network of a bf16/channels-last Runner exports a float32 copy."""
    net = _tiny("edsr-x4")
    up = Runner(net, name="t", device="cpu", precision="bf16")
    up.model.train()
    weight = up.model.conv_first.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    before = weight.detach().clone()
    export_onnx(up.model, tmp_path / "e.onnx", exporter="torchscript")
    assert up.model.training and up.model.conv_first.weight is weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(weight.detach(), before)


def test_torchscript_exporter_and_opset(tmp_path: Path) -> None:
    net = _tiny("rrdbnet-x2-unshuffle")
    report = export_onnx_report(net, tmp_path / "r.onnx", exporter="torchscript", opset=17)
    assert report.opset == 17 and report.exporter == "torchscript"
    assert read_onnx_metadata(report.path)["exporter"] == "torchscript"
    x = torch.rand(2, 3, 14, 22)
    assert float(np.abs(_run_onnx(report.path, x) - _torch(net, x)).max()) < 1e-4


def test_fp16_export_has_float16_weights_and_float32_io(tmp_path: Path) -> None:
    import onnx

    net = _tiny("edsr-x4")
    report = export_onnx_report(net, tmp_path / "h.onnx", fp16=True)
    assert report.fp16 and report.metadata["precision"] == "float16"
    model = onnx.load(str(report.path))
    conv_weights = [t for t in model.graph.initializer if len(t.dims) == 4]
    assert conv_weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in conv_weights)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    x = torch.rand(1, 3, 12, 20)
    got, want = _run_onnx(report.path, x), _torch(net, x)
    assert got.dtype == np.float32 and got.shape == want.shape
    diff = float(np.abs(got - want).max())
    assert 0 < diff < 1e-2 * max(1.0, float(np.abs(want).max()))  # float16 is close, not exact


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def test_cli_exports_a_saved_weight_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = build_model("edsr", num_feat=8, num_block=2, scale=2)
    weights = save_weights(tmp_path / "tiny-edsr.safetensors", net)
    out = tmp_path / "out" / "tiny.onnx"
    assert main(["export", str(weights), "--onnx", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "edsr x2" in printed and "max |onnx - pytorch fp32|" in printed
    meta = read_onnx_metadata(out)
    assert meta["arch"] == "edsr" and meta["scale"] == "2"
    assert json.loads(meta["hparams"]) == net.hparams
    loaded = load_network(weights)
    x = torch.rand(2, 3, 9, 13)
    got = _run_onnx(out, x)
    assert got.shape == (2, 3, 18, 26)
    assert float(np.abs(got - _torch(loaded, x)).max()) < 1e-4
    assert [p.name for p in out.parent.iterdir()] == ["tiny.onnx"]  # no temporary files left


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.onnx"
    assert main(["export", "bicubic", "--onnx", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a network" in err and "Traceback" not in err

    missing = tmp_path / "nothing.safetensors"
    assert main(["export", str(missing), "--onnx", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err
    assert not out.exists()


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", ["onnxruntime", "onnx", "onnxscript"])
def test_missing_package_names_the_extra(
    package: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # makes `import package` fail
    out = tmp_path / "x.onnx"
    with pytest.raises(SrkitError) as info:
        export_onnx(_tiny("vdsr"), out)
    message = str(info.value)
    assert "\n" not in message
    assert repr(package) in message and "not installed" in message and "pip install 'srkit[onnx]'" in message
    assert not out.exists()

    weights = save_weights(tmp_path / "v.safetensors", _tiny("vdsr"))
    assert main(["export", str(weights), "--onnx", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "srkit[onnx]" in err and not out.exists()


def test_no_check_needs_no_onnxruntime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    report = export_onnx_report(_tiny("vdsr"), tmp_path / "v.onnx", check=False, exporter="torchscript")
    assert report.path.is_file() and report.max_abs_diff is None and report.check_shape is None


def test_failed_check_writes_nothing_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m.onnx"
    out.write_bytes(b"previous")
    monkeypatch.setattr(export_mod, "CHECK_TOLERANCE", 0.0)  # any difference at all is now too much
    with pytest.raises(SrkitError, match=r"differs from PyTorch float32 by .* allowed < 0"):
        export_onnx(_tiny("fsrcnn-x3"), out, exporter="torchscript")
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_invalid_arguments(tmp_path: Path) -> None:
    net = _tiny("vdsr")
    with pytest.raises(SrkitError, match="opset: 999 is not supported"):
        export_onnx(net, tmp_path / "a.onnx", opset=999)
    with pytest.raises(SrkitError, match="exporter: 'tflite' is not supported"):
        export_onnx(net, tmp_path / "a.onnx", exporter="tflite")
    with pytest.raises(SrkitError, match="is a folder"):
        export_onnx(net, tmp_path)
    with pytest.raises(SrkitError, match="expected a network"):
        export_onnx("edsr", tmp_path / "a.onnx")  # type: ignore[arg-type]
    assert not (tmp_path / "a.onnx").exists()


class _Broken(SRNet):
    """A network whose forward fails: the exporter's error must come back as one line."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__()

    @classmethod
    def describe(cls, hparams: Mapping[str, Any]) -> NetInfo:
        return NetInfo("_broken", hparams["scale"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("cannot run this\non two lines")


def test_exporter_failure_is_one_line(tmp_path: Path) -> None:
    register_arch("_broken", _Broken)
    try:
        with pytest.raises(SrkitError) as info:
            export_onnx(_Broken(), tmp_path / "b.onnx")
    finally:
        unregister_arch("_broken")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("_broken x2: ONNX export (dynamo exporter) failed:")
    assert "cannot run this on two lines" in message and "--exporter torchscript" in message
    assert not (tmp_path / "b.onnx").exists()
