"""Helpers shared by the ``test_train_*`` modules (no tests here): tiny image folders, tiny recipes,
running ``srkit`` in a subprocess, reading weights."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from PIL import Image as PILImage
from safetensors.torch import load_file

VENV_BIN = Path(sys.executable).parent


def make_images(folder: Path, count: int, size: int, seed: int) -> Path:
    """``count`` smooth random RGB PNGs of ``size x size`` (learnable content) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        coarse = rng.integers(0, 256, (size // 6 + 2, size // 6 + 2, 3), dtype=np.uint8)
        image = PILImage.fromarray(coarse).resize((size, size), PILImage.BICUBIC)
        image.save(folder / f"img{i:02d}.png")
    return folder


def tiny_data(root: Path) -> tuple[Path, Path]:
    """``(train folder, val folder)`` under ``root`` (created once)."""
    train = root / "hr"
    val = root / "val"
    if not train.exists():
        make_images(train, 8, 48, seed=1)
        make_images(val, 2, 36, seed=2)
    return train, val


def tiny_config(root: Path, **sections: Any) -> dict[str, Any]:
    """A raw recipe for a tiny EDSR (8 channels, 2 blocks) on :func:`tiny_data`, one thread; the keyword
    arguments are deep-merged over it (``train={'steps': 5}``)."""
    train, val = tiny_data(root)
    base: dict[str, Any] = {
        "name": "tiny",
        "seed": 0,
        "scale": 2,
        "model": {"arch": "edsr", "hparams": {"num_feat": 8, "num_block": 2}},
        "data": {
            "train": {"hr": [str(train)], "patch_size": 12, "batch_size": 4, "num_workers": 0},
            "val": {"datasets": [str(val)], "every": 10},
        },
        "objective": {"name": "pixel", "losses": [{"type": "l1"}]},
        "optim": {"type": "adam", "lr": 2e-3},
        "train": {"steps": 30, "log_every": 5, "checkpoint_every": 10, "threads": 1},
        "logging": {"progress": False, "tensorboard": False},
    }
    return merge(base, sections)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge (mappings key by key, anything else replaced)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = (
            merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def write_config(path: Path, data: dict[str, Any]) -> Path:
    """``data`` as a YAML file."""
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def subprocess_env() -> dict[str, str]:
    """The environment for ``srkit`` subprocesses: one OpenMP thread."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def srkit_command(*args: str) -> list[str]:
    """``python -m srkit ARGS`` with this interpreter."""
    return [sys.executable, "-m", "srkit", *args]


def run_srkit(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m srkit ARGS`` to completion, failing the test with its output when it fails."""
    proc = subprocess.run(
        srkit_command(*args), cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, (
        f"srkit {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    return proc


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file."""
    return load_file(str(path))


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    """Bit-for-bit equality of two state dicts."""
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs (max |diff| {(a[key] - b[key]).abs().max():.3e})"
