"""The behaviour that must survive refactors, as digests: evaluation numbers (bicubic, VDSR, FSRCNN,
the shipped models), every shipped model's upscaled output (whole and tiled, RGB and gray), the
luma networks' outputs, and a few deterministic training steps.

Every case goes through the command line (``srkit eval``, ``srkit upscale``, ``srkit train``), the
interface that refactors keep, so the cases stay valid while the code behind them moves.
``make_golden.py`` ran them once before the model-seam redesign (issue 10) and stored the results in
``digests.json``; ``tests/test_golden.py`` runs them again and compares.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from PIL import Image as PILImage

from srkit.cli import main
from srkit.settings import sample_image_path, shared_dir

SHIPPED = [
    "edsr-baseline-x2",
    "edsr-baseline-x3",
    "edsr-baseline-x4",
    "edsr-baseline-x2-robust",
    "edsr-baseline-x4-robust",
]


def machine() -> str:
    """What decides float results bit for bit: torch's CPU kernels and the CPU's bf16/AMX support."""
    amx = bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    bf16 = bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())
    return f"torch {torch.__version__} {torch.backends.cpu.get_cpu_capability()} amx={amx} avx512bf16={bf16}"


def _cli(*args: str) -> None:
    code = main(list(args))
    if code != 0:
        raise RuntimeError(f"srkit {' '.join(args)} exited {code}")


def _pixels_digest(path: Path) -> str:
    with PILImage.open(path) as im:
        arr = np.asarray(im)
        mode = im.mode
    return hashlib.sha256(f"{mode}{arr.shape}{arr.dtype}".encode() + arr.tobytes()).hexdigest()


def _crop(dst: Path, box: tuple[int, int, int, int], mode: str = "RGB") -> Path:
    with PILImage.open(sample_image_path()) as im:
        im.convert(mode).crop(box).save(dst)
    return dst


def _eval_numbers(model: str, datasets: list[str], scales: list[int], *extra: str) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "eval"
        args = ["eval", "--model", model, "--dataset", *datasets, "--scale", *map(str, scales)]
        _cli(*args, "--out", str(out), "--no-progress", "--no-download", *extra)
        data = json.loads((out / "eval.json").read_text())
    return [
        f"{r['dataset']}/{r['degradation']}/x{r['scale']}/{r['image']}: {r['psnr']!r} {r['ssim']!r}"
        for r in data["images"]
    ]


def _upscale(model: str, scale: int, *extra: str, mode: str = "RGB") -> str:
    with tempfile.TemporaryDirectory() as tmp:
        src = _crop(Path(tmp) / "crop.png", (200, 120, 296, 200), mode)
        out = Path(tmp) / "out"
        _cli("upscale", str(src), "--model", model, "--scale", str(scale), "-o", str(out), *extra)
        (result,) = sorted(out.iterdir())
        return _pixels_digest(result)


def _train_digest() -> str:
    """Six steps of a tiny EDSR on crops of the sample photo: the exported weights' sha256."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hr = root / "hr"
        hr.mkdir()
        for i, box in enumerate([(0, 0, 64, 64), (100, 60, 164, 124), (300, 200, 364, 264)]):
            _crop(hr / f"img{i}.png", box)
        recipe = {
            "name": "golden",
            "seed": 0,
            "scale": 2,
            "model": {"arch": "edsr", "hparams": {"num_feat": 8, "num_block": 2}},
            "data": {
                "train": {"hr": [str(hr)], "patch_size": 12, "batch_size": 3, "num_workers": 0},
                "val": {"datasets": [str(hr)], "every": 3},
            },
            "objective": {"name": "pixel", "losses": [{"type": "l1"}]},
            "optim": {"type": "adam", "lr": 2e-3},
            "train": {"steps": 6, "log_every": 3, "checkpoint_every": 3, "threads": 1},
            "logging": {"progress": False, "tensorboard": False},
        }
        cfg = root / "recipe.yaml"
        cfg.write_text(yaml.safe_dump(recipe))
        run = root / "run"
        _cli("train", str(cfg), "--out", str(run))
        from safetensors.torch import load_file

        state = load_file(str(run / "model.safetensors"))
        h = hashlib.sha256()
        for key in sorted(state):
            h.update(key.encode() + state[key].numpy().tobytes())
        val = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        losses = [r.get("loss") for r in val if "loss" in r]
        return f"{h.hexdigest()} losses={losses!r}"


def _shared(*parts: str) -> str | None:
    path = shared_dir().joinpath(*parts)
    return str(path) if path.exists() else None


def cases() -> dict[str, tuple[Callable[[], Any], list[str]]]:
    """``{name: (compute, needed shared paths)}``; a case whose shared paths are absent is skipped."""
    sd = shared_dir()
    set5, set14 = str(sd / "data/Set5"), str(sd / "data/Set14")
    vdsr, fsrcnn = str(sd / "weights/vdsr/vdsr_state_dict.pth"), str(sd / "weights/fsrcnn/fsrcnn_x3.pth")
    out: dict[str, tuple[Callable[[], Any], list[str]]] = {
        "eval bicubic sample all kernels x2 x3 x4": (
            lambda: _eval_numbers("bicubic", ["sample"], [2, 3, 4], "--degradations", "all"),
            [],
        ),
        "eval bicubic Set5 Set14 x2 x3 x4": (
            lambda: _eval_numbers("bicubic", [set5, set14], [2, 3, 4]),
            [set5, set14],
        ),
        "eval vdsr Set5 x2 x3 x4 fp32": (
            lambda: _eval_numbers(vdsr, [set5], [2, 3, 4], "--precision", "fp32"),
            [set5, vdsr],
        ),
        "eval fsrcnn_x3 Set5 x3 fp32": (
            lambda: _eval_numbers(fsrcnn, [set5], [3], "--precision", "fp32"),
            [set5, fsrcnn],
        ),
        "eval edsr-baseline-x2 sample x2 rgb, all kernels": (
            lambda: _eval_numbers("edsr-baseline-x2", ["sample"], [2], "--rgb", "--degradations", "all"),
            [],
        ),
        "upscale vdsr x3 fp32": (lambda: _upscale(vdsr, 3, "--precision", "fp32", "--tile", "0"), [vdsr]),
        "upscale fsrcnn_x3 fp32 gray": (
            lambda: _upscale(fsrcnn, 3, "--precision", "fp32", "--tile", "0", mode="L"),
            [fsrcnn],
        ),
        "upscale bicubic x3": (lambda: _upscale("bicubic", 3), []),
        "train tiny edsr 6 steps": (_train_digest, []),
    }
    for name in SHIPPED:
        scale = int(name.split("-x")[1].split("-")[0])
        out[f"upscale {name} fp32 whole"] = (
            lambda n=name, s=scale: _upscale(n, s, "--precision", "fp32", "--tile", "0"),
            [],
        )
        out[f"upscale {name} fp32 tiled 40/8"] = (
            lambda n=name, s=scale: _upscale(
                n, s, "--precision", "fp32", "--tile", "40", "--tile-overlap", "8"
            ),
            [],
        )
    out["upscale edsr-baseline-x2 fp32 gray"] = (
        lambda: _upscale("edsr-baseline-x2", 2, "--precision", "fp32", "--tile", "0", mode="L"),
        [],
    )
    out["upscale edsr-baseline-x2 bf16"] = (
        lambda: _upscale("edsr-baseline-x2", 2, "--precision", "bf16", "--tile", "0"),
        [],
    )
    return out
