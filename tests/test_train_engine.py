"""The training loop end to end on tiny models: learning, the run folder, exported weights and their
metadata, EMA, bf16 + channels-last, the non-finite guard, validation helpers, logs, and the CI check that
a tiny recipe from configs/ trains."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import srkit.losses.pixel as pixel_losses
from srkit.archs import build_model, pad_to_multiple
from srkit.devices import cpu_has_fast_bf16
from srkit.errors import ConfigError
from srkit.io.checkpoint import read_weights
from srkit.metrics import psnr, ssim
from srkit.train.config import LoggingConfig, build_config, load_config
from srkit.train.engine import NonFiniteError, train
from srkit.train.logging import RunLogger, side_by_side, truncate_csv, truncate_jsonl
from srkit.train.state import load_state
from srkit.train.validation import measure, upscale
from test_train_support import (
    load_weights,
    make_images,
    srkit_command,
    subprocess_env,
    tiny_config,
    write_config,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _records(run: Path, kind: str) -> list[dict]:
    lines = (run / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_tiny_training_learns_and_fills_the_run_folder(tmp_path: Path) -> None:
    config = build_config(tiny_config(tmp_path, train={"steps": 40, "ema_decay": 0.9}))
    run = tmp_path / "run"
    result = train(config, run_dir=run)
    assert result.step == 40
    names = {p.name for p in run.iterdir()}
    assert {"config.yaml", "state.pt", "model.safetensors", "best.safetensors", "latest.safetensors"} <= names
    assert {"log.jsonl", "train.csv", "val.csv"} <= names

    losses = [r["loss"] for r in _records(run, "train")]
    assert [r["step"] for r in _records(run, "train")] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert losses[-1] < 0.6 * losses[0]
    vals = _records(run, "val")
    assert [r["step"] for r in vals] == [10, 20, 30, 40]
    assert vals[-1]["mean_psnr"] > vals[0]["mean_psnr"] + 1.0
    bicubic = _records(run, "bicubic")
    assert len(bicubic) == 1 and bicubic[0]["step"] == 0 and bicubic[0]["mean_psnr"] > 20

    # final weights: the EMA network, with metadata; they rebuild and match the last validation
    state, meta = read_weights(run / "model.safetensors")
    assert (meta.arch, meta.scale, meta.hparams["num_feat"], meta.hparams["num_block"]) == ("edsr", 2, 8, 2)
    assert meta.extra["recipe"] == "tiny" and meta.extra["step"] == 40 and meta.extra["ema"] is True
    assert meta.extra["val"]["val"]["psnr"] == pytest.approx(vals[-1]["val/psnr"])
    assert meta.extra["config"]["train"]["steps"] == 40
    train_state = load_state(run / "state.pt")
    assert train_state["step"] == 40
    for key, value in state.items():
        assert torch.equal(value, train_state["ema"]["module"][key])
    assert not all(torch.equal(v, train_state["model"][k]) for k, v in state.items())  # EMA != live weights
    best_meta = read_weights(run / "best.safetensors")[1]
    assert best_meta.extra["step"] == result.best["step"]
    assert best_meta.extra["val"]["val"]["psnr"] == pytest.approx(max(r["val/psnr"] for r in vals))

    # the CSVs hold the same records
    with (run / "train.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert float(rows[0]["loss"]) == pytest.approx(losses[0])
    assert {"loss", "grad_norm", "lr", "it_s", "eta_s"} <= set(rows[0])
    # the resolved config reproduces the run
    assert load_config(run / "config.yaml") == config


def test_the_same_run_folder_is_not_overwritten(tmp_path: Path) -> None:
    config = build_config(tiny_config(tmp_path, train={"steps": 2}, data={"val": {"datasets": []}}))
    run = tmp_path / "run"
    train(config, run_dir=run)
    assert not (run / "best.safetensors").exists()  # no validation sets, no best
    with pytest.raises(ConfigError, match="already holds a training state"):
        train(config, run_dir=run)
    changed = build_config(tiny_config(tmp_path, train={"steps": 4}, optim={"lr": 1e-4}))
    with pytest.raises(ConfigError, match=r"^optim\.lr: differs from the resumed run"):
        train(changed, run_dir=run, resume=run / "state.pt")
    shorter = build_config(tiny_config(tmp_path, train={"steps": 1}, data={"val": {"datasets": []}}))
    with pytest.raises(ConfigError, match=r"^train\.steps: 1 is less than the resumed step 2"):
        train(shorter, run_dir=run, resume=run / "state.pt")


def test_non_finite_loss_stops_naming_the_step_and_saves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = pixel_losses.l1_loss

    def poisoned(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        calls["n"] += 1
        loss = real(pred, target, reduction)
        return loss * float("nan") if calls["n"] == 13 else loss

    monkeypatch.setattr(pixel_losses, "l1_loss", poisoned)
    config = build_config(tiny_config(tmp_path, train={"steps": 20, "checkpoint_every": 5}))
    run = tmp_path / "run"
    with pytest.raises(NonFiniteError) as info:
        train(config, run_dir=run)
    message = str(info.value)
    assert message.startswith("step 13: gradient norm is nan (training diverged); stopped without saving;")
    assert f"the last saved state is {run / 'state.pt'}" in message and "\n" not in message
    assert load_state(run / "state.pt")["step"] == 10
    assert not (run / "model.safetensors").exists()
    assert read_weights(run / "latest.safetensors")[1].extra["step"] == 10


def test_bf16_channels_last_trains_and_exports_plain_float32(tmp_path: Path) -> None:
    config = build_config(
        tiny_config(
            tmp_path,
            train={
                "steps": 12,
                "precision": "bf16",
                "channels_last": True,
                "grad_clip": 1.0,
                "snapshot_every": 6,
            },
            data={"val": {"center_crop": 16}},
            objective={"losses": [{"type": "charbonnier", "eps": 1e-3}, {"type": "mse", "weight": 0.5}]},
            schedule={"type": "cosine", "warmup_steps": 4},
        )
    )
    run = tmp_path / "run"
    train(config, run_dir=run)
    records = _records(run, "train")
    assert {"loss", "loss_charbonnier", "loss_mse"} <= set(records[0])
    assert records[-1]["loss"] < records[0]["loss"]
    # logged lr: the one the next step uses; after 5 steps (warm-up of 4 done) 2e-3 * cosine(5 / 12)
    assert records[0]["lr"] == pytest.approx(2e-3 * 0.5 * (1 + math.cos(math.pi * 5 / 12)))
    weights = load_weights(run / "model.safetensors")
    assert all(
        t.dtype == torch.float32 and t.is_contiguous() and torch.isfinite(t).all() for t in weights.values()
    )
    snapshots = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert snapshots == ["step_0000006.safetensors", "step_0000012.safetensors"]
    assert read_weights(run / "checkpoints" / snapshots[0])[1].extra["step"] == 6
    assert [r["step"] for r in _records(run, "val")] == [10, 12]


def test_tiny_recipe_from_configs_trains_a_handful_of_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CI check of a real recipe: configs/tiny/edsr_baseline_x2.yaml, made fast with overrides."""
    train_dir = tmp_path / "hr"
    make_images(train_dir, 6, 64, seed=5)
    config = load_config(
        CONFIGS / "tiny" / "edsr_baseline_x2.yaml",
        [
            f"data.train.hr=[{train_dir}]",
            "data.val.datasets=[]",
            "data.train.patch_size=16",
            "data.train.length=16",
            "train.steps=24",
            "train.log_every=8",
            "train.threads=1",
            "logging.progress=false",
            "logging.tensorboard=false",
        ],
    )
    assert config.model.arch == "edsr-baseline" and config.train.precision == "auto"
    run = tmp_path / "run"
    train(config, run_dir=run)
    resolved = "bf16" if cpu_has_fast_bf16() else "fp32"  # emulated bf16 is slower than fp32
    assert f"on cpu, precision {resolved}, run folder" in capsys.readouterr().out
    losses = [r["loss"] for r in _records(run, "train")]
    assert len(losses) == 3 and losses[2] < losses[0]
    assert read_weights(run / "model.safetensors")[1].extra["recipe"] == "edsr_baseline_x2_tiny"


# --------------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------------


def test_measure_matches_the_uint8_metrics() -> None:
    rng = np.random.default_rng(0)
    hr_u8 = rng.integers(0, 256, (3, 30, 34), dtype=np.uint8)
    noise = rng.normal(0, 6, hr_u8.shape)
    sr_u8 = np.clip(np.round(hr_u8 + noise), 0, 255).astype(np.uint8)
    hr = torch.from_numpy(hr_u8).float()[None] / 255
    sr = torch.from_numpy(sr_u8).float()[None] / 255 + 0.001  # rounds back to the same levels
    got = measure(sr, hr, crop_border=2, y_channel=True)
    hwc = (sr_u8.transpose(1, 2, 0), hr_u8.transpose(1, 2, 0))
    assert got["psnr"] == pytest.approx(psnr(*hwc, crop_border=2, y_channel=True), abs=1e-6)
    assert got["ssim"] == pytest.approx(ssim(*hwc, crop_border=2, y_channel=True), abs=1e-6)


def test_upscale_pads_to_the_window_multiple() -> None:
    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).view(2, 3, 5, 7)
    padded = pad_to_multiple(x, 4)
    assert padded.shape == (2, 3, 8, 8)
    assert torch.equal(padded[..., :5, :7], x)
    model = build_model("rrdbnet", scale=2, num_feat=4, num_block=1, num_grow_ch=4).eval()
    assert model.info.size_multiple == 2
    lr = torch.rand(1, 3, 9, 11)
    sr = upscale(model, lr, 2)
    assert sr.shape == (1, 3, 18, 22)
    even = torch.rand(1, 3, 8, 10)
    with torch.no_grad():
        assert torch.equal(upscale(model, even, 2), model(even).clamp(0, 1))


# --------------------------------------------------------------------------------------------------
# logs
# --------------------------------------------------------------------------------------------------


def test_log_truncation_for_resume(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text(
        '{"kind": "train", "step": 5}\n{"kind": "val", "step": 10}\n{"kind": "train", "st', "utf-8"
    )
    truncate_jsonl(log, 5)
    assert log.read_text("utf-8") == '{"kind": "train", "step": 5}\n'
    table = tmp_path / "train.csv"
    table.write_text("kind,step,loss\ntrain,5,0.1\ntrain,10,0.05\ntrain,15,0.0", "utf-8")
    truncate_csv(table, 10)
    assert table.read_text("utf-8").splitlines() == ["kind,step,loss", "train,5,0.1", "train,10,0.05"]


def test_side_by_side_layout() -> None:
    lr = torch.zeros(3, 4, 5)
    sr = torch.full((3, 8, 10), 0.5)
    hr = torch.full((3, 8, 10), 2.0)
    image = side_by_side(lr, sr, hr)
    assert image.shape == (3, 8, 30)
    assert (
        image[:, :, :10].max() == 0
        and torch.all(image[:, :, 10:20] == 0.5)
        and torch.all(image[:, :, 20:] == 1)
    )
    assert side_by_side(lr, sr, hr, max_side=6).shape == (3, 6, 18)


def test_wandb_enabled_without_the_package_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # makes `import wandb` fail
    cfg = LoggingConfig(wandb=True, tensorboard=False, progress=False)
    with pytest.raises(
        ConfigError, match=r"^logging\.wandb: enabled, but the 'wandb' package is not installed"
    ):
        RunLogger(tmp_path, cfg, run_name="x", total_steps=1, start_step=0, config_dict={})
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    required = LoggingConfig(tensorboard=True, progress=False)
    with pytest.raises(ConfigError, match=r"^logging\.tensorboard: enabled, but the 'tensorboard' package"):
        RunLogger(tmp_path, required, run_name="x", total_steps=1, start_step=0, config_dict={})
    auto = RunLogger(
        tmp_path, LoggingConfig(progress=False), run_name="x", total_steps=1, start_step=0, config_dict={}
    )
    assert auto.tb is None  # 'auto' without the package: silently off
    auto.close()


def test_tensorboard_gets_scalars_and_images(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="the optional tensorboard package is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = build_config(tiny_config(tmp_path, train={"steps": 10}, logging={"tensorboard": True}))
    run = tmp_path / "run"
    train(config, run_dir=run)
    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert {"train/loss", "train/lr", "val/val/psnr", "val/mean_psnr", "bicubic/val/psnr"} <= set(
        tags["scalars"]
    )
    assert [e.step for e in events.Scalars("train/loss")] == [5, 10]
    assert "val/val" in tags["images"]
    image = events.Images("val/val")[0]
    assert (image.width, image.height) == (3 * 36, 36)  # LR | SR | HR of a 36x36 validation image


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_bar_on_a_tty(tmp_path: Path) -> None:
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import termios

    config = write_config(
        tmp_path / "tiny.yaml", tiny_config(tmp_path, train={"steps": 12}, logging={"progress": "auto"})
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    command = srkit_command("train", str(config), "--out", str(tmp_path / "run"))
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=subprocess_env(), stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0
    text = output.decode("utf-8", "replace")
    assert "12/12 [" in text and "it/s, loss=" in text and "<00:00" in text  # bar with speed and ETA
    assert "step 5/12" not in text  # no plain log lines under a bar
