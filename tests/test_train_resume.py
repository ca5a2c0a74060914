"""Exact resume: a run killed with SIGKILL after a training state was written, then resumed with
``srkit train --resume``, ends with the same weights, bit for bit, as an uninterrupted run (CPU, one
thread), with 0 and 2 data-loader workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from srkit.train.state import load_state
from test_train_support import (
    assert_same_tensors,
    load_weights,
    run_srkit,
    srkit_command,
    subprocess_env,
    tiny_config,
    write_config,
)

STEPS = 150


def _config(root: Path, workers: int) -> Path:
    data = tiny_config(
        root,
        data={"train": {"num_workers": workers}, "val": {"every": 50}},
        train={"steps": STEPS, "checkpoint_every": 10, "log_every": 10, "ema_decay": 0.95},
        schedule={"type": "multistep", "milestones": [60, 120], "gamma": 0.5},
    )
    return write_config(root / f"tiny_w{workers}.yaml", data)


def _kill_after_first_state(config: Path, run: Path, cwd: Path) -> int:
    """Start a run, SIGKILL its process group once ``state.pt`` exists; return the state's step."""
    proc = subprocess.Popen(
        srkit_command("train", str(config), "--out", str(run)),
        cwd=cwd,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    state = run / "state.pt"
    deadline = time.monotonic() + 120
    try:
        while not state.exists():
            if proc.poll() is not None:
                pytest.fail(f"the run ended before writing a state: {proc.stderr.read().decode()}")
            if time.monotonic() > deadline:
                pytest.fail("no training state after 120 s")
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    return int(load_state(state)["step"])


def _train_records(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "log.jsonl").read_text("utf-8").splitlines()]
    volatile = ("time", "it_s", "eta_s")
    return [{k: v for k, v in r.items() if k not in volatile} for r in records]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(root, run folder)`` of an uninterrupted run (the data do not depend on the worker count)."""
    root = tmp_path_factory.mktemp("resume")
    run = root / "reference"
    run_srkit("train", str(_config(root, 0)), "--out", str(run), cwd=root)
    return root, run


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_sigkilled_run_resumes_bit_for_bit(reference: tuple[Path, Path], workers: int) -> None:
    root, ref = reference
    config = _config(root, workers)
    run = root / f"killed_w{workers}"
    killed_at = _kill_after_first_state(config, run, root)
    assert 10 <= killed_at < STEPS and killed_at % 10 == 0
    assert not (run / "model.safetensors").exists()

    run_srkit("train", str(config), "--resume", "--out", str(run), cwd=root)

    assert_same_tensors(load_weights(ref / "model.safetensors"), load_weights(run / "model.safetensors"))
    assert_same_tensors(load_weights(ref / "best.safetensors"), load_weights(run / "best.safetensors"))
    final, expected = load_state(run / "state.pt"), load_state(ref / "state.pt")
    assert final["step"] == STEPS
    assert_same_tensors(expected["model"], final["model"])  # live weights as well as the EMA
    for a, b in zip(
        expected["objective"]["optimizer"]["state"].values(),
        final["objective"]["optimizer"]["state"].values(),
        strict=True,
    ):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])
    # the log of the resumed run reads as the uninterrupted one (records after the state dropped)
    assert _train_records(run) == _train_records(ref)
