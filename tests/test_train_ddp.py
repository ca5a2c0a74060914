"""Scale-out: ``torchrun --nproc_per_node=2 -m srkit train`` with DistributedDataParallel (gloo, CPU)
trains the same model as one process with the same global batch, writes its run folder from rank 0
only (validation on a set smaller than the world size), and ``srkit eval`` reads the weights."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from srkit.io.checkpoint import read_weights
from test_train_support import (
    load_weights,
    make_images,
    run_srkit,
    subprocess_env,
    tiny_config,
    write_config,
)

STEPS = 20


@pytest.mark.slow
def test_torchrun_two_processes_match_one_and_eval_reads_the_weights(tmp_path: Path) -> None:
    one_image = make_images(tmp_path / "val1", 1, 36, seed=9)  # fewer validation images than processes
    data = tiny_config(
        tmp_path,
        data={"val": {"datasets": [str(one_image)], "every": 10}},
        train={"steps": STEPS, "checkpoint_every": 10, "log_every": 5, "ema_decay": 0.9},
    )
    config = write_config(tmp_path / "tiny.yaml", data)
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    run_srkit("train", str(config), "--out", str(single), cwd=tmp_path)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "srkit",
        "train",
        str(config),
        "--out",
        str(ddp),
    ]
    proc = subprocess.run(
        command, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.count("wrote ") == 1  # rank 0 alone reports (and writes)
    assert "2 process(es) on cpu" in proc.stdout

    # two processes with half the batch each = one process with the whole batch (up to float rounding)
    a, b = load_weights(single / "model.safetensors"), load_weights(ddp / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-5), key
    logs = [json.loads(line) for line in (ddp / "log.jsonl").read_text("utf-8").splitlines()]
    assert [r["step"] for r in logs if r["kind"] == "train"] == [5, 10, 15, 20]
    assert [r["step"] for r in logs if r["kind"] == "val"] == [10, 20]
    single_losses = [json.loads(line) for line in (single / "log.jsonl").read_text("utf-8").splitlines()]
    for mine, theirs in zip(
        [r for r in logs if r["kind"] == "train"],
        [r for r in single_losses if r["kind"] == "train"],
        strict=True,
    ):
        assert mine["loss"] == pytest.approx(theirs["loss"], rel=1e-3)  # averaged over both processes

    # srkit eval reads the weights and measures what training validated
    meta = read_weights(ddp / "model.safetensors")[1]
    assert meta.extra["step"] == STEPS
    out = tmp_path / "eval"
    run_srkit(
        "eval",
        "--model",
        str(ddp / "model.safetensors"),
        "--dataset",
        str(one_image),
        "--scale",
        "2",
        "--out",
        str(out),
        "--no-progress",
        cwd=tmp_path,
    )
    with (out / "groups.csv").open(newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert float(row["psnr"]) == pytest.approx(meta.extra["val"]["val1"]["psnr"], abs=1e-4)
    assert float(row["ssim"]) == pytest.approx(meta.extra["val"]["val1"]["ssim"], abs=1e-5)
