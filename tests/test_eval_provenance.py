"""``eval.json`` records every setting needed to reproduce its numbers (issue 15): srkit version, the
model file's sha256 and metadata, precision, device, scales, groups, the datasets with every file's
sha256, the border crop and the channel."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from srkit import __version__
from srkit.archs import build_model, save_weights
from srkit.cli import main
from srkit.io import write_image
from srkit.models import find_model


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "hr"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, size in (("a.png", (24, 20)), ("b.png", (16, 28))):
        write_image(folder / name, rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    return folder


def _settings(out: Path) -> dict:
    return json.loads((out / "eval.json").read_text())["settings"]


def test_settings_of_a_weight_file(tmp_path: Path, dataset: Path) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    save_weights(weights, build_model("edsr-baseline", scale=2, num_feat=8, num_block=1))
    out = tmp_path / "eval"
    args = ["eval", "--model", str(weights), "--dataset", str(dataset), "--scale", "2", "--out", str(out)]
    assert main([*args, "--degradations", "bicubic,nearest", "--device", "cpu", "--no-progress"]) == 0
    s = _settings(out)
    assert s["environment"]["srkit"] == __version__ and s["environment"]["torch"] == torch.__version__
    assert s["environment"]["threads"] >= 1 and "cpu" in s["environment"]
    model = s["model"]
    assert model["kind"] == "file" and model["file"] == str(weights.resolve())
    assert model["sha256"] == _sha(weights) and model["bytes"] == weights.stat().st_size
    assert model["metadata"]["arch"] == "edsr" and model["metadata"]["hparams"]["num_feat"] == 8
    assert (model["precision"], model["device"], model["luma_scored"]) == ("fp32", "cpu", False)
    assert s["scales"] == [2] and s["channel"] == "y" and s["crop_border"] == "scale"
    assert [g["name"] for g in s["degradations"]] == ["bicubic", "nearest"]
    assert all(g["kernel"] and g["description"] for g in s["degradations"])
    (data,) = s["datasets"]
    assert data["root"] == str(dataset.resolve())
    assert data["files"] == [
        {"name": p.name, "bytes": p.stat().st_size, "sha256": _sha(p)} for p in sorted(dataset.iterdir())
    ]


def test_settings_of_a_baseline_and_a_named_model(tmp_path: Path, dataset: Path) -> None:
    out = tmp_path / "eval"
    card = find_model("edsr-baseline-x2")
    assert card is not None
    models = ["--model", "bicubic", "edsr-baseline-x2"]
    rest = ["--dataset", str(dataset), "--scale", "2", "--out", str(out), "--rgb", "--crop-border", "3"]
    assert main(["eval", *models, *rest, "--device", "cpu", "--no-progress"]) == 0
    baseline = _settings(out / "bicubic")
    assert baseline["model"]["kind"] == "baseline" and baseline["model"]["kernel"] == "bicubic"
    assert baseline["channel"] == "rgb" and baseline["crop_border"] == 3
    named = _settings(out / "edsr-baseline-x2")["model"]
    assert named["kind"] == "named" and named["recipe"] == card.recipe
    assert named["sha256"] == _sha(card.path) and named["precision"] == "fp32"
    assert named["metadata"]["scale"] == 2


def test_precision_recorded_is_the_one_that_ran(tmp_path: Path, dataset: Path) -> None:
    out = tmp_path / "eval"
    args = [
        "eval",
        "--model",
        "edsr-baseline-x2",
        "--dataset",
        str(dataset),
        "--scale",
        "2",
        "--out",
        str(out),
    ]
    assert main([*args, "--precision", "bf16", "--device", "cpu", "--no-progress"]) == 0
    assert _settings(out)["model"]["precision"] == "bf16"


def test_threads_flag_is_applied_and_recorded(tmp_path: Path, dataset: Path) -> None:
    out = tmp_path / "eval"
    before = torch.get_num_threads()
    try:
        args = ["eval", "--model", "bicubic", "--dataset", str(dataset), "--scale", "2", "--out", str(out)]
        assert main([*args, "--threads", "1", "--no-progress"]) == 0
        assert _settings(out)["environment"]["threads"] == 1
    finally:
        torch.set_num_threads(before)
