"""Training comforts: Ctrl-C saves the training state at the next step boundary and prints the command
that resumes the run (exit 130, no traceback), a resumed run logs the same records as an uninterrupted
one (the running means are part of the state), a second Ctrl-C while saving leaves the last state intact,
the divergence hint fits the run's precision, and a missing data folder is reported before anything is
built."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import srkit.losses.pixel as pixel_losses
import srkit.train.engine as engine_module
import srkit.train.state as state_module
from srkit.cli import main
from srkit.errors import ConfigError
from srkit.io.atomic import temporary_name_pattern
from srkit.io.checkpoint import read_weights
from srkit.train.config import build_config
from srkit.train.distributed import DistInfo
from srkit.train.engine import Engine, Meter, NonFiniteError, _own_meter, train
from srkit.train.interrupt import StopRequest
from srkit.train.state import load_state
from test_train_support import (
    assert_same_tensors,
    load_weights,
    make_images,
    run_srkit,
    srkit_command,
    subprocess_env,
    tiny_config,
    write_config,
)

STEPS = 40
#: Log records every 7 steps and states every 10, so an interruption at step 13 falls inside a log window
#: (steps 8..14) and between two states.
LOOP = {"steps": STEPS, "log_every": 7, "checkpoint_every": 10}
INTERRUPT_AT = 13


def _config_file(root: Path, workers: int = 0, name: str = "tiny.yaml") -> Path:
    data = tiny_config(root, data={"train": {"num_workers": workers}}, train=LOOP)
    return write_config(root / name, data)


def _records(run: Path) -> list[dict[str, Any]]:
    """The log records without the wall-clock fields."""
    lines = (run / "log.jsonl").read_text("utf-8").splitlines()
    volatile = ("time", "it_s", "eta_s")
    return [{k: v for k, v in json.loads(line).items() if k not in volatile} for line in lines]


def _assert_same_run(ref: Path, run: Path) -> None:
    assert_same_tensors(load_weights(ref / "model.safetensors"), load_weights(run / "model.safetensors"))
    assert_same_tensors(load_weights(ref / "best.safetensors"), load_weights(run / "best.safetensors"))
    final, expected = load_state(run / "state.pt"), load_state(ref / "state.pt")
    assert final["step"] == expected["step"] == STEPS
    assert_same_tensors(expected["model"], final["model"])
    # the same records at the same steps, the first train record after the resume included
    assert _records(run) == _records(ref)


def read_step(path: Path) -> int:
    """The ``step`` in a weight file's metadata."""
    return int(read_weights(path)[1].extra["step"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(root, run folder)`` of an uninterrupted run in a subprocess."""
    root = tmp_path_factory.mktemp("comforts")
    run = root / "reference"
    run_srkit("train", str(_config_file(root)), "--out", str(run), cwd=root)
    return root, run


def _sigint_after_step(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """Send SIGINT to this process when training step ``step`` has been taken (in the step, as a Ctrl-C
    that arrives while the network trains)."""
    real = Engine.train_step

    def train_step(self: Engine, batch: dict[str, Any]) -> dict[str, float]:
        values = real(self, batch)
        if self.step == step:
            os.kill(os.getpid(), signal.SIGINT)
        return values

    monkeypatch.setattr(Engine, "train_step", train_step)


# --------------------------------------------------------------------------------------------------
# Ctrl-C
# --------------------------------------------------------------------------------------------------


def test_ctrl_c_saves_the_state_prints_the_resume_command_and_resumes_bit_for_bit(
    reference: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ref = reference
    config = _config_file(root, name="interrupted.yaml")
    run = root / "interrupted"
    handler = signal.getsignal(signal.SIGINT)
    _sigint_after_step(monkeypatch, INTERRUPT_AT)

    code = main(["train", str(config), "--set", "train.threads=1", "--out", str(run)])

    err = capsys.readouterr().err
    assert code == 130
    assert signal.getsignal(signal.SIGINT) is handler  # the handler of the caller is back
    state = load_state(run / "state.pt")
    assert state["step"] == INTERRUPT_AT
    assert state["trainer"]["meters"][0]["count"] == INTERRUPT_AT - 7  # steps 8..13 of the open log window
    assert read_step(run / "latest.safetensors") == INTERRUPT_AT  # saved as a periodic checkpoint saves
    assert not (run / "model.safetensors").exists()
    resume = f"srkit train {config} --set train.threads=1 --resume {run}"
    saved = f"training state saved to {run / 'state.pt'}"
    assert err == f"srkit: interrupted at step 13: {saved}; resume with: {resume}\n"

    monkeypatch.undo()
    args = shlex.split(resume)[1:]
    assert main(args) == 0
    _assert_same_run(ref, run)


@pytest.mark.slow
def test_ctrl_c_to_the_process_group_with_loader_workers(reference: tuple[Path, Path]) -> None:
    """As a terminal sends it: SIGINT to ``srkit train`` and its two data-loader workers at once."""
    root, ref = reference
    config = _config_file(root, workers=2, name="workers.yaml")
    run = root / "workers"
    proc = subprocess.Popen(
        srkit_command("train", str(config), "--out", str(run)),
        cwd=root,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for_record(run / "log.jsonl", proc, min_step=7)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
    assert proc.returncode == 130, err
    step = int(load_state(run / "state.pt")["step"])
    assert 7 <= step < STEPS
    expected = f"srkit: interrupted at step {step}: training state saved to {run / 'state.pt'}; resume with: "
    assert err.startswith(expected) and err.count("\n") == 1 and "Traceback" not in err
    command = shlex.split(err.strip().split("resume with: ", 1)[1])
    assert command[:2] == ["srkit", "train"]
    run_srkit(*command[1:], cwd=root)
    _assert_same_run(ref, run)


def _wait_for_record(log: Path, proc: subprocess.Popen, min_step: int) -> None:
    """Wait until ``log`` holds a train record of step ``min_step`` or later."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"the run ended before it could be interrupted: {proc.stderr.read() if proc.stderr else ''}"
            )
        if log.exists():
            for line in log.read_text("utf-8").splitlines():
                record = json.loads(line) if line.endswith("}") else {}
                if record.get("kind") == "train" and record["step"] >= min_step:
                    return
        time.sleep(0.005)
    pytest.fail("no train record after 120 s")


def test_a_second_ctrl_c_while_saving_leaves_the_last_state_intact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config_file(tmp_path)
    run = tmp_path / "run"
    real_save = state_module.torch.save

    def save(obj: Any, handle: Any) -> None:
        if obj["step"] == INTERRUPT_AT:  # the save Ctrl-C asked for: half written, then Ctrl-C again
            handle.write(b"PK\x03\x04 half a file")
            handle.flush()
            os.kill(os.getpid(), signal.SIGINT)
        real_save(obj, handle)

    monkeypatch.setattr(state_module.torch, "save", save)
    _sigint_after_step(monkeypatch, INTERRUPT_AT)

    assert main(["train", str(config), "--out", str(run)]) == 130
    assert capsys.readouterr().err == "srkit: interrupted\n"
    assert load_state(run / "state.pt")["step"] == 10  # the last complete state
    assert read_step(run / "latest.safetensors") == 10
    pattern = temporary_name_pattern()
    assert not [p.name for p in run.iterdir() if pattern.match(p.name)]  # no temporary file left


def test_the_log_window_of_each_process_is_restored() -> None:
    meter = Meter(20)
    meter.add({"loss": 0.5, "grad_norm": 2.0})
    meter.add({"loss": 0.25, "grad_norm": 1.0})
    fresh = Meter(22)
    fresh.load_state_dict(meter.state_dict())
    assert fresh.means() == meter.means() == {"loss": 0.375, "grad_norm": 1.5}
    saved = [{"sums": {"loss": 1.0}, "count": 2}, {"sums": {"loss": 3.0}, "count": 2}]
    assert _own_meter(saved, DistInfo(rank=1, world_size=2)) == saved[1]
    assert _own_meter(saved, DistInfo()) == {"sums": {"loss": 2.0}, "count": 2}  # fewer processes: the mean
    assert _own_meter(None, DistInfo()) is None  # a state of an older version: an empty window


def test_stop_request_handler_is_only_installed_on_the_main_thread_and_restored() -> None:
    import threading

    stop = StopRequest()
    before = signal.getsignal(signal.SIGINT)
    with stop.installed():
        assert signal.getsignal(signal.SIGINT) == stop._handle
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs at the next bytecode boundary
    assert signal.getsignal(signal.SIGINT) is before

    seen: list[object] = []

    def off_main() -> None:
        with StopRequest().installed():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=off_main)
    thread.start()
    thread.join()
    assert seen == [before]


# --------------------------------------------------------------------------------------------------
# The divergence hint
# --------------------------------------------------------------------------------------------------


def _diverge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **train_keys: object) -> str:
    calls = {"n": 0}
    real = pixel_losses.l1_loss

    def poisoned(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        calls["n"] += 1
        loss = real(pred, target, reduction)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(pixel_losses, "l1_loss", poisoned)
    data = tiny_config(tmp_path, data={"val": {"datasets": []}}, train={"steps": 5, **train_keys})
    with pytest.raises(NonFiniteError) as info:
        train(build_config(data), run_dir=tmp_path / "run")
    return str(info.value)


def test_divergence_hint_leaves_out_fp32_for_an_fp32_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = _diverge(tmp_path, monkeypatch)
    assert message.startswith("step 3: gradient norm is nan (training diverged); stopped without saving;")
    assert message.endswith("; lower optim.lr or set train.grad_clip")
    assert "precision" not in message


def test_divergence_hint_suggests_fp32_to_a_bf16_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    message = _diverge(tmp_path, monkeypatch, precision="bf16", grad_clip=0.5)
    assert message.endswith(
        "; lower optim.lr, lower train.grad_clip (now 0.5) or use train.precision=fp32 (this run uses bf16)"
    )


# --------------------------------------------------------------------------------------------------
# Missing data folders
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def nothing_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the network fails the test: the data check comes first."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was built before the data folders were checked")

    monkeypatch.setattr(engine_module, "build_network", refuse)


@pytest.mark.usefixtures("nothing_is_built")
def test_missing_train_folder_is_one_line_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no_such_hr"
    data = tiny_config(tmp_path, data={"train": {"hr": [str(missing)]}})
    config = write_config(tmp_path / "tiny.yaml", data)
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run)]) == 2
    assert capsys.readouterr().err == f"srkit: error: data.train.hr: {missing}: no such folder\n"
    assert not run.exists()  # nothing written: a re-run after fixing the path starts clean


@pytest.mark.usefixtures("nothing_is_built")
def test_every_configured_data_folder_is_checked_naming_its_key(tmp_path: Path) -> None:
    train_dir, val_dir = tiny_config(tmp_path)["data"]["train"]["hr"][0], tmp_path / "val"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    cases = [
        (
            {"train": {"hr": [train_dir, str(empty)]}},
            r"^data\.train\.hr\.1: .*empty: no images; expected files",
        ),
        (
            {"train": {"hr": [train_dir], "lr": [str(tmp_path / "lr_x2")]}},
            r"^data\.train\.lr: .*lr_x2: no such folder$",
        ),
        (
            {"val": {"datasets": [str(val_dir), str(tmp_path / "gone")]}},
            r"^data\.val\.datasets\.1: .*gone: not an existing file or folder, nor a known dataset",
        ),
    ]
    for data, pattern in cases:
        config = build_config(tiny_config(tmp_path, data=data))
        with pytest.raises(ConfigError, match=pattern) as info:
            Engine(config, tmp_path / "run")
        assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


def test_benchmark_names_are_left_to_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A benchmark name is no folder: it is neither downloaded nor refused by the check."""
    from srkit.train.loaders import check_data_folders

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("the check must not resolve benchmark names")

    monkeypatch.setattr("srkit.train.loaders.resolve_dataset", no_download)
    check_data_folders(build_config(tiny_config(tmp_path, data={"val": {"datasets": ["set5", "sample"]}})))
    make_images(tmp_path / "one", 1, 40, seed=3)
    monkeypatch.undo()
    check_data_folders(
        build_config(tiny_config(tmp_path, data={"val": {"datasets": [str(tmp_path / "one")]}}))
    )
