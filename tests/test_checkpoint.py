"""srkit weight files: round trip of tensors and metadata, rebuilding networks, one-line errors, atomic
writes, and reading third-party state dicts safely."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import srkit
from srkit.archs import FSRCNN, VDSR, build_model, load_network, model_spec, save_weights
from srkit.errors import ConfigError, SrkitError
from srkit.io.checkpoint import FORMAT_VERSION, WeightsMeta, read_weights, read_weights_meta
from srkit.io.safe_load import load_state_dict_any


def _tiny_edsr(scale: int = 2) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("edsr-baseline", scale=scale, num_feat=8, num_block=1)


def _assert_one_line_naming(err: pytest.ExceptionInfo, path: Path, *needles: str) -> None:
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert str(path) in msg, msg
    for needle in needles:
        assert needle in msg, (needle, msg)


# --------------------------------------------------------------------------------------------------
# Round trip
# --------------------------------------------------------------------------------------------------


def test_round_trip_tensors_and_metadata(tmp_path: Path) -> None:
    model = _tiny_edsr()
    extra = {
        "step": 12000,
        "metrics": {"set5_x2_psnr": 31.25, "set5_x2_ssim": np.float32(0.875), "loss": torch.tensor(0.5)},
        "train_data": ["div2k", Path("data/flickr2k")],
        "recipe": "edsr-baseline-x2",
    }
    path = save_weights(tmp_path / "sub" / "edsr_x2.safetensors", model, extra=extra)
    assert path == tmp_path / "sub" / "edsr_x2.safetensors" and path.is_file()

    state, meta = read_weights(path)
    expected = model.state_dict()
    assert set(state) == set(expected)
    for key, value in expected.items():
        assert state[key].dtype == value.dtype and torch.equal(state[key], value), key
    assert isinstance(meta, WeightsMeta)
    assert meta.arch == "edsr" and meta.scale == 2
    assert meta.hparams == model.hparams
    assert meta.spec == model_spec(model)
    assert meta.extra["step"] == 12000
    assert meta.extra["metrics"] == {"set5_x2_psnr": 31.25, "set5_x2_ssim": 0.875, "loss": 0.5}
    assert meta.extra["train_data"] == ["div2k", "data/flickr2k"]
    assert meta.extra["recipe"] == "edsr-baseline-x2"
    assert meta.extra["srkit_version"] == srkit.__version__
    assert meta.extra["created"].endswith("+00:00")
    assert read_weights_meta(path) == meta

    # The header is plain safetensors metadata (str -> str) that other tools can read.
    with safe_open(str(path), framework="pt") as f:
        raw = f.metadata()
    assert raw["srkit_format"] == FORMAT_VERSION == "1"
    assert raw["arch"] == "edsr" and raw["scale"] == "2"
    assert json.loads(raw["hparams"]) == model.hparams
    assert json.loads(raw["extra"])["step"] == 12000


def test_caller_values_override_defaults(tmp_path: Path) -> None:
    extra = {"created": "2020-01-01T00:00:00+00:00", "srkit_version": "0.0.1"}
    path = save_weights(tmp_path / "w.safetensors", _tiny_edsr(), extra=extra)
    assert read_weights(path)[1].extra == extra


def test_save_from_state_dict_keeps_dtype_and_handles_views_and_shared_tensors(tmp_path: Path) -> None:
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    tied = torch.randn(5)
    state = {
        "transposed": base.t(),  # not contiguous
        "row": base[1],  # a view into the same storage as 'transposed'
        "tied_a": tied,
        "tied_b": tied,  # the same tensor under two names
        "half": torch.tensor([1.5, -2.25], dtype=torch.bfloat16),
        "steps": torch.tensor(7),
    }
    path = save_weights(tmp_path / "s.safetensors", state, arch="fsrcnn", hparams={"scale": 3})
    got, meta = read_weights(path)
    assert meta.scale == 3 and meta.arch == "fsrcnn"
    assert set(got) == set(state)
    for key, value in state.items():
        assert got[key].dtype == value.dtype and torch.equal(got[key], value), key
    got["tied_a"].add_(1)
    assert not torch.equal(got["tied_a"], got["tied_b"])  # stored as separate tensors


def test_wrapped_model_is_saved_without_wrapper_prefix(tmp_path: Path) -> None:
    model = _tiny_edsr()
    path = save_weights(tmp_path / "dp.safetensors", torch.nn.DataParallel(model))
    state, meta = read_weights(path)
    assert set(state) == set(model.state_dict()) and meta.arch == "edsr" and meta.scale == 2
    assert model_spec(load_network(path)) == model_spec(model)


def test_save_from_state_dict_needs_arch_hparams_and_scale(tmp_path: Path) -> None:
    state = _tiny_edsr().state_dict()
    target = tmp_path / "w.safetensors"
    with pytest.raises(ConfigError, match="arch is required"):
        save_weights(target, state, hparams={"scale": 2})
    with pytest.raises(ConfigError, match="hparams is required"):
        save_weights(target, state, arch="edsr")
    with pytest.raises(ConfigError, match="scale must be a positive integer"):
        save_weights(target, state, arch="edsr", hparams={"num_feat": 8})
    with pytest.raises(ConfigError, match="extra: cannot be stored as JSON"):
        save_weights(target, _tiny_edsr(), extra={"bad": object()})
    with pytest.raises(ConfigError, match="not a tensor"):
        save_weights(target, {"a": [1, 2]}, arch="edsr", hparams={"scale": 2})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "hyper", "size"),
    [("edsr-baseline", {"scale": 2}, 12), ("msrresnet", {"scale": 4}, 10)],
)
def test_load_model_rebuilds_identical_network(tmp_path: Path, name: str, hyper: dict, size: int) -> None:
    torch.manual_seed(1)
    model = build_model(name, **hyper).eval()
    path = save_weights(tmp_path / f"{name}.safetensors", model, extra={"step": 1})
    loaded = load_network(path)
    assert type(loaded) is type(model)
    assert not loaded.training
    assert model_spec(loaded) == model_spec(model)
    assert loaded.info.scale == hyper["scale"]
    assert next(loaded.parameters()).device.type == "cpu"
    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        want, got = model(x), loaded(x)
    assert got.shape == (1, 3, size * hyper["scale"], size * hyper["scale"])
    assert torch.equal(got, want)


# --------------------------------------------------------------------------------------------------
# Errors: one line, naming the file
# --------------------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.safetensors"
    with pytest.raises(SrkitError) as err:
        read_weights(path)
    _assert_one_line_naming(err, path, "no such weights file")
    with pytest.raises(SrkitError) as err:
        load_network(path)
    _assert_one_line_naming(err, path, "no such weights file")
    with pytest.raises(SrkitError) as err:
        read_weights(tmp_path)
    _assert_one_line_naming(err, tmp_path, "is a folder")


@pytest.mark.parametrize("data", [b"", b"\x00" * 4, b"not a weights file at all\n" * 40])
def test_garbage_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(data)
    with pytest.raises(SrkitError) as err:
        read_weights(path)
    _assert_one_line_naming(err, path, "not a safetensors file")


def test_truncated_file(tmp_path: Path) -> None:
    path = save_weights(tmp_path / "w.safetensors", _tiny_edsr())
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(SrkitError) as err:
        load_network(path)
    _assert_one_line_naming(err, path, "not a safetensors file")


@pytest.mark.parametrize("metadata", [None, {"format": "pt"}])
def test_safetensors_without_srkit_metadata(tmp_path: Path, metadata: dict | None) -> None:
    path = tmp_path / "plain.safetensors"
    save_file(_tiny_edsr().state_dict(), str(path), metadata=metadata)
    with pytest.raises(SrkitError) as err:
        read_weights(path)
    _assert_one_line_naming(err, path, "not an srkit weights file", "load_state_dict_any")
    # ... which load_state_dict_any reads as a bare state dict.
    state = load_state_dict_any(path)
    assert set(state) == set(_tiny_edsr().state_dict())


def test_unsupported_format_version_and_corrupt_metadata(tmp_path: Path) -> None:
    tensors = {"w": torch.zeros(2)}
    good = {"srkit_format": "1", "arch": "edsr", "hparams": "{}", "scale": "2", "extra": "{}"}
    path = tmp_path / "v2.safetensors"
    save_file(tensors, str(path), metadata={**good, "srkit_format": "2"})
    with pytest.raises(SrkitError) as err:
        read_weights(path)
    _assert_one_line_naming(err, path, "format '2' is not supported", "upgrade srkit")
    for bad in ({"hparams": "{not json"}, {"scale": "two"}, {"extra": "[1, 2]"}):
        save_file(tensors, str(path), metadata={**good, **bad})
        with pytest.raises(SrkitError) as err:
            read_weights(path)
        _assert_one_line_naming(err, path, "corrupt srkit metadata")


def test_key_mismatch_names_first_missing_and_unexpected_key(tmp_path: Path) -> None:
    model = _tiny_edsr()
    state = dict(model.state_dict())
    del state["conv_first.weight"], state["conv_first.bias"]
    state["head.weight"] = torch.zeros(1)
    path = save_weights(tmp_path / "mismatch.safetensors", state, arch="edsr", hparams=model.hparams)
    with pytest.raises(SrkitError) as err:
        load_network(path)
    _assert_one_line_naming(
        err, path, "missing key 'conv_first.weight' (and 1 more)", "unexpected key 'head.weight'"
    )


def test_shape_mismatch_and_unbuildable_metadata(tmp_path: Path) -> None:
    model = _tiny_edsr()
    path = save_weights(
        tmp_path / "shape.safetensors", model, hparams={**model.hparams, "num_feat": 16}, scale=2
    )
    with pytest.raises(SrkitError) as err:
        load_network(path)
    _assert_one_line_naming(err, path, "'conv_first.weight' has shape (8, 3, 3, 3)", "expects (16, 3, 3, 3)")

    path = save_weights(tmp_path / "arch.safetensors", model, arch="nosuchnet")
    with pytest.raises(SrkitError) as err:
        load_network(path)
    _assert_one_line_naming(err, path, "cannot rebuild the network", "nosuchnet")


# --------------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------------


def test_atomic_write_leaves_no_temp_files_and_replaces_existing(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_weights(path, _tiny_edsr(2))
    save_weights(path, _tiny_edsr(3))
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
    assert read_weights(path)[1].scale == 3


def test_failed_write_keeps_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_weights(tmp_path / "w.safetensors", _tiny_edsr(2), extra={"step": 1})
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("srkit.io.atomic.os.fsync", disk_full)
    with pytest.raises(SrkitError) as err:
        save_weights(path, _tiny_edsr(3), extra={"step": 2})
    _assert_one_line_naming(err, path, "cannot write weights", "No space left on device")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
    assert read_weights(path)[1].extra["step"] == 1


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_written_file_gets_normal_permissions(tmp_path: Path) -> None:
    path = save_weights(tmp_path / "w.safetensors", _tiny_edsr())
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


# --------------------------------------------------------------------------------------------------
# Third-party state dicts
# --------------------------------------------------------------------------------------------------


def test_load_state_dict_any_reads_torch_files_and_containers(tmp_path: Path) -> None:
    state = _tiny_edsr().state_dict()
    for name, obj in [("plain.pth", state), ("basicsr.pth", {"params_ema": state, "iter": 5})]:
        torch.save(obj, tmp_path / name)
        got = load_state_dict_any(tmp_path / name)
        assert set(got) == set(state)
        assert all(torch.equal(got[k], v) for k, v in state.items())
    torch.save({"optimizer": {"lr": 1.0}}, tmp_path / "nostate.pth")
    with pytest.raises(SrkitError) as err:
        load_state_dict_any(tmp_path / "nostate.pth")
    _assert_one_line_naming(err, tmp_path / "nostate.pth", "no state dict found", "'optimizer'")


def test_load_state_dict_any_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "whole_model.pth"
    torch.save(_tiny_edsr(), path)  # a pickle of the module itself
    with pytest.raises(SrkitError) as err:
        load_state_dict_any(path)
    _assert_one_line_naming(err, path, "refused", "srkit.archs.edsr.net.EDSR", "state dict")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x80\x02garbage" * 20)
    with pytest.raises(SrkitError) as err:
        load_state_dict_any(garbage)
    _assert_one_line_naming(err, garbage, "not a PyTorch or safetensors checkpoint")


def test_third_party_weights_convert_to_srkit_files(shared_weights: Path, tmp_path: Path) -> None:
    """The published FSRCNN and VDSR state dicts load strictly into srkit's networks and survive the
    round trip through an srkit file; the whole-module VDSR pickle is refused without unpickling it."""
    fsrcnn = FSRCNN(scale=3)
    fsrcnn.load_state_dict(load_state_dict_any(shared_weights / "fsrcnn" / "fsrcnn_x3.pth"), strict=True)
    vdsr = VDSR()
    vdsr.load_state_dict(load_state_dict_any(shared_weights / "vdsr" / "vdsr_state_dict.pth"), strict=True)
    assert sum(p.numel() for p in fsrcnn.parameters()) == 12809
    for model in (fsrcnn, vdsr):
        path = save_weights(tmp_path / f"{model.arch_name}.safetensors", model)
        loaded = load_network(path)
        assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), model.parameters(), strict=True))
    assert read_weights(tmp_path / "vdsr.safetensors")[1].scale == 1

    pickled = shared_weights / "vdsr" / "model_epoch_50.pth"
    with pytest.raises(SrkitError) as err:
        load_state_dict_any(pickled)
    _assert_one_line_naming(err, pickled, "refused", "vdsr.Net")
