"""Safe loading of checkpoint files: nothing in a file is ever executed, files that pickle Python objects
are refused with a one-line message saying why and how to convert them, containers and wrapper prefixes
are unwrapped."""

from __future__ import annotations

import builtins
import os
import pickle
import shlex
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from srkit.archs import build_model
from srkit.archs.loading import load_any_model
from srkit.cli import main
from srkit.errors import SrkitError
from srkit.infer.upscalers import load_upscaler
from srkit.io import safe_load
from srkit.io.safe_load import (
    is_safetensors_file,
    load_state_dict_any,
    pickled_globals,
    read_checkpoint,
    strip_wrapper_prefixes,
    unwrap_state_dict,
)

# --------------------------------------------------------------------------------------------------
# Malicious payloads: unpickling any of them creates the marker file
# --------------------------------------------------------------------------------------------------


class TouchViaSystem:
    """Unpickles to ``os.system('touch MARKER')``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


class TouchViaOpen:
    """Unpickles to ``open(MARKER, 'w')``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (str(self.marker), "w"))


class TouchViaExec:
    """Unpickles to ``exec("open(MARKER, 'w').close()")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').close()",))


PAYLOADS = {"os.system": TouchViaSystem, "open": TouchViaOpen, "exec": TouchViaExec}
NAMES = {"os.system": "system", "open": "open", "exec": "exec"}


def _write(kind: str, payload: object, path: Path) -> None:
    """``payload`` inside an otherwise ordinary checkpoint, in one of the file formats."""
    obj = {"params_ema": {"conv.weight": torch.zeros(2, 2)}, "meta": payload}
    if kind == "zip":
        torch.save(obj, path)
    elif kind == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    elif kind == "raw-pickle-2":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:  # protocol 4: STACK_GLOBAL instead of GLOBAL
        path.write_bytes(pickle.dumps(payload, protocol=4))


def _assert_refusal(err: pytest.ExceptionInfo | str, path: Path, name: str) -> None:
    msg = err if isinstance(err, str) else str(err.value)
    assert msg.strip().count("\n") == 0, msg
    for needle in (
        str(path),
        "refused",
        "pickled Python objects",
        name,
        "would execute code",
        "torch.save(model.state_dict()",
        "srkit convert",
    ):
        assert needle in msg, (needle, msg)


def test_payloads_are_really_malicious(tmp_path: Path) -> None:
    """Positive control: plain unpickling of each payload does create its marker."""
    for label, cls in PAYLOADS.items():
        marker = tmp_path / f"control-{label}"
        pickle.loads(pickle.dumps(cls(marker), protocol=2))
        assert marker.exists(), label


@pytest.mark.parametrize("kind", ["zip", "legacy", "raw-pickle-2", "raw-pickle-4"])
@pytest.mark.parametrize("label", list(PAYLOADS))
def test_malicious_pickles_are_refused_without_executing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, label: str
) -> None:
    # PyTorch's switch to force unsafe loading must not weaken srkit's explicit weights_only=True.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    _write(kind, PAYLOADS[label](marker), path)
    with pytest.raises(SrkitError) as err:
        load_state_dict_any(path)
    _assert_refusal(err, path, NAMES[label])
    with pytest.raises(SrkitError) as err:
        load_any_model(path)
    _assert_refusal(err, path, NAMES[label])
    assert not marker.exists()


def test_malicious_pickle_through_cli_and_upscaler(tmp_path: Path, capsys) -> None:
    marker = tmp_path / "PWNED"
    for suffix in (".pth", ".pt", ".ckpt", ".bin"):
        path = tmp_path / f"evil{suffix}"
        _write("zip", TouchViaSystem(marker), path)
        out = tmp_path / "out.safetensors"
        assert main(["convert", str(path), str(out)]) == 2
        _assert_refusal(capsys.readouterr().err, path, "system")
        assert not out.exists()
        with pytest.raises(SrkitError) as err:
            load_upscaler(str(path))
        _assert_refusal(err, path, "system")
    # A pickle named .safetensors is read as safetensors only, and is not one.
    disguised = tmp_path / "evil.safetensors"
    _write("zip", TouchViaSystem(marker), disguised)
    with pytest.raises(SrkitError) as err:
        load_upscaler(str(disguised))
    assert str(err.value).startswith(f"{disguised}: not a safetensors file")
    assert not marker.exists()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_whole_module_pickles_are_refused_naming_the_class(tmp_path: Path, legacy: bool) -> None:
    path = tmp_path / "model_epoch_50.pth"
    model = build_model("vdsr", num_feat=4, num_layers=3)
    torch.save({"epoch": 50, "model": model}, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(SrkitError) as err:
        read_checkpoint(path)
    _assert_refusal(err, path, "srkit.archs.vdsr.net.VDSR")


def test_pickled_globals_are_found_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    model = build_model("vdsr", num_feat=4, num_layers=3)
    for legacy in (False, True):
        path = tmp_path / f"module-{legacy}.pth"
        torch.save({"model": model}, path, _use_new_zipfile_serialization=not legacy)
        assert "srkit.archs.vdsr.net.VDSR" in pickled_globals(path)
        torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=not legacy)
        assert all(g.startswith(("torch.", "collections.")) for g in pickled_globals(path))
    for protocol in (2, 4):
        path = tmp_path / f"evil-{protocol}.pkl"
        path.write_bytes(pickle.dumps(TouchViaSystem(marker), protocol=protocol))
        assert pickled_globals(path) == [f"{os.system.__module__}.system"]
    (tmp_path / "garbage").write_bytes(b"\x00\x01garbage")
    assert pickled_globals(tmp_path / "garbage") == []
    assert not marker.exists()


def test_torch_load_is_called_with_weights_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.pth"
    torch.save({"w": torch.ones(2)}, path)
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    assert torch.equal(load_state_dict_any(path)["w"], torch.ones(2))
    assert calls == [{"map_location": "cpu", "weights_only": True}]


def test_old_torch_is_refused_before_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.pth"
    torch.save({"w": torch.ones(2)}, path)

    def must_not_run(*args, **kwargs):
        raise AssertionError("torch.load called")

    monkeypatch.setattr(torch, "__version__", "2.5.1")
    monkeypatch.setattr(torch, "load", must_not_run)
    with pytest.raises(SrkitError) as err:
        load_state_dict_any(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and "CVE-2025-32434" in msg and "2.5.1" in msg
    # safetensors files need no unpickling and still load.
    st = tmp_path / "w.safetensors"
    save_file({"w": torch.ones(2)}, str(st))
    assert torch.equal(load_state_dict_any(st)["w"], torch.ones(2))


# --------------------------------------------------------------------------------------------------
# Files that are not checkpoints
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("garbage.pth", b"\x80\x02garbage" * 20),
        ("empty.pth", b""),
        ("text.pt", b"hello, this is not a checkpoint"),
        ("truncated.pth", None),
    ],
)
def test_non_checkpoints_are_one_line_errors(tmp_path: Path, name: str, content: bytes | None) -> None:
    path = tmp_path / name
    if content is None:
        torch.save({"w": torch.zeros(100)}, path)
        content = path.read_bytes()[:200]
    path.write_bytes(content)
    with pytest.raises(SrkitError) as err:
        load_state_dict_any(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}: not a PyTorch or safetensors checkpoint ("), msg


def test_missing_folder_and_broken_safetensors(tmp_path: Path) -> None:
    for path, needle in [
        (tmp_path / "missing.pth", "no such weights file"),
        (tmp_path, "is a folder"),
    ]:
        with pytest.raises(SrkitError) as err:
            read_checkpoint(path)
        assert str(err.value) == f"{path}: {needle}" or needle in str(err.value)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 64)
    with pytest.raises(SrkitError) as err:
        read_checkpoint(broken)
    assert str(err.value).startswith(f"{broken}: not a safetensors file")


def test_safetensors_content_is_recognised_whatever_the_suffix(tmp_path: Path) -> None:
    tensors = {"a.weight": torch.arange(6.0).view(2, 3), "b": torch.zeros(1, dtype=torch.float16)}
    path = tmp_path / "really_safetensors.pth"
    save_file(tensors, str(path), metadata={"note": "x"})
    assert is_safetensors_file(path)
    state, metadata = read_checkpoint(path)
    assert metadata == {"note": "x"}
    assert state.keys() == tensors.keys() and all(torch.equal(state[k], v) for k, v in tensors.items())
    torch.save(tensors, tmp_path / "torch.pth")
    assert not is_safetensors_file(tmp_path / "torch.pth")
    state, metadata = read_checkpoint(tmp_path / "torch.pth")
    assert metadata is None and state["b"].dtype == torch.float16


# --------------------------------------------------------------------------------------------------
# Containers and prefixes
# --------------------------------------------------------------------------------------------------


def test_unwrap_prefers_params_ema_and_follows_nesting() -> None:
    ema, raw = {"w": torch.ones(1)}, {"w": torch.zeros(1)}
    assert torch.equal(unwrap_state_dict({"params": raw, "params_ema": ema})["w"], ema["w"])
    nested = {"checkpoint_version": 2, "state_dict": {"netG": {"module.w": torch.full((1,), 3.0)}}}
    assert torch.equal(unwrap_state_dict(nested)["w"], torch.full((1,), 3.0))
    # Empty or non-tensor containers are skipped in favour of the next key.
    assert unwrap_state_dict({"params_ema": {}, "params": {"step": 1}, "model": raw}) == raw


def test_unwrap_errors_name_the_source() -> None:
    with pytest.raises(SrkitError) as err:
        unwrap_state_dict({"optimizer": {"lr": 1.0}, "epoch": 3}, "ckpt.pth")
    msg = str(err.value)
    assert (
        "\n" not in msg and msg.startswith("ckpt.pth: no state dict found") and "'optimizer', 'epoch'" in msg
    )
    assert "params_ema, params, state_dict" in msg
    with pytest.raises(SrkitError) as err:
        unwrap_state_dict([torch.zeros(1)], "list.pth")
    assert str(err.value) == "list.pth: holds a list, not a state dict"


@pytest.mark.parametrize(
    ("keys", "want"),
    [
        (["module.a", "module.b"], ["a", "b"]),
        (["_orig_mod.a", "_orig_mod.b"], ["a", "b"]),
        (["module._orig_mod.a"], ["a"]),
        (["netG.module.a", "netG.module.b"], ["a", "b"]),
        (["netG.module.a", "netG.b"], ["module.a", "b"]),
        (["generator.a", "generator.b"], ["a", "b"]),
        (["generator.a", "discriminator.a"], ["a"]),
        (["netG.a", "netD.a", "netD.b"], ["a"]),
        (["module.a", "b"], ["module.a", "b"]),
        (["model.0.weight", "model.1.weight"], ["model.0.weight", "model.1.weight"]),
    ],
)
def test_strip_wrapper_prefixes(keys: list[str], want: list[str]) -> None:
    state = {k: torch.zeros(1) for k in keys}
    assert list(strip_wrapper_prefixes(state)) == want
    assert strip_wrapper_prefixes({}) == {}


def test_state_dict_is_unwrapped_from_containers_and_prefixes(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    torch.save({"state_dict": {"module.w": torch.ones(1)}}, path)
    assert safe_load.load_state_dict_any(path).keys() == {"w"}
    assert safe_load.CHECKPOINT_SUFFIXES == (".safetensors", ".pth", ".pt", ".ckpt", ".bin")


# --------------------------------------------------------------------------------------------------
# The published VDSR files
# --------------------------------------------------------------------------------------------------


def test_published_vdsr_module_pickle_is_refused(shared_weights: Path, tmp_path: Path, capsys) -> None:
    pickled = shared_weights / "vdsr" / "model_epoch_50.pth"
    before = pickled.read_bytes()
    with pytest.raises(SrkitError) as err:
        load_any_model(pickled)
    _assert_refusal(err, pickled, "vdsr.Net")
    out = tmp_path / "vdsr.safetensors"
    assert main(["convert", str(pickled), str(out)]) == 2
    _assert_refusal(capsys.readouterr().err, pickled, "vdsr.Net")
    assert not out.exists() and pickled.read_bytes() == before

    state = load_state_dict_any(shared_weights / "vdsr" / "vdsr_state_dict.pth")
    assert len(state) == 20 and tuple(state["input.weight"].shape) == (64, 1, 3, 3)
